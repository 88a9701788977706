#!/usr/bin/python3
"""What the keyword stream's wrong detections are (docs/training.md, "Why
the targets are missed").

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 bench/wrong_detections.py \\
        --model models/kws12.gguf --evalset data/kws12-v2-eval/val

Classifies an evaluation split's two streams (``stream/keywords.wav`` and
``stream/negative.wav``) once with each model's own exit policy, window
interval and detection defaults, as ``tune-detection`` does, and for each
detection threshold of ``--thresholds`` prints the missed keywords, the
false alarms per hour of the negative stream and the wrong detections in
the keyword stream split three ways (``streams.score``): a keyword heard
as another (decided within a keyword's span with another label), a second
detection of a keyword, and detections on the sentences and noise between
keywords; then the commonest confusions (said->heard).  tune-detection
caps the wrong detections at 3 per hour of the keyword stream; this says
which kind the cap is spent on, so which remedy to try (training against
speech between keywords, or telling keywords apart in noise).  Use the
``val`` split for decisions, ``test`` only to report.
"""
import argparse
import os
import sys
from collections import Counter

from beenet_train import streams as S
from beenet_train.data.audio import read_wav
from beenet_train.frontend import Model

THRESHOLDS = (0.6, 0.7, 0.8, 0.85, 0.9, 0.95)


def measure(path: str, evalset: str, thresholds):
    model = Model(path)
    policy = S.stream_policy(model, None)
    d = os.path.join(evalset, "stream")
    runs = {n: S.classify_stream(model, read_wav(os.path.join(d, n + ".wav")), model.interval_ms,
                                 float(policy.threshold), policy) for n in ("negative", "keywords")}
    kws = S.read_keywords(os.path.join(d, "keywords.tsv"))
    hours = runs["negative"]["seconds"] / 3600.0
    params = dict(model.detection_defaults)
    rows = []
    for th in thresholds:
        p = dict(params, threshold=float(th))
        sc = S.score(S.detect(model, runs["keywords"], **p), kws, runs["keywords"]["window_s"])
        confused = sum(sc["confusions"].values())
        rows.append({"threshold": float(th), "miss_rate": sc["miss_rate"],
                     "false_alarms_per_hour": len(S.detect(model, runs["negative"], **p)) / hours,
                     "wrong": sc["false_alarms"], "confusions": confused, "doubles": sc["doubles"],
                     "between": sc["false_alarms"] - sc["false_alarms_on_keywords"], "pairs": sc["confusions"]})
    return model, rows, len(kws), runs["keywords"]["seconds"] / 3600.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", required=True, help="a model file (repeat for several)")
    ap.add_argument("--evalset", required=True, help="an evaluation split directory, e.g. data/kws12-v2-eval/val")
    ap.add_argument("--thresholds", type=float, nargs="+", default=THRESHOLDS,
                    help="detection thresholds, ascending (default: %s)" % " ".join(map(str, THRESHOLDS)))
    ap.add_argument("--pairs", type=int, default=6, help="confusions listed per model (default 6)")
    a = ap.parse_args(argv)
    for f in ["keywords.wav", "negative.wav", "keywords.tsv"]:
        if not os.path.isfile(os.path.join(a.evalset, "stream", f)):
            raise SystemExit("%s: no stream/%s (--evalset is an evaluation set's split directory)" % (a.evalset, f))
    for m in a.model:
        if not os.path.isfile(m):
            raise SystemExit("%s: no such model file" % m)
    if not all(0.0 < t < 1.0 for t in a.thresholds):
        raise SystemExit("--thresholds: each must be in (0, 1)")
    for path in a.model:
        model, rows, n_kw, kw_hours = measure(path, a.evalset, sorted(a.thresholds))
        d = model.detection_defaults
        print("%s: %d keywords in %.2f h, a window every %.0f ms, smoothing %.0f ms, default threshold %.2f" % (
            path, n_kw, kw_hours, model.interval_ms, d["smoothing_ms"], d["threshold"]))
        print("| threshold | missed | FA/h (negative) | wrong in keyword stream | keyword heard as another "
              "| double | between keywords |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print("| %.2f | %.2f %% | %.1f | %d | %d | %d | %d |" % (
                r["threshold"], 100 * r["miss_rate"], r["false_alarms_per_hour"], r["wrong"], r["confusions"],
                r["doubles"], r["between"]))
        pairs = Counter(rows[0]["pairs"])
        print("commonest confusions at %.2f: %s\n" % (rows[0]["threshold"], ", ".join(
            "%s %d" % kv for kv in pairs.most_common(a.pairs)) or "none"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
