"""Where a model's detection scores sit on a stream set, at full depth (docs/training.md).

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train.scores \\
        --model models/kws12.gguf --evalset data/kws12-v2-eval/val [--hop-ms 250] \\
        [--heldout data/kws12-v2-eval/test]

Every window of ``negative.wav`` and ``keywords.wav`` (one every ``hop``
ms) runs all exits (``beenet_session_run_all_exits``).  Printed:

* windows of the running-speech hour whose best keyword posterior (final
  exit) reaches 0.5 / 0.9 / 0.99 / 0.995, and by class at 0.9 and 0.98;
* the share of keywords whose best window (one holding the word) gives
  its label 0.5 / 0.9 / 0.99 / 0.995 at the final exit;
* detection scores made from several exits (mean, geometric mean,
  minimum), through the engine's detector with a 1 s refractory period:
  the fewest misses at <= 1 and <= 10 false alarms per hour;
* per-class detection thresholds (each just above the class's highest
  posterior on this hour) and, with ``--heldout``, what they give there
  against single thresholds.
"""
from __future__ import annotations

import argparse
import os
from typing import Callable, Dict, List

import numpy as np

from .data.audio import read_wav
from .frontend import Frontend, Model
from .streams import read_keywords, score

THRESHOLDS = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999]
LEVELS = (0.5, 0.9, 0.99, 0.995)
# detection scores from the exits' posteriors (windows, exits, classes) -> (windows, classes)
VARIANTS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "final exit": lambda p: p[:, -1],
    "mean of all exits": lambda p: p.mean(1),
    "mean of the last 3": lambda p: p[:, -3:].mean(1),
    "geometric mean of the last 3": lambda p: np.exp(np.log(p[:, -3:] + 1e-9).mean(1)),
    "minimum of the last 2": lambda p: p[:, -2:].min(1),
    "minimum of the last 3": lambda p: p[:, -3:].min(1),
    "minimum of all exits": lambda p: p.min(1),
}


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def all_exit_probs(model: Model, evalset: str, hop_ms: float) -> Dict:
    """Per stream: (windows, exits, classes) probabilities, window starts (s), length (s)."""
    fe, sess = Frontend(model.frontend_config), model.session()
    W, rate = int(model.frontend_config.window_samples), int(model.frontend_config.sample_rate)
    hop = int(round(hop_ms * rate / 1000.0))
    feats = np.empty((fe.n_frames, fe.n_mels), np.float32)
    out = {}
    for name in ("negative", "keywords"):
        w = read_wav(os.path.join(evalset, "stream", name + ".wav"))
        starts = list(range(0, max(1, w.size - W + 1), hop))
        z = np.empty((len(starts), model.num_exits, model.num_classes), np.float32)
        for i, s in enumerate(starts):
            fe.compute(w[s:s + W], feats)
            z[i] = sess.run_all_exits(feats)
        out[name] = {"p": softmax(z), "t": np.array(starts) / rate, "seconds": w.size / rate}
    out["keywords_tsv"] = read_keywords(os.path.join(evalset, "stream", "keywords.tsv"))
    return out


def best_windows(model: Model, s: Dict) -> List[tuple]:
    """Per keyword: (class, best final-exit posterior of its label over the windows holding the word)."""
    p, t = s["keywords"]["p"][:, -1], s["keywords"]["t"]
    out = []
    for k in s["keywords_tsv"]:
        w = np.where((t <= k["start"] + 0.1) & (t + 1.0 >= k["end"] - 0.1))[0]
        c = model.labels.index(k["label"])
        out.append((c, float(p[w, c].max()) if len(w) else 0.0))
    return out


def keyword_classes(model: Model) -> List[int]:
    return [c for c in range(model.num_classes) if model.is_keyword(c)]


