"""Class exclusion (Wang, Li, Zhang, "Early-Exit with Class Exclusion", 2023):
searching the per-exit exclusion factors on the validation split's exit
outputs and writing them into a model file (beenet.class_exclusion.factors).

The rule is the engine's (engine/policy.c, docs/policies.md): at exit e a
candidate class whose score is more than  margin_e = -scale * ln(factor_e)
below the top candidate's is excluded for the rest of the window (the score
is the logit, or ln sigmoid(logit) for a model whose exits were trained with
per-class binary cross-entropy: beenet.class_exclusion.score); a window
stops when one candidate is left, the last exit reports the top candidate.
`simulate` reproduces it in numpy on every exit's logits (computed once with
beenet_session_run_all_exits), so a search tries hundreds of factor sets in
seconds; the figures that are reported come from the engine itself
(`engine_rows`, beenet_session_classify_features_params).

Search: start from factors 0 (exclude nothing: the last exit's accuracy),
then greedily lower one exit's margin at a time along a grid, always taking
the step that saves the most compute per accuracy lost, while the accuracy
stays >= full-depth accuracy - tolerance (the paper's tolerance-bounded
search; its step rule on the factor differs: it tunes exits one by one).
"""
from __future__ import annotations

import struct
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .gguf_writer import GGUF_MAGIC, T_ARRAY, T_F32, T_U32, _SCALAR_FMT, T_STRING, _pack_string

POLICY = "class-exclusion"      # the engine's table name (beenet_policy_from_name)
FACTORS_KEY = "beenet.class_exclusion.factors"
# Margins tried by the search (nats of logit difference), largest first.
MARGIN_GRID = np.concatenate([[np.inf], np.geomspace(24.0, 0.05, 48)]).astype(np.float32)


