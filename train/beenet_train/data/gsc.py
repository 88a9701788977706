"""Reader for the Google Speech Commands v2 directory layout.

Works unchanged on the real corpus (``speech_commands_v0.02`` unpacked)
and on the synthetic corpus written by :mod:`beenet_train.data.synth`::

    <root>/<word>/<speaker>_nohash_<n>.wav
    <root>/validation_list.txt   # "<word>/<file>.wav" per line
    <root>/testing_list.txt
    <root>/_background_noise_/*.wav

Splits: a clip listed in validation_list.txt is "val", in testing_list.txt
"test", every other clip is "train" (the GSC convention).

KWS-12 labels (the paper's task)::

    0 _silence_  1 _unknown_  2 yes 3 no 4 up 5 down 6 left 7 right
    8 on 9 off 10 stop 11 go

``_unknown_`` examples come from every non-keyword word folder (or the
given ``unknown_words``) and are *balanced* per split like the TensorFlow
GSC recipe: ``round(unknown_fraction * n_keyword_examples)`` of them are
kept (default 0.1, i.e. about as many as an average keyword), sampled
round-robin over the unknown words so every word is represented;
``unknown_fraction=None`` keeps them all.

``_silence_`` examples have ``path=None``: there are
``round(silence_fraction * n_keyword_examples)`` per split and the
waveform is cut from the background noise at load time with
:func:`silence_wave` (a random 1 s segment of a random noise file scaled
by a uniform random volume in [0, 1], as in the TensorFlow recipe).  For
a reproducible evaluation set, seed the generator per example, e.g.
``silence_wave(bank, np.random.default_rng([seed, index]))``.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple, Optional

import numpy as np

from .audio import CLIP_SAMPLES, SAMPLE_RATE, AudioFormatError, read_wav  # noqa: F401
from .task import load_task

KWS12_LABELS = load_task("kws12").labels   # tasks/kws12.json
KWS12_KEYWORDS = KWS12_LABELS[2:]
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
BACKGROUND_DIR = "_background_noise_"
SPLITS = ("train", "val", "test")
LIST_FILES = {"val": "validation_list.txt", "test": "testing_list.txt"}

_ENTRY_RE = re.compile(r"^[^/\\]+/[^/\\]+\.wav$")


class Example(NamedTuple):
    path: Optional[str]   # absolute path of the WAV, None for _silence_
    label_index: int      # index into the label list
    word: str             # folder name ("_silence_" for silence)
    speaker: str          # GSC speaker id (part before "_nohash_"), "" for silence


class CorpusError(ValueError):
    """The directory is not a valid Speech Commands style corpus."""


def speaker_of(filename: str) -> str:
    base = os.path.basename(filename)
    if "_nohash_" in base:
        return base.split("_nohash_", 1)[0]
    return os.path.splitext(base)[0]


def _read_list(root: str, split: str) -> dict[str, int]:
    path = os.path.join(root, LIST_FILES[split])
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path}: missing; a Speech Commands v2 root needs validation_list.txt and "
            "testing_list.txt (relative '<word>/<file>.wav' paths, one per line)")
    entries: dict[str, int] = {}
    with open(path, encoding="utf-8", errors="strict") as f:
        for lineno, line in enumerate(f, 1):
            e = line.strip()
            if not e:
                continue
            if not _ENTRY_RE.match(e):
                raise CorpusError(f"{path}:{lineno}: malformed entry {e!r} "
                                  "(expected '<word>/<file>.wav')")
            if not os.path.isfile(os.path.join(root, e)):
                raise CorpusError(f"{path}:{lineno}: {e} is listed but does not exist")
            if e in entries:
                raise CorpusError(f"{path}:{lineno}: duplicate entry {e}")
            entries[e] = lineno
    return entries


def word_folders(root: str) -> list[str]:
    """Word folders of a corpus (everything except hidden/underscore dirs)."""
    return sorted(d for d in os.listdir(root)
                  if not d.startswith((".", "_")) and os.path.isdir(os.path.join(root, d)))


def scan(root: str) -> dict[str, dict[str, list[str]]]:
    """{split: {word: [relative paths]}} for every word folder (no balancing)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: corpus directory does not exist")
    lists = {s: _read_list(root, s) for s in LIST_FILES}
    both = set(lists["val"]) & set(lists["test"])
    if both:
        raise CorpusError(f"{root}: {len(both)} clips are in both validation_list.txt and "
                          f"testing_list.txt, e.g. {sorted(both)[0]}")
    out: dict[str, dict[str, list[str]]] = {s: {} for s in SPLITS}
    for w in word_folders(root):
        for fn in sorted(os.listdir(os.path.join(root, w))):
            if not fn.endswith(".wav"):
                continue
            rel = f"{w}/{fn}"
            s = "val" if rel in lists["val"] else ("test" if rel in lists["test"] else "train")
            out[s].setdefault(w, []).append(rel)
    return out


