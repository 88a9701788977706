"""Training batches: augmented waveforms through the engine front-end,
feature-domain augmentation (VTLP, SpecAugment), every example drawn from
a generator of its own; made ahead in one forked worker (BatchMaker)."""
from __future__ import annotations

import time
from typing import Dict, List, Optional

import numpy as np
import torch

from .corpus import Corpus, train_items
from .frontend import Frontend
from .mining import candidate_features
from .model import BeeNet


def vtlp(feats: np.ndarray, alpha: float) -> np.ndarray:
    """Vocal-tract-length perturbation on log-Mel features: bin m takes the
    value at m * alpha (linear interpolation, edge clamped)."""
    M = feats.shape[-1]
    pos = np.clip(np.arange(M) * alpha, 0, M - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, M - 1)
    fr = (pos - lo).astype(np.float32)
    return feats[..., lo] * (1 - fr) + feats[..., hi] * fr


def spec_augment(x: torch.Tensor, rng: np.random.Generator, n_time: int = 2, max_time: int = 10,
                 n_freq: int = 2, max_freq: int = 8) -> torch.Tensor:
    """SpecAugment time and frequency masks on normalised features (N, ...,
    T, M): masked values become 0, the training mean."""
    N, T, M = x.shape[0], x.shape[-2], x.shape[-1]
    for n in range(N):
        for _ in range(n_time):
            w = int(rng.integers(0, max_time + 1))
            t = int(rng.integers(0, T - w + 1))
            x[n, ..., t:t + w, :] = 0
        for _ in range(n_freq):
            w = int(rng.integers(0, max_freq + 1))
            f = int(rng.integers(0, M - w + 1))
            x[n, ..., f:f + w] = 0
    return x


# Feature-domain and sampling augmentation of corpus v2 (docs/training.md
# ablation); the waveform augmentation is data.augment.AugmentConfig.
# SpecAugment is off: at the full 60-minute budget the same recipe without
# it reached 95.7 % on validation against 95.1 % with it (p = 0.5), the
# network underfits (train accuracy under augmentation ~0.88).
# p_partial (corpus v2): the probability that a running-speech crop that is
# not a hard negative becomes a partial keyword instead (Corpus.partial_keyword,
# a fraction `partial` of the word left at a window edge, labelled _unknown_)
DEFAULT_FEATURE_AUG = {"p_specaugment": 0.0, "p_vtlp": 0.5, "vtlp": (0.9, 1.1), "p_context": 0.3,
                       "p_partial": 0.0, "partial": (0.1, 0.45)}


def check_feature_aug(fa: Dict) -> Dict:
    """``fa`` (DEFAULT_FEATURE_AUG with overrides) or a ValueError naming the bad key."""
    unknown = sorted(set(fa) - set(DEFAULT_FEATURE_AUG))
    if unknown:
        raise ValueError("feature_aug: unknown key(s) %s (known: %s)" % (
            ", ".join(unknown), ", ".join(sorted(DEFAULT_FEATURE_AUG))))
    for k in ("p_specaugment", "p_vtlp", "p_context", "p_partial"):
        if not isinstance(fa[k], (int, float)) or not 0.0 <= fa[k] <= 1.0:
            raise ValueError("feature_aug: %s = %r is not a probability in [0, 1]" % (k, fa[k]))
    lo_hi = fa["partial"]
    if (not isinstance(lo_hi, (list, tuple)) or len(lo_hi) != 2
            or not all(isinstance(x, (int, float)) for x in lo_hi) or not 0.0 < lo_hi[0] <= lo_hi[1] <= 1.0):
        raise ValueError("feature_aug: partial = %r is not a share range [lo, hi] with 0 < lo <= hi <= 1"
                         % (lo_hi,))
    return fa


# batches prepared ahead by the worker process while the network trains on the current one
PREFETCH = 3


