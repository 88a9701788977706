#!/usr/bin/python3
"""Which condition of the keyword stream costs detections (docs/training.md,
"Where the stream's misses come from").

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 bench/stream_conditions.py \\
        --model models/kws12.gguf --corpus data/kws12-v2 --split val --minutes 30

Builds the evaluation sets' keyword stream (``data.evalsets.keyword_stream``:
held-out sentences with a keyword between them, babble and sound blocks) in
memory, once per condition, with the same seed, so each condition has the
same sentences, keywords and order and differs only in what the condition
names:

  as built      the evaluation sets' stream (10 dB SNR, pauses 0.3-1.0 s)
  20 dB         noise at 20 dB SNR instead of 10
  no noise      no babble or sound at all
  long pauses   pauses of 1.3-2.0 s around the keyword (less speech in its windows)
  no noise + long pauses

With ``--negative EVALSET_SPLIT`` (e.g. data/kws12-v2-eval/val) it also
reads that split's negative stream (running speech without a keyword) and
puts it, as written and with the keyword stream's babble and sound blocks
at 20 and 10 dB (``data.evalsets.noise_blocks``), through the same
classification and detector, for false alarms per hour in noisy rooms
(the evaluation sets' negative stream is clean).

Each stream is classified with the model's exit policy at its window
interval and put through the engine's detector at the model's detection
defaults and at a detection threshold of 0.5 (``streams.detect``); the
table gives the keywords detected with the right label within 1 s of the
word's end (``streams.score``), the wrong or spurious detections, and the
share of keywords whose class reaches 0.5 / 0.9 in the smoothed windows
decided within that span (no rule on these posteriors can do better than
the 0.5 column at threshold 0.5), and the keywords detected at the
defaults in the babble blocks and in the sound blocks apart.  Sentences
and keywords come from the split's held-out voices; use ``--split val``
for decisions, ``test`` only to report.
"""
import argparse
import os
import sys

import numpy as np

from beenet_train import streams as S
from beenet_train.data import evalsets as E
from beenet_train.data.audio import read_wav
from beenet_train.frontend import Model

# name -> keyword_stream() arguments
CONDITIONS = {
    "as built": {},
    "20 dB": {"snr_db": 20.0},
    "no noise": {"snr_db": None},
    "long pauses": {"pauses_s": (1.3, 2.0)},
    "no noise + long pauses": {"snr_db": None, "pauses_s": (1.3, 2.0)},
}


def peak_shares(model, run, kws, smoothing_ms):
    """Share of keywords whose own class's smoothed probability reaches 0.5
    and 0.9 in a window decided within start < t <= end + 1 s."""
    t = np.asarray(run["times_ns"], np.int64)
    p = np.asarray(run["probs"], np.float64)
    lo = np.searchsorted(t, t - int(round(smoothing_ms * 1e6)), side="left")
    cs = np.cumsum(np.vstack([np.zeros((1, p.shape[1])), p]), axis=0)
    s = (cs[1:] - cs[lo]) / (np.arange(t.size) + 1 - lo)[:, None]
    decided = t / 1e9 + run["window_s"]
    labels = list(model.labels)
    peak = []
    for kw in kws:
        i = np.where((decided > kw["start"]) & (decided <= kw["end"] + S.MATCH_AFTER_END_S))[0]
        peak.append(s[i, labels.index(kw["label"])].max() if i.size else 0.0)
    peak = np.array(peak)
    return float(np.mean(peak >= 0.5)), float(np.mean(peak >= 0.9))