def load_gsc(root: str, labels: list[str] = KWS12_LABELS,
             unknown_words: Optional[list[str]] = None,
             silence_fraction: float = 0.1, seed: int = 0,
             unknown_fraction: Optional[float] = 0.1) -> dict[str, list[Example]]:
    """Load a GSC-layout corpus: {"train"|"val"|"test": [Example, ...]}.

    ``labels``: label list; ``_silence_``/``_unknown_`` are special, every
    other entry is a keyword whose folder must exist.  ``unknown_words``:
    folders mapped to ``_unknown_`` (None = every non-keyword folder).
    ``silence_fraction``/``unknown_fraction``: per-split number of silence
    / unknown examples relative to the number of keyword examples (see
    the module docstring); ``unknown_fraction=None`` keeps all unknowns.
    Deterministic given ``seed``.  Examples are sorted: keywords and
    unknowns by path, then silence.
    """
    labels = list(labels)
    if len(set(labels)) != len(labels):
        raise ValueError(f"duplicate labels in {labels}")
    if silence_fraction < 0 or (unknown_fraction is not None and unknown_fraction < 0):
        raise ValueError("silence_fraction/unknown_fraction must be >= 0")
    keywords = [l for l in labels if l not in (SILENCE, UNKNOWN)]
    per_split = scan(root)
    folders = set(word_folders(root))
    missing = [k for k in keywords if k not in folders]
    if missing:
        raise CorpusError(f"{root}: keyword folders missing: {', '.join(missing)}")
    if UNKNOWN in labels:
        if unknown_words is None:
            unknown_words = sorted(folders - set(keywords))
        else:
            bad = [w for w in unknown_words if w in keywords]
            if bad:
                raise ValueError(f"unknown_words contains keywords: {bad}")
            absent = [w for w in unknown_words if w not in folders]
            if absent:
                raise CorpusError(f"{root}: unknown word folders missing: {', '.join(absent)}")
        if not unknown_words:
            raise CorpusError(f"{root}: label {UNKNOWN} requested but no non-keyword folders")
    else:
        unknown_words = []
    has_noise = bool(_noise_files(root)) if os.path.isdir(os.path.join(root, BACKGROUND_DIR)) else False
    if SILENCE in labels and silence_fraction > 0 and not has_noise:
        raise CorpusError(f"{root}: {SILENCE} examples need {BACKGROUND_DIR}/*.wav, none found")

    kw_index = {k: labels.index(k) for k in keywords}
    out: dict[str, list[Example]] = {}
    for si, split in enumerate(SPLITS):
        words = per_split[split]
        ex = [Example(os.path.join(root, rel), kw_index[k], k, speaker_of(rel))
              for k in keywords for rel in words.get(k, [])]
        n_kw = len(ex)
        if unknown_words:
            rng = np.random.default_rng([seed, si, 1])
            pools = []
            for w in sorted(unknown_words):
                p = list(words.get(w, []))
                rng.shuffle(p)
                if p:
                    pools.append(p)
            total = sum(len(p) for p in pools)
            n_unk = total if unknown_fraction is None else min(total, int(round(unknown_fraction * n_kw)))
            chosen = []
            i = 0
            while len(chosen) < n_unk:  # round-robin over words
                for p in pools:
                    if i < len(p) and len(chosen) < n_unk:
                        chosen.append(p[i])
                i += 1
            ui = labels.index(UNKNOWN)
            ex += [Example(os.path.join(root, rel), ui, rel.split("/", 1)[0], speaker_of(rel))
                   for rel in chosen]
        ex.sort(key=lambda e: e.path)
        if SILENCE in labels and silence_fraction > 0:
            n_sil = int(round(silence_fraction * n_kw))
            ex += [Example(None, labels.index(SILENCE), SILENCE, "")] * n_sil
        out[split] = ex
    return out


def _noise_files(root: str) -> list[str]:
    d = os.path.join(root, BACKGROUND_DIR)
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".wav"))


def load_background_noise(root: str, resample: bool = False) -> list[np.ndarray]:
    """All ``<root>/_background_noise_/*.wav`` as float32 16 kHz arrays (sorted by name).

    Files not at 16 kHz raise :class:`AudioFormatError` unless
    ``resample=True``.  Files shorter than 1 s are tiled up to 1 s.
    """
    d = os.path.join(root, BACKGROUND_DIR)
    if not os.path.isdir(d):
        raise FileNotFoundError(f"{d}: no background noise folder")
    bank = []
    for p in _noise_files(root):
        a = read_wav(p, resample_to=SAMPLE_RATE if resample else None)
        if a.size == 0:
            raise AudioFormatError(f"{p}: empty noise file")
        if a.size < CLIP_SAMPLES:
            a = np.tile(a, int(np.ceil(CLIP_SAMPLES / a.size)))
        bank.append(a.astype(np.float32))
    if not bank:
        raise FileNotFoundError(f"{d}: contains no .wav files")
    return bank


