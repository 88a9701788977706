"""Keyword detection on streams, measured with the engine (session + detector).

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train streams \\
        --model models/kws12.gguf --evalset data/kws12-v2-eval/test [--interval-ms 500] \\
        [--json out.json] [--roc docs/roc.png]

The stream set (``data.evalsets``) has ``negative.wav`` (running speech, no
keyword) and ``keywords.wav`` with ``keywords.tsv`` (label, start, end).
Windows of one model window start every ``interval`` ms, as in the element;
each is classified by ``beenet_session_classify_features_params`` with the
model's policy and threshold (or the given policy, threshold, patience and
max exit: ``--policy patience --patience 2``), and the window
probabilities go through the engine's detector (``beenet_detector_push``,
time = window start).  Refined windows as the element's windower makes
them (``--refine-level``, default the model's): after a window whose
likeliest keyword has a probability above the level, the window half an
interval later is classified too.

Scoring (docs/models.md): a detection is *decided* at the end of its window.
It is a **hit** when a keyword of the same label, not yet matched, has
``start < decision <= end + 1 s`` (the issue's "within 1 s of the word's
end"); every other detection is a **false alarm** (in the negative stream
every detection is one).  Miss rate = 1 - hits / keywords; latency =
decision - word end of the hits.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Dict, List, Optional

import numpy as np

from .data.audio import read_wav
from .frontend import Frontend, Model, PolicyParams, policy_params

MATCH_AFTER_END_S = 1.0
# 0.30-0.85 by 0.05, 0.90-0.99 by 0.01, then 0.995-0.999 (integer steps: no
# float-rounding duplicates): a network trained without SpecAugment is
# confident enough that 1 false alarm per hour lies above 0.99
ROC_THRESHOLDS = ([k / 100 for k in range(30, 90, 5)] + [k / 100 for k in range(90, 100)]
                  + [k / 1000 for k in (995, 998, 999)])


def tuning_thresholds(step: Optional[float] = None) -> List[float]:
    """The detection thresholds choose_detection tries: the ROC's, plus 0.30-0.99
    every ``step`` (tune-detection --threshold-step; None: the ROC's alone,
    as every model tuned before 2026-12-05 was).  The ROC's 0.05 steps below
    0.9 move the miss rate by about 4 points each, so two models whose wrong
    detections sit either side of a bound at one step land 4 points apart
    although their ROCs are level (docs/ablation.md, s53)."""
    if not step:
        return list(ROC_THRESHOLDS)
    n = int(round(0.69 / step))
    fine = {round(0.30 + k * step, 6) for k in range(n + 1) if 0.30 + k * step <= 0.99 + 1e-9}
    return sorted(set(ROC_THRESHOLDS) | fine)


def stream_policy(model: Model, threshold: Optional[float] = None, policy: Optional[str] = None,
                  patience: Optional[int] = None, max_exit: Optional[int] = None,
                  keyword_exit: Optional[int] = None) -> PolicyParams:
    """The exit policy of the stream runs: the model's (beenet_model_default_params,
    keyword_exit included) or the given policy's engine defaults, with the given fields."""
    base = model.default_params() if policy is None or policy == model.default_policy_name else policy
    return policy_params(base, threshold, patience, max_exit, keyword_exit=keyword_exit)


def refine_offset(hop: int) -> int:
    """Samples from a window to its refined window: half the interval
    (beenet_windower_refine_offset; 0 = none)."""
    return hop // 2


