"""Small, dependency-free audio helpers (stdlib ``wave`` + numpy).

Everything in the data pipeline is float32 mono at 16 kHz with samples in
[-1, 1).  Files on disk are 16-bit PCM WAV, exactly like Google Speech
Commands.
"""

from __future__ import annotations

import os
import wave

import numpy as np

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000  # 1 s at 16 kHz


class AudioFormatError(ValueError):
    """Raised when a file is not a usable PCM WAV file."""


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling of a short clip via the real FFT.

    The spectrum is truncated (downsampling) or zero-padded (upsampling)
    with a short raised-cosine taper below the lower Nyquist frequency to
    avoid ringing.  This is exact band-limited interpolation for a
    periodic signal; callers pad clips with silence so the periodic
    wrap-around is harmless.  Cost: two FFTs of the clip length.
    """
    x = np.asarray(x, dtype=np.float64)
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError("sample rates must be positive")
    if sr_in == sr_out or x.size == 0:
        return x.astype(np.float32)
    n = x.size
    pad = 64
    xp = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    n_p = xp.size
    m_p = int(round(n_p * sr_out / sr_in))
    X = np.fft.rfft(xp)
    k_out = m_p // 2 + 1
    k_common = min(X.size, k_out)
    Y = np.zeros(k_out, dtype=np.complex128)
    Y[:k_common] = X[:k_common]
    # taper the top 5 % of the common band
    t = max(1, int(0.05 * k_common))
    ramp = 0.5 * (1 + np.cos(np.linspace(0, np.pi, t)))
    Y[k_common - t:k_common] *= ramp
    y = np.fft.irfft(Y, m_p) * (m_p / n_p)
    p_out = int(round(pad * sr_out / sr_in))
    m = int(round(n * sr_out / sr_in))
    return y[p_out:p_out + m].astype(np.float32)


def read_wav(path: str, resample_to: int | None = None,
             expected_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a PCM WAV file into a float32 mono array.

    Multi-channel files are averaged to mono.  8/16/24/32-bit integer PCM
    is supported.  If the sample rate differs from ``expected_rate`` a
    :class:`AudioFormatError` is raised unless ``resample_to`` is given,
    in which case the audio is resampled to that rate.
    """
    a, rate = read_wav_rate(path)
    if resample_to is not None:
        if rate != resample_to:
            a = resample(a, rate, resample_to)
        return a
    if expected_rate is not None and rate != expected_rate:
        raise AudioFormatError(
            f"{path}: sample rate {rate} Hz, expected {expected_rate} Hz "
            f"(pass resample_to={expected_rate} to convert)")
    return a


def read_wav_rate(path: str) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file; return (float32 mono samples, sample rate)."""
    try:
        with wave.open(os.fspath(path), "rb") as w:
            nch = w.getnchannels()
            width = w.getsampwidth()
            rate = w.getframerate()
            nframes = w.getnframes()
            raw = w.readframes(nframes)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such WAV file") from None
    except (wave.Error, EOFError) as e:
        raise AudioFormatError(f"{path}: not a readable PCM WAV file ({e})") from None
    if nch < 1:
        raise AudioFormatError(f"{path}: invalid channel count {nch}")
    usable = (len(raw) // (width * nch)) * width * nch
    raw = raw[:usable]
    if width == 1:
        a = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        a = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        a = v.astype(np.float32) / float(1 << 23)
    elif width == 4:
        a = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    else:
        raise AudioFormatError(f"{path}: unsupported sample width {width} bytes")
    if nch > 1:
        a = a.reshape(-1, nch).mean(axis=1).astype(np.float32)
    return a, rate


def to_int16(x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Quantise float audio to int16, with optional TPDF dither (+-1 LSB)."""
    y = np.asarray(x, dtype=np.float64) * 32768.0
    if rng is not None:
        y = y + rng.random(y.size) - rng.random(y.size)
    return np.clip(np.round(y), -32768, 32767).astype(np.int16)


def write_wav(path: str, x: np.ndarray, rate: int = SAMPLE_RATE,
              rng: np.random.Generator | None = None) -> None:
    """Write float (or int16) mono audio as 16-bit PCM WAV."""
    x = np.asarray(x)
    data = x if x.dtype == np.int16 else to_int16(x, rng)
    with wave.open(os.fspath(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.astype("<i2").tobytes())


def active_region(x: np.ndarray, rate: int = SAMPLE_RATE, rel_db: float = -40.0,
                  frame_ms: float = 10.0, margin_ms: float = 20.0) -> tuple[int, int]:
    """Return (start, end) of the non-silent part of ``x``.

    Frames (``frame_ms``) whose RMS is within ``rel_db`` of the loudest
    frame are "active"; the region spans the first to last active frame,
    widened by ``margin_ms`` and clipped to the array.  An all-zero input
    gives (0, 0).
    """
    x = np.asarray(x, dtype=np.float32)
    hop = max(1, int(rate * frame_ms / 1000))
    nf = x.size // hop
    if nf == 0:
        return (0, x.size) if np.any(x) else (0, 0)
    e = (x[:nf * hop].reshape(nf, hop).astype(np.float64) ** 2).mean(axis=1)
    peak = e.max()
    if peak <= 0:
        return (0, 0)
    act = np.nonzero(e >= peak * 10 ** (rel_db / 10))[0]
    margin = int(rate * margin_ms / 1000)
    start = max(0, act[0] * hop - margin)
    end = min(x.size, (act[-1] + 1) * hop + margin)
    return start, end
