#!/usr/bin/python3
"""Does a learned second stage on the posterior trajectory detect more keywords
at the same bounds than the plain rule? (docs/training.md, "A learned verifier").

    export BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train
    /usr/bin/python3 bench/detection_rules.py cache --all-exits --model models/kws12.gguf \\
        --evalset data/kws12-v2-eval/val --interval-ms 250 --out /tmp/v9-val-all.npz
    /usr/bin/python3 bench/verifier.py --cache /tmp/v9-val-all.npz --evalset data/kws12-v2-eval/val \\
        [--test-cache /tmp/v9-test-all.npz --test-evalset data/kws12-v2-eval/test]

Candidates: the plain rule (the engine detector's, on the final exit's
probabilities smoothed over --smoothing-ms) at a low --candidate-threshold,
without the refractory period, so one candidate per class per excursion. A
candidate is decided --hold-ms after its crossing from what the windows up to
then show (causal): the smoothed probability's peak over the last second, the
share of windows whose top class it is, the same class at exits 1, 3 and 4,
`_unknown_` and `_silence_`, the runner-up keyword, the entropy, and what the
second before the crossing held (the word's context). A logistic regression on
these (numpy, L2, class-balanced) gives the candidate's score; accepted
candidates then get the 1 s refractory period. Labels: a candidate is right
if scoring would count it a hit (its class is a keyword said within start <
decided <= end + 1 s).

Protocol, as tune-detection --cross-validate: each half of the validation
streams (streams.split_streams) is fitted and thresholded (at most
--max-fa-per-hour false alarms on the negative half, --max-wrong-per-hour wrong
detections on the keyword half) and scored on the other half; the plain rule
gets the same treatment at the same smoothing (its threshold chosen on one
half, scored on the other). With --test-cache the verifier is fitted and
thresholded on all of validation and scored on test, beside the plain rule
chosen the same way. A diagnostic: nothing here is in the engine.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from detection_rules import engine_rule, run_rule, smoothed, softmax  # noqa: E402

from beenet_train import streams as S  # noqa: E402
from beenet_train.frontend import Model  # noqa: E402

FEATURES = ["peak", "mean", "top share", "exit 4 peak", "exit 3 peak", "exit 1 peak", "unknown", "silence",
            "runner-up", "entropy", "before: unknown", "before: silence", "before: class", "rise"]


def logit(p):
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def load(cache, evalset):
    z = dict(np.load(cache))
    if "negative_L" not in z:
        raise SystemExit("%s: not an --all-exits cache of bench/detection_rules.py" % cache)
    tsv = os.path.join(evalset, "stream", "keywords.tsv")
    if not os.path.isfile(tsv):
        raise SystemExit("%s: no such file (the evaluation set's keyword list)" % tsv)
    kws = S.read_keywords(tsv)
    runs = {name: {"times_ns": z[name + "_t"], "probs": softmax(z[name + "_L"]), "seconds": float(z[name + "_s"][0])}
            for name in ("negative", "keywords")}
    meta = {"labels": [str(x) for x in z["labels"]], "keyword": z["keyword"], "window_s": float(z["keywords_s"][1]),
            "model": Model(str(z["model"]))}
    return runs, kws, meta


def candidates(run, meta, a):
    """(decision window index, class, features) of every candidate of one stream."""
    t, P = np.asarray(run["times_ns"]), run["probs"]
    if len(t) < 2:
        return []
    step = (t[1] - t[0]) / 1e9
    n1, hold = int(round(1.0 / step)), int(round(a.hold_ms / 1000.0 / step))
    final = P[:, -1]
    s = {e: smoothed(t, P[:, e], a.smoothing_ms)[0] for e in (0, 2, 3, P.shape[1] - 1)}
    lab = meta["labels"]
    unk, sil = lab.index("_unknown_"), lab.index("_silence_")
    kws = np.where(meta["keyword"])[0]
    ent = -(final * np.log(final + 1e-9)).sum(1)
    out = []
    for ti, c in run_rule(t, final, meta["keyword"], a.candidate_threshold, a.smoothing_ms, refractory_ms=0.0):
        i = int(np.searchsorted(t, ti))
        j = min(len(t) - 1, i + hold)
        r = slice(max(0, j - n1 + 1), j + 1)
        b = slice(max(0, i - 2 * n1), max(1, i - n1))
        sf = s[P.shape[1] - 1]
        others = np.delete(kws, np.where(kws == c))
        f = [logit(sf[r, c].max()), logit(final[r, c].mean()), np.mean(final[r].argmax(1) == c),
             logit(s[3][r, c].max()), logit(s[2][r, c].max()), logit(s[0][r, c].max()),
             logit(final[r, unk].mean()), logit(final[r, sil].mean()), logit(sf[r][:, others].max()),
             ent[r].mean(), logit(final[b, unk].mean()), logit(final[b, sil].mean()), logit(final[b, c].mean()),
             logit(sf[j, c]) - logit(sf[i, c])]
        out.append((j, int(c), np.array(f, np.float64)))
    return out


def labelled(runs, kws, meta, a):
    """Candidates of both streams with their labels (1: a hit for scoring)."""
    rows = []
    for name, run in runs.items():
        t = np.asarray(run["times_ns"])
        for j, c, f in candidates(run, meta, a):
            decided = t[j] / 1e9 + meta["window_s"]
            hit = name == "keywords" and any(k["label"] == meta["labels"][c] and k["start"] < decided <= k["end"]
                                             + S.MATCH_AFTER_END_S for k in kws)
            rows.append((name, int(t[j]), c, f, hit))
    return rows


def fit(rows, l2=1e-2, iters=50):
    """Class-balanced L2 logistic regression by Newton's method: (mean, std, w)."""
    X = np.array([r[3] for r in rows])
    y = np.array([r[4] for r in rows], np.float64)
    mu, sd = X.mean(0), X.std(0) + 1e-9
    Xs = np.hstack([(X - mu) / sd, np.ones((len(X), 1))])
    wt = np.where(y > 0, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum())) * len(y)
    w = np.zeros(Xs.shape[1])
    for _ in range(iters):
        p = 1 / (1 + np.exp(-Xs @ w))
        g = Xs.T @ (wt * (p - y)) + l2 * len(y) * np.r_[w[:-1], 0]
        H = (Xs * (wt * p * (1 - p))[:, None]).T @ Xs + l2 * len(y) * np.diag(np.r_[np.ones(len(w) - 1), 0])
        w -= np.linalg.solve(H, g)
    return mu, sd, w