def classify_stream(model: Model, wave: np.ndarray, interval_ms: float, threshold: Optional[float],
                    policy: Optional[PolicyParams] = None, refine_level: Optional[float] = None) -> Dict:
    """Windows every interval_ms: start times (ns), probabilities, exits, OPs fractions.
    policy: the exit policy (default: the model's, with `threshold` when given).
    refine_level (default: the model's): after a window whose likeliest
    keyword is above it, the window refine_offset later too (the element's
    windower; ``refined`` marks those windows)."""
    params = policy if policy is not None else stream_policy(model, threshold)
    level = model.refine_level if refine_level is None else float(refine_level)
    fe = Frontend(model.frontend_config)
    sess = model.session()
    W = int(model.frontend_config.window_samples)
    rate = int(model.frontend_config.sample_rate)
    hop = int(round(interval_ms * rate / 1000.0))
    offset = refine_offset(hop)
    kws = np.array(model.keywords, int)
    starts, rows, refined = [], [], []
    feats = np.empty((fe.n_frames, fe.n_mels), np.float32)
    t0 = time.process_time()

    def run(s, extra):
        fe.compute(wave[s:s + W], feats)
        r = sess.classify_features(feats, params)
        starts.append(s)
        refined.append(extra)
        rows.append((np.array(r["probabilities"], np.float32), r["exit_index"], r["ops_fraction"]))
        return kws.size and float(np.max(r["probabilities"][kws])) > level

    for s in range(0, max(1, wave.size - W + 1), hop):
        if run(s, False) and offset and s + offset + W <= wave.size:
            run(s + offset, True)
    cpu = time.process_time() - t0
    probs = np.array([r[0] for r in rows], np.float32).reshape(len(rows), model.num_classes)
    return {"times_ns": [int(s * 1_000_000_000 // rate) for s in starts], "probs": probs,
            "exits": np.array([r[1] for r in rows], np.int32), "ops": np.array([r[2] for r in rows], float),
            "refined": np.array(refined, bool), "refine_level": level,
            "window_s": W / rate, "seconds": wave.size / rate, "cpu_seconds": cpu}


SHARE_BINS = (0.25, 0.5, 0.75, 0.99)   # the share of a word a window holds: <=25, 25-50, 50-75, 75-99 %, whole


def windows_by_share(model, run: Dict, kws: List[Dict], at: float) -> Dict:
    """Windows that hold some of a keyword and whose most probable keyword
    class reaches ``at``, counted by the share of the word they hold
    (:data:`SHARE_BINS`), right (the word's class) or wrong (another
    keyword), and the wrong ones as "said->heard".  Tells confusions of
    whole words from those of fragments a sliding window cuts."""
    kwc = list(getattr(model, "keywords", None) or
               [i for i, l in enumerate(model.labels) if not l.startswith("_")])
    t = np.array(run["times_ns"]) / 1e9
    w = run["window_s"]
    right, wrong, pairs = [0] * 5, [0] * 5, Counter()
    for k in kws:
        c = model.labels.index(k["label"])
        for j in np.nonzero((t < k["end"]) & (t + w > k["start"]))[0]:
            p = run["probs"][j, kwc]
            if float(p.max()) < at:
                continue
            top = kwc[int(p.argmax())]
            share = (min(k["end"], t[j] + w) - max(k["start"], t[j])) / max(k["end"] - k["start"], 1e-9)
            b = int(np.searchsorted(SHARE_BINS, share))
            if top == c:
                right[b] += 1
            else:
                wrong[b] += 1
                pairs["%s->%s%s" % (k["label"], model.labels[top], "" if b == 4 else " (part)")] += 1
    return {"at": at, "right": right, "wrong": wrong, "wrong_pairs": dict(pairs.most_common())}


def keyword_windows(model_path: str, evalset: str, hop_ms: float = 100.0,
                    data: Optional[str] = None, wrong_at: float = 0.6) -> Dict:
    """Per keyword of ``keywords.wav``, run at full depth every ``hop_ms``:
    is the window centred on the word right, is any window that holds the
    word (starts <= 100 ms after its start, ends >= 100 ms before its end)
    right, and how high does the right class's probability get.  Separates
    "the model cannot hear it" from "no window is placed well".  With the
    corpus ``data`` (its voices.json), the same per voice group, and what
    the keywords whose class never reaches 0.5 are heard as (the most
    frequent argmax of the windows holding them).  ``by_share``: the
    windows over ``wrong_at`` for a keyword class by the share of the word
    they hold (:func:`windows_by_share`)."""
    from .evaluate import speaker_voices, voice_group
    model = Model(model_path)
    wave = read_wav(os.path.join(evalset, "stream", "keywords.wav"))
    wave = wave[0] if isinstance(wave, tuple) else wave
    kws = read_keywords(os.path.join(evalset, "stream", "keywords.tsv"))
    # entropy below 0 never happens: every window runs to the final exit
    run = classify_stream(model, wave, hop_ms, None, policy_params("entropy", threshold=0.0),
                          refine_level=1.0)   # the grid alone
    t = np.array(run["times_ns"]) / 1e9
    w = run["window_s"]
    centred, anyw, best, heard = [], [], [], []
    for k in kws:
        c = model.labels.index(k["label"])
        sel = (t <= k["start"] + 0.1) & (t + w >= k["end"] - 0.1)
        P = run["probs"][sel]
        best.append(float(P[:, c].max()) if len(P) else 0.0)
        anyw.append(bool(len(P) and (P.argmax(1) == c).any()))
        heard.append(Counter(P.argmax(1).tolist()).most_common(1)[0][0] if len(P) else -1)
        j = int(np.argmin(np.abs(t + w / 2 - (k["start"] + k["end"]) / 2)))
        centred.append(int(run["probs"][j].argmax()) == c)
    best = np.array(best)
    r = {"keywords": len(kws), "centred": float(np.mean(centred)), "any": float(np.mean(anyw)),
         "best_ge_0.5": float(np.mean(best >= 0.5)), "best_ge_0.9": float(np.mean(best >= 0.9)),
         "best_ge_0.98": float(np.mean(best >= 0.98)),
         "unheard_as": dict(Counter(model.labels[h] if h >= 0 else "(no window)"
                                    for h, b in zip(heard, best) if b < 0.5).most_common()),
         "by_share": windows_by_share(model, run, kws, wrong_at)}
    voices = speaker_voices(data) if data else {}
    if voices:
        groups: Dict[str, List[float]] = {}
        for k, b in zip(kws, best):
            name = voices.get(k.get("source", "").split("_nohash_")[0])
            groups.setdefault(voice_group(name) if name else "unknown speaker", []).append(b)
        r["by_voice"] = sorted(({"group": g, "n": len(v), "best_ge_0.5": float(np.mean(np.array(v) >= 0.5)),
                                 "best_ge_0.9": float(np.mean(np.array(v) >= 0.9))} for g, v in groups.items()),
                               key=lambda x: (x["best_ge_0.5"], x["group"]))
    return r


def read_keywords(path: str) -> List[Dict]:
    with open(path, encoding="utf-8") as f:
        rows = [l.rstrip("\n").split("\t") for l in f][1:]
    return [{"label": r[0], "start": float(r[1]), "end": float(r[2]), "source": r[3] if len(r) > 3 else ""}
            for r in rows if r and r[0]]


def score(detections: List[Dict], keywords: List[Dict], window_s: float) -> Dict:
    """Hits (right label, decided within start < t <= end + MATCH_AFTER_END_S,
    one per keyword) and false alarms; a false alarm decided within a
    keyword's span is either a double (a second detection with its label) or
    a confusion (another keyword's label: ``confusions`` counts "said->heard"),
    the rest fired on the speech and noise between keywords."""
    matched = [False] * len(keywords)
    hits, fas, lat, doubles, confusions = 0, [], [], 0, Counter()
    for d in detections:
        t = d["time_ns"] / 1e9 + window_s
        best = None
        for k, kw in enumerate(keywords):
            if not matched[k] and kw["label"] == d["label"] and kw["start"] < t <= kw["end"] + MATCH_AFTER_END_S:
                best = k
                break
        if best is None:
            fas.append(d)
            span = [kw for kw in keywords if kw["start"] < t <= kw["end"] + MATCH_AFTER_END_S]
            if any(kw["label"] == d["label"] for kw in span):
                doubles += 1
            elif span:
                confusions["%s->%s" % (span[0]["label"], d["label"])] += 1
        else:
            matched[best] = True
            hits += 1
            lat.append(t - keywords[best]["end"])
    return {"hits": hits, "keywords": len(keywords), "false_alarms": len(fas),
            "false_alarms_on_keywords": doubles + sum(confusions.values()), "doubles": doubles,
            "confusions": dict(confusions.most_common()),
            "miss_rate": 1.0 - hits / max(1, len(keywords)),
            "latency_median_s": float(np.median(lat)) if lat else None,
            "latency_max_s": float(np.max(lat)) if lat else None,
            "missed_by_label": {l: sum(1 for k, kw in enumerate(keywords) if kw["label"] == l and not matched[k])
                                for l in sorted({kw["label"] for kw in keywords})}}


def detect(model: Model, stream: Dict, **params) -> List[Dict]:
    det = model.detector(**params)
    return det.run(stream["times_ns"], stream["probs"])


def evaluate_streams(model: Model, evalset: str, interval_ms: Optional[float] = None,
                     threshold: Optional[float] = None, detection: Optional[Dict] = None,
                     roc_thresholds=ROC_THRESHOLDS, streams: Optional[Dict] = None,
                     policy: Optional[PolicyParams] = None, refine_level: Optional[float] = None,
                     keywords: Optional[List[Dict]] = None) -> Dict:
    """Detection figures on <evalset>/stream at the model's (or given) detection
    parameters, window interval and refine level, plus the ROC over detection
    thresholds.  ``keywords``: the keyword stream's words (default: its
    keywords.tsv; split_streams gives a half's)."""
    if interval_ms is None:
        interval_ms = model.interval_ms
    if policy is None and streams is None:
        policy = stream_policy(model, threshold)
    if policy is not None:
        th = float(policy.threshold)
    else:  # streams classified by the caller at this threshold
        th = model.default_threshold if threshold is None else threshold
    d = os.path.join(evalset, "stream")
    if streams is None:
        streams = {name: classify_stream(model, read_wav(os.path.join(d, name + ".wav")), interval_ms, th,
                                         policy, refine_level)
                   for name in ("negative", "keywords")}
    kws = read_keywords(os.path.join(d, "keywords.tsv")) if keywords is None else keywords
    params = dict(model.detection_defaults, **(detection or {}))
    neg, pos = streams["negative"], streams["keywords"]
    hours = neg["seconds"] / 3600.0

    def at(p):
        s = score(detect(model, pos, **p), kws, pos["window_s"])
        fa_neg = len(detect(model, neg, **p))
        return {"threshold": p["threshold"], "false_alarms_negative": fa_neg,
                "false_alarms_per_hour": fa_neg / hours,
                "false_alarms_keyword_stream": s["false_alarms"],
                "false_alarms_keyword_stream_on_keywords": s["false_alarms_on_keywords"], "miss_rate": s["miss_rate"],
                "hits": s["hits"], "keywords": s["keywords"], "latency_median_s": s["latency_median_s"],
                "latency_max_s": s["latency_max_s"], "missed_by_label": s["missed_by_label"]}

    main = at(params)
    roc = [at(dict(params, threshold=float(t))) for t in roc_thresholds]
    all_ops = np.concatenate([neg["ops"], pos["ops"]])
    all_exits = np.concatenate([neg["exits"], pos["exits"]])
    seconds = neg["seconds"] + pos["seconds"]
    return {"interval_ms": interval_ms, "early_exit_threshold": th, "policy": policy.as_dict() if policy is not None else None,
            "detection": params, "refine_level": neg.get("refine_level", 1.0),
            "negative_hours": hours, "keyword_stream_minutes": pos["seconds"] / 60.0,
            "windows": int(all_ops.size), "ops_fraction_mean": float(all_ops.mean()),
            "refined_windows": int(sum(int(np.sum(x.get("refined", []))) for x in (neg, pos))),
            "windows_per_second": all_ops.size / seconds,
            "negative_windows_per_second": neg["ops"].size / neg["seconds"],
            "exit_histogram": np.bincount(all_exits - 1, minlength=model.num_exits).tolist(),
            "engine_cpu_seconds_per_audio_second": (neg["cpu_seconds"] + pos["cpu_seconds"]) /
            seconds,
            "result": main, "roc": roc}


def cut_stream(run: Dict, t_s: float, first: bool) -> Dict:
    """The windows of a classified stream starting before (first) or from
    ``t_s`` seconds, with ``seconds`` the length of that part."""
    t = np.asarray(run["times_ns"])
    sel = t < t_s * 1e9 if first else t >= t_s * 1e9
    out = dict(run, times_ns=t[sel].tolist(), seconds=t_s if first else run["seconds"] - t_s)
    for k in ("probs", "exits", "ops", "refined"):
        if k in run:
            out[k] = np.asarray(run[k])[sel]
    return out


def split_streams(streams: Dict, keywords: List[Dict], first: bool):
    """The first or second half of a classified stream pair and its keywords:
    the negative stream cut at its middle, the keyword stream in the pause
    between keywords nearest its middle (no keyword is cut), each half's
    ``seconds`` its own length.  For cross-validating the tuning."""
    neg, pos = streams["negative"], streams["keywords"]
    kws = sorted(keywords, key=lambda k: k["start"])
    mid = pos["seconds"] / 2
    gaps = [((a["end"] + b["start"]) / 2, i) for i, (a, b) in enumerate(zip(kws, kws[1:]))]
    if gaps:
        t_kw, i = min(gaps, key=lambda g: abs(g[0] - mid))
        half_kws = kws[:i + 1] if first else kws[i + 1:]
    else:   # at most one keyword: it goes with the half its start lies in
        t_kw = mid
        half_kws = [k for k in kws if (k["start"] < mid) == first]
    return {"negative": cut_stream(neg, neg["seconds"] / 2, first),
            "keywords": cut_stream(pos, t_kw, first)}, half_kws


def _classify_grid(model: Model, evalset: str, grid) -> List:
    """[(setting, streams)] for every (interval, exit threshold, keyword exit,
    refine level) of ``grid``: both validation streams classified once."""
    d = os.path.join(evalset, "stream")
    waves = {name: read_wav(os.path.join(d, name + ".wav")) for name in ("negative", "keywords")}
    out = []
    for iv, th, ke, rl in grid:
        pol = stream_policy(model, th, keyword_exit=ke)
        out.append(((iv, th, ke, rl), {name: classify_stream(model, w, iv, th, pol, rl) for name, w in waves.items()}))
    return out


def _candidates(model: Model, evalset: str, classified, smoothings, refractory_ms: float, thresholds,
                keywords: Optional[List[Dict]] = None) -> List[Dict]:
    """Every setting x smoothing with its ROC over ``thresholds`` (each row
    with wrong detections per hour of the keyword stream) and its CPU cost."""
    out = []
    for (iv, th, ke, rl), streams in classified:
        for sm in smoothings:
            r = evaluate_streams(model, evalset, iv, th, {"smoothing_ms": sm, "refractory_ms": refractory_ms},
                                 streams=streams, roc_thresholds=thresholds, keywords=keywords)
            kw_hours = r["keyword_stream_minutes"] / 60.0
            for x in r["roc"]:
                x["wrong_per_hour"] = x["false_alarms_keyword_stream"] / kw_hours
            # CPU: OPs per second of running speech (the keyword stream's
            # 717 keywords an hour would overstate the refined windows)
            out.append({"setting": (iv, th, ke, rl), "smoothing_ms": sm, "roc": r["roc"],
                        "ops_fraction": r["ops_fraction_mean"],
                        "windows_per_second": r["negative_windows_per_second"],
                        "cost": r["ops_fraction_mean"] * r["negative_windows_per_second"]})
    return out


def _pick(cands: List[Dict], max_fa_per_hour: float, max_wrong_per_hour: Optional[float], log=None):
    """The candidate and ROC row with the lowest miss rate within the bounds
    (ties: fewer false alarms, then the lower CPU cost, the larger early-exit
    threshold, the smaller keyword exit); None when nothing is within them."""
    best = None
    for c in cands:
        ok = [x for x in c["roc"] if x["false_alarms_per_hour"] <= max_fa_per_hour + 1e-9 and
              (max_wrong_per_hour is None or x["wrong_per_hour"] <= max_wrong_per_hour + 1e-9)]
        if not ok:
            continue
        x = min(ok, key=lambda x: (x["miss_rate"], x["false_alarms_per_hour"], x["threshold"]))
        iv, th, ke, rl = c["setting"]
        if log:
            log("interval %4.0f ms refine level %.2f exit threshold %.2f keyword exit %d smoothing %4.0f ms: "
                "threshold %.3f miss %.2f %% FA/h %.2f wrong in keyword stream %d (%d on a keyword) (OPs %.3f, "
                "windows/s %.2f)" % (
                    iv, rl, th, ke, c["smoothing_ms"], x["threshold"], 100 * x["miss_rate"],
                    x["false_alarms_per_hour"], x["false_alarms_keyword_stream"],
                    x["false_alarms_keyword_stream_on_keywords"], c["ops_fraction"], c["windows_per_second"]))
        key = (x["miss_rate"], x["false_alarms_per_hour"], c["cost"], -th, ke)
        if best is None or key < best[0]:
            best = (key, c, x)
    return None if best is None else best[1:]


def _held_out(cands: List[Dict], c: Dict, x: Dict) -> Dict:
    """The row of candidate ``c`` at threshold ``x`` among another half's candidates."""
    other = next(o for o in cands if o["setting"] == c["setting"] and o["smoothing_ms"] == c["smoothing_ms"])
    return next(y for y in other["roc"] if y["threshold"] == x["threshold"])


def check_margins(margins) -> None:
    """A ValueError unless ``margins`` (cross_validate_margin) is None or
    factors in [0, 1]."""
    if margins is not None and not all(np.isfinite(x) and 0.0 <= x <= 1.0 for x in margins):
        raise ValueError("cross-validation margins must be factors in [0, 1], not %s" % (list(margins),))


def cross_validate_margin(model: Model, evalset: str, classified, smoothings, refractory_ms: float, thresholds,
                          max_fa_per_hour: float, max_wrong_per_hour: Optional[float], margins, log=print) -> Dict:
    """Two-fold cross-validation of the tuning on the streams' halves
    (split_streams): for each margin m (a factor on both bounds, from 1 down)
    the settings are chosen on one half within m x the bounds and scored on
    the other.  The margin is the largest whose held-out false alarms and
    wrong detections per hour, averaged over the two folds, are within the
    bounds (the smallest tried when none is)."""
    kws = read_keywords(os.path.join(evalset, "stream", "keywords.tsv"))
    halves = []
    for first in (True, False):
        parts = [(s, split_streams(st, kws, first)) for s, st in classified]
        hk = parts[0][1][1] if parts else []
        halves.append(_candidates(model, evalset, [(s, h[0]) for s, h in parts], smoothings, refractory_ms,
                                  thresholds, keywords=hk))
    rows, chosen = [], None
    for m in sorted(margins, reverse=True):
        folds = []
        for fit, held in ((0, 1), (1, 0)):
            p = _pick(halves[fit], m * max_fa_per_hour,
                      None if max_wrong_per_hour is None else m * max_wrong_per_hour)
            if p is None:
                folds.append(None)
                continue
            y = _held_out(halves[held], *p)
            folds.append({"fit_miss_rate": p[1]["miss_rate"], "miss_rate": y["miss_rate"],
                          "false_alarms_per_hour": y["false_alarms_per_hour"], "wrong_per_hour": y["wrong_per_hour"],
                          "threshold": p[1]["threshold"], "smoothing_ms": p[0]["smoothing_ms"],
                          "refine_level": p[0]["setting"][3], "interval_ms": p[0]["setting"][0]})
        row = {"margin": m, "folds": folds}
        if all(folds):
            row.update({k: float(np.mean([f[k] for f in folds]))
                        for k in ("miss_rate", "false_alarms_per_hour", "wrong_per_hour")})
            row["within"] = (row["false_alarms_per_hour"] <= max_fa_per_hour + 1e-9 and
                             (max_wrong_per_hour is None or row["wrong_per_hour"] <= max_wrong_per_hour + 1e-9))
            log("margin %.2f: held-out halves miss %.2f %%, FA/h %.2f, wrong/h %.2f (folds: %s)%s" % (
                m, 100 * row["miss_rate"], row["false_alarms_per_hour"], row["wrong_per_hour"],
                "; ".join("%.0f ms %.2f th %.2f: miss %.2f %% FA/h %.1f wrong/h %.1f" % (
                    f["smoothing_ms"], f["refine_level"], f["threshold"], 100 * f["miss_rate"],
                    f["false_alarms_per_hour"], f["wrong_per_hour"]) for f in folds),
                " <- within the bounds" if row["within"] and chosen is None else ""))
        else:
            row["within"] = False
            log("margin %.2f: no setting within the bounds on a half" % m)
        rows.append(row)
        if row["within"] and chosen is None:
            chosen = m
    return {"margin": min(margins) if chosen is None else chosen, "rows": rows}


def choose_detection(model: Model, evalset: str, intervals=(500.0, 250.0), smoothings=(0.0, 250.0, 500.0, 750.0, 1000.0),
                     refractory_ms: float = 1000.0, max_fa_per_hour: float = 1.0, exit_thresholds=None,
                     keyword_exits=(0,), max_wrong_per_hour: Optional[float] = None, log=print,
                     threshold_step: Optional[float] = None, refine_levels=(1.0,), margins=None) -> Dict:
    """Pick interval, early-exit threshold, keyword exit, smoothing and
    detection threshold on a (validation) stream set: the lowest miss rate
    with at most max_fa_per_hour false alarms per hour of negative speech
    (ties: fewer false alarms, then the lower CPU cost = OPs fraction x
    windows per second, then the larger early-exit threshold and the
    smaller keyword exit).  ``refine_levels``: refine levels tried
    (classify_stream; 1 = no refined windows).  The early-exit threshold and the keyword exit
    matter because the detector sees the posteriors of the exit a window
    stopped at: a window that stops early at entropy < t has a capped
    confidence, and keyword_exit = n sends keyword candidates on to exit n.
    ``exit_thresholds`` defaults to the model's own.  ``max_wrong_per_hour``
    also bounds the false detections in the keyword stream (a wrong keyword,
    or one where none was said) per hour of that stream: a user hears "on"
    for "off" as a false alarm too.  ``threshold_step``: detection thresholds
    tried (tuning_thresholds).  ``margins``: factors on both bounds
    cross-validated on the streams' halves (cross_validate_margin); the
    choice on the whole set is then made within the chosen factor x the
    bounds (None: the bounds as given)."""
    thresholds = tuning_thresholds(threshold_step)
    grid = [(iv, th, ke, rl) for iv in intervals for th in (exit_thresholds or [model.default_threshold])
            for ke in keyword_exits for rl in refine_levels]
    classified = _classify_grid(model, evalset, grid)
    cv = None
    m = 1.0
    check_margins(margins)
    if margins:
        cv = cross_validate_margin(model, evalset, classified, smoothings, refractory_ms, thresholds,
                                   max_fa_per_hour, max_wrong_per_hour, margins, log=log)
        m = cv["margin"]
    cands = _candidates(model, evalset, classified, smoothings, refractory_ms, thresholds)
    fa_bound = m * max_fa_per_hour
    wrong_bound = None if max_wrong_per_hour is None else m * max_wrong_per_hour
    p = _pick(cands, fa_bound, wrong_bound, log=log)
    if p is None:
        raise RuntimeError("no setting reaches %.2f false alarms per hour%s on %s" % (
            fa_bound, "" if wrong_bound is None else
            " and %.2f wrong detections per hour of the keyword stream" % wrong_bound, evalset))
    c, x = p
    iv, th, ke, rl = c["setting"]
    best = {"interval_ms": iv, "refine_level": rl, "exit_threshold": th, "keyword_exit": ke,
            "smoothing_ms": c["smoothing_ms"], "refractory_ms": refractory_ms, "ops_fraction": c["ops_fraction"],
            "threshold": x["threshold"], "val_miss_rate": x["miss_rate"],
            "val_false_alarms_per_hour": x["false_alarms_per_hour"],
            "val_wrong_in_keyword_stream": x["false_alarms_keyword_stream"]}
    if cv is not None:
        best["margin"] = m
        best["cross_validation"] = cv["rows"]
    return best


# Per-keyword thresholds (tune-detection --per-class): candidate thresholds
# of one keyword, and the safety margins (in steps of this grid) tried.
CLASS_GRID = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999)
CLASS_MARGINS = (0, 1, 2, 3)


def _class_false_alarms(model: Model, run: Dict, params: Dict, keywords: List[int]) -> np.ndarray:
    """(len(CLASS_GRID), len(keywords)) detections of each keyword on a
    keyword-free run at each grid threshold (one threshold for all)."""
    out = np.zeros((len(CLASS_GRID), len(keywords)), np.int64)
    for g, t in enumerate(CLASS_GRID):
        for d in detect(model, run, **dict(params, threshold=t)):
            out[g, keywords.index(d["class_index"])] += 1
    return out


def _lowest_quiet(fa: np.ndarray, margin: int) -> np.ndarray:
    """Per keyword: the grid index above which it has no false alarm at any
    grid threshold, plus margin steps (capped at the grid's end)."""
    idx = np.empty(fa.shape[1], np.int64)
    for k in range(fa.shape[1]):
        noisy = np.nonzero(fa[:, k])[0]
        idx[k] = 0 if noisy.size == 0 else noisy[-1] + 1
    return np.minimum(idx + margin, len(CLASS_GRID) - 1)


def _half(run: Dict, first: bool) -> Dict:
    """The first or second half (in time) of a classified stream."""
    t = run["times_ns"]
    return dict(cut_stream(run, (t[0] + t[-1]) / 2e9, first), seconds=run["seconds"] / 2)


def choose_class_offsets(model: Model, neg: Dict, params: Dict, max_fa_per_hour: float = 1.0,
                         log=print) -> Dict:
    """Per-keyword thresholds on a validation negative stream (classified at the
    chosen interval and exit policy), as logit offsets from params["threshold"].

    Keyword k gets the lowest threshold of CLASS_GRID above which it caused
    no false alarm on the stream, raised by a margin of grid steps.  The
    margin is chosen by two-fold cross-validation on the stream's halves:
    thresholds chosen on one half, false alarms counted on the other; the
    smallest margin whose mean false alarms per hour on the held-out halves
    is within max_fa_per_hour (the largest margin when none is).  The
    thresholds are then chosen again on the whole stream with that margin."""
    kws = list(model.keywords)
    halves = [_half(neg, True), _half(neg, False)]
    fa = [_class_false_alarms(model, h, params, kws) for h in halves]
    margin = CLASS_MARGINS[-1]
    for m in CLASS_MARGINS:
        rates = []
        for fit, held in ((0, 1), (1, 0)):
            pick = _lowest_quiet(fa[fit], m)
            rates.append(sum(fa[held][pick[k], k] for k in range(len(kws))) / (halves[held]["seconds"] / 3600.0))
        log("per-class margin %d: false alarms per hour on the held-out half %.2f, %.2f" % (m, *rates))
        if np.mean(rates) <= max_fa_per_hour:
            margin = m
            break
    pick = _lowest_quiet(_class_false_alarms(model, neg, params, kws), margin)
    t0 = float(params["threshold"])
    logit = lambda p: float(np.log(p / (1.0 - p)))
    offsets = [0.0] * model.num_classes
    thresholds = {}
    for k, c in enumerate(kws):
        t = CLASS_GRID[pick[k]]
        thresholds[model.labels[c]] = t
        offsets[c] = 0.0 if t == t0 else round(logit(t) - logit(min(t0, 0.9999)), 4)
    log("per-class thresholds (margin %d): %s" % (margin, thresholds))
    return {"margin": margin, "thresholds": thresholds, "class_offsets": offsets}


def roc_plot(results: Dict[str, Dict], path: str, title: str) -> None:
    """False alarms per hour against miss rate, one curve per result."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    for name, r in results.items():
        fa = [max(x["false_alarms_per_hour"], 0.05) for x in r["roc"]]
        miss = [100 * x["miss_rate"] for x in r["roc"]]
        line, = ax.plot(fa, miss, marker=".", label=name)
        m = r["result"]
        ax.plot([max(m["false_alarms_per_hour"], 0.05)], [100 * m["miss_rate"]], marker="o", ms=9,
                mfc="none", color=line.get_color())
    ax.set_xscale("log")
    ax.set_xlabel("false alarms per hour of running speech (log; 0 drawn at 0.05)")
    ax.set_ylabel("miss rate (%)")
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.axhline(5.0, color="grey", lw=0.8, ls="--")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def tune(a) -> int:
    """Choose the detection defaults on the validation streams, store them in
    the checkpoint and re-export the model file with them."""
    import torch
    from .export import export_checkpoint
    try:
        check_margins(getattr(a, "cross_validate", None))
    except ValueError as e:
        raise SystemExit("error: --cross-validate: %s" % e)
    model = Model(a.model)
    if any(model.detection_class_offsets):
        raise SystemExit("%s already has per-class threshold offsets; tune from a file without them "
                         "(export the checkpoint after removing detection.class_offsets)" % a.model)
    best = choose_detection(model, a.evalset, intervals=tuple(a.intervals), max_fa_per_hour=a.max_fa_per_hour,
                            exit_thresholds=a.exit_thresholds, keyword_exits=tuple(a.keyword_exits),
                            max_wrong_per_hour=getattr(a, "max_wrong_per_hour", None),
                            threshold_step=getattr(a, "threshold_step", None),
                            refine_levels=tuple(getattr(a, "refine_levels", None) or (1.0,)),
                            margins=getattr(a, "cross_validate", None))
    print("chosen on %s: %s" % (a.evalset, {k: v for k, v in best.items() if k != "cross_validation"}))
    ck = torch.load(a.checkpoint, weights_only=False)
    offsets = per_class(model, a, best, ck) if getattr(a, "per_class", False) else None
    if best["exit_threshold"] != ck["threshold"]:
        print("early-exit threshold %.2f -> %.2f (beenet.threshold)" % (ck["threshold"], best["exit_threshold"]))
        ck["threshold"] = float(best["exit_threshold"])
    ck["keyword_exit"] = int(best["keyword_exit"])
    ck["detection"] = {"threshold": float(best["threshold"]), "smoothing_ms": float(best["smoothing_ms"]),
                       "refractory_ms": float(best["refractory_ms"]), "interval_ms": float(best["interval_ms"])}
    if best["refine_level"] < 1.0:   # only then: files tuned without refining stay as they were
        ck["detection"]["refine_level"] = float(best["refine_level"])
    ck["detection_choice"] = dict(best, evalset=os.path.normpath(a.evalset))
    if offsets:
        ck["detection"]["class_offsets"] = offsets["class_offsets"]
        ck["detection_choice"]["per_class"] = offsets
    torch.save(ck, a.checkpoint)
    n = export_checkpoint(a.checkpoint, a.out)
    print("wrote %s (%d bytes) with detection %s" % (a.out, n, ck["detection"]))
    return 0


def per_class(model: Model, a, best: Dict, ck: Dict) -> Optional[Dict]:
    """tune-detection --per-class: per-keyword thresholds (choose_class_offsets)
    on the validation streams at the chosen settings, kept only when they
    detect more validation keywords than the one threshold within the
    false-alarm limit."""
    import tempfile
    import torch
    from .export import export_checkpoint
    d = os.path.join(a.evalset, "stream")
    pol = stream_policy(model, best["exit_threshold"], keyword_exit=best["keyword_exit"])
    streams = {n: classify_stream(model, read_wav(os.path.join(d, n + ".wav")), best["interval_ms"],
                                  best["exit_threshold"], pol, best["refine_level"]) for n in ("negative", "keywords")}
    params = dict(model.detection_defaults, threshold=best["threshold"], smoothing_ms=best["smoothing_ms"],
                  refractory_ms=best["refractory_ms"])
    choice = choose_class_offsets(model, streams["negative"], params, a.max_fa_per_hour)
    with tempfile.TemporaryDirectory() as tmp:
        trial = dict(ck, detection={k: params[k] for k in ("threshold", "smoothing_ms", "refractory_ms")})
        trial["detection"]["class_offsets"] = choice["class_offsets"]
        trial["threshold"], trial["keyword_exit"] = float(best["exit_threshold"]), int(best["keyword_exit"])
        torch.save(trial, os.path.join(tmp, "ck.pt"))
        export_checkpoint(os.path.join(tmp, "ck.pt"), os.path.join(tmp, "m.gguf"))
        r = evaluate_streams(Model(os.path.join(tmp, "m.gguf")), a.evalset, best["interval_ms"],
                             best["exit_threshold"], streams=streams, roc_thresholds=())["result"]
    choice.update(val_miss_rate=r["miss_rate"], val_false_alarms_per_hour=r["false_alarms_per_hour"])
    keep = r["false_alarms_per_hour"] <= a.max_fa_per_hour and r["miss_rate"] < best["val_miss_rate"]
    print("per-class thresholds on %s: miss %.2f %% FA/h %.2f (one threshold: miss %.2f %% FA/h %.2f): %s" % (
        a.evalset, 100 * r["miss_rate"], r["false_alarms_per_hour"], 100 * best["val_miss_rate"],
        best["val_false_alarms_per_hour"], "kept" if keep else "not kept"))
    return choice if keep else None


def main(a) -> int:
    model = Model(a.model)
    det = json.loads(a.detection) if a.detection else None
    pol = stream_policy(model, a.threshold, a.policy, a.patience, a.max_exit,
                        keyword_exit=getattr(a, "keyword_exit", None))
    r = evaluate_streams(model, a.evalset, a.interval_ms, a.threshold, det, policy=pol,
                         refine_level=getattr(a, "refine_level", None))
    m = r["result"]
    print("%s on %s: interval %.0f ms, refine level %g, policy %s, detection %s" % (
        a.model, a.evalset, r["interval_ms"], r["refine_level"], r["policy"], r["detection"]))
    print("  false alarms: %d in %.2f h of running speech = %.2f per hour; %d in the keyword stream" % (
        m["false_alarms_negative"], r["negative_hours"], m["false_alarms_per_hour"],
        m["false_alarms_keyword_stream"]))
    print("  keywords detected: %d/%d (miss rate %.2f %%), latency after the word's end median %.2f s max %.2f s" % (
        m["hits"], m["keywords"], 100 * m["miss_rate"], m["latency_median_s"] or float("nan"),
        m["latency_max_s"] or float("nan")))
    print("  missed by label: %s" % m["missed_by_label"])
    print("  average OPs fraction %.3f over %d windows (%d refined); engine CPU %.4f s per audio second" % (
        r["ops_fraction_mean"], r["windows"], r["refined_windows"], r["engine_cpu_seconds_per_audio_second"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f, indent=1)
    if a.roc:
        roc_plot({os.path.basename(a.model): r}, a.roc, "ROC on %s" % a.evalset)
    return 0
