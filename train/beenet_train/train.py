"""Joint training of all exits (BEENet): summed cross-entropy over exits.

Features are always computed by the engine front-end (ctypes, frontend.py) from
on-the-fly augmented waveforms (data.augment.Augmenter).
"""
from __future__ import annotations

import math
import os
import random
import sys
import time
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .frontend import Frontend
from .model import BeeNet, build_graph, exit_ops_fractions

SWEEP_THRESHOLDS = [0.1, 0.25, 0.5, 0.75, 1.0]


def log(msg: str) -> None:
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------
# Data

class Corpus:
    """Waveforms of a GSC-layout corpus, kept in memory as int16."""

    def __init__(self, root: str, seed: int = 0, augment_config: Optional[Dict] = None, max_per_split=None):
        from .data import gsc
        from .data.augment import Augmenter
        self.root = root
        self.labels = list(getattr(gsc, "KWS12_LABELS"))
        self.silence_index = self.labels.index("_silence_")
        splits = gsc.load_gsc(root)
        self.splits = {}
        for name, exs in splits.items():
            exs = list(exs)
            if max_per_split and len(exs) > max_per_split.get(name, len(exs)):
                rng = random.Random(seed)
                rng.shuffle(exs)
                exs = exs[:max_per_split[name]]
            self.splits[name] = exs
        self.noise = gsc.load_background_noise(root)
        self.augmenter = Augmenter(self.noise, seed, augment_config) if augment_config is not None \
            else Augmenter(self.noise, seed)
        self._gsc = gsc
        self._cache: Dict[str, np.ndarray] = {}

    def wave(self, ex) -> Optional[np.ndarray]:
        """The clip's samples (float32, centred/padded to 1 s) or None for a silence example."""
        path = getattr(ex, "path", None)
        if not path:
            return None
        w = self._cache.get(path)
        if w is None:
            x = self._gsc.load_example(ex, self.noise, None)
            w = np.clip(np.round(np.asarray(x, np.float32) * 32768.0), -32768, 32767).astype(np.int16)
            self._cache[path] = w
        return w.astype(np.float32) / 32768.0


def eval_waves(corpus: "Corpus", examples, seed: int) -> List[np.ndarray]:
    """Un-augmented evaluation waveforms; silence examples are drawn from background
    noise with a fixed seed (same clips every time)."""
    out = []
    for i, ex in enumerate(examples):
        w = corpus.wave(ex)
        if w is None:
            w = corpus._gsc.silence_wave(corpus.noise, np.random.default_rng([seed, i]))
        out.append(np.asarray(w, np.float32))
    return out


def features_for(frontend: Frontend, waves: List[np.ndarray]) -> np.ndarray:
    return frontend.compute_batch(waves)


def norm_stats(feats: np.ndarray):
    mean = feats.mean(axis=(0, 1))
    std = feats.std(axis=(0, 1))
    inv_std = 1.0 / np.maximum(std, 1e-3)
    return mean.astype(np.float32), inv_std.astype(np.float32)


# ---------------------------------------------------------------------------
# Evaluation helpers (PyTorch side)

@torch.no_grad()
def predict_logits(model: BeeNet, feats: np.ndarray, batch: int = 512) -> np.ndarray:
    """(N, n_frames, n_mels) un-normalised features -> (num_exits, N, classes) logits."""
    model.eval()
    outs = []
    for i in range(0, len(feats), batch):
        x = model.normalise(torch.from_numpy(feats[i:i + batch]))
        outs.append(torch.stack(model(x)).numpy())
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


# ---------------------------------------------------------------------------