def silence_wave(noise_bank: list[np.ndarray], rng: np.random.Generator,
                 length: int = CLIP_SAMPLES, max_volume: float = 1.0) -> np.ndarray:
    """A ``_silence_`` clip: random segment of a random noise file times U(0, max_volume)."""
    if not noise_bank:
        return np.zeros(length, np.float32)
    n = noise_bank[int(rng.integers(len(noise_bank)))]
    if n.size < length:
        n = np.tile(n, int(np.ceil(length / n.size)))
    off = int(rng.integers(0, n.size - length + 1))
    return (n[off:off + length] * rng.uniform(0.0, max_volume)).astype(np.float32)


def load_example(ex: Example, noise_bank: list[np.ndarray], rng: np.random.Generator,
                 length: int = CLIP_SAMPLES) -> np.ndarray:
    """Waveform of an example, padded/trimmed (centred) to ``length`` samples."""
    if ex.path is None:
        return silence_wave(noise_bank, rng, length)
    a = read_wav(ex.path)
    if a.size < length:
        pad = length - a.size
        a = np.pad(a, (pad // 2, pad - pad // 2))
    elif a.size > length:
        s = (a.size - length) // 2
        a = a[s:s + length]
    return a


# --------------------------------------------------------------------------
# statistics (used by `python3 -m beenet_train.data.synth --stats ROOT`)

def corpus_stats(root: str, labels: Optional[list[str]] = None) -> dict:
    """Counts per word folder and per label (default: the corpus' task's labels)."""
    if labels is None:
        from .task import corpus_task
        labels = corpus_task(root).labels
    raw = scan(root)
    words = sorted({w for s in raw.values() for w in s})
    per_word = {w: {s: len(raw[s].get(w, [])) for s in SPLITS} for w in words}
    spk = {s: len({speaker_of(p) for ps in raw[s].values() for p in ps}) for s in SPLITS}
    bal = load_gsc(root, labels)
    full = load_gsc(root, labels, unknown_fraction=None)
    per_label = {}
    for name, d in (("balanced", bal), ("all_unknown", full)):
        per_label[name] = {l: {s: sum(1 for e in d[s] if e.label_index == i) for s in SPLITS}
                           for i, l in enumerate(labels)}
    noise = [os.path.basename(p) for p in _noise_files(root)] \
        if os.path.isdir(os.path.join(root, BACKGROUND_DIR)) else []
    return {"root": root, "per_word": per_word, "speakers": spk,
            "per_label": per_label, "noise": noise}


def format_stats(st: dict) -> str:
    L = []
    L.append(f"corpus: {st['root']}")
    L.append("speakers (voices): " + ", ".join(f"{s} {st['speakers'][s]}" for s in SPLITS))
    L.append(f"background noise files: {len(st['noise'])} ({', '.join(st['noise'])})")
    L.append("")
    L.append("clips per word folder:")
    L.append(f"  {'word':<10} {'train':>7} {'val':>7} {'test':>7} {'total':>7}")
    tot = {s: 0 for s in SPLITS}
    for w, c in st["per_word"].items():
        L.append(f"  {w:<10} {c['train']:>7} {c['val']:>7} {c['test']:>7} {sum(c.values()):>7}")
        for s in SPLITS:
            tot[s] += c[s]
    L.append(f"  {'TOTAL':<10} {tot['train']:>7} {tot['val']:>7} {tot['test']:>7} "
             f"{sum(tot.values()):>7}")
    for name, title in (("balanced", "KWS-12 examples from load_gsc() defaults "
                                     "(unknown_fraction=0.1, silence_fraction=0.1)"),
                        ("all_unknown", "KWS-12 examples with unknown_fraction=None")):
        if list(st["per_label"][name]) != KWS12_LABELS:
            title = title.replace("KWS-12", "task")
        L.append("")
        L.append(title + ":")
        L.append(f"  {'idx':>3} {'label':<10} {'train':>7} {'val':>7} {'test':>7}")
        tot = {s: 0 for s in SPLITS}
        for i, (l, c) in enumerate(st["per_label"][name].items()):
            L.append(f"  {i:>3} {l:<10} {c['train']:>7} {c['val']:>7} {c['test']:>7}")
            for s in SPLITS:
                tot[s] += c[s]
        L.append(f"  {'':>3} {'TOTAL':<10} {tot['train']:>7} {tot['val']:>7} {tot['test']:>7}")
    return "\n".join(L)