def roc(model: Model, s: Dict, f: Callable) -> List[tuple]:
    """(threshold, false alarms per hour, miss rate) through the engine's detector."""
    hours = s["negative"]["seconds"] / 3600.0
    rows = []
    for th in THRESHOLDS:
        runs = {}
        for name in ("negative", "keywords"):
            det = model.detector(threshold=th, smoothing_ms=0.0, refractory_ms=1000.0)
            runs[name] = det.run([int(round(t * 1e9)) for t in s[name]["t"]], f(s[name]["p"]).astype(np.float32))
        rows.append((th, len(runs["negative"]) / hours, score(runs["keywords"], s["keywords_tsv"], 1.0)["miss_rate"]))
    return rows


def per_class_thresholds(model: Model, s: Dict) -> Dict[int, float]:
    p = s["negative"]["p"][:, -1]
    out = {}
    for c in keyword_classes(model):
        top = p[p.argmax(1) == c, c]
        out[c] = float(min(0.9999, max(0.5, (top.max() if len(top) else 0.5) + 1e-4)))
    return out


def report(model: Model, s: Dict, name: str) -> None:
    kw = keyword_classes(model)
    p = s["negative"]["p"][:, -1]
    best = p[:, kw].max(1)
    arg = np.array(kw)[p[:, kw].argmax(1)]
    hours = s["negative"]["seconds"] / 3600.0
    print("%s: %d windows in %.2f h of running speech; best keyword posterior >= %s: %s" % (
        name, len(p), hours, "/".join(map(str, LEVELS)), " / ".join(str(int((best >= q).sum())) for q in LEVELS)))
    for q in (0.9, 0.98):
        sel = best >= q
        print("  >= %.2f by class: %s" % (q, {model.labels[c]: int((arg[sel] == c).sum()) for c in kw}))
    bw = best_windows(model, s)
    print("  keywords whose best window reaches %s: %s of %d" % (
        "/".join(map(str, LEVELS)), " / ".join("%.1f %%" % (100 * np.mean([b >= q for _, b in bw])) for q in LEVELS),
        len(bw)))
    for vname, f in VARIANTS.items():
        rows = roc(model, s, f)
        cells = []
        for lim in (1.0, 10.0):
            ok = [r for r in rows if r[1] <= lim]
            r = min(ok, key=lambda r: r[2]) if ok else None
            cells.append("<= %g FA/h: %s" % (lim, "miss %.1f %% at %g (%.1f FA/h)" % (100 * r[2], r[0], r[1])
                                             if r else "-"))
        print("  %-30s %s" % (vname, "; ".join(cells)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.scores", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--evalset", required=True, help="<eval>/<split> holding stream/")
    ap.add_argument("--heldout", help="a second split (e.g. test) to check per-class thresholds on")
    ap.add_argument("--hop-ms", type=float, default=250.0)
    a = ap.parse_args(argv)
    model = Model(a.model)
    s = all_exit_probs(model, a.evalset, a.hop_ms)
    report(model, s, a.evalset)
    th = per_class_thresholds(model, s)
    print("per-class thresholds on %s: %s" % (a.evalset, {model.labels[c]: round(v, 4) for c, v in th.items()}))
    sets = [(a.evalset, s)]
    if a.heldout:
        h = all_exit_probs(model, a.heldout, a.hop_ms)
        report(model, h, a.heldout)
        sets.append((a.heldout, h))
    for name, x in sets:
        p, bw = x["negative"]["p"][:, -1], best_windows(model, x)
        over = sum(int(((p.argmax(1) == c) & (p[:, c] >= v)).sum()) for c, v in th.items())
        print("%s: per-class thresholds: %d/%d keywords' best window over, %d running-speech windows over" % (
            name, sum(1 for c, b in bw if b >= th[c]), len(bw), over))
        for g in (0.99, 0.995, 0.998):
            print("%s: single threshold %g: %d/%d keywords, %d running-speech windows over" % (
                name, g, sum(1 for _, b in bw if b >= g), len(bw), int((p[:, keyword_classes(model)].max(1) >= g).sum())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
