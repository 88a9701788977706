"""Binary early-exit networks (BEENet) for (1, n_frames, n_mels) log-Mel input.

Two families, chosen by the config's "family" key (FAMILY_CONFIGS holds each one's defaults):

QuickNet ("quicknet", the default; torch NCHW; H = frames, W = mel bins; the engine's HWC uses
the same H and W):

  stem        conv3x3/2 (1->c0) + BN + ReLU -> depthwise conv3x3/2 + BN -> conv1x1 (c0->C1) + BN
  stage s     n_s residual binary blocks   x = x + BN(bconv3x3(sign(x)))
  transition  maxpool2x2 -> depthwise conv3x3 + BN + ReLU -> conv1x1 (C_s -> C_{s+1}) + BN
  exit k      after a chosen block: global average pool -> BN (per-channel affine, i.e. a learned
              binarisation threshold) -> sign -> binary dense (C -> classes) -> per-class scale+bias

Bi-Real Net ("birealnet", Liu et al. 2018, as Larq zoo's BiRealNet):

  stem        conv3x3/2 (1->C1) + BN -> maxpool 2x2/2        (no ReLU: the binary convs need signs)
  block       x = shortcut(x) + BN(bconv3x3/s(sign(x)))      one block per binary conv, so a
              real-valued shortcut goes around every binary conv; no activation between them
  shortcut    identity, or when the block downsamples or widens (first block of a stage):
              avgpool 2x2/2 -> conv1x1 (C_s -> C_{s+1}) + BN (full precision)
  exit k      after a chosen block: the same head as QuickNet

Every layer maps 1:1 onto ops of docs/model-format.md (see :func:`build_graph`).
"""
from __future__ import annotations

import copy
from typing import Dict, List, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .binary import BinaryConv2d, BinaryLinear, fold_bn, pack_signs, set_real_valued

DEFAULT_CONFIG: Dict = {
    "name": "kws12-quicknet-ee",
    "in_shape": [98, 64],          # (H = n_frames, W = n_mels)
    "num_classes": 12,
    "stem_channels": 8,
    "stem_pool": True,              # maxpool 2x2 between the stem's depthwise and pointwise convs
    "stages": [[64, 4], [160, 5]],  # [channels, binary blocks]
    "exits": [2, 3, 4, 6, 9],       # exit after this many binary blocks (last = all blocks)
    "transition_groups": 2,         # groups of the transition 1x1 conv
    "head_relu": True,              # exit head: per-channel affine + ReLU before the pool
    # "dense_exits": [5] gives those exits a full-precision classifier (ExitHead; default: all binary)
    # "head_pool": "time_max" pools each exit over frequency, then takes the maximum over time
    # (ExitHead; default "avg", the global average)
}


BIREALNET_CONFIG: Dict = {
    "family": "birealnet",
    "name": "kws12-birealnet-ee",
    "in_shape": [98, 64],
    "num_classes": 12,
    # [channels, binary 3x3 convs]; the stem has stages[0][0] channels; 98x64 -> stem 24x16,
    # then 12x8 and 6x4.  Sized for ~256 KiB (docs/training.md).
    "stages": [[32, 4], [96, 4], [160, 4]],
    # exit 1 after stage 1, then two per stage: every exit sees a whole stage more than the last
    "exits": [4, 6, 8, 10, 12],
    "head_relu": True,
}

DENSENET_CONFIG: Dict = {
    "family": "densenet",
    "name": "kws12-binarydensenet-ee",
    "in_shape": [98, 64],
    "num_classes": 12,
    "stem_channels": 32,
    # [growth rate, dense layers] per dense block; 98x64 -> stem 24x16, then 12x8 and 6x4; the
    # blocks end at 160, 240 and 328 channels.  Sized for <= 256 KiB (docs/training.md)
    "stages": [[32, 4], [48, 4], [64, 4]],
    # channels after each transition's 1x1 conv (a reduction of 3.3 in both)
    "transitions": [48, 72],
    # exit 1 after the first block, then two per block (as Bi-Real Net's)
    "exits": [4, 6, 8, 10, 12],
    "head_relu": True,
}

MELIUSNET_CONFIG: Dict = {
    "family": "meliusnet",
    "name": "kws12-meliusnet-ee",
    "in_shape": [98, 64],
    "num_classes": 12,
    # stem: conv3x3/2 (1 -> c1) + BN + ReLU -> maxpool 2x2 -> grouped conv3x3 (c1 -> c2) + BN +
    # ReLU -> grouped conv3x3 (c2 -> stem_channels) + BN; groups of the two grouped convs
    "stem": [8, 16],
    "stem_groups": [2, 8],
    "stem_channels": 48,
    # [growth rate, units] per stage; a unit is a dense layer followed by an improvement layer
    # (two binary convs); 24x16, 12x8, 6x4 as BinaryDenseNet.  Sized for <= 256 KiB
    "stages": [[32, 2], [48, 2], [64, 3]],
    "transitions": [48, 80],
    # exit 1 after the first stage, then after every unit but the third stage's first
    "exits": [2, 3, 4, 6, 7],
    "head_relu": True,
}

