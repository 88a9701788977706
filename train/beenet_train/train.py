"""Joint training of all exits (BEENet): summed cross-entropy over exits.

Features are always computed by the engine front-end (ctypes, frontend.py) from
on-the-fly augmented waveforms (data.augment.Augmenter), or, with
``feature_cache``, read from the front-end's output cached once per clip and
augmented in the feature domain (fcache.py, docs/scale.md).
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from . import distributed as D
from .frontend import Frontend
from .average import DEFAULT_DECAY, WeightAverage, check_decay, recalibrate_bn
from .model import BeeNet, build_graph, exit_ops_fractions, single_exit_config

SWEEP_THRESHOLDS = [0.1, 0.25, 0.5, 0.75, 1.0]


def log(msg: str) -> None:
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---------------------------------------------------------------------------
# Data

# Class mix of a corpus v2 epoch (docs/training.md): shares of the examples.
# Keywords are all keyword clips (recorded voices' clips counted
# `recorded_weight` times); the other shares are drawn fresh every epoch.
DEFAULT_MIX = {"keywords": 0.58, "unknown_words": 0.20, "speech_crops": 0.15, "silence": 0.07}
# corpus v2 augmentation beyond the augmenter's defaults: a word anywhere in
# the window, never cut (a stream's windows start every interval ms wherever
# the word is; +-100 ms only covered centred words)
V2_AUGMENT = {"shift_ms": 250.0, "shift_inside": True}
SENTENCES_JSON = os.path.join("_sentences_", "sentences.json")
SOUNDS_DIR = "_sounds_"


def load_sentences(root: str) -> Dict[str, List[np.ndarray]]:
    """Running sentences of a corpus v2 per split, as int16 arrays ({} if none)."""
    import json
    from .data.gsc import read_wav
    path = os.path.join(root, SENTENCES_JSON)
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        meta = json.load(f)
    out: Dict[str, List[np.ndarray]] = {"train": [], "val": [], "test": []}
    for m in meta:
        x = read_wav(os.path.join(root, m["file"]))
        out[m["split"]].append(np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16))
    return out


def load_sounds(root: str, split: str) -> List[np.ndarray]:
    """Recorded non-speech sounds of one split (`_sounds_/<split>/*.wav`), [] if none."""
    from .data.gsc import read_wav
    d = os.path.join(root, SOUNDS_DIR, split)
    if not os.path.isdir(d):
        return []
    return [read_wav(os.path.join(d, n)) for n in sorted(os.listdir(d)) if n.endswith(".wav")]


def recorded_speakers(root: str) -> set:
    """GSC speaker ids of the corpus' non-eSpeak (recorded) voices, from corpus.json."""
    import json
    try:
        with open(os.path.join(root, "corpus.json")) as f:
            voices = json.load(f)["voices"]
    except (OSError, ValueError, KeyError):
        return set()
    return {v["speaker"] for v in voices.values() if v.get("family") != "espeak"}