def scores(model, rows):
    mu, sd, w = model
    X = np.array([r[3] for r in rows])
    return np.hstack([(X - mu) / sd, np.ones((len(X), 1))]) @ w


def accepted(rows, sc, theta, refractory_ns=1_000_000_000):
    """Per stream: the accepted candidates in time order after the refractory period."""
    out = {"negative": [], "keywords": []}
    last = {}
    for k in np.argsort([r[1] for r in rows], kind="stable"):
        name, t, c = rows[k][:3]
        if sc[k] <= theta or (name in last and t - last[name] < refractory_ns):
            continue
        out[name].append((t, c))
        last[name] = t
    return out


def evaluate(dets, runs, kws, meta):
    fa = len(dets["negative"]) / (runs["negative"]["seconds"] / 3600.0)
    d = [{"time_ns": t, "label": meta["labels"][c]} for t, c in dets["keywords"]]
    r = S.score(d, kws, meta["window_s"])
    return fa, r["false_alarms"] / (runs["keywords"]["seconds"] / 3600.0), r["miss_rate"]


def choose(points, a):
    """The (threshold, (fa, wrong, miss)) with the fewest misses within the bounds."""
    ok = [(th, r) for th, r in points if r[0] <= a.max_fa_per_hour and r[1] <= a.max_wrong_per_hour]
    return min(ok, key=lambda x: (x[1][2], x[1][0], x[0])) if ok else (None, None)


def verifier_points(rows, sc, runs, kws, meta):
    grid = np.unique(np.quantile(sc, np.linspace(0.0, 1.0, 201)))
    return [(float(th), evaluate(accepted(rows, sc, th), runs, kws, meta)) for th in grid]


def plain_points(runs, kws, meta, a):
    out = []
    for th in S.tuning_thresholds(0.01):
        dets = {name: engine_rule(meta["model"], np.asarray(run["times_ns"]),
                                  np.ascontiguousarray(run["probs"][:, -1], np.float32), th, a.smoothing_ms)
                for name, run in runs.items()}
        out.append((th, evaluate(dets, runs, kws, meta)))
    return out


