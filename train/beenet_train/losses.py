"""The exits' training losses: cross-entropy (with label smoothing) or
per-class binary scores, and distillation from a trained teacher."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F

from .model import BeeNet

EXIT_LOSSES = ("softmax", "bce")
# Knowledge distillation from a trained teacher checkpoint (--teacher): every
# exit's loss becomes (1 - weight) * its own loss + weight * T^2 *
# KL(teacher || exit) at temperature T (Hinton et al. 2015); the teacher's
# exit of the same index when it has as many exits, else its last.
DEFAULT_DISTILL = {"weight": 0.5, "temperature": 2.0}


def check_distill(dd: Dict) -> Dict:
    unknown = set(dd) - set(DEFAULT_DISTILL)
    if unknown:
        raise ValueError("unknown key(s) %s (expected %s)" % (", ".join(sorted(unknown)),
                                                              ", ".join(DEFAULT_DISTILL)))
    if not 0.0 <= float(dd["weight"]) <= 1.0:
        raise ValueError("weight %r: not in [0, 1]" % dd["weight"])
    if not float(dd["temperature"]) > 0.0:
        raise ValueError("temperature %r: not > 0" % dd["temperature"])
    return {"weight": float(dd["weight"]), "temperature": float(dd["temperature"])}


def load_teacher(path: str, num_classes: int, device) -> BeeNet:
    """A trained checkpoint as a frozen teacher (eval mode: its BN's running statistics)."""
    from .export import load_checkpoint
    t = load_checkpoint(path)[0]
    if t.config["num_classes"] != num_classes:
        raise ValueError("teacher %s has %d classes, the task %d" % (path, t.config["num_classes"], num_classes))
    for q in t.parameters():
        q.requires_grad_(False)
    return t.to(device).eval()


def distill_losses(outs, t_outs, temperature: float) -> list:
    """T^2 * KL(softmax(teacher / T) || softmax(exit / T)) per exit (batch mean)."""
    T = temperature
    match = len(t_outs) == len(outs)
    return [F.kl_div(F.log_softmax(o / T, 1), F.softmax((t_outs[k] if match else t_outs[-1]) / T, 1),
                     reduction="batchmean") * T * T for k, o in enumerate(outs)]


def check_label_smoothing(eps: float) -> float:
    """``eps`` if it is a label smoothing (0 <= eps < 1), else a ValueError."""
    if not isinstance(eps, (int, float)) or not 0.0 <= eps < 1.0:
        raise ValueError("label smoothing %r: not a number in [0, 1)" % (eps,))
    return float(eps)


def exit_losses(outs, y, kind: str = "softmax", label_smoothing: float = 0.0) -> list:
    """The loss of each exit's logits ``outs`` (a list of (N, C)) for labels
    ``y``.  "softmax": cross-entropy at every exit.  "bce" (Wang, Li, Zhang
    2023, class exclusion): every exit but the last scores each class on its
    own, binary cross-entropy against the one-hot label with the positive
    weighted C - 1 (one positive against C - 1 negatives per clip); the last
    exit keeps the cross-entropy, as the paper's does.  ``label_smoothing``
    (Szegedy et al. 2016): each cross-entropy's target puts that much of
    its mass evenly on all C classes."""
    if kind not in EXIT_LOSSES:
        raise ValueError("exit loss %r: not one of %s" % (kind, ", ".join(EXIT_LOSSES)))
    check_label_smoothing(label_smoothing)
    if kind == "softmax":
        return [F.cross_entropy(o, y, label_smoothing=label_smoothing) for o in outs]
    C = outs[-1].shape[1]
    target = F.one_hot(y, C).to(outs[-1].dtype)
    pos = torch.full((C,), float(C - 1), dtype=outs[-1].dtype, device=outs[-1].device)
    return [F.binary_cross_entropy_with_logits(o, target, pos_weight=pos) for o in outs[:-1]] + \
        [F.cross_entropy(outs[-1], y, label_smoothing=label_smoothing)]
