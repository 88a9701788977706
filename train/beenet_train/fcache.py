"""Feature cache sharded by rank (issue 14, docs/scale.md "Feature cache").

The engine's front-end runs once per clip into memory-mapped arrays; the
trainer (``--feature-cache DIR``) then reads a clip's clean features instead
of decoding, augmenting and transforming its waveform every epoch.

What is cached (the *entries*, in a fixed order): every training clip (its
un-augmented 1 s window, as ``Corpus.wave`` gives it), and 1 s windows of the
augmentation's sources: each background-noise / recorded-sound file of the
augmenter (every ``NOISE_HOP`` samples), its generated white/pink/brown
noises, and the corpus v2 running sentences (every ``SPEECH_HOP`` samples).
Per entry: the (n_frames, n_mels) log-Mel features and a row of metadata
(mean square of the window, the active region at the augmenter's two margins).

Sharding: with S shards (S = the world size of the run that built it), shard
s holds entries s, s + S, ... at rows 0, 1, ...; rank r builds shard r, so
the ranks share the work and the union of the shards is the whole cache.
Every rank then maps every shard read-only (the page cache shares them
between the ranks of a machine).  A cache built by S ranks is read by any
number of ranks.

Versioning: the cache's key is a SHA-256 over the cache format, the
front-end configuration, the engine's version, the entry names, each clip
file's size and modification time and the augmentation sources' samples.
A cache whose key differs (another corpus, a changed clip, another front-end
configuration or engine) is stale and rebuilt; a shard whose marker file is
missing or names another key is rebuilt.

Files in DIR: ``shard-S-of-N.npy`` (float32 features, (rows, n_frames,
n_mels), NumPy's format, memory-mapped), ``shard-S-of-N.meta.npy`` (float32
(rows, 5)), ``shard-S-of-N.json`` (the key; written last, so its presence
marks a complete shard) and ``manifest.json`` (key, shard count, sizes).
Every file is written under a temporary name and renamed, and its bytes
depend only on the corpus and the front-end: two builds are byte-identical.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

FORMAT = 1
NOISE_HOP = 4000       # 0.25 s between cached noise windows
SPEECH_HOP = 8000      # 0.5 s between cached running-speech windows
META = ("rms2", "act20_start", "act20_end", "act40_start", "act40_end")


# ---------------------------------------------------------------------------
# The entries of a corpus

class Plan:
    """The entries of a corpus' cache: names, how to make each window, the key.

    ``pools`` maps a source name ("noise:K", "coloured:K", "speech") to the
    indices of its windows; ``clip_index`` a clip's path to its index."""

    def __init__(self, corpus, fe):
        from .data.audio import CLIP_SAMPLES
        self.n = CLIP_SAMPLES
        self.fe = fe
        self.corpus = corpus
        self.names: List[str] = []
        self._make: List[Tuple] = []
        self.pools: Dict[str, List[int]] = {}
        self.clip_index: Dict[str, int] = {}
        h = hashlib.sha256()
        root = os.path.abspath(corpus.root)
        paths = sorted({ex.path for ex in corpus.splits["train"] if getattr(ex, "path", None)})
        for p in paths:
            st = os.stat(p)
            rel = os.path.relpath(p, root)
            h.update(("%s\0%d\0%d\n" % (rel, st.st_size, st.st_mtime_ns)).encode())
            self.clip_index[p] = self._add("clip:" + rel, ("clip", p))
        aug = corpus.augmenter
        sources = [("noise:%d" % k, a, NOISE_HOP) for k, a in enumerate(aug.noise_bank)]
        sources += [("coloured:%d" % k, a, NOISE_HOP) for k, a in enumerate(aug.coloured)]
        sources += [("speech", a, SPEECH_HOP) for a in aug.speech_bank]
        for pool, a, hop in sources:
            h.update(pool.encode() + b"\0" + hashlib.sha256(np.ascontiguousarray(a).tobytes()).digest())
            src = a if a.size >= self.n or pool == "speech" else np.tile(a, int(np.ceil(self.n / a.size)))
            for off in range(0, max(1, src.size - self.n + 1), hop):
                i = self._add("%s:%d:%d" % (pool, len(self.pools.get(pool, [])), off), ("seg", src, off))
                self.pools.setdefault(pool, []).append(i)
        h.update(json.dumps({"format": FORMAT, "frontend": fe.config.as_dict(), "engine": engine_version(),
                             "names": hashlib.sha256("\n".join(self.names).encode()).hexdigest()},
                            sort_keys=True).encode())
        self.key = h.hexdigest()

    def _add(self, name: str, how: Tuple) -> int:
        self.names.append(name)
        self._make.append(how)
        return len(self.names) - 1

    def wave(self, i: int) -> np.ndarray:
        """Entry i's 1 s window (float32), exactly what the trainer would transform."""
        how = self._make[i]
        if how[0] == "clip":
            return clip_wave(self.corpus, how[1])
        src, off = how[1], how[2]
        seg = src[off:off + self.n]
        seg = seg.astype(np.float32) / (32768.0 if seg.dtype == np.int16 else 1.0)
        return np.pad(seg, (0, self.n - seg.size)) if seg.size < self.n else seg


