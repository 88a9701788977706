"""Texts of the corpus: the non-keyword vocabulary and running sentences.

Both come from Debian packages, so the corpus is rebuilt anywhere from the
archive alone:

* **words** (``unknown_vocabulary``): English words of ``wamerican``
  (``/usr/share/dict/words``) ranked by how often they occur in the
  ``fortunes`` texts, so the vocabulary is the words people actually say,
  not the dictionary's rarities.  The keywords, their inflections and their
  clear homophones are excluded (``is_keyword_like``); the near-misses the
  corpus always had (yet, note, cup, ...) are kept.
* **sentences** (``sentences``): running sentences cut from the
  ``fortunes`` files (attributions, verse layout and ASCII art removed);
  every sentence with a keyword-like word in it is dropped, so a crop of
  running speech is always ``_unknown_``.  Sentences are split into
  train / val / test by a seeded hash of their normalised text, so no
  sentence read in training is ever read in an evaluation set.

See docs/data.md ("Texts") for the counts.
"""
from __future__ import annotations

import hashlib
import os
import re
from collections import Counter

DICT_PATH = "/usr/share/dict/words"
FORTUNES_DIR = "/usr/share/games/fortunes"
# fortune files that are prose (not art, code, lists of definitions or other languages)
FORTUNE_FILES = ["fortunes", "literature", "people", "wisdom", "humorists", "science",
                 "platitudes", "politics", "work", "education", "food", "pets", "love",
                 "men-women", "miscellaneous", "news", "kids", "sports", "law", "medicine",
                 "magic", "songs-poems", "paradoxum", "pratchett", "riddles", "tao",
                 "startrek", "cookie", "computers", "linuxcookie", "zippy", "goedel",
                 "drugs", "ethnic", "knghtbrd", "debian", "linux", "definitions"]

# KWS-12 (tasks/kws12.json): its keywords, and the words never _unknown_
# (the keywords, their inflections and clear homophones: too close to call).
# Every function below takes another task's set (Task.excluded_words()).
from .task import load_task as _load_task  # noqa: E402

_KWS12 = _load_task("kws12")
KEYWORDS = list(_KWS12.keywords)
KEYWORD_LIKE = frozenset(_KWS12.excluded_words())
SPLIT_FRACTIONS = (("test", 0.1), ("val", 0.1))   # the rest is train

_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")


class TextSourceError(RuntimeError):
    """A Debian text source the corpus needs is missing."""


def is_keyword_like(word: str, excluded=KEYWORD_LIKE) -> bool:
    return word.lower() in excluded


def _fortune_paths(root: str = FORTUNES_DIR) -> list[str]:
    paths = [os.path.join(root, n) for n in FORTUNE_FILES if os.path.isfile(os.path.join(root, n))]
    if not paths:
        raise TextSourceError(f"no fortune files in {root}: install the Debian package 'fortunes'")
    return paths


def _entries(path: str):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    for entry in text.split("\n%\n"):
        lines = []
        for line in entry.split("\n"):
            s = line.strip()
            if s.startswith("--") or s.startswith("- ") or s == "%":
                break           # attribution: the rest of the entry is not prose
            lines.append(s)
        yield " ".join(lines)


_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_OK_CHARS = re.compile(r"^[A-Za-z ,;:.!?'\"-]+$")


def _clean_sentence(s: str) -> str | None:
    s = re.sub(r"\s+", " ", s).strip().strip("\"'").strip()
    if not s or not _OK_CHARS.match(s) or s[-1] not in ".!?":
        return None
    words = _WORD_RE.findall(s)
    if not 4 <= len(words) <= 20:
        return None
    if sum(w.isupper() and len(w) > 1 for w in words) > 1:   # shouting, acronyms, headlines
        return None
    if any(len(w) > 14 for w in words):
        return None
    return s


def all_sentences(root: str = FORTUNES_DIR) -> list[str]:
    """Every usable sentence of the fortune files (with keywords), deduplicated, sorted."""
    out = set()
    for p in _fortune_paths(root):
        for e in _entries(p):
            for s in _SENT_SPLIT.split(e):
                c = _clean_sentence(s)
                if c:
                    out.add(c)
    return sorted(out)


def has_keyword(sentence: str, excluded=KEYWORD_LIKE, phrases=()) -> bool:
    """A keyword-like word, or a multi-word keyword (``phrases``: word
    lists) said in sequence."""
    words = _WORD_RE.findall(sentence)
    if any(is_keyword_like(w, excluded) or is_keyword_like(w.split("'")[0], excluded) for w in words):
        return True
    low = [w.lower() for w in words]
    return any(low[i:i + len(p)] == list(p) for p in phrases for i in range(len(low) - len(p) + 1))


def text_split(text: str, seed: int) -> str:
    """train / val / test of a sentence by a seeded hash of its normalised text."""
    key = " ".join(_WORD_RE.findall(text.lower()))
    h = int.from_bytes(hashlib.sha1(f"{seed}:{key}".encode()).digest()[:8], "big") / 2.0 ** 64
    acc = 0.0
    for name, frac in SPLIT_FRACTIONS:
        acc += frac
        if h < acc:
            return name
    return "train"


def sentences(seed: int, root: str = FORTUNES_DIR, excluded=KEYWORD_LIKE,
              phrases=()) -> dict[str, list[str]]:
    """Keyword-free sentences per split: {"train": [...], "val": [...], "test": [...]}."""
    out = {"train": [], "val": [], "test": []}
    for s in all_sentences(root):
        if not has_keyword(s, excluded, phrases):
            out[text_split(s, seed)].append(s)
    return out


def word_counts(root: str = FORTUNES_DIR) -> Counter:
    c = Counter()
    for p in _fortune_paths(root):
        for e in _entries(p):
            c.update(w.lower() for w in _WORD_RE.findall(e))
    return c


def unknown_vocabulary(n: int = 3000, dict_path: str = DICT_PATH,
                       root: str = FORTUNES_DIR, min_len: int = 2,
                       excluded=KEYWORD_LIKE) -> list[str]:
    """The ``n`` most frequent (in the fortunes) lower-case dictionary words
    that are not keyword-like; ties broken alphabetically.  Sorted."""
    if not os.path.isfile(dict_path):
        raise TextSourceError(f"{dict_path} missing: install the Debian package 'wamerican'")
    with open(dict_path, encoding="utf-8", errors="replace") as f:
        dictionary = {w.strip() for w in f if re.fullmatch(r"[a-z]+", w.strip())}
    counts = word_counts(root)
    ranked = sorted((w for w in counts if w in dictionary and len(w) >= min_len
                     and not is_keyword_like(w, excluded)), key=lambda w: (-counts[w], w))
    if len(ranked) < n:
        raise TextSourceError(f"only {len(ranked)} usable words (wanted {n})")
    return sorted(ranked[:n])


def stats(seed: int = 0) -> str:
    allc = all_sentences()
    sp = sentences(seed)
    voc = unknown_vocabulary()
    counts = word_counts()
    lines = [f"fortune files: {len(_fortune_paths())}",
             f"sentences: {len(allc)} usable, {sum(map(len, sp.values()))} without a keyword-like word",
             "  " + ", ".join(f"{k} {len(v)}" for k, v in sp.items()),
             f"unknown vocabulary: {len(voc)} words (most frequent first: "
             f"{', '.join(sorted(voc, key=lambda w: (-counts[w], w))[:12])}, ...)"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(stats())