class Corpus:
    """Waveforms of a GSC-layout corpus, kept in memory as int16.

    A corpus v2 (with ``_sentences_``) is loaded with every unknown-word
    clip; its epochs and validation set follow ``mix`` (see
    :meth:`epoch_items`).  Other corpora keep the GSC recipe's balancing."""

    def __init__(self, root: str, seed: int = 0, augment_config: Optional[Dict] = None, max_per_split=None,
                 mix: Optional[Dict] = None, recorded_weight: int = 3, eval_only: bool = False):
        """eval_only: skip what only training uses (running sentences,
        recorded sounds for augmentation); the splits are the same."""
        from .data import gsc
        from .data.augment import Augmenter, AugmentConfig
        from .data.task import corpus_task
        self.root = root
        self.seed = seed
        self.task = corpus_task(root)   # <root>/task.json, else KWS-12
        self.labels = list(self.task.labels)
        # None: a task without that class (LID-6: the languages only)
        self.silence_index = self.labels.index(self.task.silence) if self.task.silence else None
        self.unknown_index = self.labels.index(self.task.unknown) if self.task.unknown else None
        if (self.silence_index is None or self.unknown_index is None) and \
                os.path.isfile(os.path.join(root, SENTENCES_JSON)):
            raise ValueError("%s: task %s: a corpus v2 (running sentences as _unknown_) needs a "
                             "silence and an unknown class" % (root, self.task.name))
        self.sentences = {} if eval_only else load_sentences(root)
        self.v2 = bool(self.sentences) or (eval_only and os.path.isfile(os.path.join(root, SENTENCES_JSON)))
        self.mix = dict(DEFAULT_MIX if mix is None else mix)
        self.recorded_weight = max(1, int(recorded_weight))
        self.recorded = recorded_speakers(root)
        # _unknown_: every folder that is not a keyword's (the task's unknown words and vocabulary)
        splits = gsc.load_gsc(root, self.labels, unknown_fraction=None) if self.v2 \
            else gsc.load_gsc(root, self.labels)
        self.splits = {}
        for name, exs in splits.items():
            exs = list(exs)
            if max_per_split and len(exs) > max_per_split.get(name, len(exs)):
                rng = random.Random(seed)
                rng.shuffle(exs)
                exs = exs[:max_per_split[name]]
            self.splits[name] = exs
        self.noise = gsc.load_background_noise(root)
        train_noise = self.noise + ([] if eval_only else load_sounds(root, "train"))
        if self.v2 and not isinstance(augment_config, AugmentConfig):
            augment_config = dict(V2_AUGMENT, **(augment_config or {}))
        self.augment_config = augment_config
        self.augmenter = Augmenter(train_noise, seed, augment_config,
                                   speech_bank=self.sentences.get("train"))
        self._gsc = gsc
        self._cache: Dict[str, np.ndarray] = {}
        self._keyword_clips: Optional[List[int]] = None   # partial_keyword's sources

    def epoch_items(self, split: str, rng: np.random.Generator) -> List[tuple]:
        """One epoch (or the validation set) of a corpus v2 as (kind, example
        index or -1, label) items, shuffled: every keyword clip (recorded
        voices' clips `recorded_weight` times in train), then unknown-word
        clips, running-speech crops and silence in the shares of `mix`."""
        exs = self.splits[split]
        kw = [i for i, e in enumerate(exs) if e.label_index not in (self.silence_index, self.unknown_index)]
        if split == "train" and self.recorded_weight > 1:
            kw += [i for i in kw if exs[i].speaker in self.recorded] * (self.recorded_weight - 1)
        unk = [i for i, e in enumerate(exs) if e.label_index == self.unknown_index and e.path]
        total = len(kw) / self.mix["keywords"]
        n_unk = min(len(unk), int(round(total * self.mix["unknown_words"])))
        n_crop = int(round(total * self.mix["speech_crops"])) if self.sentences.get(split) else 0
        n_sil = int(round(total * self.mix["silence"]))
        items = [("clip", i, exs[i].label_index) for i in kw]
        items += [("clip", int(i), self.unknown_index) for i in rng.choice(unk, n_unk, replace=False)]
        items += [("crop", -1, self.unknown_index)] * n_crop + [("silence", -1, self.silence_index)] * n_sil
        return [items[int(j)] for j in rng.permutation(len(items))]

    def crop(self, split: str, rng: np.random.Generator) -> np.ndarray:
        """A 1 s crop of a random running sentence of `split` (float32)."""
        from .data.audio import CLIP_SAMPLES
        bank = self.sentences[split]
        src = bank[int(rng.integers(len(bank)))]
        off = int(rng.integers(0, max(1, src.size - CLIP_SAMPLES + 1)))
        seg = src[off:off + CLIP_SAMPLES].astype(np.float32) / 32768.0
        return np.pad(seg, (0, CLIP_SAMPLES - seg.size))

    def crop_at(self, split: str, sentence: int, offset: int) -> np.ndarray:
        """The 1 s crop of sentence `sentence` of `split` starting at sample `offset` (float32, zero-padded)."""
        from .data.audio import CLIP_SAMPLES
        src = self.sentences[split][sentence]
        off = int(min(max(0, offset), max(0, src.size - CLIP_SAMPLES)))
        seg = src[off:off + CLIP_SAMPLES].astype(np.float32) / 32768.0
        return np.pad(seg, (0, CLIP_SAMPLES - seg.size))

    def hard_crop(self, hard: np.ndarray, jitter_ms: float, rng: np.random.Generator, seed: int = 0):
        """A crop of a random entry of the hard-negative pool `hard` (rows of
        :func:`mine_hard_negatives`), jittered, and the generator of the
        augmentation it was mined under (None for a crop mined clean, which
        the caller augments afresh as any crop).  A pool of an older resume
        file has two columns (sentence, offset): all clean."""
        from .data.audio import CLIP_SAMPLES
        row = hard[int(rng.integers(len(hard)))]
        j = int(round(jitter_ms * CLIP_SAMPLES / 1000.0))
        w = self.crop_at("train", int(row[0]), int(row[1]) + int(rng.integers(-j, j + 1)))
        if len(row) < 4 or row[3] < 0:
            return w, None
        return w, candidate_noise_rng(seed, int(row[2]), int(row[3]))

    def partial_keyword(self, frac, rng: np.random.Generator) -> np.ndarray:
        """A training keyword clip cut at a window edge so that only a fraction
        ``frac`` = (lo, hi) of its spoken part (``audio.active_region``) is
        left: what a window sliding onto or off a keyword in a stream sees
        (the word's end at the window's start, or its start at the window's
        end, with equal odds).  Labelled ``_unknown_`` by the caller: in a
        stream such fragments were heard as other keywords (*op* of *stop*
        as *up*, *own* of *down* as *on*; docs/training.md)."""
        from .data.audio import active_region
        if self._keyword_clips is None:
            exs = self.splits["train"]
            self._keyword_clips = [i for i, e in enumerate(exs) if getattr(e, "path", None)
                                   and e.label_index not in (self.silence_index, self.unknown_index)]
        w = self.wave(self.splits["train"][self._keyword_clips[int(rng.integers(len(self._keyword_clips)))]])
        s, e = active_region(w)
        out = np.zeros_like(w)
        if e <= s:
            return out   # a silent clip: nothing to cut
        keep = max(1, int(round((e - s) * rng.uniform(*frac))))
        if rng.random() < 0.5:
            out[:keep] = w[e - keep:e]
        else:
            out[out.size - keep:] = w[s:s + keep]
        return out

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

