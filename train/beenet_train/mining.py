"""Hard negatives (corpus v2): the running-speech crops of the training
sentences the network takes for keywords, mined after every epoch and
trained on as `_unknown_` in the next (docs/training.md)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import numpy as np

from .corpus import Corpus
from .frontend import Frontend
from .model import BeeNet
from .validation import features_for, predict_logits

if TYPE_CHECKING:   # batches imports this module
    from .batches import BatchMaker


# Hard negatives (corpus v2): after every epoch the network scores
# `candidates` random 1 s crops of the training sentences and keeps the
# `keep` with the highest keyword posterior at the final exit; in the next
# epoch a `share` of the running-speech crops are drawn from them (offset
# jittered by up to `jitter_ms`, augmented as any crop).  The false alarms
# of a keyword spotter on running speech are confident ones (docs/training.md).
# `noisy`: the share of the candidates scored after the training augmentation
# (babble, sounds, room, as a crop in training); one of them that is kept is
# trained on under that same augmentation, not a fresh one.
DEFAULT_HARD_NEGATIVES = {"share": 0.0, "candidates": 12000, "keep": 3000, "jitter_ms": 100.0, "noisy": 0.0}


def check_hard_negatives(overrides: Optional[Dict]) -> Dict:
    """DEFAULT_HARD_NEGATIVES with ``overrides``, or a ValueError naming the bad key."""
    if overrides is not None and not isinstance(overrides, dict):
        raise ValueError("hard negatives: %r is not a JSON object" % (overrides,))
    hn = dict(DEFAULT_HARD_NEGATIVES, **(overrides or {}))
    unknown = sorted(set(hn) - set(DEFAULT_HARD_NEGATIVES))
    if unknown:
        raise ValueError("hard negatives: unknown key(s) %s (known: %s)" % (
            ", ".join(unknown), ", ".join(sorted(DEFAULT_HARD_NEGATIVES))))
    for k in ("share", "noisy"):
        if not isinstance(hn[k], (int, float)) or not 0.0 <= hn[k] <= 1.0:
            raise ValueError("hard negatives: %s must be a number in [0, 1], not %r" % (k, hn[k]))
    for k in ("candidates", "keep"):
        if not isinstance(hn[k], int) or hn[k] < 1:
            raise ValueError("hard negatives: %s must be a whole number >= 1, not %r" % (k, hn[k]))
    if hn["keep"] > hn["candidates"]:
        raise ValueError("hard negatives: keep (%d) exceeds candidates (%d)" % (hn["keep"], hn["candidates"]))
    if not isinstance(hn["jitter_ms"], (int, float)) or hn["jitter_ms"] < 0:
        raise ValueError("hard negatives: jitter_ms must be a number >= 0, not %r" % (hn["jitter_ms"],))
    return hn


def mining_candidates(corpus: "Corpus", seed: int, epoch: int, cfg: Dict) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (sentence, offset) of the ``cfg["candidates"]`` crops scored after
    `epoch`, drawn from (seed, 5, epoch): a resumed or distributed run, and the
    batch worker that makes their features in advance, draw the same ones;
    and which of them are scored in training noise (a share ``cfg["noisy"]``,
    drawn from (seed, 6, epoch), so that the clean candidates are those of a
    run without noisy mining)."""
    from .data.audio import CLIP_SAMPLES
    bank = corpus.sentences["train"]
    n = int(cfg["candidates"])
    rng = np.random.default_rng([seed, 5, epoch])
    sent = rng.integers(len(bank), size=n)
    off = np.array([int(rng.integers(0, max(1, bank[i].size - CLIP_SAMPLES + 1))) for i in sent], np.int64)
    noisy = np.random.default_rng([seed, 6, epoch]).random(n) < float(cfg.get("noisy", 0.0))
    return sent, off, noisy