def at(points, th):
    return min(points, key=lambda x: abs(x[0] - th))[1]


def halves(runs, kws):
    return [S.split_streams(runs, kws, first) for first in (True, False)]


def report(what, tuned, held):
    print("  %-9s threshold %s; tuned half: miss %s; other half: miss %.2f %% (FA/h %.2f, wrong/h %.2f)" % (
        what, "%.3f" % tuned[0] if tuned[0] is not None else "none",
        "%.2f %%" % (100 * tuned[1][2]) if tuned[1] else "-", 100 * held[2], held[0], held[1]))


def cross_validate(runs, kws, meta, a):
    parts = halves(runs, kws)
    missed = {"plain": 0.0, "verifier": 0.0}
    n = 0
    for k, (hr, hk) in enumerate(parts):
        orr, ok = parts[1 - k]
        rows_h, rows_o = labelled(hr, hk, meta, a), labelled(orr, ok, meta, a)
        print("half %d: %d candidates (%d right) to fit, %d keywords held out" % (
            k + 1, len(rows_h), sum(r[4] for r in rows_h), len(ok)))
        tp = choose(plain_points(hr, hk, meta, a), a)
        held_p = at(plain_points(orr, ok, meta, a), tp[0]) if tp[0] is not None else (0, 0, 1.0)
        m = fit(rows_h, a.l2)
        tv = choose(verifier_points(rows_h, scores(m, rows_h), hr, hk, meta), a)
        held_v = evaluate(accepted(rows_o, scores(m, rows_o), tv[0]), orr, ok, meta) if tv[0] is not None \
            else (0, 0, 1.0)
        report("plain", tp, held_p)
        report("verifier", tv, held_v)
        missed["plain"] += held_p[2] * len(ok)
        missed["verifier"] += held_v[2] * len(ok)
        n += len(ok)
    print("cross-validated, both halves: plain %.2f %% missed, verifier %.2f %% missed (%d keywords)" % (
        100 * missed["plain"] / n, 100 * missed["verifier"] / n, n))


def on_test(runs, kws, meta, a):
    truns, tkws, tmeta = load(a.test_cache, a.test_evalset)
    rows, trows = labelled(runs, kws, meta, a), labelled(truns, tkws, tmeta, a)
    tp = choose(plain_points(runs, kws, meta, a), a)
    m = fit(rows, a.l2)
    tv = choose(verifier_points(rows, scores(m, rows), runs, kws, meta), a)
    print("fitted and thresholded on all of validation, scored on test (%d keywords):" % len(tkws))
    report("plain", tp, at(plain_points(truns, tkws, tmeta, a), tp[0]))
    report("verifier", tv, evaluate(accepted(trows, scores(m, trows), tv[0]), truns, tkws, tmeta))
    print("weights (standardised features): " + ", ".join("%s %+.2f" % (f, w) for f, w in zip(FEATURES, m[2])))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", required=True, help="an --all-exits cache of the validation streams")
    ap.add_argument("--evalset", required=True)
    ap.add_argument("--test-cache")
    ap.add_argument("--test-evalset")
    ap.add_argument("--smoothing-ms", type=float, default=500.0)
    ap.add_argument("--candidate-threshold", type=float, default=0.3)
    ap.add_argument("--hold-ms", type=float, default=500.0)
    ap.add_argument("--l2", type=float, default=1e-3)
    ap.add_argument("--max-fa-per-hour", type=float, default=1.0)
    ap.add_argument("--max-wrong-per-hour", type=float, default=3.0)
    a = ap.parse_args(argv)
    if bool(a.test_cache) != bool(a.test_evalset):
        ap.error("--test-cache and --test-evalset go together")
    for path in (a.cache, a.test_cache):
        if path and not os.path.isfile(path):
            ap.error("%s: no such file (make it with bench/detection_rules.py cache --all-exits)" % path)
    runs, kws, meta = load(a.cache, a.evalset)
    print("smoothing %g ms, candidates from %.2f, decided %g ms after the crossing" % (
        a.smoothing_ms, a.candidate_threshold, a.hold_ms))
    cross_validate(runs, kws, meta, a)
    if a.test_cache:
        on_test(runs, kws, meta, a)


if __name__ == "__main__":
    main()
