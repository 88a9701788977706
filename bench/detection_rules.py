#!/usr/bin/python3
"""Try keyword-detection rules on a model's stream posteriors (docs/training.md,
"Windows every 100 ms").

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 bench/detection_rules.py \\
        cache --model models/kws12.gguf --evalset data/kws12-v2-eval/val --interval-ms 100 --out /tmp/val-100.npz
    ... bench/detection_rules.py rules --cache /tmp/val-100.npz --evalset data/kws12-v2-eval/val \\
        --grid '{"smoothing_ms": [500, 750], "margin": [0.2, 0.4]}'
    ... bench/detection_rules.py peaks --cache /tmp/val-100.npz --evalset data/kws12-v2-eval/val --smoothing-ms 750

``cache`` classifies both streams once with the model's exit policy
(``streams.classify_stream``) and keeps the posteriors. ``rules`` replays
them through a Python copy of the engine's detector with optional extra
conditions and prints, per setting, the lowest validation miss rate over the
ROC thresholds with at most --max-fa-per-hour false alarms in the negative
stream and --max-wrong-per-hour wrong detections in the keyword stream
(scored by ``streams.score``, as tune-detection). Before anything else it
checks that the copy without extra conditions makes exactly the engine
detector's detections on both streams. ``peaks`` prints how high the spoken
keyword's smoothed probability gets within 1 s of its end: keywords that
never get there cannot be found by any rule on these posteriors.

Extra conditions (0 = off):
  margin     the smoothed score leads every other class's by at least this;
  purity     the class is the top class of at least this share of the averaged windows;
  hold_ms    wait this long after the first crossing, then fire the class with the
             highest smoothed score seen meanwhile (decided at the end of the wait);
  pool       1: each window's keyword probabilities are pooled into its most likely
             keyword (that class gets the sum of all keyword classes, the others 0), so
             the score is "some keyword" and the label the likeliest one.

``cache --all-exits`` keeps every exit's logits of every window instead (the
network run to full depth, no exit policy), and ``rules --combine`` then
scores a combination of exits: ``final`` (the last exit alone), ``mean45`` /
``mean345`` (the mean of the probabilities of exits 4-5 / 3-5), ``geo45``
(their normalised geometric mean), ``min45`` (each class's smaller
probability of exits 4 and 5, renormalised). Exits 4 and 5 cost nothing
extra for a keyword candidate, which runs on to exit 5 past exit 4.
``rules --ensemble B.npz C.npz`` scores the mean of the probabilities of
several models' caches of the same windows (a diagnostic: how much of the
gap averaging away one training run's chance would close).
``refine`` simulates refined windows (docs/training.md, "Refined
windows") on a cache made at a fraction of the interval (e.g. 62.5 ms for
250 ms): the grid is every --base-th cached window; a spec
``fine,level,lookback`` adds the cached windows every ``fine``-th
position after a kept window whose likeliest keyword is at least
``level`` (``lookback`` 1: also those before a grid window that reaches
it; ``level`` < 0: every ``fine``-th window, a plain finer grid), then
scores the kept windows like ``rules`` (best smoothing and threshold
within the limits) and prints their count and OPs relative to the grid.
An exploration tool: the element and engine implement only the plain rule
on one exit's probabilities.
"""
import argparse
import collections
import itertools
import json
import os
import sys

import numpy as np

from beenet_train import streams as S
from beenet_train.data.audio import read_wav
from beenet_train.frontend import Frontend, Model


def cache(a):
    m = Model(a.model)
    pol = S.stream_policy(m, None)
    d = os.path.join(a.evalset, "stream")
    z = {"labels": np.array(m.labels), "keyword": np.array([m.is_keyword(i) for i in range(m.num_classes)])}
    for name in ("negative", "keywords"):
        wave = read_wav(os.path.join(d, name + ".wav"))
        if a.all_exits:
            r = all_exits(m, wave, a.interval_ms)
            z[name + "_L"] = r["logits"]
            r["probs"] = combine(r["logits"], "final")
        else:
            r = S.classify_stream(m, wave, a.interval_ms, None, pol, refine_level=1.0)   # the grid alone
            z[name + "_ops"] = r["ops"]
        z[name + "_t"] = np.array(r["times_ns"], np.int64)
        z[name + "_p"] = r["probs"]
        z[name + "_s"] = np.array([r["seconds"], r["window_s"]])
    np.savez(a.out, model=np.array(os.path.abspath(a.model)), **z)
    print("wrote %s (%d + %d windows)" % (a.out, z["negative_t"].size, z["keywords_t"].size))


