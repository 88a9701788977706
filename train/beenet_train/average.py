"""Weights averaged over the training steps (``train --select ema``).

An exponential moving average of every floating-point entry of the model's
state dict (Polyak and Juditsky 1992; the "EMA" of timm and of many binary
network recipes): after step t, ``avg = d_t * avg + (1 - d_t) * w`` with
``d_t = min(decay, (1 + t) / (10 + t))`` so the first steps do not weigh for
thousands.  A binary network's exported signs are those of the averaged
latent weights, so a weight that flips back and forth near zero in the last
epochs keeps the sign it held most of the time.

Batch-norm statistics are averaged like the weights, but they were measured
under the live weights, not the averaged ones; ``recalibrate_bn`` measures
them again under the averaged weights on training batches (train() makes
the final epoch's first batches again for it, so a resumed run recalibrates
on the same ones, keeps whichever of the two validates better and records
which).
Other buffers (``num_batches_tracked``, the input normalisation's constants)
are copied, not averaged.
"""
from __future__ import annotations

from typing import Dict, Iterable

import torch

DEFAULT_DECAY = 0.999


def check_decay(decay: float) -> float:
    """``decay`` if it is an averaging decay (0 < decay < 1), else a ValueError."""
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 < decay < 1.0:
        raise ValueError("averaging decay %r: not a number in (0, 1)" % (decay,))
    return float(decay)


class WeightAverage:
    """The exponential moving average of a model's state dict."""

    def __init__(self, model: torch.nn.Module, decay: float = DEFAULT_DECAY):
        self.decay = check_decay(decay)
        self.updates = 0
        bn = {"%s.%s" % (n, b) for n, m in model.named_modules()
              if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for b in ("running_mean", "running_var")}
        self.averaged = {n for n, _ in model.named_parameters()} | bn   # the rest is copied
        self.avg = {k: v.detach().clone().float() if k in self.averaged else v.detach().clone()
                    for k, v in model.state_dict().items()}

    def rate(self) -> float:
        """The weight the next update keeps on the average."""
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        """Fold the model's current state into the average (after an optimiser step)."""
        d = self.rate()
        for k, v in model.state_dict().items():
            if k in self.averaged:
                self.avg[k].mul_(d).add_(v.detach().float(), alpha=1.0 - d)
            else:
                self.avg[k].copy_(v)
        self.updates += 1

    def state_dict(self) -> Dict:
        """For a resume file."""
        return {"decay": self.decay, "updates": self.updates, "avg": self.avg}

    def load_state_dict(self, st: Dict) -> None:
        self.decay, self.updates = check_decay(st["decay"]), int(st["updates"])
        self.avg = {k: v.clone() for k, v in st["avg"].items()}

    def averaged_state(self, like: torch.nn.Module) -> Dict:
        """The average in the dtypes of ``like``'s state dict (for load_state_dict)."""
        return {k: self.avg[k].to(v.dtype) for k, v in like.state_dict().items()}


def batch_norms(model: torch.nn.Module) -> Iterable[torch.nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrate_bn(model: torch.nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Measure every batch norm's running statistics again, as the plain mean over
    ``batches`` (model inputs, forwarded in training mode with no gradient); the
    model is left in eval mode with its momenta restored.  Returns the number of
    batches used (0: nothing changed)."""
    batches = list(batches)
    if not batches:
        return 0
    bns = batch_norms(model)
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None   # cumulative average over the batches
    model.train()
    try:
        for x in batches:
            model(x)
    finally:
        for m, mo in zip(bns, momenta):
            m.momentum = mo
        model.eval()
    return len(batches)