FAMILY_CONFIGS: Dict[str, Dict] = {"quicknet": DEFAULT_CONFIG, "birealnet": BIREALNET_CONFIG,
                                   "densenet": DENSENET_CONFIG, "meliusnet": MELIUSNET_CONFIG}
# the family's name in model descriptions and tables
FAMILY_NAMES: Dict[str, str] = {"quicknet": "QuickNet", "birealnet": "Bi-Real Net",
                                "densenet": "BinaryDenseNet", "meliusnet": "MeliusNet"}


def single_exit_config(config: Dict, k: int) -> Dict:
    """The config of the network truncated at exit k (1-based) of `config`
    (a family's defaults plus overrides), with that exit's head only: the
    stages are cut after the block the exit follows, so every layer up to
    the exit is the one of the jointly trained network (Table 2's E_s;
    docs/results.md).  "single_exit": [k, exits of the full network] is
    informational (BeeNet does not read it), so the checkpoint's config
    rebuilds the truncated network as it is."""
    full = copy.deepcopy(FAMILY_CONFIGS[(config or {}).get("family", "quicknet")])
    full.update(copy.deepcopy(config or {}))
    exits = list(full["exits"])
    if not 1 <= k <= len(exits):
        raise ValueError("single exit %d: the network has exits 1..%d" % (k, len(exits)))
    left, stages = exits[k - 1], []
    for c, n in full["stages"]:
        if left > 0:
            stages.append([c, min(n, left)])
            left -= n
    full.update(stages=stages, exits=[exits[k - 1]], single_exit=[k, len(exits)],
                name="%s-exit%d" % (full.get("name", "beenet"), k))
    return full


def _out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


class Stem(nn.Module):
    def __init__(self, c0, c1, pool=False):
        super().__init__()
        self.pool = pool
        self.conv = nn.Conv2d(1, c0, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c0)
        self.dw = nn.Conv2d(c0, c0, 3, stride=2, padding=1, groups=c0, bias=False)
        self.bn_dw = nn.BatchNorm2d(c0)
        self.pw = nn.Conv2d(c0, c1, 1, bias=False)
        self.bn_pw = nn.BatchNorm2d(c1)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.bn_dw(self.dw(x))
        if self.pool:
            x = F.max_pool2d(x, 2, 2)
        return self.bn_pw(self.pw(x))


class PCEN(nn.Module):
    """Per-channel energy normalisation (Wang, Getreuer, Hughes, Lyon, Saurous 2017, trainable per
    Mel channel) of one window's log-Mel features, then a per-channel affine (BN).  With
    E = exp(x) (x the un-normalised log-Mel value) and M the first-order smoother of E over the
    window's frames (M_0 = E_0, M_t = (1 - s) M_{t-1} + s E_t), the output is
    (E / (eps + M)^alpha + delta)^r - delta^r: an automatic gain control per channel followed by
    root compression, which puts a stationary noise floor near 0 where log-Mel gives it the
    whole dynamic range.  alpha, delta and r are learnt (as logarithms); s and eps are fixed.
    The window starts the smoother afresh, so a window's features depend on its samples only
    (the engine's stream and window paths stay bit-identical).  Exported as the ``pcen`` op."""

    def __init__(self, n_frames: int, n_mels: int, smooth: float = 0.025, eps: float = 1e-6,
                 alpha: float = 0.98, delta: float = 2.0, r: float = 0.5):
        super().__init__()
        self.smooth, self.eps = float(smooth), float(eps)
        self.log_alpha = nn.Parameter(torch.full((n_mels,), float(np.log(alpha))))
        self.log_delta = nn.Parameter(torch.full((n_mels,), float(np.log(delta))))
        self.log_r = nn.Parameter(torch.full((n_mels,), float(np.log(r))))
        self.bn = nn.BatchNorm1d(n_mels)

    def smoother(self, e):
        """M of E (N, T, M) along T: M_t = sum_k (1 - s)^(t - k) b_k with b_0 = E_0 and b_k = s E_k,
        as a doubling scan (log2 T element-wise steps).  A (T, T) matrix product gives the same
        but was slower in a scratch check: Debian's PyTorch multiplies matrices with the
        generic BLAS."""
        y = torch.cat([e[:, :1], self.smooth * e[:, 1:]], 1)
        d = 1
        while d < y.shape[1]:
            y = torch.cat([y[:, :d], y[:, d:] + (1.0 - self.smooth) ** d * y[:, :-d]], 1)
            d *= 2
        return y

    def params(self):
        """(alpha, delta, r) per Mel channel, as the engine uses them."""
        return self.log_alpha.exp(), self.log_delta.exp(), self.log_r.exp()

    def forward(self, x):
        """x: (N, 1, T, M) log-Mel -> (N, 1, T, M)."""
        alpha, delta, r = self.params()
        e = x[:, 0].exp()                                        # (N, T, M)
        m = self.smoother(e)                                     # (N, T, M)
        g = torch.exp(x[:, 0] - alpha * torch.log(self.eps + m))
        y = torch.exp(r * torch.log(g + delta)) - delta ** r
        return self.bn(y.transpose(1, 2)).transpose(1, 2).unsqueeze(1)

    def export(self, add, x):
        alpha, delta, r = (v.detach().float().numpy() for v in self.params())
        scale, bias = fold_bn(self.bn)
        w = np.stack([alpha, delta, r, scale.numpy(), bias.numpy()]).astype(np.float32)   # (5, M)
        return add({"op": "pcen", "inputs": [x], "smooth": self.smooth, "eps": self.eps, "weight": w,
                    "scale": np.ones(1, np.float32), "bias": np.zeros(1, np.float32)})