def candidate_noise_rng(seed: int, epoch: int, i: int) -> np.random.Generator:
    """The generator of the augmentation noisy candidate `i` of `epoch` is scored
    under; a hard negative mined from it is augmented with the same one in
    training (the same noise, level, room and shift), so the network learns
    the very mixture that it took for a keyword."""
    return np.random.default_rng([seed, 7, epoch, i])


def candidate_features(corpus: "Corpus", fe: Frontend, seed: int, epoch: int, cfg: Dict,
                       lo: int = 0, hi: Optional[int] = None) -> np.ndarray:
    """Front-end features of candidates [lo, hi) of mining_candidates, the
    noisy ones augmented by the training augmenter (candidate_noise_rng)."""
    sent, off, noisy = mining_candidates(corpus, seed, epoch, cfg)
    hi = len(sent) if hi is None else hi
    waves = []
    for i in range(lo, hi):
        w = corpus.crop_at("train", int(sent[i]), int(off[i]))
        waves.append(corpus.augmenter(w, candidate_noise_rng(seed, epoch, i)) if noisy[i] else w)
    return features_for(fe, waves)


def mine_hard_negatives(model: BeeNet, corpus: "Corpus", fe: Frontend, seed: int, epoch: int,
                        cfg: Dict, feats: Optional[np.ndarray] = None) -> Tuple[np.ndarray, Dict]:
    """The hard-negative pool after `epoch` (DEFAULT_HARD_NEGATIVES): (keep, 4)
    int64 rows (sentence, offset, epoch, candidate) of the candidate crops of
    the training sentences with the highest keyword posterior at the final
    exit (candidate -1: scored clean; else the index of candidate_noise_rng),
    plus statistics.  ``feats``: the candidates' features when already made
    (MiningFeatures)."""
    sent, off, noisy = mining_candidates(corpus, seed, epoch, cfg)
    if feats is None:
        feats = candidate_features(corpus, fe, seed, epoch, cfg)
    z = predict_logits(model, feats)[-1]
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    kw = [k for k in range(p.shape[1]) if k not in (corpus.silence_index, corpus.unknown_index)]
    score = p[:, kw].max(1)
    top = np.argsort(-score, kind="stable")[:int(cfg["keep"])]
    stats = {"epoch": epoch + 1, "kw_post_ge_0.5": float((score >= 0.5).mean()),
             "kw_post_ge_0.9": float((score >= 0.9).mean()), "kept_min_post": float(score[top].min())}
    if noisy.any():
        stats["noisy_kw_post_ge_0.5"] = float((score[noisy] >= 0.5).mean())
        stats["kept_noisy"] = float(noisy[top].mean())
    cand = np.where(noisy[top], top, -1)
    return np.stack([sent[top], off[top], np.full(top.size, epoch), cand], 1).astype(np.int64), stats


class MiningFeatures:
    """The features of an epoch's mining candidates, made by the batch worker in
    ``chunks`` slices spread over the epoch's steps (the worker idles for
    about half of each step), instead of by the training process between
    epochs; the same front-end on the same crops, so the same features."""

    def __init__(self, maker: "BatchMaker", epoch: int, n: int, steps: int, chunks: int = 48):
        self.maker, self.epoch = maker, epoch
        self.steps = max(1, steps * 9 // 10)      # all submitted by nine tenths of the epoch
        chunks = max(1, min(chunks, n))
        self.bounds = [(n * i // chunks, n * (i + 1) // chunks) for i in range(chunks)]
        self.jobs: List = []

    def step(self, b: int) -> None:
        """Submit the slices due by step ``b`` of the epoch (all of the past ones after a resume)."""
        due = min(len(self.bounds), (b + 1) * len(self.bounds) // self.steps)
        while len(self.jobs) < due:
            lo, hi = self.bounds[len(self.jobs)]
            self.jobs.append(self.maker.submit_candidates(self.epoch, lo, hi))

    def get(self) -> np.ndarray:
        self.step(self.steps)
        return np.concatenate([j.get() for j in self.jobs])