def margins_of(factors: Sequence[float], scale: float = 1.0) -> np.ndarray:
    """The engine's margins (float32): inf for factor 0, 0 for scale 0."""
    f = np.asarray(factors, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(f > 0, -np.float32(scale) * np.log(f), np.float32(np.inf)).astype(np.float32)
    if scale == 0:
        m = np.where(f > 0, np.float32(0.0), m)
    return m


def factors_of(margins: Sequence[float]) -> List[float]:
    """Factors (float32 values) for margins at scale 1; inf -> 0."""
    m = np.asarray(margins, np.float64)
    return [float(np.float32(np.exp(-v))) if np.isfinite(v) else 0.0 for v in m]


def log_sigmoid(logits: np.ndarray) -> np.ndarray:
    """ln sigmoid, as the engine computes it (double, rounded once to float32)."""
    d = np.asarray(logits, np.float64)
    with np.errstate(over="ignore"):
        v = np.where(d >= 0, -np.log1p(np.exp(-np.abs(d))), d - np.log1p(np.exp(-np.abs(d))))
    return v.astype(np.float32)


# beenet.class_exclusion.score -> what the margins compare (engine/policy.c's table)
SCORES = {"softmax": lambda x: np.asarray(x, np.float32), "sigmoid": log_sigmoid}


def simulate(logits: np.ndarray, margins: Sequence[float], max_exit: int = 0,
             score: str = "softmax") -> Dict[str, np.ndarray]:
    """logits: (N, E, K).  Returns pred (N,), exit (N, 1-based) and remaining
    (N, E: candidates after each exit that ran, 0 after the stop), as the
    engine computes them; ``score``: the model's exclusion score."""
    x = np.asarray(logits, np.float32)
    s = SCORES[score](x)
    n, E, K = x.shape
    last = min(max_exit, E) if max_exit else E
    cand = np.ones((n, K), bool)
    done = np.zeros(n, bool)
    pred = np.zeros(n, np.int64)
    ex = np.full(n, last, np.int64)
    remaining = np.zeros((n, E), np.int64)
    m = np.asarray(margins, np.float32)
    for e in range(last):
        act = ~done
        z = np.where(cand, x[:, e, :], -np.inf)
        best = z.argmax(axis=1)                  # lowest index on ties, as the engine
        top = s[np.arange(n), e, best]
        with np.errstate(invalid="ignore"):
            drop = cand & ((top[:, None] - s[:, e, :]) > m[e])
        cand = np.where(act[:, None], cand & ~drop, cand)
        cnt = cand.sum(axis=1)
        remaining[act, e] = cnt[act]
        z = np.where(cand, x[:, e, :], -np.inf)
        best = z.argmax(axis=1)
        stop = act & ((cnt <= 1) | (e + 1 == last))
        pred[stop] = best[stop]
        ex[stop] = e + 1
        done |= stop
    return {"pred": pred, "exit": ex, "remaining": remaining}


def summary(sim: Dict[str, np.ndarray], y: np.ndarray, exit_costs: Sequence[float]) -> Tuple[float, float]:
    """(accuracy, average OPs fraction)."""
    c = np.asarray(exit_costs, np.float64)
    return float((sim["pred"] == y).mean()), float(c[sim["exit"] - 1].mean())


def search_factors(logits: np.ndarray, y: np.ndarray, exit_costs: Sequence[float], tolerance: float = 0.01,
                   grid: np.ndarray = MARGIN_GRID, score: str = "softmax") -> Dict:
    """Greedy search of the per-exit margins (see the module text).  Returns
    factors (one per exit, the last 0), margins, and the accuracy / cost at
    start (no exclusion) and at the end, on the given (validation) set."""
    E = logits.shape[1]
    idx = [0] * E                      # grid position per exit; the last exit never excludes
    margins = lambda ix: np.array([grid[i] for i in ix], np.float32)  # noqa: E731
    acc0, cost0 = summary(simulate(logits, margins(idx), score=score), y, exit_costs)
    goal = acc0 - tolerance
    acc, cost = acc0, cost0
    while True:
        best = None
        for e in range(E - 1):
            if idx[e] + 1 >= len(grid):
                continue
            trial = list(idx)
            trial[e] += 1
            a, c = summary(simulate(logits, margins(trial), score=score), y, exit_costs)
            if a < goal - 1e-12 or c > cost + 1e-12:
                continue
            gain = (cost - c) / max(acc - a, 1e-6)
            key = (gain, -c)
            if best is None or key > best[0]:
                best = (key, trial, a, c)
        if best is None:
            break
        _, idx, acc, cost = best
    m = margins(idx)
    return {"factors": factors_of(m), "margins": [float(v) for v in m], "tolerance": tolerance,
            "accuracy_start": acc0, "ops_start": cost0, "accuracy": acc, "ops_fraction": cost, "n": int(len(y))}


# ---------------------------------------------------------------------------
# The model file: set (or replace) the factors key in a GGUF file's bytes.

def _kv_spans(data: bytes) -> Tuple[int, List[Tuple[str, int, int]], int]:
    """(n_tensors, [(key, start, end)] of every KV, end of the KV section)."""
    magic, _version, n_t, n_kv = struct.unpack_from("<IIQQ", data, 0)
    if magic != GGUF_MAGIC:
        raise ValueError("not a GGUF file")
    pos = 24

    def skip(vtype: int) -> None:
        nonlocal pos
        if vtype == T_STRING:
            (n,) = struct.unpack_from("<Q", data, pos)
            pos += 8 + n
        elif vtype == T_ARRAY:
            etype, n = struct.unpack_from("<IQ", data, pos)
            pos += 12
            for _ in range(n):
                skip(etype)
        else:
            pos += struct.calcsize(_SCALAR_FMT[vtype])

    spans = []
    for _ in range(n_kv):
        start = pos
        (n,) = struct.unpack_from("<Q", data, pos)
        key = data[pos + 8:pos + 8 + n].decode("utf-8")
        pos += 8 + n
        (vt,) = struct.unpack_from("<I", data, pos)
        pos += 4
        skip(vt)
        spans.append((key, start, pos))
    return n_t, spans, pos


def _tensor_infos_end(data: bytes, pos: int, n_t: int) -> int:
    for _ in range(n_t):
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 8 + n
        (nd,) = struct.unpack_from("<I", data, pos)
        pos += 4 + 8 * nd + 4 + 8
    return pos


def rewrite_keys(data: bytes, keys: Dict[str, tuple], drop: Callable[[str], bool]) -> bytes:
    """The GGUF file `data` without the keys for which drop(key) holds and
    with `keys` ({key: (T_U32, int), (T_STRING, str) or (T_F32, floats)}) added after the
    others; tensor data is moved to the new aligned data start, tensor
    offsets (relative to it) are unchanged."""
    from .gguf_writer import read_gguf
    alignment = int(read_gguf(data)[0].get("general.alignment", 32))
    n_t, spans, kv_end = _kv_spans(data)
    infos_end = _tensor_infos_end(data, kv_end, n_t)
    old_start = (infos_end + alignment - 1) // alignment * alignment
    kept = [(s, e) for k, s, e in spans if not drop(k)]
    new = b""
    for key, (t, v) in keys.items():
        if t == T_U32:
            new += _pack_string(key) + struct.pack("<II", T_U32, v)
        elif t == T_STRING:
            new += _pack_string(key) + struct.pack("<I", T_STRING) + _pack_string(v)
        else:
            new += _pack_string(key) + struct.pack("<IIQ", T_ARRAY, T_F32, len(v)) + struct.pack("<%df" % len(v), *v)
    head = bytearray(struct.pack("<IIQQ", GGUF_MAGIC, struct.unpack_from("<I", data, 4)[0], n_t,
                                 len(kept) + len(keys)))
    for s, e in kept:
        head += data[s:e]
    head += new
    head += data[kv_end:infos_end]
    head += b"\0" * ((-len(head)) % alignment)
    return bytes(head) + data[old_start:]


def rewrite_file(src: str, out: str, rewrite: Callable[[bytes], bytes]) -> int:
    """Writes rewrite(the bytes of src) to out; returns its size."""
    with open(src, "rb") as f:
        data = f.read()
    new = rewrite(data)
    with open(out, "wb") as f:
        f.write(new)
    return len(new)


def set_factors(data: bytes, factors: Sequence[float]) -> bytes:
    """The GGUF file `data` with FACTORS_KEY set to `factors` (an existing key
    is replaced)."""
    return rewrite_keys(data, {FACTORS_KEY: (T_F32, [float(v) for v in factors])}, lambda k: k == FACTORS_KEY)


def write_factors(src: str, out: str, factors: Sequence[float]) -> int:
    return rewrite_file(src, out, lambda data: set_factors(data, factors))


# ---------------------------------------------------------------------------
# Through the engine.

def engine_rows(model, feats: np.ndarray, y: np.ndarray, params_list) -> List[Dict]:
    """One row per PolicyParams: accuracy, average exit and OPs fraction,
    average candidates left at each exit reached, from
    beenet_session_classify_features_params."""
    s = model.session()
    rows = []
    for p in params_list:
        pred = np.empty(len(feats), np.int64)
        ex = np.empty(len(feats), np.int64)
        ops = np.empty(len(feats))
        for i in range(len(feats)):
            r = s.classify_features(feats[i], p)
            pred[i], ex[i], ops[i] = r["class_index"], r["exit_index"], r["ops_fraction"]
        rows.append({"params": p.as_dict(), "accuracy": float((pred == y).mean()), "avg_exit": float(ex.mean()),
                     "ops_fraction": float(ops.mean()), "n": int(len(y))})
    return rows


def exclusion_params(scale: float = 1.0, factors: Optional[Sequence[float]] = None, max_exit: int = 0):
    from .frontend import policy_params
    return policy_params(POLICY, scale, max_exit=max_exit, exclusion_factors=factors)


# ---------------------------------------------------------------------------
# Command line: python3 -m beenet_train exclusion (search, write, study).

ENTROPY_SWEEP = [0.02, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0]
SCALE_SWEEP = [0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0]
TOLERANCES = [0.0, 0.005, 0.01, 0.02, 0.05]


def split_logits(model, data: str, split: str, max_clips: Optional[int] = None):
    """(features, labels, (N, E, K) engine logits) of a corpus split, the
    un-augmented clips `evaluate` uses."""
    from .evaluate import EVAL_SEED, engine_logits
    from .frontend import Frontend
    from .corpus import Corpus, eval_waves
    corpus = Corpus(data, seed=EVAL_SEED, eval_only=True)
    if corpus.labels != model.labels:
        raise SystemExit("model labels %s differ from the corpus labels %s" % (model.labels, corpus.labels))
    examples = corpus.splits[split]
    if max_clips and max_clips < len(examples):
        # a fixed random subset (the split lists are sorted by class)
        pick = np.random.default_rng(EVAL_SEED).choice(len(examples), max_clips, replace=False)
        examples = [examples[i] for i in sorted(pick)]
    feats = Frontend(model.frontend_config).compute_batch(eval_waves(corpus, examples, EVAL_SEED))
    y = np.array([ex.label_index for ex in examples])
    return feats, y, engine_logits(model, feats).transpose(1, 0, 2).copy()


def exit_costs_of(model, feats: np.ndarray) -> List[float]:
    """OPs fraction of stopping at each exit, from the engine (max_exit)."""
    from .frontend import policy_params
    s = model.session()
    return [s.classify_features(feats[0], policy_params("entropy", -1.0, max_exit=e + 1))["ops_fraction"]
            for e in range(model.num_exits)]


def paired_diff(pred_a: np.ndarray, pred_b: np.ndarray, y: np.ndarray) -> Tuple[float, float]:
    """Accuracy of a minus accuracy of b on the same clips, and the half
    width of its 95 % normal interval from the discordant pairs."""
    a, b = pred_a == y, pred_b == y
    n = len(y)
    d = (a & ~b).sum() - (~a & b).sum()
    var = ((a != b).sum() - d * d / n) / (n * n)
    return float(d / n), float(1.96 * np.sqrt(max(var, 0.0)))


def simulate_entropy(logits: np.ndarray, threshold: float) -> Dict[str, np.ndarray]:
    """The entropy policy on every exit's logits (N, E, K): stop at the first
    exit whose softmax entropy (nats) is below the threshold."""
    x = np.asarray(logits, np.float64)
    z = x - x.max(axis=2, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=2, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=2)          # (N, E)
    stop = h < threshold
    stop[:, -1] = True
    ex = stop.argmax(axis=1)
    n = x.shape[0]
    return {"pred": x[np.arange(n), ex].argmax(axis=1), "exit": ex + 1,
            "remaining": np.where(np.arange(x.shape[1])[None] <= ex[:, None], x.shape[2], 0)}


def _row(params, sim, y, costs):
    acc, cost = summary(sim, y, costs)
    rem = sim["remaining"].astype(np.float64).mean(axis=0)
    return {"params": params.as_dict(), "accuracy": acc, "ops_fraction": cost, "pred": sim["pred"],
            "exit": sim["exit"], "remaining": rem.tolist()}


def engine_check(model, feats, y, row) -> int:
    """Clips whose class or exit differ between the engine
    (beenet_session_classify_features_params) and the row's simulation."""
    from .frontend import policy_params
    d = row["params"]
    p = policy_params(d["policy"], d["threshold"], d["patience"], d["max_exit"], d.get("exclusion_factors"))
    s = model.session()
    bad = 0
    for i in range(len(feats)):
        r = s.classify_features(feats[i], p)
        bad += int(r["class_index"] != row["pred"][i] or r["exit_index"] != row["exit"][i])
    return bad


def study(model, feats, y, logits, costs, factors_by_tol: Dict[float, List[float]], tolerance: float,
          score: str = "softmax") -> Dict:
    """Entropy sweep and class exclusion (scale sweep of the `tolerance`
    factors, and the factors of every searched tolerance at scale 1) on the
    same clips, from the engine's exit logits with the engine's rules
    (simulate, simulate_entropy; two rows are re-run through the engine's
    classify call and must match clip by clip); each class-exclusion row is
    compared with the entropy row of the nearest cost."""
    from .frontend import policy_params
    ent = [_row(policy_params("entropy", t), simulate_entropy(logits, t), y, costs) for t in ENTROPY_SWEEP]
    f = factors_by_tol[tolerance]
    ce = [_row(exclusion_params(s, f), simulate(logits, margins_of(f, s), score=score), y, costs)
          for s in SCALE_SWEEP]
    ce_tol = [_row(exclusion_params(1.0, factors_by_tol[t]),
                   simulate(logits, margins_of(factors_by_tol[t]), score=score), y, costs)
              for t in sorted(factors_by_tol)]
    checks = {"entropy 0.75": engine_check(model, feats, y, ent[ENTROPY_SWEEP.index(0.75)]),
              "class-exclusion scale 1": engine_check(model, feats, y, ce[SCALE_SWEEP.index(1.0)])}
    for r, t in zip(ce_tol, sorted(factors_by_tol)):
        r["tolerance"] = t
    for r in ce + ce_tol:
        near = min(ent, key=lambda e: abs(e["ops_fraction"] - r["ops_fraction"]))
        r["vs_entropy"] = {"threshold": near["params"]["threshold"], "ops_fraction": near["ops_fraction"],
                           "accuracy": near["accuracy"]}
        r["vs_entropy"]["diff"], r["vs_entropy"]["ci95"] = paired_diff(r["pred"], near["pred"], y)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("pred", "exit")} for r in rows]  # noqa: E731
    return {"n": int(len(y)), "score": score, "entropy": strip(ent), "class_exclusion_scale": strip(ce),
            "class_exclusion_tolerance": strip(ce_tol), "engine_mismatches": checks}