class NoiseFloor(nn.Module):
    """A fixed minimum-statistics noise floor of one window's normalised log-Mel map: each Mel
    channel's (rank + 1)-th smallest value over the window's frames is subtracted from the
    channel, and what falls below it is clipped to 0.  A stationary background then sits at 0
    whatever its level and colour, and a word keeps only what rises above it (spectral
    subtraction in the log domain).  No parameters; exported as the ``noise_floor`` op (format
    version 4), which the engine computes exactly (a selection and one float subtraction)."""

    def __init__(self, rank: int):
        super().__init__()
        self.rank = int(rank)

    def forward(self, x):
        """x: (N, 1, T, M) -> (N, 1, T, M)."""
        floor = torch.kthvalue(x, self.rank + 1, dim=2, keepdim=True).values
        return F.relu(x - floor)

    def export(self, add, x):
        return add({"op": "noise_floor", "inputs": [x], "rank": self.rank, "activation": "relu"})


class BinaryBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = BinaryConv2d(c, c, 3, 1, 1)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return x + self.bn(self.conv(x))


class Transition(nn.Module):
    def __init__(self, cin, cout, groups=1):
        super().__init__()
        self.dw = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.bn_dw = nn.BatchNorm2d(cin)
        self.pw = nn.Conv2d(cin, cout, 1, groups=groups, bias=False)
        self.bn_pw = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.max_pool2d(x, 2, 2)
        x = F.relu(self.bn_dw(self.dw(x)))
        return self.bn_pw(self.pw(x))


HEAD_POOLS = ("avg", "time_max")


class ExitHead(nn.Module):
    """[affine + ReLU] -> pool -> affine -> classifier -> scale + bias.  The
    classifier is binary (sign of the pooled features against sign weights) unless ``dense``:
    then a full-precision linear layer on the pooled features themselves (config
    ``dense_exits``; BNNs usually keep their last layer real, and this one is C x classes).
    ``pool`` (config ``head_pool``): "avg", the mean over the whole map, or "time_max", the
    mean over frequency and then the maximum over time, so a word that fills part of the
    window is not averaged with what surrounds it (exported as avgpool2d [1, W] + maxpool2d
    [H, 1])."""

    def __init__(self, c, num_classes, relu=False, dense=False, pool="avg"):
        super().__init__()
        if pool not in HEAD_POOLS:
            raise ValueError("head_pool %r: not one of %s" % (pool, ", ".join(HEAD_POOLS)))
        self.relu = relu
        self.dense = dense
        self.pool = pool
        if relu:
            self.bn_pre = nn.BatchNorm2d(c)
        self.bn_in = nn.BatchNorm1d(c)
        self.fc = nn.Linear(c, num_classes, bias=False) if dense else BinaryLinear(c, num_classes)
        self.scale = nn.Parameter(torch.full((num_classes,), 1.0 if dense else 1.0 / float(c) ** 0.5))
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        if self.relu:
            x = F.relu(self.bn_pre(x))
        x = x.mean(dim=3).amax(dim=2) if self.pool == "time_max" else x.mean(dim=(2, 3))
        x = self.bn_in(x)
        return self.fc(x) * self.scale + self.bias


def _conv_node(conv: nn.Conv2d, bn, inp, activation):
    w = conv.weight.detach().float().numpy()          # (Cout, Cin/g, kh, kw)
    scale, bias = fold_bn(bn)
    return {
        "op": "conv2d", "inputs": [inp], "kernel": list(conv.kernel_size), "stride": list(conv.stride),
        "padding": list(conv.padding), "groups": conv.groups, "out_channels": conv.out_channels,
        "activation": activation,
        "weight": np.ascontiguousarray(w.transpose(0, 2, 3, 1)),   # (Cout, kh, kw, Cin/g) -> ne [Cin/g,kw,kh,Cout]
        "scale": scale.numpy(), "bias": bias.numpy(),
    }