def engine_version() -> str:
    from .frontend import lib
    v = lib().beenet_version()
    return v.decode() if isinstance(v, bytes) else str(v)


def clip_wave(corpus, path: str) -> np.ndarray:
    """A training clip's window as ``Corpus.wave`` gives it (int16-rounded), not kept in memory."""
    from .data.gsc import read_wav
    from .data.audio import CLIP_SAMPLES
    a = read_wav(path)
    if a.size < CLIP_SAMPLES:
        pad = CLIP_SAMPLES - a.size
        a = np.pad(a, (pad // 2, pad - pad // 2))
    elif a.size > CLIP_SAMPLES:
        s = (a.size - CLIP_SAMPLES) // 2
        a = a[s:s + CLIP_SAMPLES]
    w = np.clip(np.round(np.asarray(a, np.float32) * 32768.0), -32768, 32767).astype(np.int16)
    return w.astype(np.float32) / 32768.0


def window_meta(w: np.ndarray) -> np.ndarray:
    from .data.audio import SAMPLE_RATE, active_region
    a20 = active_region(w, SAMPLE_RATE, rel_db=-40.0, margin_ms=20.0)
    a40 = active_region(w, SAMPLE_RATE, rel_db=-40.0, margin_ms=40.0)
    return np.array([float(np.dot(w, w)) / w.size, a20[0], a20[1], a40[0], a40[1]], np.float32)


# ---------------------------------------------------------------------------
# Files

def shard_base(root: str, s: int, count: int) -> str:
    return os.path.join(root, "shard-%05d-of-%05d" % (s, count))


def _read_json(path: str) -> Optional[dict]:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path: str, obj: dict) -> None:
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def shard_ok(root: str, key: str, s: int, count: int) -> bool:
    m = _read_json(shard_base(root, s, count) + ".json")
    return bool(m) and m.get("key") == key and all(
        os.path.isfile(shard_base(root, s, count) + ext) for ext in (".npy", ".meta.npy"))


def build_shard(root: str, plan: Plan, s: int, count: int) -> int:
    """Compute and write shard s of count (entries s, s + count, ...); returns its rows."""
    os.makedirs(root, exist_ok=True)
    base = shard_base(root, s, count)
    idx = range(s, len(plan.names), count)
    fe = plan.fe
    tmp = ".tmp%d" % os.getpid()
    feats = np.lib.format.open_memmap(base + tmp + ".npy", mode="w+", dtype=np.float32,
                                      shape=(len(idx), fe.n_frames, fe.n_mels))
    meta = np.empty((len(idx), len(META)), np.float32)
    for row, i in enumerate(idx):
        w = plan.wave(i)
        fe.compute(w, feats[row])
        meta[row] = window_meta(w)
    feats.flush()
    del feats
    np.save(base + tmp + ".meta.npy", meta)
    os.replace(base + tmp + ".npy", base + ".npy")
    os.replace(base + tmp + ".meta.npy", base + ".meta.npy")
    _write_json(base + ".json", {"key": plan.key, "shard": s, "shards": count, "rows": len(idx)})
    return len(idx)


def manifest(plan: Plan, count: int) -> dict:
    return {"format": FORMAT, "key": plan.key, "shards": count, "entries": len(plan.names),
            "n_frames": plan.fe.n_frames, "n_mels": plan.fe.n_mels,
            "frontend": plan.fe.config.as_dict(), "engine": engine_version(),
            "pools": {k: len(v) for k, v in sorted(plan.pools.items())}, "clips": len(plan.clip_index)}


def status(root: str, plan: Plan) -> str:
    """'current', 'missing' (no manifest) or 'stale' (another key, or a shard incomplete)."""
    m = _read_json(os.path.join(root, "manifest.json"))
    if not m:
        return "missing"
    if m.get("key") != plan.key or m.get("format") != FORMAT:
        return "stale"
    n = int(m.get("shards", 0))
    return "current" if n > 0 and all(shard_ok(root, plan.key, s, n) for s in range(n)) else "stale"


def remove_other_shards(root: str, count: int) -> None:
    """Delete shard files of another shard count (a previous build's)."""
    suffix = "-of-%05d" % count
    for name in os.listdir(root):
        if name.startswith("shard-") and suffix not in name and ".tmp" not in name:
            os.remove(os.path.join(root, name))


# ---------------------------------------------------------------------------
# Reading

class FeatureCache:
    """Read-only view of a complete cache: features and metadata per entry."""

    def __init__(self, root: str, plan: Plan):
        m = _read_json(os.path.join(root, "manifest.json"))
        if not m or m.get("key") != plan.key:
            raise ValueError("%s: no current feature cache for this corpus and front-end" % root)
        self.plan = plan
        self.count = int(m["shards"])
        self.feats = [np.load(shard_base(root, s, self.count) + ".npy", mmap_mode="r") for s in range(self.count)]
        self.meta = [np.load(shard_base(root, s, self.count) + ".meta.npy") for s in range(self.count)]
        rows = sum(len(f) for f in self.feats)
        if rows != len(plan.names):
            raise ValueError("%s: %d cached rows for %d entries" % (root, rows, len(plan.names)))
        self.floor = float(np.log(np.float32(plan.fe.config.log_floor)))
        self.hop = int(plan.fe.config.hop_length)

    def __len__(self) -> int:
        return len(self.plan.names)

    def features(self, i: int) -> np.ndarray:
        return self.feats[i % self.count][i // self.count]

    def meta_of(self, i: int) -> np.ndarray:
        return self.meta[i % self.count][i // self.count]


def prepare(root: str, corpus, fe, d=None, say=lambda m: None) -> FeatureCache:
    """The current cache of ``corpus`` in ``root``, built (sharded over the
    ranks of ``d``) when missing or stale.  Every rank calls it."""
    from . import distributed as D
    d = d or D.Dist()
    plan = Plan(corpus, fe)
    st = status(root, plan)
    needed = D.all_sum([0.0 if st == "current" else 1.0], d)[0] > 0
    if needed:
        say("feature cache %s: %s, building %d entries in %d shard(s)" % (root, st, len(plan.names), d.world))
        if not shard_ok(root, plan.key, d.rank, d.world):
            build_shard(root, plan, d.rank, d.world)
        D.barrier(d)
        # ranks on machines without a shared file system: make the others' shards here too
        for s in range(d.world):
            if not shard_ok(root, plan.key, s, d.world):
                build_shard(root, plan, s, d.world)
        if d.local_rank == 0:
            remove_other_shards(root, d.world)
            _write_json(os.path.join(root, "manifest.json"), manifest(plan, d.world))
        D.barrier(d)
    cache = FeatureCache(root, plan)
    say("feature cache %s: %d entries (%d clips) in %d shard(s), key %s" % (
        root, len(cache), len(plan.clip_index), cache.count, plan.key[:12]))
    return cache


# ---------------------------------------------------------------------------
# Feature-domain augmentation of cached clean features

def log_add(a: np.ndarray, b: np.ndarray, scale: float, floor: float) -> np.ndarray:
    """Features of the sum of two signals whose features are a and b, the
    second scaled in power by ``scale``: ln(e^a + scale e^b), the mel
    energies added (the cross term of independent signals averages zero)."""
    if scale <= 0:
        return a
    return np.maximum(np.logaddexp(a, b + np.float32(np.log(scale))), floor).astype(np.float32)


def frame_shift(x: np.ndarray, k: int, fill: float) -> np.ndarray:
    """Delay by k frames (k < 0: advance), filled with the features of silence."""
    y = np.full_like(x, fill)
    T = x.shape[0]
    if k >= 0:
        if k < T:
            y[k:] = x[:T - k]
    elif -k < T:
        y[:T + k] = x[-k:]
    return y


class FeatureAugmenter:
    """The waveform augmenter's steps that have a feature-domain form, in
    its order, on cached features (docs/scale.md): context speech (log-add
    outside the word's frames), time shift (whole frames), additive noise
    or babble at the augmenter's SNR (log-add of cached noise windows),
    gain (a constant in the log domain).  Speed perturbation and
    reverberation have none: clips needing them go the waveform path."""

    def __init__(self, cache: FeatureCache, config):
        self.c = cache
        self.cfg = config

    def _pool_window(self, pool: List[int], rng) -> int:
        return pool[int(rng.integers(len(pool)))]

    def noise_window(self, rng) -> int:
        """A cached noise window, chosen as Augmenter.noise_segment chooses its source."""
        pools = self.c.plan.pools
        bank = [k for k in pools if k.startswith("noise:")]
        use_bank = bool(bank) and rng.random() >= self.cfg.p_coloured
        names = bank if use_bank else [k for k in pools if k.startswith("coloured:")]
        return self._pool_window(pools[names[int(rng.integers(len(names)))]], rng)

    def silence(self, rng) -> np.ndarray:
        """A _silence_ example: a noise window scaled by U(silence_volume)."""
        f = self.c.features(self.noise_window(rng))
        vol = float(rng.uniform(*self.cfg.silence_volume))
        return np.maximum(f + np.float32(2.0 * np.log(max(vol, 1e-12))), self.c.floor).astype(np.float32)

    def speech_crop(self, rng) -> Tuple[np.ndarray, np.ndarray]:
        i = self._pool_window(self.c.plan.pools["speech"], rng)
        return np.array(self.c.features(i)), self.c.meta_of(i).copy()

    def add_context(self, x: np.ndarray, meta: np.ndarray, rng) -> np.ndarray:
        """Running speech around the word (outside its -40 dB region + 40 ms), at context_db."""
        s, e = int(meta[3]), int(meta[4])
        pools = self.c.plan.pools
        if e <= s or not pools.get("speech"):
            return x
        i = self._pool_window(pools["speech"], rng)
        pc = float(self.c.meta_of(i)[0])
        if pc <= 0:
            return x
        scale = float(meta[0]) / pc * 10.0 ** (rng.uniform(*self.cfg.context_db) / 10.0)
        ctx = np.array(self.c.features(i))
        ctx[s // self.c.hop:(e + self.c.hop - 1) // self.c.hop] = -np.inf   # no context over the word
        return log_add(x, ctx, scale, self.c.floor)

    def __call__(self, x: np.ndarray, meta: np.ndarray, rng) -> np.ndarray:
        from .data.audio import SAMPLE_RATE
        cfg, c = self.cfg, self.c
        x = np.array(x, np.float32)
        ps = float(meta[0])
        if cfg.p_shift > 0 and rng.random() < cfg.p_shift:
            r = int(round(cfg.shift_ms * SAMPLE_RATE / 1000))
            lo, hi = -r, r
            if cfg.shift_inside and meta[2] > meta[1]:    # as Augmenter.shift_range
                a, e = int(meta[1]), int(meta[2])
                lo, hi = max(lo, min(0, -a)), min(hi, max(0, c.plan.n - e))
            k = int(rng.integers(lo, hi + 1))
            x = frame_shift(x, int(round(k / c.hop)), c.floor)
        if cfg.p_noise > 0 and rng.random() < cfg.p_noise:
            snr = float(rng.uniform(*cfg.snr_db))
            nf, pn = self._noise(rng)
            if ps > 0 and pn > 0:
                x = log_add(x, nf, ps / (pn * 10.0 ** (snr / 10.0)), c.floor)
        if cfg.p_gain > 0 and rng.random() < cfg.p_gain:
            g = float(rng.uniform(*cfg.gain_db))
            x = np.maximum(x + np.float32(g * np.log(10.0) / 10.0), c.floor).astype(np.float32)
        return x

    def _noise(self, rng):
        """(features, mean square) of the additive noise: a file window, or babble."""
        c, cfg, pools = self.c, self.cfg, self.c.plan.pools
        if pools.get("speech") and cfg.p_babble > 0 and rng.random() < cfg.p_babble:
            lo, hi = (int(v) for v in cfg.babble_voices)
            k = int(rng.integers(lo, hi + 1))
            acc = None
            for _ in range(k):
                i = self._pool_window(pools["speech"], rng)
                f = c.features(i) - np.float32(np.log(max(float(c.meta_of(i)[0]), 1e-12)))  # unit RMS
                acc = f if acc is None else np.logaddexp(acc, f)
            return acc, float(k)   # k independent unit-RMS talkers: mean square ~ k
        i = self.noise_window(rng)
        return c.features(i), float(c.meta_of(i)[0])


class CachedExamples:
    """The trainer's use of the cache (``--feature-cache``): an example's
    features from the cache, or None when it goes the waveform path.

    Without augmentation every clip is read from the cache (its features
    are exactly the on-the-fly ones); silence and crops, drawn at random
    offsets, stay on the waveform path.  With augmentation a fraction
    ``wave_fraction`` of the examples (drawn per example) goes the waveform
    path with the full augmentation (speed, reverberation, ...); the others
    are made from cached features with :class:`FeatureAugmenter`."""

    def __init__(self, cache: FeatureCache, corpus, wave_fraction: float):
        if not 0.0 <= wave_fraction <= 1.0:
            raise ValueError("cache wave fraction %g is not in [0, 1]" % wave_fraction)
        self.cache = cache
        self.aug = FeatureAugmenter(cache, corpus.augmenter.config)
        self.wave_fraction = float(wave_fraction)
        self.unknown_index = corpus.unknown_index

    def features(self, kind: str, ex, label: int, rng, augment: bool, p_context: float) -> Optional[np.ndarray]:
        c = self.cache
        if not augment:
            return np.array(c.features(c.plan.clip_index[ex.path])) if kind == "clip" else None
        if self.wave_fraction > 0 and rng.random() < self.wave_fraction:
            return None
        if kind == "silence":
            return self.aug.silence(rng)
        if kind == "crop":
            x, meta = self.aug.speech_crop(rng)
        else:
            i = c.plan.clip_index[ex.path]
            x, meta = c.features(i), c.meta_of(i)
            if label != self.unknown_index and c.plan.pools.get("speech") and rng.random() < p_context:
                x = self.aug.add_context(x, meta, rng)
        return self.aug(x, meta, rng)
