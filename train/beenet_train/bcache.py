"""Batch cache: the training batches of a run, kept on disk for the next run
that would make the very same ones (``train --batch-cache DIR``).

Why: a batch is a pure function of (corpus, seed, epoch, batch index, the
augmentation settings, the front-end, the trainer's code) — batches.prepare_batch
seeds every example from (seed, epoch, b, j) — so runs that differ only in
the network (Table 2 of the study: a joint network and one single-exit
network per exit, all on the same data) make identical batches.  On this
machine making them is most of an epoch (train.py logs it as "features");
with the cache only the first run pays for it and the others train on the
stored batches, bit for bit the same inputs, so their results do not change.

Not used when a batch depends on the network (hard-negative mining) or under
torch.distributed.

Versioning: the key is a SHA-256 over the cache format, the run's data
settings (seed, batch size, augmentation and feature-augmentation
settings, mix, recorded weight, per-split limits), the front-end
configuration, the engine's version, the source of the code that makes
batches (corpus.py, batches.py, the data package, the front-end, the
feature cache),
every file under the corpus root (path, size, modification time) and the
augmentation sources' samples.  Batches live in ``DIR/<key>/``, one
directory per key, so a changed corpus or trainer never reads old batches.

Files: ``<key>/key.json`` (what went into the key) and
``<key>/e<epoch>-b<b>.npz`` (features float32 (n, frames, mels), labels
int64), each written under a temporary name and renamed, so a killed run
leaves no half batch.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, Optional, Tuple

import numpy as np

FORMAT = 1


def _tree_digest(root: str, h) -> int:
    """Feed every file under ``root`` (relative path, size, mtime) to ``h``."""
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            p = os.path.join(dirpath, name)
            st = os.stat(p)
            h.update(("%s\0%d\0%d\n" % (os.path.relpath(p, root), st.st_size, st.st_mtime_ns)).encode())
            n += 1
    return n


_CODE: Dict[str, bytes] = {}


def _code_digest(h) -> None:
    """The code that makes a batch: the corpus and batch modules, the data package, the
    front-end and the feature cache.  A change there makes a new key; a change elsewhere in
    the trainer (the network, the optimiser) does not.  Read once per process."""
    if "digest" not in _CODE:
        c = hashlib.sha256()
        pkg = os.path.dirname(os.path.abspath(__file__))
        files = [os.path.join(pkg, n) for n in ("corpus.py", "batches.py", "frontend.py", "fcache.py")]
        for dirpath, dirnames, filenames in os.walk(os.path.join(pkg, "data")):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            files += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py")]
        for p in files:
            with open(p, "rb") as f:
                c.update(os.path.relpath(p, pkg).encode() + b"\0" + hashlib.sha256(f.read()).digest())
        _CODE["digest"] = c.digest()
    h.update(_CODE["digest"])


def batch_key(corpus, fe, settings: Dict) -> Tuple[str, Dict]:
    """(hex key, the JSON-able description stored beside the batches)."""
    from .fcache import engine_version
    h = hashlib.sha256()
    files = _tree_digest(os.path.abspath(corpus.root), h)
    aug = corpus.augmenter
    banks = [("noise", a) for a in aug.noise_bank] + [("coloured", a) for a in aug.coloured]
    banks += [("speech", a) for a in (aug.speech_bank or [])]
    for name, a in banks:
        h.update(name.encode() + b"\0" + hashlib.sha256(np.ascontiguousarray(a).tobytes()).digest())
    _code_digest(h)
    desc = {"format": FORMAT, "corpus": os.path.abspath(corpus.root), "corpus_files": files,
            "frontend": fe.config.as_dict(), "engine": engine_version(), "settings": settings}
    h.update(json.dumps(desc, sort_keys=True, default=str).encode())
    return h.hexdigest(), desc


class BatchCache:
    """Stored batches of one key: :meth:`get` (None when absent) and :meth:`put`."""

    def __init__(self, root: str, corpus, fe, settings: Dict):
        self.key, desc = batch_key(corpus, fe, settings)
        self.dir = os.path.join(root, self.key[:16])
        os.makedirs(self.dir, exist_ok=True)
        kp = os.path.join(self.dir, "key.json")
        if not os.path.isfile(kp):
            tmp = kp + ".tmp"
            with open(tmp, "w") as f:
                json.dump(dict(desc, key=self.key), f, indent=1, sort_keys=True, default=str)
            os.replace(tmp, kp)
        self.hits = self.misses = 0

    def _path(self, epoch: int, b: int) -> str:
        return os.path.join(self.dir, "e%d-b%d.npz" % (epoch, b))

    def has(self, epoch: int, b: int) -> bool:
        return os.path.isfile(self._path(epoch, b))

    def get(self, epoch: int, b: int) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        p = self._path(epoch, b)
        if not os.path.isfile(p):
            return None
        with np.load(p) as z:
            return z["feats"], z["labels"]

    def put(self, epoch: int, b: int, feats: np.ndarray, labels: np.ndarray) -> None:
        p = self._path(epoch, b)
        tmp = p + ".tmp.npz"
        np.savez(tmp, feats=feats, labels=labels)
        os.replace(tmp, p)


class Stored:
    """A cached batch in the worker's result interface (``.get()`` -> feats, labels, seconds)."""

    def __init__(self, cache: BatchCache, epoch: int, b: int):
        self.cache, self.epoch, self.b = cache, epoch, b

    def get(self):
        feats, ys = self.cache.get(self.epoch, self.b)
        self.cache.hits += 1
        return feats, ys, 0.0