def _bconv_node(conv: "BinaryConv2d", bn, inp):
    w = conv.binary_weight().numpy().transpose(0, 2, 3, 1)        # (Cout, kh, kw, Cin)
    scale, bias = fold_bn(bn)
    return {"op": "bconv2d", "inputs": [inp], "kernel": list(conv.kernel_size), "stride": list(conv.stride),
            "padding": list(conv.padding), "groups": 1, "out_channels": conv.out_channels,
            "activation": "none", "weight": pack_signs(w, w.shape[-1]), "scale": scale.numpy(),
            "bias": bias.numpy()}


class BiRealStem(nn.Module):
    """conv3x3/2 (1 -> c) + BN -> maxpool 2x2/2 (Bi-Real Net's 7x7/2 + maxpool, scaled down)."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(1, c, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x):
        return F.max_pool2d(self.bn(self.conv(x)), 2, 2)

    def export(self, add, x):
        x = add(_conv_node(self.conv, self.bn, x, "none"))
        return add({"op": "maxpool2d", "inputs": [x], "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]})


class BiRealBlock(nn.Module):
    """x -> shortcut(x) + BN(bconv3x3/stride(sign(x))): a real-valued shortcut around one binary
    conv.  Downsampling/widening shortcut: avgpool 2x2/2 + conv1x1 + BN.  `in_hw` is the input's
    (H, W): an odd side pools with padding 1 (count_include_pad=False, as the engine) so the
    shortcut's shape matches the strided conv's."""

    def __init__(self, cin, cout, stride, in_hw):
        super().__init__()
        self.conv = BinaryConv2d(cin, cout, 3, stride, 1)
        self.bn = nn.BatchNorm2d(cout)
        self.down = stride != 1 or cin != cout
        if self.down:
            self.pool = (2, 2) if stride != 1 else (1, 1)
            self.pool_pad = tuple(n % 2 if stride != 1 else 0 for n in in_hw)
            self.sc = nn.Conv2d(cin, cout, 1, bias=False)
            self.bn_sc = nn.BatchNorm2d(cout)

    def shortcut(self, x):
        if not self.down:
            return x
        x = F.avg_pool2d(x, self.pool, self.pool, self.pool_pad, count_include_pad=False)
        return self.bn_sc(self.sc(x))

    def forward(self, x):
        return self.shortcut(x) + self.bn(self.conv(x))

    def export(self, add, x):
        s = x
        if self.down:
            s = add({"op": "avgpool2d", "inputs": [x], "kernel": list(self.pool), "stride": list(self.pool),
                     "padding": list(self.pool_pad)})
            s = add(_conv_node(self.sc, self.bn_sc, s, "none"))
        y = add(_bconv_node(self.conv, self.bn, x))
        return add({"op": "add", "inputs": [s, y], "activation": "none"})


def _affine_relu_node(bn, inp):
    """A folded BN followed by ReLU as the file's depthwise 1x1 conv2d (weight 1)."""
    c = bn.num_features
    scale, bias = fold_bn(bn)
    return {"op": "conv2d", "inputs": [inp], "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0],
            "groups": c, "out_channels": c, "activation": "relu", "weight": np.ones((c, 1, 1, 1), np.float32),
            "scale": scale.numpy(), "bias": bias.numpy()}


class DenseLayer(nn.Module):
    """BinaryDenseNet / MeliusNet dense layer: x -> concat(x, BN(bconv3x3(sign(x)))), `growth`
    new channels.  The BN follows the binary conv (folded into it) rather than preceding the
    sign as in Bethge et al.: a BN before the sign would need a full-precision copy of the
    whole running feature map per layer."""

    def __init__(self, cin, growth):
        super().__init__()
        self.conv = BinaryConv2d(cin, growth, 3, 1, 1)
        self.bn = nn.BatchNorm2d(growth)

    def forward(self, x):
        return torch.cat([x, self.bn(self.conv(x))], 1)

    def export(self, add, x):
        y = add(_bconv_node(self.conv, self.bn, x))
        return add({"op": "concat", "inputs": [x, y]})


class ImprovementLayer(nn.Module):
    """MeliusNet improvement layer: BN(bconv3x3(sign(x))) over all `cin` channels, added onto the
    newest `growth` channels (the file's add with channel_offset = cin - growth)."""

    def __init__(self, cin, growth):
        super().__init__()
        self.offset = cin - growth
        self.conv = BinaryConv2d(cin, growth, 3, 1, 1)
        self.bn = nn.BatchNorm2d(growth)

    def forward(self, x):
        y = self.bn(self.conv(x))
        return torch.cat([x[:, :self.offset], x[:, self.offset:] + y], 1)

    def export(self, add, x):
        y = add(_bconv_node(self.conv, self.bn, x))
        return add({"op": "add", "inputs": [x, y], "channel_offset": self.offset, "activation": "none"})