def all_exits(m, wave, interval_ms):
    """Every exit's logits (windows, exits, classes) of windows every interval_ms."""
    fe, sess = Frontend(m.frontend_config), m.session()
    W, rate = int(m.frontend_config.window_samples), int(m.frontend_config.sample_rate)
    starts = range(0, max(1, wave.size - W + 1), int(round(interval_ms * rate / 1000.0)))
    logits = np.empty((len(starts), m.num_exits, m.num_classes), np.float32)
    feats = np.empty((fe.n_frames, fe.n_mels), np.float32)
    for i, s in enumerate(starts):
        fe.compute(wave[s:s + W], feats)
        logits[i] = sess.run_all_exits(feats)
    return {"logits": logits, "times_ns": [int(s * 1_000_000_000 // rate) for s in starts],
            "seconds": wave.size / rate, "window_s": W / rate}


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


COMBINE = {
    "final": lambda p: p[:, -1],
    "mean45": lambda p: p[:, 3:5].mean(1),
    "mean345": lambda p: p[:, 2:5].mean(1),
    "geo45": lambda p: softmax(np.log(p[:, 3:5] + 1e-9).mean(1)),
    "min45": lambda p: p[:, 3:5].min(1) / p[:, 3:5].min(1).sum(1, keepdims=True),
}


def combine(logits, how):
    """One probability row per window from every exit's logits (``rules --combine``)."""
    return COMBINE[how](softmax(logits)).astype(np.float32)


def smoothed(t, p, smoothing_ms):
    """Mean of each class over the windows within smoothing_ms of each window
    (the engine's span: now - t_i <= smoothing), and the share of those
    windows whose top class is each class."""
    n, c = p.shape
    lo = np.searchsorted(t, t - int(round(smoothing_ms * 1e6)), side="left")
    cnt = (np.arange(n) + 1 - lo)[:, None]
    cs = np.cumsum(np.vstack([np.zeros((1, c)), p]), axis=0)
    top = np.zeros((n + 1, c))
    top[1:][np.arange(n), p.argmax(1)] = 1
    ts = np.cumsum(top, axis=0)
    return (cs[1:] - cs[lo]) / cnt, (ts[1:] - ts[lo]) / cnt


def pooled(p, keyword):
    """Each row's keyword mass moved to its most likely keyword (condition ``pool``)."""
    kws = np.where(keyword)[0]
    q = p.copy()
    q[:, kws] = 0.0
    q[np.arange(p.shape[0]), kws[p[:, kws].argmax(1)]] = p[:, kws].sum(1)
    return q


def run_rule(t, p, keyword, threshold, smoothing_ms, refractory_ms=1000.0, margin=0.0, purity=0.0, hold_ms=0.0,
             pool=0):
    """(time_ns, class) of each detection: the engine detector's rule
    (beenet.h, "Keyword detector"; one threshold, no class offsets) plus the
    extra conditions of the module docstring."""
    if pool:
        p = pooled(p, keyword)
    s, share = smoothed(t, p, smoothing_ms)
    s32 = s.astype(np.float32)          # the engine compares in single precision
    th = np.float32(threshold)
    kws = np.where(keyword)[0]
    armed = np.ones(p.shape[1], bool)
    ref, hold = int(round(refractory_ms * 1e6)), int(round(hold_ms * 1e6))
    dets, last, pending = [], None, None
    for i in range(len(t)):
        cand = []
        for k in kws:
            if s32[i, k] < th:
                armed[k] = True
            elif armed[k] and (margin <= 0 or s[i, k] - np.max(np.delete(s[i], k)) >= margin) \
                    and (purity <= 0 or share[i, k] >= purity):
                cand.append(k)
        best = max(cand, key=lambda k: (s[i, k], -k)) if cand else None
        if pending is not None:
            if best is not None and s[i, best] > pending[2]:
                pending = (pending[0], best, s[i, best])
            if t[i] - pending[0] >= hold:
                dets.append((int(t[i]), pending[1]))
                armed[pending[1]], last, pending = False, t[i], None
            continue
        if best is None or (last is not None and t[i] - last < ref):
            continue
        if hold > 0:
            pending = (t[i], best, s[i, best])
            continue
        dets.append((int(t[i]), best))
        armed[best], last = False, t[i]
    return dets


def load(a):
    tsv = os.path.join(a.evalset, "stream", "keywords.tsv")
    for path, what in ((a.cache, "the cache (make it with 'cache')"), (tsv, "the evaluation set's keyword list")):
        if not os.path.isfile(path):
            raise SystemExit("%s: no such file (%s)" % (path, what))
    z = dict(np.load(a.cache))
    missing = [k for k in ("labels", "keyword", "negative_t", "keywords_p") if k not in z]
    if missing:
        raise SystemExit("%s is not a detection_rules cache (no %s)" % (a.cache, ", ".join(missing)))
    return z, S.read_keywords(tsv)


def check_engine(z, smoothing_ms, threshold):
    m = Model(str(z["model"]))
    if any(m.detection_class_offsets):
        raise SystemExit("the model has per-class threshold offsets; this copy of the rule has none")
    for name in ("negative", "keywords"):
        det = m.detector(threshold=threshold, smoothing_ms=smoothing_ms, refractory_ms=1000.0, min_windows=1)
        ours = [(t, int(np.where(z["labels"] == l)[0][0])) for t, l in
                ((d["time_ns"], d["label"]) for d in det.run(z[name + "_t"].tolist(), z[name + "_p"]))]
        mine = run_rule(z[name + "_t"], z[name + "_p"], z["keyword"], threshold, smoothing_ms)
        if ours != mine:
            raise SystemExit("the Python rule differs from the engine detector on %s (%d against %d detections)"
                             % (name, len(mine), len(ours)))


def engine_rule(m, t, p, threshold, smoothing_ms):
    """run_rule without extra conditions, by the engine's detector (much faster)."""
    det = m.detector(threshold=threshold, smoothing_ms=smoothing_ms, refractory_ms=1000.0, min_windows=1)
    return [(d["time_ns"], m.labels.index(d["label"])) for d in det.run(t.tolist(), p)]


def probabilities(z, how):
    """The cache's rows of probabilities: as cached, or the combination ``how``
    of its exits (an --all-exits cache)."""
    if not how:
        return {name: z[name + "_p"] for name in ("negative", "keywords")}
    if "negative_L" not in z:
        raise SystemExit("--combine needs a cache made with --all-exits")
    return {name: combine(z[name + "_L"], how) for name in ("negative", "keywords")}


def ensemble(z, others, how):
    """The mean of the probabilities of the cache z and of the caches
    ``others`` (other models on the same streams, the same windows)."""
    p = probabilities(z, how)
    for path in others:
        o = dict(np.load(path))
        for name in ("negative", "keywords"):
            if not np.array_equal(o.get(name + "_t"), z[name + "_t"]) or \
                    [str(x) for x in o["labels"]] != [str(x) for x in z["labels"]]:
                raise SystemExit("%s: not the same labels and windows as %s" % (path, z["model"]))
        q = probabilities(o, how)
        p = {k: p[k] + q[k] for k in p}
    return {k: (v / (1 + len(others))).astype(np.float32) for k, v in p.items()}


def rules(a):
    z, kws = load(a)
    for name, p in ensemble(z, a.ensemble, a.combine).items():
        z[name + "_p"] = p
    grid = json.loads(a.grid)
    check_engine(z, grid.get("smoothing_ms", [500.0])[0], 0.8)
    m = Model(str(z["model"]))
    hours, kw_hours = z["negative_s"][0] / 3600.0, z["keywords_s"][0] / 3600.0
    keys = list(grid)
    for values in itertools.product(*[grid[k] for k in keys]):
        rule = dict(zip(keys, values))
        rows = []
        plain = set(rule) <= {"smoothing_ms"}
        for th in S.tuning_thresholds(a.threshold_step):
            def run(name):
                if plain:
                    return engine_rule(m, z[name + "_t"], z[name + "_p"], th, rule.get("smoothing_ms", 500.0))
                return run_rule(z[name + "_t"], z[name + "_p"], z["keyword"], th, **rule)
            fa = len(run("negative")) / hours
            d = [{"time_ns": t, "label": str(z["labels"][c])} for t, c in run("keywords")]
            r = S.score(d, kws, float(z["keywords_s"][1]))
            rows.append((th, fa, r["false_alarms"] / kw_hours, r["miss_rate"], r["latency_median_s"]))
        ok = [r for r in rows if r[1] <= a.max_fa_per_hour and r[2] <= a.max_wrong_per_hour]
        b = min(ok, key=lambda r: (r[3], r[1], r[0])) if ok else None
        print(rule, "threshold %.3f miss %.2f %% FA/h %.2f wrong/h %.2f latency %.2f s" % (
            b[0], 100 * b[3], b[1], b[2], b[4] or float("nan")) if b else "no threshold within the limits",
            flush=True)


def peaks(a):
    z, kws = load(a)
    t, p, labels = z["keywords_t"], z["keywords_p"], [str(x) for x in z["labels"]]
    s, _ = smoothed(t, p, a.smoothing_ms)
    decided = t / 1e9 + float(z["keywords_s"][1])
    peak, favoured = [], collections.Counter()
    for kw in kws:
        i = np.where((decided > kw["start"]) & (decided <= kw["end"] + S.MATCH_AFTER_END_S))[0]
        c = labels.index(kw["label"])
        peak.append(s[i, c].max() if i.size else 0.0)
        if peak[-1] < 0.5 and i.size:
            favoured[labels[int(s[i].mean(0).argmax())]] += 1
    peak = np.array(peak)
    whole = whole_window_right(t / 1e9, p, float(z["keywords_s"][1]), kws, labels)
    print("%d keywords; largest smoothed probability of the spoken keyword within 1 s of its end:" % len(kws))
    for x in (0.3, 0.5, 0.7, 0.9):
        print("  >= %.1f: %5.1f %%" % (x, 100 * np.mean(peak >= x)))
    print("below 0.5: %d keywords; the class their windows favour: %s" % (
        int(np.sum(peak < 0.5)), dict(favoured.most_common())))
    print("top class of the window holding the whole word that gives it the most probability: "
          "the spoken keyword for %.1f %% of %d keywords" % (100 * np.mean(whole), whole.size))


def whole_window_right(t_s, p, window_s, kws, labels):
    """Per keyword held whole by some window: is the top class of the window
    that gives the spoken keyword its highest (unsmoothed) probability that
    keyword? Tells the network's hearing from its confidence."""
    right = []
    for kw in kws:
        i = np.where((t_s <= kw["start"]) & (t_s + window_s >= kw["end"]))[0]
        if i.size:
            c = labels.index(kw["label"])
            right.append(int(p[i[p[i, c].argmax()]].argmax()) == c)
    return np.array(right, bool)


def refine_select(p, keyword, base, fine, level, lookback):
    """Which windows of a fine cache a refined-window rule classifies
    (``refine``): every base-th, plus every fine-th after a kept window
    whose likeliest keyword is >= level (and, with lookback, before a grid
    window that reaches it); level < 0: every fine-th window."""
    n = len(p)
    if level < 0:
        return np.arange(n) % fine == 0
    kwmax = p[:, np.asarray(keyword, bool)].max(1)
    keep = np.zeros(n, bool)
    last = 0.0
    for i in range(n):
        if i % base == 0:
            keep[i] = True
            if lookback and kwmax[i] >= level:
                keep[max(0, i - base + fine):i:fine] = True
        elif i % fine == 0 and last >= level:
            keep[i] = True
        if keep[i]:
            last = kwmax[i]
    return keep


def refine(a):
    z, kws = load(a)
    if "negative_ops" not in z:
        raise SystemExit("%s has no OPs fractions (make it again with 'cache')" % a.cache)
    m = Model(str(z["model"]))
    hours, kw_hours = z["negative_s"][0] / 3600.0, z["keywords_s"][0] / 3600.0
    names = ("negative", "keywords")
    base_ops = {n: z[n + "_ops"][::a.base].sum() for n in names}
    for spec in a.specs:
        fine, level, lookback = spec.split(",")
        sel = {n: refine_select(z[n + "_p"], z["keyword"], a.base, int(fine), float(level), int(lookback))
               for n in names}
        best = None
        for sm in a.smoothing_ms:
            for th in S.tuning_thresholds(a.threshold_step):
                fa = len(engine_rule(m, z["negative_t"][sel["negative"]], z["negative_p"][sel["negative"]],
                                     th, sm)) / hours
                if fa > a.max_fa_per_hour:
                    continue
                d = [{"time_ns": t, "label": str(z["labels"][c])} for t, c in
                     engine_rule(m, z["keywords_t"][sel["keywords"]], z["keywords_p"][sel["keywords"]], th, sm)]
                r = S.score(d, kws, float(z["keywords_s"][1]))
                if r["false_alarms"] / kw_hours <= a.max_wrong_per_hour and \
                        (best is None or r["miss_rate"] < best[2]):
                    best = (sm, th, r["miss_rate"], fa, r["false_alarms"] / kw_hours)
        size = {n: sel[n].sum() / sel[n][::a.base].size for n in names}
        ops = {n: z[n + "_ops"][sel[n]].sum() / base_ops[n] for n in names}
        print("%-12s windows x%.2f / x%.2f, OPs x%.2f / x%.2f (negative / keyword stream): %s" % (
            spec, size["negative"], size["keywords"], ops["negative"], ops["keywords"],
            "smoothing %.0f ms threshold %.2f miss %.2f %% FA/h %.2f wrong/h %.2f" % (
                best[0], best[1], 100 * best[2], best[3], best[4]) if best else "no threshold within the limits"),
            flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("cache")
    c.add_argument("--model", required=True)
    c.add_argument("--evalset", required=True)
    c.add_argument("--interval-ms", type=float, default=100.0)
    c.add_argument("--out", required=True)
    c.add_argument("--all-exits", action="store_true", help="every exit's logits, full depth (for rules --combine)")
    r = sub.add_parser("rules")
    r.add_argument("--cache", required=True)
    r.add_argument("--evalset", required=True)
    r.add_argument("--grid", default='{"smoothing_ms": [250, 500, 750]}',
                   help="JSON: run_rule keyword -> list of values (every combination)")
    r.add_argument("--max-fa-per-hour", type=float, default=1.0)
    r.add_argument("--max-wrong-per-hour", type=float, default=3.0)
    r.add_argument("--combine", choices=sorted(COMBINE), help="score a combination of exits (an --all-exits cache)")
    r.add_argument("--ensemble", nargs="+", default=[], metavar="CACHE",
                   help="average the probabilities with these caches' (other models, the same windows)")
    r.add_argument("--threshold-step", type=float, default=None,
                   help="also thresholds 0.30-0.99 every STEP (as tune-detection --threshold-step)")
    k = sub.add_parser("peaks")
    k.add_argument("--cache", required=True)
    k.add_argument("--evalset", required=True)
    k.add_argument("--smoothing-ms", type=float, default=750.0)
    f = sub.add_parser("refine")
    f.add_argument("--cache", required=True, help="a cache at a fraction of the interval (cache --interval-ms)")
    f.add_argument("--evalset", required=True)
    f.add_argument("--base", type=int, default=4, help="the grid: every BASE-th cached window (default 4)")
    f.add_argument("--smoothing-ms", type=float, nargs="+", default=[250.0, 500.0, 750.0])
    f.add_argument("--max-fa-per-hour", type=float, default=1.0)
    f.add_argument("--max-wrong-per-hour", type=float, default=3.0)
    f.add_argument("--threshold-step", type=float, default=0.01)
    f.add_argument("specs", nargs="+", metavar="FINE,LEVEL,LOOKBACK")
    a = ap.parse_args(argv)
    {"cache": cache, "rules": rules, "peaks": peaks, "refine": refine}[a.cmd](a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