def prepare_batch(corpus: "Corpus", fe: Frontend, items, batch_size: int, augment: bool, fa: Dict,
                  seed: int, epoch: int, b: int, positions: Optional[List[int]] = None, cached=None,
                  hard: Optional[np.ndarray] = None, hard_cfg: Optional[Dict] = None):
    """Batch ``b`` of an epoch: augmented waveforms -> engine features (+ VTLP).

    ``batch_size`` is the global batch; ``positions`` the places in it this
    process makes (default: all; a rank of a distributed run makes every
    world-th one).  Example j of the global batch draws its random numbers
    from a generator of its own, seeded with (seed, epoch, b, j), so a batch
    is the same whichever process makes it, whenever, and however many
    processes share it: the worker can run ahead, a resumed run needs no
    generator state, and the result does not depend on the number of ranks.
    ``cached``: an fcache.CachedExamples; the examples it returns features
    for skip the waveform path.  ``hard``: the hard-negative pool of this
    epoch (:func:`mine_hard_negatives`); a ``hard_cfg["share"]`` of the
    running-speech crops come from it."""
    t0 = time.time()
    aug = corpus.augmenter
    batch = items[b * batch_size:(b + 1) * batch_size]
    if positions is None:
        positions = range(len(batch))
    positions = [j for j in positions if j < len(batch)]
    feats = np.empty((len(positions), fe.n_frames, fe.n_mels), np.float32)
    ys = np.empty(len(positions), np.int64)
    train_ex = corpus.splits["train"]
    for n, j in enumerate(positions):
        kind, i, label = batch[j]
        if kind == "clip" and not getattr(train_ex[i], "path", None):
            kind = "silence"   # a GSC-layout corpus' _silence_ example (no file)
        rng = np.random.default_rng([seed, 3, epoch, b, j])
        if kind == "crop" and hard is not None and len(hard) and rng.random() < hard_cfg["share"]:
            kind = "hard"
        if kind == "crop" and fa["p_partial"] > 0 and rng.random() < fa["p_partial"]:
            kind = "partial"
        x = None if cached is None or kind in ("hard", "partial") else cached.features(kind, train_ex[i] if kind == "clip" else None, label,
                                                        rng, augment, fa["p_context"])
        if x is not None:
            feats[n] = x
        elif kind == "silence":
            w = aug.make_silence(rng)
        else:
            mined_rng = None
            if kind == "hard":
                w, mined_rng = corpus.hard_crop(hard, hard_cfg["jitter_ms"], rng, seed)
            elif kind == "partial":
                w = corpus.partial_keyword(fa["partial"], rng)
            else:
                w = corpus.wave(train_ex[i]) if kind == "clip" else corpus.crop("train", rng)
            if augment:
                if (kind == "clip" and label != corpus.unknown_index and aug.speech_bank
                        and rng.random() < fa["p_context"]):
                    w = aug.add_context(w, rng)
                w = aug(w, rng if mined_rng is None else mined_rng)
        if x is None:
            fe.compute(w, feats[n])
        if augment and kind != "silence" and rng.random() < fa["p_vtlp"]:
            feats[n] = vtlp(feats[n], float(rng.uniform(*fa["vtlp"])))
        ys[n] = label
    return feats, ys, time.time() - t0


def step_input(model: BeeNet, feats: np.ndarray, fa: Dict, augment: bool, seed: int, epoch: int, b: int,
               positions, device) -> torch.Tensor:
    """A training step's input: batch ``b`` of ``epoch``'s features normalised by
    ``model``, with SpecAugment's masks when augmenting with it on."""
    x = model.normalise(torch.from_numpy(feats).to(device))
    if augment and fa["p_specaugment"] > 0:
        x = spec_augment_batch(x, fa["p_specaugment"], seed, epoch, b, positions)
    return x


def spec_augment_batch(x: torch.Tensor, p: float, seed: int, epoch: int, b: int, positions) -> torch.Tensor:
    """SpecAugment with probability ``p`` per example; example j of global
    batch b draws from its own generator (seed, epoch, b, j), like
    :func:`prepare_batch`."""
    for n, j in enumerate(positions):
        frng = np.random.default_rng([seed, 4, epoch, b, j])
        if frng.random() < p:
            x[n:n + 1] = spec_augment(x[n:n + 1].clone(), frng)
    return x


# The worker's job, set before the fork (inherited, never pickled: the corpus is large).
_JOB: Dict = {}


def _worker_batch(epoch: int, b: int, hard: Optional[np.ndarray] = None):
    j = _JOB
    if j.get("epoch") != epoch:
        j["epoch"], j["items"] = epoch, train_items(j["corpus"], j["seed"], epoch)
    if "fe" not in j:
        j["fe"] = Frontend()
    return prepare_batch(j["corpus"], j["fe"], j["items"], j["batch_size"], j["augment"], j["fa"],
                         j["seed"], epoch, b, j["positions"], j["cached"], hard, j["hard_cfg"])


def _worker_candidates(epoch: int, lo: int, hi: int) -> np.ndarray:
    j = _JOB
    if "fe" not in j:
        j["fe"] = Frontend()
    return candidate_features(j["corpus"], j["fe"], j["seed"], epoch, j["hard_cfg"], lo, hi)


class BatchMaker:
    """Makes training batches in one forked worker process, so augmentation
    and the front-end (a third of an epoch when done between steps) run
    while PyTorch trains.  A thread was tried first: the augmentation's
    Python held the GIL between PyTorch's many small operations and the
    epoch got slower (346 s against 330 s sequential)."""

    def __init__(self, corpus: "Corpus", batch_size: int, augment: bool, fa: Dict, seed: int,
                 positions: Optional[List[int]] = None, cached=None, hard_cfg: Optional[Dict] = None):
        import multiprocessing
        _JOB.clear()
        _JOB.update(corpus=corpus, batch_size=batch_size, augment=augment, fa=fa, seed=seed,
                    positions=positions, cached=cached, hard_cfg=hard_cfg)
        self.pool = multiprocessing.get_context("fork").Pool(1)

    def submit(self, epoch: int, b: int, hard: Optional[np.ndarray] = None):
        return self.pool.apply_async(_worker_batch, (epoch, b, hard))

    def submit_candidates(self, epoch: int, lo: int, hi: int):
        return self.pool.apply_async(_worker_candidates, (epoch, lo, hi))

    def close(self) -> None:
        self.pool.terminate()
        self.pool.join()
