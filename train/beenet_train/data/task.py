"""A task as data: labels, language and which classes are keywords.

A task file (JSON, ``format: "beenet-task-1"``) is read by corpus
synthesis (which words to say, which to use as ``_unknown_``, which to
keep out of the ``_unknown_`` material), by the reader and the trainer
(the label list, so the class count) and by the exporter (the model file
carries the labels and the keyword classes, so the engine and the element
need nothing else).  ``tasks/kws12.json`` is KWS-12; :func:`from_words`
makes the task of a user's list of words or short phrases.

Fields (docs/data.md, "Tasks"):

* ``name``, ``description``, ``language`` (``"en"``: the voices that read
  English text)
* ``labels``: class names in class order; ``silence`` / ``unknown`` name
  the non-keyword classes (either may be null); every other label is a
  keyword, and the word folder of the corpus
* ``phrases``: {label: text the voices say} for labels that are not the
  text itself (``lights_on``: ``lights on``)
* ``unknown_words``, ``small_unknown_words``: the words said by every voice
  as ``_unknown_`` (the full and the ``--small`` corpus)
* ``keyword_like``: words that never become ``_unknown_`` material
  (inflections and homophones of the keywords), besides the keywords
* ``foreign_voices``: whether the non-English recorded voices take part
  (they need a respelling of every word: only KWS-12 has them)
* ``kind``: ``"keywords"`` (default: the classes other than ``silence`` /
  ``unknown`` are keywords the detector reports) or ``"classification"``
  (no class is a keyword: the model labels every window and nothing is
  ever detected, as for LID-6, ``tasks/lid6.json``); written only when not
  the default, so older task files and corpora stay as they were
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

FORMAT = "beenet-task-1"
TASKS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tasks")
CORPUS_TASK_FILE = "task.json"   # written into every synthesized corpus
SILENCE = "_silence_"
UNKNOWN = "_unknown_"
_LABEL_RE = re.compile(r"^[a-z0-9]+(?:_[a-z0-9]+)*$")
_WORD_RE = re.compile(r"^[a-z]+(?:'[a-z]+)?$")
# suffixes whose words are too close to a single-word keyword to be _unknown_
INFLECTIONS = ("s", "es", "ed", "d", "ing", "er", "ers", "'s")
DEFAULT_TASK = "kws12"
KINDS = ("keywords", "classification")
MAX_PHRASE_WORDS = 4


class TaskError(ValueError):
    """A task file or word list that cannot be used."""


@dataclass
class Task:
    name: str
    labels: List[str]
    language: str = "en"
    silence: Optional[str] = SILENCE
    unknown: Optional[str] = UNKNOWN
    phrases: Dict[str, str] = field(default_factory=dict)
    unknown_words: List[str] = field(default_factory=list)
    small_unknown_words: Optional[List[str]] = None
    keyword_like: List[str] = field(default_factory=list)
    foreign_voices: bool = False
    description: str = ""
    kind: str = "keywords"

    def __post_init__(self):
        self.validate()

    # ---------------------------------------------------------------- classes
    @property
    def keywords(self) -> List[str]:
        """Keyword labels (the word folders), in class order."""
        return [l for l in self.labels if l not in (self.silence, self.unknown)]

    @property
    def detection_keywords(self) -> List[str]:
        """The classes the detector reports (none for a classification task)."""
        return self.keywords if self.kind == "keywords" else []

    def text(self, label: str) -> str:
        """What a voice says for a keyword label or an unknown word."""
        return self.phrases.get(label, label)

    def unknown_for(self, small: bool) -> List[str]:
        if small and self.small_unknown_words is not None:
            return list(self.small_unknown_words)
        return list(self.unknown_words)

    def excluded_words(self) -> set:
        """Single words never used as _unknown_ material: the one-word
        keywords and ``keyword_like``."""
        out = {w.lower() for w in self.keyword_like}
        out.update(self.text(k) for k in self.keywords if " " not in self.text(k))
        return out

    def keyword_phrases(self) -> List[List[str]]:
        """Multi-word keyword texts as word lists (a sentence saying one of
        them in sequence is no _unknown_ material)."""
        return [self.text(k).split() for k in self.keywords if " " in self.text(k)]

    # ------------------------------------------------------------- validation
    def validate(self) -> None:
        if self.kind not in KINDS:
            raise TaskError(f"task {self.name!r}: kind {self.kind!r} is not one of {KINDS}")
        if not self.labels or len(set(self.labels)) != len(self.labels):
            raise TaskError(f"task {self.name!r}: labels must be non-empty and unique: {self.labels}")
        for special in (self.silence, self.unknown):
            if special is not None and special not in self.labels:
                raise TaskError(f"task {self.name!r}: {special!r} is not a label")
        if not self.keywords:
            raise TaskError(f"task {self.name!r}: no keyword class")
        for k in self.keywords:
            if not _LABEL_RE.match(k):
                raise TaskError(f"task {self.name!r}: keyword label {k!r} is not a folder name "
                                "(lower-case letters and digits joined by '_')")
        for k, t in self.phrases.items():
            if k not in self.keywords:
                raise TaskError(f"task {self.name!r}: phrase for {k!r}, which is not a keyword")
            if not t.strip():
                raise TaskError(f"task {self.name!r}: empty phrase for {k!r}")
        bad = sorted(set(self.unknown_words) & set(self.keywords))
        if bad:
            raise TaskError(f"task {self.name!r}: unknown_words holds keywords: {bad}")
        if self.unknown is not None and not self.unknown_words:
            raise TaskError(f"task {self.name!r}: {self.unknown} needs unknown_words")

    # ---------------------------------------------------------------- file IO
    def to_dict(self) -> dict:
        d = {"format": FORMAT, "name": self.name, "description": self.description,
             "language": self.language, "labels": list(self.labels), "silence": self.silence,
             "unknown": self.unknown, "phrases": dict(self.phrases),
             "unknown_words": list(self.unknown_words),
             "small_unknown_words": self.small_unknown_words,
             "keyword_like": list(self.keyword_like), "foreign_voices": self.foreign_voices}
        if self.kind != "keywords":
            d["kind"] = self.kind
        return d

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=1)
            f.write("\n")

    @classmethod
    def from_dict(cls, d: dict, where: str = "task") -> "Task":
        if d.get("format") != FORMAT:
            raise TaskError(f"{where}: format must be {FORMAT!r}, not {d.get('format')!r}")
        known = {"format", "name", "description", "language", "labels", "silence", "unknown",
                 "phrases", "unknown_words", "small_unknown_words", "keyword_like", "foreign_voices", "kind"}
        extra = sorted(set(d) - known)
        if extra:
            raise TaskError(f"{where}: unknown fields {extra}")
        try:
            return cls(name=d["name"], labels=list(d["labels"]), language=d.get("language", "en"),
                       silence=d.get("silence", SILENCE), unknown=d.get("unknown", UNKNOWN),
                       phrases=dict(d.get("phrases") or {}),
                       unknown_words=list(d.get("unknown_words") or []),
                       small_unknown_words=d.get("small_unknown_words"),
                       keyword_like=list(d.get("keyword_like") or []),
                       foreign_voices=bool(d.get("foreign_voices", False)),
                       description=d.get("description", ""), kind=d.get("kind", "keywords"))
        except KeyError as e:
            raise TaskError(f"{where}: missing field {e.args[0]!r}") from None


def load_task(spec: Optional[str] = None) -> Task:
    """A task by file path, or by the name of a file in ``tasks/`` (None: KWS-12)."""
    spec = spec or DEFAULT_TASK
    path = spec if os.path.sep in spec or spec.endswith(".json") else os.path.join(TASKS_DIR, spec + ".json")
    if not os.path.isfile(path):
        names = sorted(n[:-5] for n in os.listdir(TASKS_DIR) if n.endswith(".json"))
        raise TaskError(f"{spec}: no such task file (built-in tasks: {', '.join(names)})")
    try:
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
    except ValueError as e:
        raise TaskError(f"{path}: not JSON: {e}") from None
    return Task.from_dict(d, path)


def corpus_task(root: str) -> Task:
    """The task a corpus was made for (``<root>/task.json``); KWS-12 for a
    corpus without one (the real Speech Commands, older synthetic corpora)."""
    p = os.path.join(root, CORPUS_TASK_FILE)
    return load_task(p) if os.path.isfile(p) else load_task(DEFAULT_TASK)


def label_of(text: str) -> str:
    """Folder-safe label of a word or phrase: ``Lights On`` -> ``lights_on``."""
    return "_".join(re.findall(r"[a-z0-9]+", text.lower()))


def parse_words(spec: str) -> List[str]:
    """A comma-separated list of words or short phrases, normalised."""
    out = []
    for item in spec.split(","):
        words = item.lower().split()
        if not words:
            continue
        if len(words) > MAX_PHRASE_WORDS:
            raise TaskError(f"{item.strip()!r}: at most {MAX_PHRASE_WORDS} words per phrase")
        for w in words:
            if not _WORD_RE.match(w):
                raise TaskError(f"{item.strip()!r}: {w!r} is not an English word of letters")
        out.append(" ".join(words))
    if not out:
        raise TaskError("no words given")
    if len({label_of(t) for t in out}) != len(out):
        raise TaskError(f"words listed twice: {out}")
    return out


def inflections(word: str) -> List[str]:
    """Regular inflections of a keyword (never _unknown_: too close to call)."""
    return [word + s for s in INFLECTIONS]


def from_words(words: List[str], name: str = "own", language: str = "en") -> Task:
    """The task of a user's words/phrases: ``_silence_``, ``_unknown_`` and
    one keyword class each.  ``keyword_like``: the regular inflections of
    each one-word keyword.  ``_unknown_`` words: the KWS-12 unknown words
    and keywords, and the single words of each phrase (``lights`` for
    ``lights on``), less the user's words and their inflections."""
    words = [" ".join(w.lower().split()) for w in words]
    labels = [label_of(w) for w in words]
    kws12 = load_task(DEFAULT_TASK)
    like = sorted({f for w in words if " " not in w for f in inflections(w)})
    excluded = set(like) | {w for w in words if " " not in w}
    parts = {p for w in words if " " in w for p in w.split()}
    pool = set(kws12.unknown_words) | set(kws12.keywords) | parts
    unknown = sorted(w for w in pool if w not in excluded and w not in labels)
    small = sorted((set(kws12.small_unknown_words) | parts) & set(unknown))
    return Task(name=name, labels=[SILENCE, UNKNOWN] + labels, language=language,
                phrases={l: w for l, w in zip(labels, words) if l != w},
                unknown_words=unknown, small_unknown_words=small, keyword_like=like,
                description="own keywords: " + ", ".join(words))