def item_waves(corpus: "Corpus", split: str, items, seed: int) -> List[np.ndarray]:
    """Un-augmented waveforms of epoch_items(): crops and silence drawn with
    a generator seeded per item (the same set every time)."""
    exs = corpus.splits[split]
    out = []
    for i, (kind, j, _) in enumerate(items):
        if kind == "clip":
            out.append(np.asarray(corpus.wave(exs[j]), np.float32))
        elif kind == "crop":
            out.append(corpus.crop(split, np.random.default_rng([seed, i])))
        else:
            out.append(corpus._gsc.silence_wave(corpus.noise, np.random.default_rng([seed, i])))
    return out


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


# batches prepared ahead by the worker process while the network trains on the current one
PREFETCH = 3
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


def check_mix(overrides: Optional[Dict]) -> Dict:
    """DEFAULT_MIX with ``overrides``, or a ValueError: the four known shares,
    each a number >= 0, keywords > 0, summing to 1."""
    if overrides is not None and not isinstance(overrides, dict):
        raise ValueError("mix: %r is not a JSON object" % (overrides,))
    mix = dict(DEFAULT_MIX, **(overrides or {}))
    unknown = sorted(set(mix) - set(DEFAULT_MIX))
    if unknown:
        raise ValueError("mix: unknown key(s) %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(DEFAULT_MIX))))
    for k, v in mix.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0.0:
            raise ValueError("mix: %s = %r is not a share >= 0" % (k, v))
    if mix["keywords"] <= 0.0:
        raise ValueError("mix: keywords must be > 0 (every keyword clip is in every epoch)")
    if abs(sum(mix.values()) - 1.0) > 1e-6:
        raise ValueError("mix: the shares sum to %.6g, not 1" % sum(mix.values()))
    return {k: float(v) for k, v in mix.items()}


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


def train_items(corpus: "Corpus", seed: int, epoch: int) -> List[tuple]:
    """The (kind, example index, label) items of a training epoch, in order."""
    if corpus.v2:
        return corpus.epoch_items("train", np.random.default_rng([seed, 1000 + epoch]))
    exs = corpus.splits["train"]
    return [("clip", int(i), exs[int(i)].label_index)
            for i in np.random.default_rng(seed * 1000 + epoch).permutation(len(exs))]


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


def _save_resume(path: str, state: Dict) -> None:
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


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


def _bf16_autocast():
    return torch.autocast("cpu", dtype=torch.bfloat16)


# The arithmetic of the training steps' forward pass (the backward follows it).  "bf16": CPU
# autocast to bfloat16 (convolutions and matrix products; PyTorch keeps reductions such as the
# losses in float32), which AVX-512 BF16 computes natively; the master weights, the optimiser,
# validation, mining and export stay float32 (docs/training.md, "Optimiser and schedule").
PRECISIONS = {"fp32": contextlib.nullcontext, "bf16": _bf16_autocast}

# Which weights a run keeps (``select``): "best", the epoch with the best
# final-exit accuracy on the validation clips (ties -> mean over exits);
# "last", the weights after the last step (the schedule's end); "ema", the
# exponential moving average of the weights over the steps (average.py).
SELECTIONS = ("best", "last", "ema")


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


# --select ema: training batches on which the averaged weights' batch norms are measured again
RECAL_BATCHES = 32


def recalibration_batches(submit, model: BeeNet, epoch: int, n: int, fa: Dict, augment: bool, seed: int,
                          positions, device) -> List[torch.Tensor]:
    """The inputs of the first ``n`` batches of ``epoch`` made again, as the
    training step saw them (normalised, SpecAugment if on): the same batches
    whether or not the run was resumed."""
    return [step_input(model, submit(epoch, b).get()[0], fa, augment, seed, epoch, b, positions, device)
            for b in range(n)]


def keep_average(model: BeeNet, avg: WeightAverage, batches, val_feats: np.ndarray, val_y: np.ndarray, say):
    """Load the averaged weights into ``model`` with whichever batch-norm statistics
    (averaged, or measured again under the averaged weights on ``batches``,
    average.recalibrate_bn) give the better final exit on the validation clips.
    Returns (metadata, the kept weights' validation accuracy per exit)."""
    import copy
    model.load_state_dict(avg.averaged_state(model))
    acc_avg = exit_accuracies(model, val_feats, val_y)
    twin = copy.deepcopy(model)
    n = recalibrate_bn(twin, batches)
    acc_rec = exit_accuracies(twin, val_feats, val_y) if n else acc_avg
    recal = bool(n) and acc_rec[-1] > acc_avg[-1]
    if recal:
        model.load_state_dict(twin.state_dict())
    say("keeping the weights averaged over %d steps (decay %g): validation final exit %.4f with the averaged "
        "batch-norm statistics, %.4f measured again on %d training batches; kept the %s" % (
            avg.updates, avg.decay, acc_avg[-1], acc_rec[-1], n, "latter" if recal else "former"))
    info = {"decay": avg.decay, "updates": avg.updates, "bn": "recalibrated" if recal else "averaged",
            "bn_batches": n, "val_final_averaged_bn": float(acc_avg[-1]),
            "val_final_recalibrated_bn": float(acc_rec[-1])}
    return info, (acc_rec if recal else acc_avg).tolist()


def default_threads() -> int:
    """PyTorch threads for a training process when --threads is not given: the
    cores this process may run on, less one for its batch worker, at least 1.
    On the 2-core machine an epoch of the KWS-12 recipe took 210 s with one
    thread and 255 s with two (docs/training.md, "Why the targets are
    missed", Budget): two threads fight the worker for the second core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


def train(data: str, out: str, seed: int = 0, epochs: int = 30, minutes: Optional[float] = None,
          batch_size: int = 128, lr: float = 2e-3, config: Optional[Dict] = None,
          exit_weights: Optional[List[float]] = None, threads: Optional[int] = None, max_train: Optional[int] = None,
          max_eval: Optional[int] = None, checkpoint: Optional[str] = None, augment: bool = True,
          quiet: bool = False, feature_aug: Optional[Dict] = None, recorded_weight: int = 3,
          augment_config: Optional[Dict] = None, resume: Optional[str] = None,
          resume_minutes: float = 5.0, sync_bn: bool = False, progress_seconds: float = 60.0,
          feature_cache: Optional[str] = None, cache_wave_fraction: float = 0.25,
          hard_negatives: Optional[Dict] = None, single_exit: Optional[int] = None,
          exit_loss: str = "softmax", batch_cache: Optional[str] = None, mix: Optional[Dict] = None,
          teacher: Optional[str] = None, distill: Optional[Dict] = None, precision: str = "fp32",
          label_smoothing: float = 0.0, select: str = "best", ema_decay: float = DEFAULT_DECAY) -> Dict:
    """Train all exits jointly (``single_exit`` k: only the network up to
    exit k, with that exit alone, model.single_exit_config).  ``exit_loss``
    "bce": the exits before the last learn one independent score per class
    (exit_losses; for the class-exclusion policy, whose margins then compare
    sigmoid scores: the exported file says so in
    beenet.class_exclusion.score).  ``resume``: a file written every
    ``resume_minutes`` (model, optimiser, position, generators, elapsed
    time); when it exists the run continues from it, so a killed run
    resumes where its last save left it (the wall-clock budget counts the
    time already spent).

    Under torch.distributed (torchrun, or RANK/WORLD_SIZE/MASTER_ADDR/
    MASTER_PORT set) ``batch_size`` is the global batch: each rank trains
    every world-th example of it with DistributedDataParallel, rank 0 alone
    logs and writes files (docs/scale.md).  ``sync_bn``: batch statistics
    over the global batch.  Ranks other than 0 return only
    ``final_state_dict`` (the weights after the last step, as on rank 0).

    ``feature_cache``: a directory for the front-end's output, built once
    (sharded over the ranks) and rebuilt when stale; examples are then made
    from cached features, a ``cache_wave_fraction`` of them (when
    augmenting) on the waveform path (fcache.py, docs/scale.md).

    ``hard_negatives``: overrides of DEFAULT_HARD_NEGATIVES (corpus v2 with
    augmentation only; ``share`` 0 = off).

    ``batch_cache``: a directory where the training batches are stored and
    read back by the next run that would make the same ones (bcache.py;
    Table 2 trains many networks on the same batches); not with hard
    negatives (batches that depend on the network) or torch.distributed.

    ``teacher``: a trained checkpoint (e.g. the real-valued twin, config
    real_valued) distilled into every exit; ``distill`` overrides
    DEFAULT_DISTILL (distill_losses).

    ``precision``: a key of PRECISIONS, the arithmetic of the training steps.

    ``label_smoothing``: of the exits' cross-entropy targets (exit_losses).

    ``select``: a key of SELECTIONS, which weights the checkpoint and the
    model file get; "ema" averages with ``ema_decay`` per step (average.py)."""
    if precision not in PRECISIONS:
        raise ValueError("precision %r: not one of %s" % (precision, ", ".join(PRECISIONS)))
    if select not in SELECTIONS:
        raise ValueError("select %r: not one of %s" % (select, ", ".join(SELECTIONS)))
    check_label_smoothing(label_smoothing)
    check_decay(ema_decay)
    autocast = PRECISIONS[precision]
    t0 = time.time()
    d = D.setup()
    threads = threads or default_threads()
    torch.set_num_threads(threads)
    seed_everything(seed)
    say = (lambda m: None) if quiet or not d.main else log
    positions = D.rank_positions(batch_size, d)
    D.local_batch(batch_size, d)
    fa = check_feature_aug(dict(DEFAULT_FEATURE_AUG, **(feature_aug or {})))
    hn = check_hard_negatives(hard_negatives)
    limits = None
    if max_train or max_eval:
        limits = {"train": max_train or 10 ** 9, "val": max_eval or 10 ** 9, "test": max_eval or 10 ** 9}
    corpus = Corpus(data, seed=seed, max_per_split=limits, recorded_weight=recorded_weight,
                    augment_config=augment_config, mix=check_mix(mix))
    fe = Frontend()
    train_ex = corpus.splits["train"]
    cached = None
    if feature_cache:
        from . import fcache
        cached = fcache.CachedExamples(fcache.prepare(feature_cache, corpus, fe, d, say), corpus,
                                       cache_wave_fraction)
    say("corpus %s%s: %s" % (data, " (v2: mix %s, recorded weight %d)" % (corpus.mix, corpus.recorded_weight)
                             if corpus.v2 else "", {k: len(v) for k, v in corpus.splits.items()}))

    # Normalisation statistics on (un-augmented) training clips (rank 0; broadcast).
    mean = inv_std = val_feats = val_y = None
    if d.main:
        rng = np.random.default_rng(seed)
        if corpus.v2:
            stat_items = corpus.epoch_items("train", np.random.default_rng([seed, 1]))[:3000]
            stat_feats = features_for(fe, item_waves(corpus, "train", stat_items, seed + 1))
            val_items = corpus.epoch_items("val", np.random.default_rng([seed, 2]))
            val_waves = item_waves(corpus, "val", val_items, seed + 2)
            val_y = np.array([it[2] for it in val_items])
        else:
            stat_idx = rng.permutation(len(train_ex))[:3000]
            stat_feats = features_for(fe, eval_waves(corpus, [train_ex[i] for i in stat_idx], seed + 1))
            val_ex = corpus.splits["val"]
            val_waves = eval_waves(corpus, val_ex, seed + 2)
            val_y = np.array([ex.label_index for ex in val_ex])
        mean, inv_std = norm_stats(stat_feats)
        del stat_feats
        val_feats = features_for(fe, val_waves)
        del val_waves
        say("normalisation + validation features ready (%d val examples, %.1fs)" % (len(val_y), time.time() - t0))
    mean, inv_std = D.broadcast_object((mean, inv_std), d)

    config = dict(config or {})
    config.setdefault("num_classes", len(corpus.labels))
    if corpus.task.name != "kws12":
        config.setdefault("name", "%s-%s-ee" % (corpus.task.name, config.get("family", "quicknet")))
    if config["num_classes"] != len(corpus.labels):
        raise ValueError("config num_classes %d, but task %s has %d labels"
                         % (config["num_classes"], corpus.task.name, len(corpus.labels)))
    if single_exit:
        config = single_exit_config(config, single_exit)
    model = BeeNet(config)
    if not model.config.get("pcen"):   # a PCEN network's own BN normalises (model.PCEN)
        model.feat_mean.copy_(torch.from_numpy(mean))
        model.feat_inv_std.copy_(torch.from_numpy(inv_std))
    if sync_bn and d.active:
        D.convert_sync_bn(model, d)
    model.to(d.device)
    dd = check_distill(dict(DEFAULT_DISTILL, **(distill or {}))) if teacher else None
    tnet = load_teacher(teacher, model.config["num_classes"], d.device) if teacher else None
    if tnet is not None:
        say("distilling %s (%s, %d exits) into every exit: weight %.2f, temperature %.1f" % (
            teacher, "real-valued" if tnet.config.get("real_valued") else "binary", tnet.num_exits,
            dd["weight"], dd["temperature"]))
    E = model.num_exits
    w_exit = exit_weights or [1.0] * E
    assert len(w_exit) == E
    # a real-valued network (config real_valued) has the OPs of its binary twin
    nodes = build_graph((BeeNet(dict(model.config, real_valued=False)) if model.config.get("real_valued")
                         else model).eval())
    exit_fracs, tb, tf = exit_ops_fractions(nodes, tuple(model.config["in_shape"]), model.config["num_classes"])
    say("model: %d exits at OPs fractions %s; total OPs %.0f (FLOPs %d + BOPs %d / 64)" % (
        E, ["%.3f" % f for f in exit_fracs], tf + tb / 64.0, tf, tb))

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n_epoch_items = len(corpus.epoch_items("train", np.random.default_rng([seed, 0]))) if corpus.v2 \
        else len(train_ex)
    steps_per_epoch = max(1, n_epoch_items // batch_size)
    total_steps = steps_per_epoch * epochs
    budget = minutes * 60.0 if minutes else None
    best = {"score": -1.0}
    history = []
    step = 0
    start_epoch, start_b, spent = 0, 0, 0.0
    resumed_minutes = 0.0
    st = None
    hard = None   # the hard-negative pool of the current epoch
    mine = corpus.v2 and augment and hn["share"] > 0 and bool(corpus.sentences.get("train"))
    if resume and d.main and os.path.isfile(resume):
        st = torch.load(resume, weights_only=False, map_location="cpu")
    st = D.broadcast_object(st, d)   # every rank resumes from rank 0's file
    if st:
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        torch.set_rng_state(st["torch_rng"])
        start_epoch, start_b, step, spent = st["epoch"], st["b"], st["step"], st["spent"]
        resumed_minutes = spent / 60.0
        best, history = st["best"], st["history"]
        hard = st.get("hard")
        say("resumed from %s: epoch %d batch %d, %.1f min already spent" % (resume, start_epoch + 1, start_b,
                                                                          spent / 60))
    avg = WeightAverage(model, ema_decay) if select == "ema" and d.main else None
    if avg is not None and st and st.get("ema"):
        avg.load_state_dict(st["ema"])
    net, counter = D.wrap_ddp(model, d)
    say("%s: global batch %d, %d per process%s, %d PyTorch thread%s each" % (
        "%d processes (%s)" % (d.world, d.backend) if d.active else "1 process", batch_size,
        batch_size // d.world, ", SyncBatchNorm" if sync_bn and d.active else "", threads, "s"[:threads > 1]))
    progress = D.Progress(d.main and not quiet, total_steps, batch_size, progress_seconds)
    maker = BatchMaker(corpus, batch_size, augment, fa, seed, positions, cached, hn)
    bc = None
    if batch_cache:
        if mine or d.active:
            raise ValueError("--batch-cache: batches depend on the network with hard negatives, "
                             "and on the rank under torch.distributed; not available there")
        from .bcache import BatchCache
        bc = BatchCache(batch_cache, corpus, fe, {
            "seed": seed, "batch_size": batch_size, "augment": bool(augment), "feature_aug": fa,
            "augment_config": corpus.augment_config or {}, "mix": corpus.mix if corpus.v2 else None,
            "recorded_weight": corpus.recorded_weight, "limits": limits, "steps_per_epoch": steps_per_epoch,
            "feature_cache": [feature_cache and os.path.abspath(feature_cache), cache_wave_fraction]})
        say("batch cache %s" % bc.dir)

    from .bcache import Stored

    def submit(ep: int, nb: int):
        if bc is not None and bc.has(ep, nb):
            return Stored(bc, ep, nb)
        return maker.submit(ep, nb, hard)
    t_train = time.time() - spent
    last_save = time.time()
    stop = False
    epoch = start_epoch
    for epoch in range(start_epoch, epochs):
        net.train()
        items = train_items(corpus, seed, epoch)
        tot_loss, n_seen = 0.0, 0
        correct = np.zeros(E)
        t_ep = time.time()
        mf = MiningFeatures(maker, epoch, int(hn["candidates"]), steps_per_epoch) \
            if mine and d.main and epoch + 1 < epochs else None
        t_feat = t_wait = 0.0   # the worker's time making batches; the trainer's time waiting for them
        first_b = start_b if epoch == start_epoch else 0
        pending = {nb: submit(epoch, nb) for nb in range(first_b, min(first_b + PREFETCH, steps_per_epoch))}
        for b in range(first_b, steps_per_epoch):
            # progress in [0, 1): by steps or by the wall-clock budget, whichever is further
            prog = step / total_steps
            if budget:
                prog = max(prog, D.broadcast_float(time.time() - t_train, d) / budget)
            if prog >= 1.0:
                stop = True
                break
            if resume and d.main and time.time() - last_save > resume_minutes * 60:
                _save_resume(resume, {"model": model.state_dict(), "opt": opt.state_dict(),
                                      "torch_rng": torch.get_rng_state(), "epoch": epoch, "b": b,
                                      "step": step, "spent": time.time() - t_train, "best": best,
                                      "history": history, "hard": hard,
                                      "ema": avg.state_dict() if avg is not None else None})
                last_save = time.time()
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * prog))
            if mf is not None:
                mf.step(b)
            job = pending.pop(b)
            t_w = time.time()
            feats, ys, tb_feat = job.get()
            t_wait += time.time() - t_w
            if bc is not None and not isinstance(job, Stored):   # the worker made it: keep it
                bc.put(epoch, b, feats, ys)
                bc.misses += 1
            for nb in range(b + 1, min(b + 1 + PREFETCH, steps_per_epoch)):
                if nb not in pending:
                    pending[nb] = submit(epoch, nb)
            t_feat += tb_feat
            x = step_input(model, feats, fa, augment, seed, epoch, b, positions, d.device)
            y = torch.from_numpy(ys).to(d.device)
            with autocast():
                outs = [o.float() for o in net(x)]
            losses = exit_losses(outs, y, exit_loss, label_smoothing)
            if tnet is not None:
                with torch.no_grad():
                    # the same masks as the student's
                    tx = step_input(tnet, feats, fa, augment, seed, epoch, b, positions, d.device)
                    t_outs = tnet(tx)
                a_kd = dd["weight"]
                losses = [(1.0 - a_kd) * lk + a_kd * kk
                          for lk, kk in zip(losses, distill_losses(outs, t_outs, dd["temperature"]))]
            loss = sum(wk * lk for wk, lk in zip(w_exit, losses))
            opt.zero_grad()
            loss.backward()
            opt.step()
            model.clip_()
            if avg is not None:
                avg.update(model)
            step += 1
            progress.step(epoch, epochs, step, prog)
            tot_loss += float(loss) * len(ys)
            n_seen += len(ys)
            for k, o in enumerate(outs):
                correct[k] += float((o.argmax(1) == y).sum())
        tot_loss, n_seen, *corr = D.all_sum([tot_loss, n_seen] + correct.tolist(), d)
        correct = np.array(corr)
        if n_seen == 0:
            break
        stats = None
        if mine and not stop and epoch + 1 < epochs:   # rank 0 mines, every rank uses its pool
            if d.main:
                t_mine = time.time()
                hard, stats = mine_hard_negatives(model, corpus, fe, seed, epoch, hn, mf.get())
                stats["seconds"] = round(time.time() - t_mine, 2)   # in the training process
            hard = D.broadcast_object(hard, d)
        if not d.main:   # validation, selection and files: rank 0
            if stop:
                break
            continue
        progress.end_line()
        vacc = exit_accuracies(model, val_feats, val_y)
        score = float(vacc[-1]) + 1e-3 * float(vacc.mean())   # final exit, ties -> mean over exits
        rec = {"epoch": epoch + 1, "loss": tot_loss / n_seen, "train_acc": (correct / n_seen).tolist(),
               "val_acc": vacc.tolist(), "seconds": time.time() - t_ep, "feature_seconds": t_feat,
               "wait_seconds": t_wait}
        if stats is not None:
            rec["hard_negatives"] = stats
            say("hard negatives for epoch %d: %.1f %% of %d crops score a keyword >= 0.5, %.1f %% >= 0.9; "
                "kept %d down to %.3f (%.0f s)" % (epoch + 2, 100 * stats["kw_post_ge_0.5"], hn["candidates"],
                                                  100 * stats["kw_post_ge_0.9"], hn["keep"], stats["kept_min_post"],
                                                  stats["seconds"]))
            if "kept_noisy" in stats:
                say("  of the noisy candidates %.1f %% score a keyword >= 0.5; %.0f %% of those kept are noisy" % (
                    100 * stats["noisy_kw_post_ge_0.5"], 100 * stats["kept_noisy"]))
        history.append(rec)
        say("epoch %d loss %.3f train %s val %s (%.0fs, features %.0fs, waited %.0fs, lr %.2e)" % (
            epoch + 1, rec["loss"], " ".join("%.3f" % a for a in rec["train_acc"]),
            " ".join("%.3f" % a for a in vacc), rec["seconds"], t_feat, t_wait, opt.param_groups[0]["lr"]))
        if score > best["score"]:
            best = {"score": score, "epoch": epoch + 1, "val_acc": vacc.tolist(),
                    "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        if stop:
            break
    recal = recalibration_batches(submit, model, epoch, min(RECAL_BATCHES, steps_per_epoch), fa, augment, seed,
                                  positions, d.device) if avg is not None else []
    maker.close()
    progress.end_line()
    final_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    comm_bytes = counter.bytes / max(1, progress.steps) if counter else 0.0
    D.shutdown(d)
    if not d.main:
        return {"final_state_dict": final_state, "rank": d.rank}
    if d.active:
        say("all-reduced %.0f bytes of gradients per step (DDP buckets)" % comm_bytes)
    model.cpu()
    kept = best["epoch"] if select == "best" else len(history)
    kept_val = history[kept - 1]["val_acc"] if history else None
    ema_info = None
    if select == "best":
        model.load_state_dict(best["state_dict"])
    elif select == "ema":
        ema_info, kept_val = keep_average(model, avg, recal, val_feats, val_y, say)
    else:
        say("keeping the weights after the last step (epoch %d; best validation epoch %d)" % (kept, best["epoch"]))
    model.eval()
    # Recommended threshold: chosen on the validation split (never on test).
    vl = predict_logits(model, val_feats)
    rows = early_exit_sweep(vl, val_y, exit_fracs)
    final_acc = float((vl[-1].argmax(-1) == val_y).mean())
    threshold = choose_threshold(rows, final_acc)
    # this process's wall time plus the training time of the runs it resumed
    wall = time.time() - t0 + resumed_minutes * 60.0
    say("best epoch %d val final %.4f; sweep %s; recommended entropy threshold %.2f; wall %.1f min" % (
        best["epoch"], final_acc,
        ["%.2f:%.4f/%.3f" % (r["threshold"], r["accuracy"], r["ops_fraction"]) for r in rows],
        threshold, wall / 60))
    training = {
        "seed": seed, "data": os.path.basename(os.path.normpath(data)), "epochs": len(history),
        "best_epoch": best["epoch"], "batch_size": batch_size, "lr": lr,
        "val_accuracy": [float(a) for a in kept_val],
        "val_final_accuracy": final_acc, "wall_minutes": round(wall / 60.0, 2),
        "exit_weights": [float(w) for w in w_exit], "torch": torch.__version__,
        "feature_aug": {k: list(v) if isinstance(v, tuple) else v for k, v in fa.items()},
        "augment": bool(augment), "augment_config": corpus.augment_config or {},
        "mix": corpus.mix if corpus.v2 else None, "recorded_weight": corpus.recorded_weight,
        "train_minutes": round((time.time() - t_train) / 60.0, 2),
        "resumed_after_minutes": round(resumed_minutes, 2),
        "processes": d.world, "sync_bn": bool(sync_bn and d.active), "task": corpus.task.name,
        "allreduce_bytes_per_step": comm_bytes,
    }
    if mine:   # only then: the metadata of runs without it stays as it was
        training["hard_negatives"] = hn
    if exit_loss != "softmax":   # likewise
        training["exit_loss"] = exit_loss
    if precision != "fp32":   # likewise
        training["precision"] = precision
    if label_smoothing:   # likewise
        training["label_smoothing"] = label_smoothing
    if select != "best":   # likewise
        training["select"] = select
        training["kept_epoch"] = kept
    if ema_info is not None:
        training["ema"] = ema_info
    if tnet is not None:   # likewise
        training["distill"] = dict(dd, teacher=os.path.basename(teacher))
    if bc is not None:   # likewise; the batches are the same with or without it
        training["batch_cache"] = bc.key
        say("batch cache: %d batches read, %d made and stored" % (bc.hits, bc.misses))
    if cached is not None:   # only then: the default run's metadata stays as it was
        training["feature_cache"] = {"wave_fraction": cached.wave_fraction, "key": cached.cache.plan.key,
                                     "shards": cached.cache.count}
    ck = {"config": model.config, "state_dict": model.state_dict(), "labels": corpus.labels,
          "task": corpus.task.to_dict(),
          "threshold": threshold, "policy": "entropy", "training": training, "history": history,
          "val_sweep": [{k: v for k, v in r.items() if k not in ("pred", "exit")} for r in rows],
          "exit_ops_fractions": exit_fracs}
    if corpus.task.kind != "keywords":   # beenet.keywords: none (LID-6); else the engine's default
        ck["keywords"] = corpus.task.detection_keywords
    if checkpoint is None:
        checkpoint = os.path.splitext(out)[0] + ".pt" if out else None
    if checkpoint:
        os.makedirs(os.path.dirname(os.path.abspath(checkpoint)), exist_ok=True)
        torch.save(ck, checkpoint)
        say("checkpoint %s" % checkpoint)
    if out and model.config.get("real_valued"):
        say("real-valued network: no model file (the engine runs binary networks); %s is the result"
            % checkpoint)
    elif out:
        from .export import model_to_gguf
        # the keyword classes are the labels not starting with "_" (the engine's
        # default), none for a classification task (LID-6)
        n = model_to_gguf(model, corpus.labels, "entropy", threshold, training=training,
                          keywords=ck.get("keywords"), task=corpus.task.name).write(out)
        say("exported %s (%d bytes)" % (out, n))
    ck["model"] = model
    ck["final_state_dict"] = final_state
    return ck