def measure(model, policy, mat, minutes, seed, args):
    y, rows = E.keyword_stream(mat, minutes, seed, **args)
    kws = [{"label": r[0], "start": r[1], "end": r[2]} for r in rows]
    run = S.classify_stream(model, y, model.interval_ms, None, policy)
    out = {"keywords": len(kws)}
    params = dict(model.detection_defaults)
    for name, th in (("default", params["threshold"]), ("0.5", 0.5)):
        det = S.detect(model, run, **dict(params, threshold=th))
        sc = S.score(det, kws, run["window_s"])
        out[name] = (sc["hits"] / max(1, len(kws)), "%d (%d)" % (sc["false_alarms"], sc["false_alarms_on_keywords"]))
        out["confusions " + name] = sc["confusions"]
        if name == "default":     # by the kind of noise block the keyword is in (babble: even blocks)
            for kind, parity in (("babble", 0), ("sound", 1)):
                sub = [k for k in kws if int(k["start"] // E.BLOCK_SECONDS) % 2 == parity]
                out[kind] = S.score(det, sub, run["window_s"])["hits"] / max(1, len(sub))
    out["peak"] = peak_shares(model, run, kws, params["smoothing_ms"])
    return out


# negative stream: name -> SNR of the noise blocks (None: as written, clean)
NEGATIVE_CONDITIONS = {"as written (clean)": None, "20 dB": 20.0, "10 dB": 10.0}


def measure_negative(model, policy, mat, wave, snr_db, seed):
    """False alarms per hour at the model's detection defaults and at 0.5."""
    y = E.noise_blocks(mat, wave.copy(), seed, snr_db, 0x24)
    run = S.classify_stream(model, y, model.interval_ms, None, policy)
    hours = y.size / E.SAMPLE_RATE / 3600.0
    params = dict(model.detection_defaults)
    return hours, [len(S.detect(model, run, **dict(params, threshold=th))) / hours
                   for th in (params["threshold"], 0.5)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", required=True, help="corpus v2 root (its held-out sentences, keywords, sounds)")
    ap.add_argument("--split", choices=("val", "test"), default="val")
    ap.add_argument("--minutes", type=float, default=30.0, help="length of each keyword stream (default 30)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--conditions", default=",".join(CONDITIONS),
                    help="comma-separated, of: %s" % ", ".join(CONDITIONS))
    ap.add_argument("--negative", metavar="EVALSET_SPLIT",
                    help="also its stream/negative.wav, clean and in noise (false alarms per hour)")
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.conditions.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown:
        raise SystemExit("unknown condition(s) %s; choose from: %s" % (", ".join(unknown), ", ".join(CONDITIONS)))
    if not os.path.isfile(a.model):
        raise SystemExit("%s: no such model file" % a.model)
    if not (a.minutes > 0):
        raise SystemExit("--minutes must be > 0")
    try:
        mat = E.Material(a.corpus, a.split)
    except (OSError, ValueError) as e:
        raise SystemExit("%s: not a corpus v2 with a %s split (%s)" % (a.corpus, a.split, e))
    neg = os.path.join(a.negative, "stream", "negative.wav") if a.negative else None
    if neg and not os.path.isfile(neg):
        raise SystemExit("%s: no such file (--negative is an evaluation set's split directory)" % neg)
    model = Model(a.model)
    policy = S.stream_policy(model, None)
    d = model.detection_defaults
    print("%s, %s split, %.0f-minute keyword streams, a window every %.0f ms, smoothing %.0f ms"
          % (a.model, a.split, a.minutes, model.interval_ms, d["smoothing_ms"]))
    print("| condition | keywords | detected at %.2f (default) | wrong (on a keyword) | detected at 0.5 | wrong (on a keyword) | "
          "class reaches 0.5 | reaches 0.9 | at default, babble blocks | sound blocks |" % d["threshold"])
    print("|---|---|---|---|---|---|---|---|---|---|")
    confusions = {}
    for n in names:
        r = measure(model, policy, mat, a.minutes, a.seed, CONDITIONS[n])
        print("| %s | %d | %.1f %% | %s | %.1f %% | %s | %.1f %% | %.1f %% | %.1f %% | %.1f %% |" % (
            n, r["keywords"], 100 * r["default"][0], r["default"][1], 100 * r["0.5"][0], r["0.5"][1],
            100 * r["peak"][0], 100 * r["peak"][1], 100 * r["babble"], 100 * r["sound"]), flush=True)
        confusions[n] = r
    for n, r in confusions.items():
        for th in ("default", "0.5"):
            c = r["confusions " + th]
            print("\n%s, at %s: a keyword heard as another (said->heard) %s" % (
                n, th, ", ".join("%s %d" % kv for kv in c.items()) if c else "none"), end="")
    print()
    if neg:
        wave = read_wav(neg).astype(np.float32)
        print("\n%s: false alarms per hour" % neg)
        print("| negative stream | hours | at %.2f (default) | at 0.5 |" % d["threshold"])
        print("|---|---|---|---|")
        for n, snr in NEGATIVE_CONDITIONS.items():
            hours, fa = measure_negative(model, policy, mat, wave, snr, a.seed)
            print("| %s | %.2f | %.1f | %.1f |" % (n, hours, fa[0], fa[1]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
