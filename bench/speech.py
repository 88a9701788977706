"""Write a deterministic speech recording for the benchmarks.

  python3 bench/speech.py OUT.wav [--seconds 600]

Running English sentences with the ten keywords (yes no up down left right
on off stop go) mixed in, spoken by espeak-ng in a few voices and speeds,
joined with short pauses, resampled with `sox -R` (no dither, no random
seed) to 16 kHz mono 16-bit and cut to exactly --seconds.  The same
espeak-ng and sox give the same bytes every time.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import tempfile

KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
SUBJECTS = ["the driver", "my neighbour", "a small robot", "the teacher", "our team", "the old radio",
            "this machine", "the weather", "her brother", "the museum guide", "everyone here", "the pilot"]
VERBS = ["turned", "looked", "walked", "pointed", "moved", "called", "waited", "listened", "said",
         "answered", "decided", "started"]
OBJECTS = ["at the window", "near the station", "after lunch", "in the garden", "before the meeting",
           "with a quiet voice", "for a long time", "across the river", "under the bridge",
           "during the storm", "behind the library", "on the second floor"]
PATTERNS = [
    "{s} {v} {o} and then said {k}.",
    "{k}, {s} {v} {o}.",
    "When {s} {v} {o}, somebody shouted {k} {k2}.",
    "Please {k} now, {s} {v} {o}.",
    "{s} {v} {o}.",
    "{s} {v} {o}, which was unusual for a Tuesday.",
    "I think {s} {v} {o}; the answer was {k}.",
    "{k}. {k2}. {s} {v} {o}.",
]
VOICES = [("en-us", 165), ("en", 150), ("en-us+f3", 175), ("en+m3", 140), ("en-us+f2", 155)]


def text_chunk(rng: random.Random, n_sentences: int) -> str:
    out = []
    for _ in range(n_sentences):
        p = rng.choice(PATTERNS)
        out.append(p.format(s=rng.choice(SUBJECTS), v=rng.choice(VERBS), o=rng.choice(OBJECTS),
                            k=rng.choice(KEYWORDS), k2=rng.choice(KEYWORDS)))
    s = " ".join(out)
    return s[0].upper() + s[1:]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out")
    p.add_argument("--seconds", type=float, default=600.0)
    a = p.parse_args(argv)
    rng = random.Random(8)
    with tempfile.TemporaryDirectory() as tmp:
        parts, total, i = [], 0.0, 0
        while total < a.seconds + 5.0:
            voice, speed = VOICES[i % len(VOICES)]
            raw = os.path.join(tmp, "raw%03d.wav" % i)
            part = os.path.join(tmp, "part%03d.wav" % i)
            subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-g", "4", "-w", raw,
                            text_chunk(rng, 8)], check=True)
            # 16 kHz mono 16-bit, a little quieter (no clipping), 0.6 s of silence after each chunk.
            subprocess.run(["sox", "-R", "-V1", raw, "-r", "16000", "-c", "1", "-b", "16", part,
                            "vol", "0.8", "pad", "0", "0.6"],
                           check=True)
            total += float(subprocess.run(["soxi", "-D", part], check=True, capture_output=True,
                                          text=True).stdout)
            parts.append(part)
            i += 1
        subprocess.run(["sox", "-R"] + parts + [a.out, "trim", "0", "%g" % a.seconds], check=True)
    print("speech: %s, %g s, %d chunks" % (a.out, a.seconds, len(parts)))


if __name__ == "__main__":
    main()
