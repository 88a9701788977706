"""The training corpus in memory (GSC layout, corpus v2 with running
sentences and recorded sounds) and the items of its epochs and evaluation
sets (docs/training.md, "Corpus v2 training")."""
from __future__ import annotations

import os
import random
from typing import Dict, List, Optional

import numpy as np

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
        from .mining import candidate_noise_rng
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


def train_items(corpus: "Corpus", seed: int, epoch: int) -> List[tuple]:
    """The (kind, example index, label) items of a training epoch, in order."""
    if corpus.v2:
        return corpus.epoch_items("train", np.random.default_rng([seed, 1000 + epoch]))
    exs = corpus.splits["train"]
    return [("clip", int(i), exs[int(i)].label_index)
            for i in np.random.default_rng(seed * 1000 + epoch).permutation(len(exs))]


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