def train(data: str, out: str, seed: int = 0, epochs: int = 30, minutes: Optional[float] = None,
          batch_size: int = 128, lr: float = 2e-3, config: Optional[Dict] = None,
          exit_weights: Optional[List[float]] = None, threads: int = 2, max_train: Optional[int] = None,
          max_eval: Optional[int] = None, checkpoint: Optional[str] = None, augment: bool = True,
          quiet: bool = False) -> Dict:
    t0 = time.time()
    torch.set_num_threads(threads)
    seed_everything(seed)
    say = (lambda m: None) if quiet else log
    limits = None
    if max_train or max_eval:
        limits = {"train": max_train or 10 ** 9, "val": max_eval or 10 ** 9, "test": max_eval or 10 ** 9}
    corpus = Corpus(data, seed=seed, max_per_split=limits)
    fe = Frontend()
    train_ex = corpus.splits["train"]
    val_ex = corpus.splits["val"]
    say("corpus %s: %s" % (data, {k: len(v) for k, v in corpus.splits.items()}))

    # Normalisation statistics on (un-augmented) training clips.
    rng = np.random.default_rng(seed)
    stat_idx = rng.permutation(len(train_ex))[:3000]
    stat_feats = features_for(fe, eval_waves(corpus, [train_ex[i] for i in stat_idx], seed + 1))
    mean, inv_std = norm_stats(stat_feats)
    del stat_feats
    val_waves = eval_waves(corpus, val_ex, seed + 2)
    val_feats = features_for(fe, val_waves)
    val_y = np.array([ex.label_index for ex in val_ex])
    del val_waves
    say("normalisation + validation features ready (%.1fs)" % (time.time() - t0))

    model = BeeNet(config)
    model.feat_mean.copy_(torch.from_numpy(mean))
    model.feat_inv_std.copy_(torch.from_numpy(inv_std))
    E = model.num_exits
    w_exit = exit_weights or [1.0] * E
    assert len(w_exit) == E
    nodes = build_graph(model.eval())
    exit_fracs, tb, tf = exit_ops_fractions(nodes, tuple(model.config["in_shape"]), model.config["num_classes"])
    say("model: %d exits at OPs fractions %s; total OPs %.0f (FLOPs %d + BOPs %d / 64)" % (
        E, ["%.3f" % f for f in exit_fracs], tf + tb / 64.0, tf, tb))

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = max(1, len(train_ex) // batch_size)
    total_steps = steps_per_epoch * epochs
    budget = minutes * 60.0 if minutes else None
    aug = corpus.augmenter
    arng = np.random.default_rng(seed + 3)
    best = {"score": -1.0}
    history = []
    step = 0
    feats = np.empty((batch_size, fe.n_frames, fe.n_mels), np.float32)
    t_train = time.time()
    stop = False
    for epoch in range(epochs):
        model.train()
        perm = np.random.default_rng(seed * 1000 + epoch).permutation(len(train_ex))
        tot_loss, n_seen = 0.0, 0
        correct = np.zeros(E)
        t_ep = time.time()
        t_feat = 0.0
        for b in range(steps_per_epoch):
            # progress in [0, 1): by steps or by the wall-clock budget, whichever is further
            prog = step / total_steps
            if budget:
                prog = max(prog, (time.time() - t_train) / budget)
            if prog >= 1.0:
                stop = True
                break
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * prog))
            idx = perm[b * batch_size:(b + 1) * batch_size]
            ys = np.empty(len(idx), np.int64)
            tf0 = time.time()
            for j, i in enumerate(idx):
                ex = train_ex[i]
                w = corpus.wave(ex)
                if w is None:
                    w = aug.make_silence(arng)
                elif augment:
                    w = aug(w, arng)
                fe.compute(w, feats[j])
                ys[j] = ex.label_index
            t_feat += time.time() - tf0
            x = model.normalise(torch.from_numpy(feats[:len(idx)]))
            y = torch.from_numpy(ys)
            outs = model(x)
            loss = sum(wk * F.cross_entropy(o, y) for wk, o in zip(w_exit, outs))
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.clip_()
            step += 1
            tot_loss += float(loss) * len(idx)
            n_seen += len(idx)
            for k, o in enumerate(outs):
                correct[k] += float((o.argmax(1) == y).sum())
        if n_seen == 0:
            break
        vl = predict_logits(model, val_feats)
        vacc = (vl.argmax(-1) == val_y[None]).mean(axis=1)
        score = float(vacc[-1]) + 1e-3 * float(vacc.mean())   # final exit, ties -> mean over exits
        rec = {"epoch": epoch + 1, "loss": tot_loss / n_seen, "train_acc": (correct / n_seen).tolist(),
               "val_acc": vacc.tolist(), "seconds": time.time() - t_ep, "feature_seconds": t_feat}
        history.append(rec)
        say("epoch %d loss %.3f train %s val %s (%.0fs, features %.0fs, lr %.2e)" % (
            epoch + 1, rec["loss"], " ".join("%.3f" % a for a in rec["train_acc"]),
            " ".join("%.3f" % a for a in vacc), rec["seconds"], t_feat, opt.param_groups[0]["lr"]))
        if score > best["score"]:
            best = {"score": score, "epoch": epoch + 1, "val_acc": vacc.tolist(),
                    "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        if stop:
            break
    model.load_state_dict(best["state_dict"])
    model.eval()
    # Recommended threshold: chosen on the validation split (never on test).
    vl = predict_logits(model, val_feats)
    rows = early_exit_sweep(vl, val_y, exit_fracs)
    final_acc = float((vl[-1].argmax(-1) == val_y).mean())
    threshold = choose_threshold(rows, final_acc)
    wall = time.time() - t0
    say("best epoch %d val final %.4f; sweep %s; recommended entropy threshold %.2f; wall %.1f min" % (
        best["epoch"], final_acc,
        ["%.2f:%.4f/%.3f" % (r["threshold"], r["accuracy"], r["ops_fraction"]) for r in rows],
        threshold, wall / 60))
    training = {
        "seed": seed, "data": os.path.basename(os.path.normpath(data)), "epochs": len(history),
        "best_epoch": best["epoch"], "batch_size": batch_size, "lr": lr,
        "val_accuracy": [float(a) for a in best["val_acc"]],
        "val_final_accuracy": final_acc, "wall_minutes": round(wall / 60.0, 2),
        "exit_weights": [float(w) for w in w_exit], "torch": torch.__version__,
    }
    ck = {"config": model.config, "state_dict": model.state_dict(), "labels": corpus.labels,
          "threshold": threshold, "policy": "entropy", "training": training, "history": history,
          "val_sweep": [{k: v for k, v in r.items() if k not in ("pred", "exit")} for r in rows],
          "exit_ops_fractions": exit_fracs}
    if checkpoint is None:
        checkpoint = os.path.splitext(out)[0] + ".pt" if out else None
    if checkpoint:
        os.makedirs(os.path.dirname(os.path.abspath(checkpoint)), exist_ok=True)
        torch.save(ck, checkpoint)
        say("checkpoint %s" % checkpoint)
    if out:
        from .export import model_to_gguf
        n = model_to_gguf(model, corpus.labels, "entropy", threshold, training=training).write(out)
        say("exported %s (%d bytes)" % (out, n))
    ck["model"] = model
    return ck
