"""The trainer's validation (PyTorch side): front-end features of a set of
waves, normalisation statistics, every exit's logits and accuracy, and the
entropy early-exit sweep that chooses the recommended threshold."""
from __future__ import annotations

from typing import List

import numpy as np
import torch

from .frontend import Frontend
from .model import BeeNet

SWEEP_THRESHOLDS = [0.1, 0.25, 0.5, 0.75, 1.0]


def features_for(frontend: Frontend, waves: List[np.ndarray]) -> np.ndarray:
    return frontend.compute_batch(waves)


def norm_stats(feats: np.ndarray):
    mean = feats.mean(axis=(0, 1))
    std = feats.std(axis=(0, 1))
    inv_std = 1.0 / np.maximum(std, 1e-3)
    return mean.astype(np.float32), inv_std.astype(np.float32)


def exit_accuracies(model: BeeNet, feats: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The accuracy of each exit on un-normalised features ``feats`` with labels ``y``."""
    return (predict_logits(model, feats).argmax(-1) == y[None]).mean(axis=1)


@torch.no_grad()
def predict_logits(model: BeeNet, feats: np.ndarray, batch: int = 128) -> np.ndarray:
    """(N, n_frames, n_mels) un-normalised features -> (num_exits, N, classes) logits.  Batches of 128:
    16.4 s for 12000 examples against 19.8 s with 512 (bench/mining_cost.py, one thread; the same logits
    bit for bit), which the trainer spends on every validation and hard-negative mining."""
    model.eval()
    dev = model.feat_mean.device
    outs = []
    for i in range(0, len(feats), batch):
        x = model.normalise(torch.from_numpy(feats[i:i + batch]).to(dev))
        outs.append(torch.stack(model(x)).cpu().numpy())
    return np.concatenate(outs, axis=1)


def entropy_of(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=-1, keepdims=True)
    return -(p * np.log(np.maximum(p, 1e-30))).sum(axis=-1)


def early_exit_sweep(logits: np.ndarray, y: np.ndarray, exit_fracs: List[float], thresholds=SWEEP_THRESHOLDS):
    """Entropy policy (stop at the first exit with entropy < threshold; last exit always stops)."""
    E = logits.shape[0]
    ent = entropy_of(logits)             # (E, N)
    pred = logits.argmax(axis=-1)        # (E, N)
    rows = []
    for th in thresholds:
        stop = ent < th
        stop[-1] = True
        first = stop.argmax(axis=0)      # exit index where it stops
        p = pred[first, np.arange(pred.shape[1])]
        rows.append({"threshold": th, "accuracy": float((p == y).mean()),
                     "avg_exit": float((first + 1).mean()),
                     "ops_fraction": float(np.asarray(exit_fracs)[first].mean()),
                     "exit_histogram": np.bincount(first, minlength=E).tolist(), "pred": p, "exit": first})
    return rows


def choose_threshold(rows, final_acc: float, tolerance: float = 0.01) -> float:
    """Largest sweep threshold whose accuracy is within `tolerance` of the final exit."""
    ok = [r["threshold"] for r in rows if r["accuracy"] >= final_acc - tolerance - 1e-12]
    return max(ok) if ok else min(r["threshold"] for r in rows)
