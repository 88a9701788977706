"""On-the-fly waveform augmentation for 1 s, 16 kHz float32 clips.

``Augmenter(noise_bank, seed, config)`` applies, in this order and each
with its own probability:

1. time shift: integer shift uniform in [-shift_ms, +shift_ms], zero fill;
   with ``shift_inside`` the range is narrowed per clip so the clip's active
   region (``audio.active_region``, -40 dB) stays inside the window: a large
   ``shift_ms`` then moves a word anywhere in the window without cutting it,
   as in a stream where windows start every ``interval`` ms wherever the
   word is;
2. speed/pitch perturbation ("tape speed"): the clip is resampled by a
   factor uniform in ``speed`` around its centre with linear
   interpolation (``np.interp``); factor > 1 is faster and higher;
3. room reverberation: FFT convolution with a synthetic exponentially
   decaying noise RIR (RT60 uniform in ``rt60_s``; 60 dB amplitude decay
   over RT60; direct path 1.0; direct-to-reverberant ratio uniform in
   ``drr_db``), output rescaled to the input RMS;
4. additive noise at an SNR uniform in ``snr_db``: the noise is a random
   segment of a random background file (the corpus'
   ``_background_noise_``) or, with probability ``p_coloured`` (or always
   when the bank is empty), of white/pink/brown noise generated at
   construction (at -20 dBFS RMS).  SNR = 10*log10(mean(clip**2) / mean(noise**2)) over the
   whole window (speech fills ~40 % of a window, so the SNR over the
   active speech is ~4 dB higher);
5. gain uniform in ``gain_db`` dB;
6. clipping to [-1, 1] (int16 saturation).

Everything is deterministic given the ``numpy.random.Generator`` passed
to ``__call__``/``make_silence`` (or the augmenter's own generator,
seeded with ``seed``, when None is passed).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .audio import CLIP_SAMPLES, SAMPLE_RATE


@dataclass
class AugmentConfig:
    p_shift: float = 1.0
    shift_ms: float = 100.0
    shift_inside: bool = False          # never shift the active region out of the window
    p_speed: float = 0.5
    speed: tuple = (0.9, 1.1)
    p_reverb: float = 0.25
    rt60_s: tuple = (0.1, 0.6)
    drr_db: tuple = (0.0, 15.0)         # direct-to-reverberant energy ratio
    p_noise: float = 0.8
    snr_db: tuple = (0.0, 20.0)
    p_coloured: float = 0.25
    p_gain: float = 1.0
    gain_db: tuple = (-12.0, 6.0)
    silence_volume: tuple = (0.0, 1.0)  # make_silence(): noise scaled by U(lo, hi)
    # corpus v2 (need a speech bank of running sentences; no effect without one)
    p_babble: float = 0.3               # the additive noise is babble instead of a file
    babble_voices: tuple = (3, 8)       # simultaneous talkers in a babble segment
    p_context: float = 0.0              # add_context(): running speech around the word
    context_db: tuple = (-9.0, 0.0)     # its level relative to the clip (RMS over the window)
    coloured_seconds: float = 10.0      # length of each generated coloured noise

    def validate(self) -> "AugmentConfig":
        for name in ("p_shift", "p_speed", "p_reverb", "p_noise", "p_coloured", "p_gain",
                     "p_babble", "p_context"):
            v = getattr(self, name)
            if not (0.0 <= v <= 1.0):
                raise ValueError(f"augment config: {name}={v} is not a probability in [0, 1]")
        for name in ("speed", "rt60_s", "drr_db", "snr_db", "gain_db", "silence_volume",
                     "babble_voices", "context_db"):
            r = getattr(self, name)
            if len(r) != 2 or not (r[0] <= r[1]) or not all(np.isfinite(r)):
                raise ValueError(f"augment config: {name}={r} must be a finite (low, high) pair")
        if self.speed[0] <= 0:
            raise ValueError("augment config: speed factors must be > 0")
        if self.rt60_s[0] <= 0:
            raise ValueError("augment config: rt60_s must be > 0")
        if self.babble_voices[0] < 1:
            raise ValueError("augment config: babble_voices must be >= 1")
        if self.silence_volume[0] < 0:
            raise ValueError("augment config: silence_volume must be >= 0")
        if self.shift_ms < 0 or self.coloured_seconds < 1:
            raise ValueError("augment config: shift_ms must be >= 0, coloured_seconds >= 1")
        return self

    @classmethod
    def from_any(cls, cfg) -> "AugmentConfig":
        """Accept None, an AugmentConfig or a dict of field overrides."""
        if cfg is None:
            return cls().validate()
        if isinstance(cfg, cls):
            return dataclasses.replace(cfg).validate()
        if isinstance(cfg, dict):
            names = {f.name for f in dataclasses.fields(cls)}
            bad = sorted(set(cfg) - names)
            if bad:
                raise ValueError(f"augment config: unknown keys {bad}; known: {sorted(names)}")
            kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items()}
            return cls(**kw).validate()
        raise TypeError(f"augment config must be None, dict or AugmentConfig, not {type(cfg)}")


def coloured_noise(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise with PSD ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    X = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(X.size, dtype=np.float64)
    f[0] = 1.0
    X *= f ** (-exponent / 2.0)
    X[0] = 0.0
    y = np.fft.irfft(X, n)
    return (y / (np.sqrt(np.mean(y ** 2)) + 1e-12)).astype(np.float32)


def _rms2(x: np.ndarray) -> float:
    return float(np.dot(x, x)) / max(1, x.size)


class Augmenter:
    def __init__(self, noise_bank: Optional[Sequence[np.ndarray]] = None, seed: int = 0,
                 config=None, speech_bank: Optional[Sequence[np.ndarray]] = None):
        self.config = AugmentConfig.from_any(config)
        # running speech (whole sentences, float32 or int16) for babble, context and crops
        self.speech_bank = [np.asarray(s) for s in (speech_bank or []) if np.asarray(s).size > 0]
        self.noise_bank = [np.ascontiguousarray(n, dtype=np.float32)
                           for n in (noise_bank or []) if np.asarray(n).size > 0]
        self.rng = np.random.default_rng(seed)
        crng = np.random.default_rng([seed, 0xC0])
        m = int(self.config.coloured_seconds * SAMPLE_RATE)
        # generated noise at -20 dBFS RMS, the level of synth.py's noise files
        self.coloured = [0.1 * coloured_noise(m, e, crng) for e in (0.0, 1.0, 2.0)]

    # -- pieces (public so tests and users can call them separately) ------

    def noise_segment(self, n: int, rng: np.random.Generator) -> np.ndarray:
        use_bank = bool(self.noise_bank) and rng.random() >= self.config.p_coloured
        pool = self.noise_bank if use_bank else self.coloured
        src = pool[int(rng.integers(len(pool)))]
        if src.size < n:
            src = np.tile(src, int(np.ceil(n / src.size)))
        off = int(rng.integers(0, src.size - n + 1))
        return src[off:off + n]

    def speech_segment(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n samples of one random sentence at a random offset (float32,
        zero-padded when the sentence is shorter)."""
        src = self.speech_bank[int(rng.integers(len(self.speech_bank)))]
        off = int(rng.integers(0, max(1, src.size - n + 1)))
        seg = src[off:off + n]
        seg = seg.astype(np.float32) / (32768.0 if seg.dtype == np.int16 else 1.0)
        if seg.size < n:
            seg = np.pad(seg, (0, n - seg.size))
        return seg

    def babble(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Several talkers at once: the sum of k unit-RMS sentence segments."""
        lo, hi = (int(v) for v in self.config.babble_voices)
        out = np.zeros(n, np.float32)
        for _ in range(int(rng.integers(lo, hi + 1))):
            seg = self.speech_segment(n, rng)
            out += seg / np.float32(np.sqrt(_rms2(seg)) + 1e-6)
        return out

    def speech_crop(self, rng: np.random.Generator, n: int = CLIP_SAMPLES) -> np.ndarray:
        """An ``_unknown_`` clip cut from running speech (no keyword in any sentence)."""
        return self.speech_segment(n, rng)

    def add_context(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Running speech before and after the word, not over it: fills the
        window outside the clip's active region (as in a stream where words
        follow each other), at ``context_db`` relative to the clip."""
        from .audio import active_region
        s, e = active_region(x, SAMPLE_RATE, rel_db=-40.0, margin_ms=40.0)
        if e <= s or not self.speech_bank:
            return x
        ctx = self.speech_segment(x.size, rng)
        pc = _rms2(ctx)
        if pc <= 0:
            return x
        ctx *= np.float32(np.sqrt(_rms2(x) / pc) * 10.0 ** (rng.uniform(*self.config.context_db) / 20.0))
        ramp = min(160, s, x.size - e)
        ctx[s - ramp:e + ramp] *= np.concatenate([np.linspace(1, 0, ramp, dtype=np.float32),
                                                  np.zeros(e - s, np.float32),
                                                  np.linspace(0, 1, ramp, dtype=np.float32)])
        return (x + ctx).astype(np.float32)

    def shift_range(self, x: np.ndarray) -> tuple:
        """[lo, hi) of the shift in samples for this clip (see ``shift_inside``)."""
        s = int(round(self.config.shift_ms * SAMPLE_RATE / 1000))
        lo, hi = -s, s
        if self.config.shift_inside:
            from .audio import active_region
            a, e = active_region(x, SAMPLE_RATE, rel_db=-40.0, margin_ms=20.0)
            if e > a:
                lo, hi = max(lo, min(0, -a)), min(hi, max(0, x.size - e))
        return lo, hi + 1

    @staticmethod
    def shift(x: np.ndarray, k: int) -> np.ndarray:
        """Delay by k samples (k < 0: advance), zero filling."""
        y = np.zeros_like(x)
        if k >= 0:
            y[k:] = x[:x.size - k] if k < x.size else 0
        else:
            y[:x.size + k] = x[-k:]
        return y

    @staticmethod
    def speed_perturb(x: np.ndarray, factor: float) -> np.ndarray:
        """Play ``factor`` times faster around the centre (linear interpolation)."""
        n = x.size
        c = (n - 1) / 2.0
        pos = (np.arange(n, dtype=np.float64) - c) * factor + c
        return np.interp(pos, np.arange(n), x, left=0.0, right=0.0).astype(np.float32)

    @staticmethod
    def reverb(x: np.ndarray, rt60: float, rng: np.random.Generator,
               drr_db: float = 10.0) -> np.ndarray:
        """Convolve with a synthetic exponential-decay RIR; keep the input RMS.

        RIR: direct path 1.0 followed by Gaussian noise under an envelope
        decaying 60 dB in ``rt60`` s, scaled so that direct / tail energy
        is ``drr_db`` dB.
        """
        n = x.size
        L = max(2, min(int(rt60 * SAMPLE_RATE), n))
        t = np.arange(L) / SAMPLE_RATE
        h = rng.standard_normal(L) * np.exp(-6.907755 * t / rt60)  # -60 dB at t = rt60
        h *= 10.0 ** (-drr_db / 20.0) / (np.sqrt(np.sum(h[1:] ** 2)) + 1e-12)
        h[0] = 1.0
        nfft = 1 << int(np.ceil(np.log2(n + L - 1)))
        y = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(h, nfft), nfft)[:n]
        p_in, p_out = _rms2(x), _rms2(y)
        if p_out > 0:
            y *= np.sqrt(p_in / p_out)
        return y.astype(np.float32)

    def add_noise(self, x: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
        if self.speech_bank and self.config.p_babble > 0 and rng.random() < self.config.p_babble:
            noise = self.babble(x.size, rng)
        else:
            noise = self.noise_segment(x.size, rng)
        ps, pn = _rms2(x), _rms2(noise)
        if ps <= 0 or pn <= 0:
            return x
        scale = np.sqrt(ps / (pn * 10.0 ** (snr_db / 10.0)))
        return (x + scale * noise).astype(np.float32)

    # -- main entry points -------------------------------------------------

    def __call__(self, wave: np.ndarray, rng: Optional[np.random.Generator] = None) -> np.ndarray:
        rng = self.rng if rng is None else rng
        c = self.config
        x = np.asarray(wave, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"augment: expected a 1-D waveform, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("augment: waveform contains NaN or Inf")
        x = x.copy()
        if c.p_shift > 0 and rng.random() < c.p_shift:
            x = self.shift(x, int(rng.integers(*self.shift_range(x))))
        if c.p_speed > 0 and rng.random() < c.p_speed:
            x = self.speed_perturb(x, float(rng.uniform(*c.speed)))
        if c.p_reverb > 0 and rng.random() < c.p_reverb:
            rt60 = float(rng.uniform(*c.rt60_s))
            x = self.reverb(x, rt60, rng, float(rng.uniform(*c.drr_db)))
        if c.p_noise > 0 and rng.random() < c.p_noise:
            x = self.add_noise(x, float(rng.uniform(*c.snr_db)), rng)
        if c.p_gain > 0 and rng.random() < c.p_gain:
            x = x * np.float32(10.0 ** (rng.uniform(*c.gain_db) / 20.0))
        return np.clip(x, -1.0, 1.0).astype(np.float32)

    def make_silence(self, rng: Optional[np.random.Generator] = None,
                     length: int = CLIP_SAMPLES) -> np.ndarray:
        """A ``_silence_`` clip: a noise segment scaled by U(silence_volume)."""
        rng = self.rng if rng is None else rng
        seg = self.noise_segment(length, rng)
        vol = float(rng.uniform(*self.config.silence_volume))
        return np.clip(seg * vol, -1.0, 1.0).astype(np.float32)


def _bench(argv=None) -> int:
    """``python3 -m beenet_train.data.augment --bench ROOT [--n N]``: ms per clip."""
    import argparse
    import time
    from . import gsc
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.data.augment")
    ap.add_argument("--bench", metavar="ROOT", required=True,
                    help="GSC-layout corpus whose train clips and noise are used")
    ap.add_argument("--n", type=int, default=2000, help="number of clips")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    bank = gsc.load_background_noise(a.bench)
    exs = [e for e in gsc.load_gsc(a.bench)["train"] if e.path][:a.n]
    waves = [gsc.load_example(e, bank, None) for e in exs]
    aug = Augmenter(bank, a.seed)
    rng = np.random.default_rng(a.seed)
    for w in waves[:20]:
        aug(w, rng)
    t = time.perf_counter()
    for w in waves:
        aug(w, rng)
    per_clip = (time.perf_counter() - t) / len(waves) * 1e3
    t = time.perf_counter()
    for _ in range(len(waves)):
        aug.make_silence(rng)
    per_sil = (time.perf_counter() - t) / len(waves) * 1e3
    print(f"Augmenter (default config): {per_clip:.3f} ms per clip, "
          f"make_silence: {per_sil:.3f} ms, over {len(waves)} clips of {a.bench}")
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(_bench())