class MeliusUnit(nn.Module):
    """A dense layer followed by an improvement layer on the channels it added."""

    def __init__(self, cin, growth):
        super().__init__()
        self.dense = DenseLayer(cin, growth)
        self.improve = ImprovementLayer(cin + growth, growth)

    def forward(self, x):
        return self.improve(self.dense(x))

    def export(self, add, x):
        return self.improve.export(add, self.dense.export(add, x))


class DenseTransition(nn.Module):
    """maxpool 2x2/2 -> BN + ReLU -> conv1x1 (cin -> cout, full precision) + BN.  The pool comes
    first (BinaryDenseNet: BN, pool, ReLU, 1x1 conv) so the affine + ReLU runs at a quarter of the
    positions; its output is real-valued and un-rectified for the next block's signs."""

    def __init__(self, cin, cout):
        super().__init__()
        self.bn_pre = nn.BatchNorm2d(cin)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(self.bn_pre(F.max_pool2d(x, 2, 2)))
        return self.bn(self.conv(x))

    def export(self, add, x):
        x = add({"op": "maxpool2d", "inputs": [x], "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]})
        x = add(_affine_relu_node(self.bn_pre, x))
        return add(_conv_node(self.conv, self.bn, x, "none"))


class MeliusStem(nn.Module):
    """conv3x3/2 (1 -> c1) + BN + ReLU -> maxpool 2x2/2 -> grouped conv3x3 (c1 -> c2, g1) + BN +
    ReLU -> grouped conv3x3 (c2 -> c0, g2) + BN (MeliusNet's grouped stem, scaled down; no ReLU
    at the end: the next layer binarises)."""

    def __init__(self, c1, c2, c0, groups):
        super().__init__()
        self.conv1 = nn.Conv2d(1, c1, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1, groups=groups[0], bias=False)
        self.bn2 = nn.BatchNorm2d(c2)
        self.conv3 = nn.Conv2d(c2, c0, 3, padding=1, groups=groups[1], bias=False)
        self.bn3 = nn.BatchNorm2d(c0)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2, 2)
        x = F.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))

    def export(self, add, x):
        x = add(_conv_node(self.conv1, self.bn1, x, "relu"))
        x = add({"op": "maxpool2d", "inputs": [x], "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]})
        x = add(_conv_node(self.conv2, self.bn2, x, "relu"))
        return add(_conv_node(self.conv3, self.bn3, x, "none"))


class BeeNet(nn.Module):
    def __init__(self, config: Dict = None):
        super().__init__()
        family = (config or {}).get("family", "quicknet")
        if family not in FAMILY_CONFIGS:
            raise ValueError("unknown family %r (expected one of %s)" % (family, ", ".join(FAMILY_CONFIGS)))
        cfg = copy.deepcopy(FAMILY_CONFIGS[family])
        if config:
            cfg.update(copy.deepcopy(config))
        cfg["family"] = family
        self.config = cfg
        stages = cfg["stages"]
        n_blocks = sum(n for _, n in stages)
        exits = list(cfg["exits"])
        assert exits == sorted(set(exits)) and exits[-1] == n_blocks and exits[0] >= 1, \
            "exits must be increasing block counts ending with the last block"
        # "pcen": true puts a trainable PCEN (class PCEN) in front of the stem; the input
        # normalisation is then the identity (train.py), PCEN's own BN takes its place
        # "noise_floor_rank": r puts a fixed noise floor (class NoiseFloor) in front of the stem
        self.plan: List[Tuple] = [("pcen",), ("stem",)] if cfg.get("pcen") else [("stem",)]
        if cfg.get("pcen"):
            self.pcen = PCEN(*cfg["in_shape"], **cfg.get("pcen_init", {}))
        if cfg.get("noise_floor_rank") is not None:
            if not 0 <= cfg["noise_floor_rank"] < cfg["in_shape"][0]:
                raise ValueError("noise_floor_rank %r: not a frame rank of the %d-frame window"
                                 % (cfg["noise_floor_rank"], cfg["in_shape"][0]))
            self.plan.insert(0, ("floor",))
            self.floor = NoiseFloor(cfg["noise_floor_rank"])
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        self.heads = nn.ModuleList()
        if family != "quicknet":
            {"birealnet": self._build_birealnet, "densenet": self._build_dense,
             "meliusnet": self._build_dense}[family](cfg, exits)
            self.register_buffer("feat_mean", torch.zeros(cfg["in_shape"][1]))
            self.register_buffer("feat_inv_std", torch.ones(cfg["in_shape"][1]))
            self._check_dense_exits()
            self._real_valued()
            return
        self.stem = Stem(cfg["stem_channels"], stages[0][0], cfg.get("stem_pool", False))
        done = 0
        for si, (c, n) in enumerate(stages):
            if si > 0:
                self.transitions.append(Transition(stages[si - 1][0], c, cfg.get("transition_groups", 1)))
                self.plan.append(("transition", len(self.transitions) - 1))
            for _ in range(n):
                self.blocks.append(BinaryBlock(c))
                self.plan.append(("block", len(self.blocks) - 1))
                done += 1
                if done in exits:
                    self._add_head(c, cfg)
        # per-Mel normalisation, filled from training statistics
        self.register_buffer("feat_mean", torch.zeros(cfg["in_shape"][1]))
        self.register_buffer("feat_inv_std", torch.ones(cfg["in_shape"][1]))
        self._check_dense_exits()
        self._real_valued()

    def _add_head(self, c: int, cfg: Dict) -> None:
        """The next exit's head (exits are numbered from 1, as in the model file)."""
        dense = len(self.heads) + 1 in cfg.get("dense_exits", ())
        self.heads.append(ExitHead(c, cfg["num_classes"], cfg.get("head_relu", False), dense,
                                   cfg.get("head_pool", "avg")))
        self.plan.append(("exit", len(self.heads) - 1))

    def _check_dense_exits(self) -> None:
        bad = [k for k in self.config.get("dense_exits", ()) if not (isinstance(k, int) and 1 <= k <= len(self.heads))]
        if bad:
            raise ValueError("dense_exits: %s not an exit number 1..%d" % (bad, len(self.heads)))

    def _real_valued(self) -> None:
        """"real_valued": true trains the same network with every sign relaxed
        (binary.set_real_valued): the ceiling binarisation is measured against
        (ceiling.py).  Such a network has no model file (build_graph refuses it)."""
        if self.config.get("real_valued"):
            set_real_valued(self)

    def _build_birealnet(self, cfg: Dict, exits: List[int]) -> None:
        stages = cfg["stages"]
        h, w = cfg["in_shape"]
        self.stem = BiRealStem(stages[0][0])
        h, w = _out(h, 3, 2, 1) // 2, _out(w, 3, 2, 1) // 2
        cin, done = stages[0][0], 0
        for si, (c, n) in enumerate(stages):
            for k in range(n):
                stride = 2 if si > 0 and k == 0 else 1
                self.blocks.append(BiRealBlock(cin, c, stride, (h, w)))
                self.plan.append(("block", len(self.blocks) - 1))
                h, w, cin = _out(h, 3, stride, 1), _out(w, 3, stride, 1), c
                done += 1
                if done in exits:
                    self._add_head(c, cfg)

    def _build_dense(self, cfg: Dict, exits: List[int]) -> None:
        """BinaryDenseNet (units = dense layers) and MeliusNet (units = dense + improvement)."""
        melius = cfg["family"] == "meliusnet"
        if melius:
            self.stem = MeliusStem(cfg["stem"][0], cfg["stem"][1], cfg["stem_channels"], cfg["stem_groups"])
        else:
            self.stem = BiRealStem(cfg["stem_channels"])
        unit = MeliusUnit if melius else DenseLayer
        c, done = cfg["stem_channels"], 0
        for si, (growth, n) in enumerate(cfg["stages"]):
            if si > 0:
                cout = cfg["transitions"][si - 1]
                self.transitions.append(DenseTransition(c, cout))
                self.plan.append(("transition", len(self.transitions) - 1))
                c = cout
            for _ in range(n):
                self.blocks.append(unit(c, growth))
                self.plan.append(("block", len(self.blocks) - 1))
                c, done = c + growth, done + 1
                if done in exits:
                    self._add_head(c, cfg)

    @property
    def num_exits(self) -> int:
        return len(self.heads)

    def normalise(self, feats: torch.Tensor) -> torch.Tensor:
        """feats: (N, n_frames, n_mels) un-normalised log-Mel -> (N, 1, H, W)."""
        return ((feats - self.feat_mean) * self.feat_inv_std).unsqueeze(1)

    def forward(self, x: torch.Tensor, max_exit: int = None) -> List[torch.Tensor]:
        """x: normalised (N, 1, H, W).  Returns the logits of every exit."""
        outs = []
        for step in self.plan:
            kind = step[0]
            if kind == "floor":
                x = self.floor(x)
            elif kind == "pcen":
                x = self.pcen(x)
            elif kind == "stem":
                x = self.stem(x)
            elif kind == "transition":
                x = self.transitions[step[1]](x)
            elif kind == "block":
                x = self.blocks[step[1]](x)
            else:
                outs.append(self.heads[step[1]](x))
                if max_exit is not None and len(outs) >= max_exit:
                    break
        return outs

    def clip_(self):
        for m in self.modules():
            if isinstance(m, (BinaryConv2d, BinaryLinear)):
                m.clip_()


# ---------------------------------------------------------------------------
# Graph export (docs/model-format.md section 4)

def build_graph(model: BeeNet) -> List[Dict]:
    """Translate a trained (eval-mode) model into the node list of the file format.

    Node i writes activation i+1; activation 0 is the normalised input."""
    if model.config.get("real_valued"):
        raise ValueError("a real-valued network (config real_valued) has no binary graph to export; "
                         "evaluate its checkpoint with python3 -m beenet_train.ceiling")
    nodes: List[Dict] = []

    def add(node):
        nodes.append(node)
        return len(nodes)  # activation index written

    x = 0
    for step in model.plan:
        kind = step[0]
        module = {"floor": lambda: model.floor, "pcen": lambda: model.pcen, "stem": lambda: model.stem, "block": lambda: model.blocks[step[1]],
                  "transition": lambda: model.transitions[step[1]], "exit": lambda: None}[kind]()
        if hasattr(module, "export"):
            x = module.export(add, x)   # the module emits its own nodes (Bi-Real Net)
        elif kind == "stem":
            s = model.stem
            x = add(_conv_node(s.conv, s.bn, x, "relu"))
            x = add(_conv_node(s.dw, s.bn_dw, x, "none"))
            if s.pool:
                x = add({"op": "maxpool2d", "inputs": [x], "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]})
            x = add(_conv_node(s.pw, s.bn_pw, x, "none"))
        elif kind == "transition":
            t = model.transitions[step[1]]
            x = add({"op": "maxpool2d", "inputs": [x], "kernel": [2, 2], "stride": [2, 2], "padding": [0, 0]})
            x = add(_conv_node(t.dw, t.bn_dw, x, "relu"))
            x = add(_conv_node(t.pw, t.bn_pw, x, "none"))
        elif kind == "block":
            b = model.blocks[step[1]]
            w = b.conv.binary_weight().numpy().transpose(0, 2, 3, 1)   # (Cout, kh, kw, Cin)
            scale, bias = fold_bn(b.bn)
            y = add({"op": "bconv2d", "inputs": [x], "kernel": list(b.conv.kernel_size),
                     "stride": list(b.conv.stride), "padding": list(b.conv.padding), "groups": 1,
                     "out_channels": b.conv.out_channels, "activation": "none",
                     "weight": pack_signs(w, w.shape[-1]), "scale": scale.numpy(), "bias": bias.numpy()})
            x = add({"op": "add", "inputs": [x, y], "activation": "none"})
        else:
            h = model.heads[step[1]]
            c = h.fc.in_features
            src = x
            if h.relu:
                scale, bias = fold_bn(h.bn_pre)
                src = add({"op": "conv2d", "inputs": [x], "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0],
                           "groups": c, "out_channels": c, "activation": "relu",
                           "weight": np.ones((c, 1, 1, 1), np.float32), "scale": scale.numpy(),
                           "bias": bias.numpy()})
            if h.pool == "time_max":
                H, W, _ = graph_shapes_and_ops(nodes, tuple(model.config["in_shape"]))[0][src]
                g = add({"op": "avgpool2d", "inputs": [src], "kernel": [1, W], "stride": [1, W],
                         "padding": [0, 0]})
                g = add({"op": "maxpool2d", "inputs": [g], "kernel": [H, 1], "stride": [H, 1],
                         "padding": [0, 0]})
            else:
                g = add({"op": "global_avgpool", "inputs": [src]})
            scale, bias = fold_bn(h.bn_in)
            g = add({"op": "conv2d", "inputs": [g], "kernel": [1, 1], "stride": [1, 1], "padding": [0, 0],
                     "groups": c, "out_channels": c, "activation": "none",
                     "weight": np.ones((c, 1, 1, 1), np.float32), "scale": scale.numpy(), "bias": bias.numpy()})
            if h.dense:
                wt, op = np.ascontiguousarray(h.fc.weight.detach().float().numpy()), "dense"   # (Cout, Cin)
            else:
                wt, op = pack_signs(h.fc.binary_weight().numpy(), c), "bdense"
            g = add({"op": op, "inputs": [g], "out_channels": h.fc.out_features, "activation": "none",
                     "weight": wt, "scale": h.scale.detach().float().numpy().copy(),
                     "bias": h.bias.detach().float().numpy().copy()})
            add({"op": "exit", "inputs": [g]})
    return nodes


# FLOPs counted per value by the pcen op (docs/model-format.md): exp, smoother (2), log, multiply-
# subtract (2), exp, add, log, multiply, exp, subtract, affine (2), each transcendental as 1
PCEN_FLOPS_PER_VALUE = 15
# FLOPs counted per value by the noise_floor op: the copy and the selection's expected comparisons
# (3), the subtraction (1)
NOISE_FLOOR_FLOPS_PER_VALUE = 4


def graph_shapes_and_ops(nodes: List[Dict], in_hw=(98, 64), num_classes=12):
    """Activation shapes and per-node (BOPs, FLOPs) per the spec's counting rules."""
    shapes = [(in_hw[0], in_hw[1], 1)]
    costs = []
    for n in nodes:
        op = n["op"]
        H, W, C = shapes[n["inputs"][0]]
        bops = flops = 0
        if op in ("conv2d", "bconv2d", "maxpool2d", "avgpool2d"):
            kh, kw = n["kernel"]
            sh, sw = n["stride"]
            ph, pw = n["padding"]
            Ho, Wo = _out(H, kh, sh, ph), _out(W, kw, sw, pw)
            if op == "conv2d":
                Co = n["out_channels"]
                flops = Ho * Wo * Co * kh * kw * C // n["groups"] + 2 * Ho * Wo * Co
            elif op == "bconv2d":
                Co = n["out_channels"]
                bops = Ho * Wo * Co * kh * kw * C // n.get("groups", 1)
                flops = 2 * Ho * Wo * Co
            else:
                Co = C
                flops = H * W * C
            shape = (Ho, Wo, Co)
        elif op == "add":
            shape = (H, W, C)
            flops = H * W * (C + shapes[n["inputs"][1]][2])
        elif op == "concat":
            shape = (H, W, sum(shapes[a][2] for a in n["inputs"]))
            flops = H * W * shape[2]
        elif op == "slice":
            shape = (H, W, n["out_channels"])
            flops = H * W * shape[2]
        elif op == "pcen":
            shape = (H, W, C)
            flops = PCEN_FLOPS_PER_VALUE * H * W
        elif op == "noise_floor":
            shape = (H, W, C)
            flops = NOISE_FLOOR_FLOPS_PER_VALUE * H * W
        elif op == "global_avgpool":
            shape = (1, 1, C)
            flops = H * W * C
        elif op in ("dense", "bdense"):
            cin = H * W * C
            Co = n["out_channels"]
            shape = (1, 1, Co)
            if op == "dense":
                flops = cin * Co + 2 * Co
            else:
                bops = cin * Co
                flops = 2 * Co
        elif op == "exit":
            shape = (H, W, C)
            flops = 3 * num_classes
        else:
            raise ValueError(op)
        shapes.append(shape)
        costs.append((bops, flops))
    return shapes, costs


def exit_ops_fractions(nodes: List[Dict], in_hw=(98, 64), num_classes=12):
    """Cumulative OPs fraction (FLOPs + BOPs/64) up to and including each exit node."""
    _, costs = graph_shapes_and_ops(nodes, in_hw, num_classes)
    ops = [f + b / 64.0 for b, f in costs]
    total = sum(ops)
    fr = []
    acc = 0.0
    for n, o in zip(nodes, ops):
        acc += o
        if n["op"] == "exit":
            fr.append(acc / total)
    tb = sum(b for b, _ in costs)
    tf = sum(f for _, f in costs)
    return fr, tb, tf


def describe_ops(config: Dict = None):
    m = BeeNet(config).eval()
    nodes = build_graph(m)
    fr, tb, tf = exit_ops_fractions(nodes, tuple(m.config["in_shape"]), m.config["num_classes"])
    return fr, tb, tf, nodes


def layer_table_markdown(config: Dict = None) -> str:
    """Markdown table of the exported graph: node, op, output shape (HWC), OPs, cumulative fraction."""
    m = BeeNet(config).eval()
    nodes = build_graph(m)
    shapes, costs = graph_shapes_and_ops(nodes, tuple(m.config["in_shape"]), m.config["num_classes"])
    ops = [f + b / 64.0 for b, f in costs]
    total = sum(ops)
    rows = ["| node | op | inputs | kernel / stride / groups | activation | output (H, W, C) | BOPs | FLOPs | cumulative OPs |",
            "|---|---|---|---|---|---|---|---|---|"]
    acc = 0.0
    k = 0
    for i, (n, s, (b, f), o) in enumerate(zip(nodes, shapes[1:], costs, ops)):
        acc += o
        op = n["op"]
        if op == "exit":
            k += 1
            op = "**exit %d**" % k
        geo = ""
        if "kernel" in n:
            geo = "%dx%d / %d / %s" % (n["kernel"][0], n["kernel"][1], n["stride"][0], n.get("groups", "-"))
        rows.append("| %d | %s | %s | %s | %s | %s | %d | %d | %.3f |" % (
            i, op, ",".join(str(v) for v in n["inputs"]), geo, n.get("activation", ""), "x".join(map(str, s)),
            b, f, acc / total))
    return "\n".join(rows)


def parameter_count(config: Dict = None) -> Dict[str, int]:
    m = BeeNet(config)
    binary = sum(mod.weight.numel() for mod in m.modules() if isinstance(mod, (BinaryConv2d, BinaryLinear)))
    total = sum(p.numel() for p in m.parameters())
    return {"binary_weights": binary, "real_parameters": total - binary}