def study_markdown(res: Dict) -> str:
    L = ["| policy | parameter | accuracy | average OPs fraction | candidates left after exits 1..E (mean) "
         "| entropy at the nearest cost: threshold, OPs, accuracy | accuracy difference (95 % CI) |",
         "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in res["entropy"]:
        L.append("| entropy | threshold %g | %.2f %% | %.3f | | | |" % (
            r["params"]["threshold"], 100 * r["accuracy"], r["ops_fraction"]))
    for r in res["class_exclusion_scale"] + res["class_exclusion_tolerance"]:
        v = r["vs_entropy"]
        par = ("scale %g" % r["params"]["threshold"]) if "tolerance" not in r else \
            ("factors of tolerance %g" % r["tolerance"])
        L.append("| class-exclusion | %s | %.2f %% | %.3f | %s | %g, %.3f, %.2f %% | %+.2f +- %.2f points |" % (
            par, 100 * r["accuracy"], r["ops_fraction"], " ".join("%.2f" % v for v in r["remaining"]),
            v["threshold"], v["ops_fraction"], 100 * v["accuracy"], 100 * v["diff"], 100 * v["ci95"]))
    L.append("")
    L.append("%d clips; rows re-run through the engine's classify call, clips that differ: %s" % (
        res["n"], ", ".join("%s: %d" % kv for kv in res["engine_mismatches"].items())))
    return "\n".join(L)


def plot(res: Dict, path: str, title: str) -> None:
    from .studyplot import plot_study
    plot_study(res, (("entropy", "entropy (threshold sweep)", "o-"),
                     ("class_exclusion_scale", "class exclusion (margin scale sweep)", "s-"),
                     ("class_exclusion_tolerance", "class exclusion (search tolerance)", "^--")), path, title)


def main(a) -> int:
    import json
    from .eenet import split_cached
    from .frontend import Model
    from .studyplot import study_title
    model = Model(a.model)
    feats, y, logits = split_cached(model, a.model, a.data, a.split, a.max_clips, a.cache)
    costs = exit_costs_of(model, feats)
    tols = sorted(set(TOLERANCES + [a.tolerance])) if a.study else [a.tolerance]
    score = model.exclusion_score
    found = {t: search_factors(logits, y, costs, t, score=score) for t in tols}
    for t in tols:
        r = found[t]
        print("tolerance %g on %s (%d clips, %s scores): factors %s; accuracy %.4f -> %.4f, OPs %.3f -> %.3f" % (
            t, a.split, r["n"], score, " ".join("%.4g" % f for f in r["factors"]), r["accuracy_start"],
            r["accuracy"], r["ops_start"], r["ops_fraction"]), flush=True)
    res = {"search": {str(t): found[t] for t in tols}, "exit_ops_fractions": costs, "score": score}
    if a.out:
        n = write_factors(a.model, a.out, found[a.tolerance]["factors"])
        print("wrote %s (%d bytes) with %s" % (a.out, n, FACTORS_KEY))
    if a.study:
        ef, ey, el = split_cached(model, a.model, a.data, a.study, a.max_clips, a.cache)
        res["study"] = study(model, ef, ey, el, costs, {t: found[t]["factors"] for t in tols}, a.tolerance,
                             score)
        print(study_markdown(res["study"]))
        if a.plot:
            plot(res["study"], a.plot, study_title(model.name, a.study, len(ey)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0
