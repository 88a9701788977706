"""Binary layers with straight-through estimators (Bi-Real Net / QuickNet style).

Sign convention shared with the engine (docs/model-format.md):
    sign(x) = +1 if x >= 0 else -1      (never 0; torch.sign(0) = 0 is NOT used)
"""
from __future__ import annotations


import torch
import torch.nn as nn
import torch.nn.functional as F


def hard_sign(x: torch.Tensor) -> torch.Tensor:
    """+1 for x >= 0, -1 otherwise, NaN included (no gradient).  Written as
    2 * (x >= 0) - 1 because torch.where(x >= 0, 1, -1) took about 9 % of a
    training step in bench/train_step.py --profile quicknet (Debian's PyTorch 1.13)."""
    return (x >= 0).to(x.dtype).mul_(2.0).sub_(1.0)


class _ApproxSign(torch.autograd.Function):
    """Forward: hard_sign.  Backward: Bi-Real Net ApproxSign derivative 2 - 2|x| on |x| < 1."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return hard_sign(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return x.abs().mul_(-2.0).add_(2.0).clamp_(min=0.0).mul_(g)     # g * max(2 - 2|x|, 0), in place


class _SteSign(torch.autograd.Function):
    """Forward: hard_sign.  Backward: clipped identity (gradient passes where |x| <= 1)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return hard_sign(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1.0).to(g.dtype)


def approx_sign(x: torch.Tensor) -> torch.Tensor:
    return _ApproxSign.apply(x)


def ste_sign(x: torch.Tensor) -> torch.Tensor:
    return _SteSign.apply(x)


class BinaryConv2d(nn.Conv2d):
    """conv2d(sign(x), sign(w)) with exact zero padding, no bias.

    Latent real weights are kept in [-1, 1] by :meth:`clip_` (called after
    every optimiser step).  ``real`` (set by set_real_valued) replaces both
    signs by their relaxations, hardtanh(x) and the latent weight: the same
    network without binarisation, a training-only diagnostic (no export)."""

    real = False

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=1):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        nn.init.uniform_(self.weight, -1.0, 1.0)
        with torch.no_grad():
            self.weight.mul_(0.05)

    def forward(self, x):
        if self.real:
            return F.conv2d(F.hardtanh(x), self.weight, None, self.stride, self.padding)
        return F.conv2d(approx_sign(x), ste_sign(self.weight), None, self.stride, self.padding)

    @torch.no_grad()
    def clip_(self):
        self.weight.clamp_(-1.0, 1.0)

    def binary_weight(self) -> torch.Tensor:
        return hard_sign(self.weight.detach())


class BinaryLinear(nn.Linear):
    """sign(x) @ sign(W)^T, no bias (the exporter folds scale and bias); ``real`` as BinaryConv2d."""

    real = False

    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features, bias=False)
        nn.init.uniform_(self.weight, -0.05, 0.05)

    def forward(self, x):
        if self.real:
            return F.linear(F.hardtanh(x), self.weight)
        return F.linear(approx_sign(x), ste_sign(self.weight))

    @torch.no_grad()
    def clip_(self):
        self.weight.clamp_(-1.0, 1.0)

    def binary_weight(self) -> torch.Tensor:
        return hard_sign(self.weight.detach())


def set_real_valued(module: nn.Module, real: bool = True) -> None:
    """Switch every binary layer of ``module`` to its real-valued relaxation (or back)."""
    for m in module.modules():
        if isinstance(m, (BinaryConv2d, BinaryLinear)):
            m.real = real


def clip_binary_weights(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (BinaryConv2d, BinaryLinear)):
            m.clip_()


def fold_bn(bn: nn.modules.batchnorm._BatchNorm):
    """Return (scale, bias) such that bn(x) == scale * x + bias in eval mode."""
    var = bn.running_var.detach().double()
    mean = bn.running_mean.detach().double()
    gamma = bn.weight.detach().double() if bn.affine else torch.ones_like(var)
    beta = bn.bias.detach().double() if bn.affine else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    bias = beta - mean * scale
    return scale.float(), bias.float()


def pack_signs(signs, axis_len: int):
    """Pack a (..., Cin) array of +1/-1 into (..., ceil(Cin/32)) uint32 words.

    Bit b of word j is channel 32*j+b; bit 1 means -1, bit 0 means +1; tail bits are 0."""
    import numpy as np
    s = np.asarray(signs)
    assert s.shape[-1] == axis_len
    nwords = (axis_len + 31) // 32
    bits = (s < 0).astype(np.uint64)
    pad = nwords * 32 - axis_len
    if pad:
        bits = np.concatenate([bits, np.zeros(s.shape[:-1] + (pad,), np.uint64)], axis=-1)
    bits = bits.reshape(s.shape[:-1] + (nwords, 32))
    weights = (np.uint64(1) << np.arange(32, dtype=np.uint64))
    words = (bits * weights).sum(axis=-1).astype(np.uint32)
    return words


def unpack_signs(words, axis_len: int):
    import numpy as np
    w = np.asarray(words).astype(np.uint32)
    bits = (w[..., None] >> np.arange(32, dtype=np.uint32)) & 1
    bits = bits.reshape(w.shape[:-1] + (w.shape[-1] * 32,))
    return np.where(bits[..., :axis_len] == 1, -1.0, 1.0).astype(np.float32)
