#!/usr/bin/python3
"""Writes a deterministic corpus of 16 kHz 16-bit mono WAV files for
bench/classify-jobs.sh: noise bursts of random length and level over a quiet
floor (seeded, so every run writes the same bytes).

    bench/classify-corpus.py DIR [--files N] [--seconds S] [--seed K]
"""
import argparse
import os
import random
import struct
import wave

RATE = 16000


def samples(rng, seconds):
    out = []
    n = seconds * RATE
    while len(out) < n:
        length = rng.randint(RATE // 10, RATE)
        level = rng.choice([0.002, 0.02, 0.1, 0.3])
        tone = rng.uniform(100.0, 3000.0)
        phase = 0.0
        for _ in range(length):
            phase += tone / RATE
            s = level * (rng.uniform(-1.0, 1.0) + (phase % 1.0 - 0.5))
            out.append(max(-32768, min(32767, int(s * 32767))))
    return out[:n]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, default=48)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=14)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.dir, exist_ok=True)
    for i in range(a.files):
        path = os.path.join(a.dir, "clip%03d.wav" % i)
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            s = samples(rng, a.seconds)
            w.writeframes(struct.pack("<%dh" % len(s), *s))


if __name__ == "__main__":
    main()
