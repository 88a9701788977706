"""EENet (Ilhan et al., "EENet: Learning to Early Exit for Adaptive Inference",
2023): a small scheduler trained offline on the validation split's exit
outputs, written into a model file (beenet.eenet.*), run by the engine's
`eenet` policy (engine/eenet.c, engine/policy.c; docs/policies.md).

Per exit e the scheduler has a utility function: a one-hidden-layer MLP
(ReLU, sigmoid output) on the exit's confidence measures (largest
probability, entropy / ln(classes), margin of the two largest probabilities,
share of the earlier exits that agree with its argmax) and its class-wise
probabilities, fitted with binary cross-entropy to "this exit's argmax is
right".  The exit assignment is a threshold per exit: a window stops at the
first exit whose utility reaches the exit's threshold.  For a range of
average budgets (share of the network's operations) the thresholds are
chosen on the validation outputs so that the average cost holds the budget
while the accuracy is the best the search finds: a greedy path from "every
window runs to the last exit" that lowers one exit's threshold at a time
along a grid of the scores' quantiles, always taking the step that saves
the most operations per accuracy lost; each budget takes the first point of
the path that is within it.  (The paper learns the thresholds and the
utility functions jointly through a differentiable relaxation of the exit
assignment with a budget penalty; here the two are fitted one after the
other, see docs/policies.md.)

`simulate` reproduces the engine's rule in numpy on the engine's exit logits
(beenet_session_run_all_exits); the reported rows are checked clip by clip
against the engine's classify call (`engine_check`).
"""
from __future__ import annotations

import hashlib
import os
from typing import Dict, List, Optional, Sequence

import numpy as np

from .gguf_writer import T_F32, T_U32

POLICY = "eenet"                 # the engine's table name
KEY_PREFIX = "beenet.eenet."
MEASURES = 4                     # BEENET_EENET_MEASURES
DEFAULT_BUDGETS = [round(0.30 + 0.05 * i, 2) for i in range(15)]   # 0.30 .. 1.00
GRID = 64                        # thresholds tried per exit (score quantiles)
NEVER = 2.0                      # a threshold no utility (<= 1) reaches: finite, as the file wants


# ---------------------------------------------------------------------------
# The engine's inputs and rule, in numpy.

def exit_inputs(logits: np.ndarray):
    """logits (N, E, K) float32 -> (inputs (N, E, MEASURES + K) float64,
    best (N, E)): the engine's float32 softmax and entropy
    (beenet_softmax_entropy), argmax (lowest index on ties) and measures."""
    x = np.asarray(logits, np.float32)
    n, E, K = x.shape
    m = x.max(axis=2, keepdims=True)
    d = x.astype(np.float64) - m.astype(np.float64)
    logp = d - np.log(np.exp(d).sum(axis=2, keepdims=True))
    p64 = np.exp(logp)
    h = -np.where(p64 > 0, p64 * logp, 0.0).sum(axis=2)
    ent = np.maximum(h, 0.0).astype(np.float32)
    probs = p64.astype(np.float32)
    best = probs.argmax(axis=2)
    top = np.take_along_axis(probs, best[:, :, None], axis=2)[:, :, 0]
    others = probs.copy()
    np.put_along_axis(others, best[:, :, None], -1.0, axis=2)
    second = np.maximum(others.max(axis=2), 0.0) if K > 1 else np.zeros_like(top)
    agree = np.zeros((n, E))
    for e in range(1, E):
        agree[:, e] = (best[:, :e] == best[:, e:e + 1]).sum(axis=1) / e
    meas = np.stack([top.astype(np.float64), ent.astype(np.float64) / np.log(K),
                     top.astype(np.float64) - second.astype(np.float64), agree], axis=2)
    return np.concatenate([meas, probs.astype(np.float64)], axis=2), best


def scores(sched: Dict, inputs: np.ndarray) -> np.ndarray:
    """Utility q (N, E) of every exit, as beenet_eenet_score."""
    w1 = np.asarray(sched["w1"], np.float32).astype(np.float64)      # (E, H, D)
    b1 = np.asarray(sched["b1"], np.float32).astype(np.float64)      # (E, H)
    w2 = np.asarray(sched["w2"], np.float32).astype(np.float64)
    b2 = np.asarray(sched["b2"], np.float32).astype(np.float64)      # (E,)
    a = np.einsum("ned,ehd->neh", inputs, w1) + b1[None]
    z = b2[None] + (np.maximum(a, 0.0) * w2[None]).sum(axis=2)
    return 1.0 / (1.0 + np.exp(-z))


def thresholds_at(sched: Dict, budget: float) -> np.ndarray:
    """Per-exit thresholds at `budget`, as beenet_eenet_threshold."""
    b = np.asarray(sched["budgets"], np.float32)
    t = np.asarray(sched["thresholds"], np.float32).astype(np.float64)   # (B, E)
    budget = np.float32(budget)
    if budget <= b[0]:
        return t[0]
    for i in range(len(b) - 1):
        if budget < b[i + 1]:
            w = (float(budget) - float(b[i])) / (float(b[i + 1]) - float(b[i]))
            return t[i] + w * (t[i + 1] - t[i])
    return t[-1]


def simulate(q: np.ndarray, best: np.ndarray, thresholds: Sequence[float]) -> Dict[str, np.ndarray]:
    """Stop at the first exit (but the last) whose q >= its threshold."""
    n, E = q.shape
    stop = q >= np.asarray(thresholds, np.float64)[None, :]
    stop[:, -1] = True
    ex = stop.argmax(axis=1)
    return {"pred": best[np.arange(n), ex], "exit": ex + 1}


def simulate_patience(best: np.ndarray, patience: int) -> Dict[str, np.ndarray]:
    """PABEE as the engine: stop when the argmax has been the same at
    `patience` consecutive exits (the first exit counts as 1)."""
    n, E = best.shape
    run = np.zeros(n, np.int64)
    ex = np.full(n, E - 1)
    done = np.zeros(n, bool)
    for e in range(E):
        same = (e > 0) & (best[:, e] == best[:, max(e - 1, 0)])
        run = np.where(same & (run > 0), run + 1, 1)
        stop = ~done & ((run >= patience) | (e == E - 1))
        ex[stop] = e
        done |= stop
    return {"pred": best[np.arange(n), ex], "exit": ex + 1}


def summary(sim, y, costs):
    c = np.asarray(costs, np.float64)
    return float((sim["pred"] == y).mean()), float(c[sim["exit"] - 1].mean())


# ---------------------------------------------------------------------------
# Training: utility functions, then the thresholds per budget.

def fit_utilities(inputs: np.ndarray, best: np.ndarray, y: np.ndarray, hidden: int = 8, steps: int = 400,
                  seed: int = 0) -> Dict:
    """Per exit, an MLP on the standardised inputs fitted with BCE to
    "argmax right"; the standardisation is folded into w1/b1."""
    import torch
    n, E, D = inputs.shape
    g = torch.Generator().manual_seed(seed)
    W1 = np.zeros((E, hidden, D), np.float32)
    B1 = np.zeros((E, hidden), np.float32)
    W2 = np.zeros((E, hidden), np.float32)
    B2 = np.zeros(E, np.float32)
    for e in range(E):
        x = inputs[:, e, :]
        mu, sd = x.mean(axis=0), x.std(axis=0)
        sd = np.where(sd > 1e-6, sd, 1.0)
        xt = torch.tensor((x - mu) / sd, dtype=torch.float32)
        yt = torch.tensor((best[:, e] == y).astype(np.float32))
        l1 = torch.nn.Linear(D, hidden)
        l2 = torch.nn.Linear(hidden, 1)
        with torch.no_grad():
            for p in list(l1.parameters()) + list(l2.parameters()):
                p.copy_(torch.randn(p.shape, generator=g) * (1.0 / np.sqrt(p.shape[-1])))
        opt = torch.optim.Adam(list(l1.parameters()) + list(l2.parameters()), lr=0.02, weight_decay=1e-4)
        for _ in range(steps):
            opt.zero_grad()
            z = l2(torch.relu(l1(xt)))[:, 0]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(z, yt)
            loss.backward()
            opt.step()
        w1 = l1.weight.detach().numpy().astype(np.float64) / sd[None, :]
        W1[e] = w1
        B1[e] = l1.bias.detach().numpy() - w1 @ mu
        W2[e] = l2.weight.detach().numpy()[0]
        B2[e] = l2.bias.detach().numpy()[0]
    return {"hidden": hidden, "w1": W1, "b1": B1, "w2": W2, "b2": B2}


def _grids(q: np.ndarray) -> List[np.ndarray]:
    """Per exit but the last: NEVER (never stop), then midpoints between
    distinct score quantiles, highest first, then 0 (always stop).  Midpoints
    keep every threshold away from a validation score."""
    out = []
    for e in range(q.shape[1] - 1):
        v = np.unique(np.quantile(q[:, e], np.linspace(1.0, 0.0, GRID + 1)))[::-1]
        mids = (v[:-1] + v[1:]) / 2 if len(v) > 1 else v
        out.append(np.concatenate([[NEVER], mids, [0.0]]))
    return out


def threshold_path(q: np.ndarray, best: np.ndarray, y: np.ndarray, costs: Sequence[float]) -> List[Dict]:
    """The greedy path (module text): one point per step, cost decreasing."""
    E = q.shape[1]
    grids = _grids(q)
    idx = [0] * (E - 1)
    th = lambda ix: np.array([grids[e][i] for e, i in enumerate(ix)] + [0.0])  # noqa: E731
    acc, cost = summary(simulate(q, best, th(idx)), y, costs)
    path = [{"thresholds": th(idx), "accuracy": acc, "ops_fraction": cost}]
    while True:
        cand = None
        for e in range(E - 1):
            if idx[e] + 1 >= len(grids[e]):
                continue
            trial = list(idx)
            trial[e] += 1
            a, c = summary(simulate(q, best, th(trial)), y, costs)
            if c > cost + 1e-12:
                continue
            key = ((cost - c) / max(acc - a, 1e-6), -c)
            if cand is None or key > cand[0]:
                cand = (key, trial, a, c)
        if cand is None:
            return path
        _, idx, acc, cost = cand
        path.append({"thresholds": th(idx), "accuracy": acc, "ops_fraction": cost})


def fit(logits: np.ndarray, y: np.ndarray, costs: Sequence[float], budgets: Sequence[float] = DEFAULT_BUDGETS,
        hidden: int = 8, seed: int = 0) -> Dict:
    """The whole scheduler from validation exit logits (N, E, K)."""
    inputs, best = exit_inputs(logits)
    sched = fit_utilities(inputs, best, y, hidden, seed=seed)
    q = scores(sched, inputs)
    path = threshold_path(q, best, y, costs)
    kept, rows = [], []
    for b in sorted(budgets):
        pt = next((p for p in path if p["ops_fraction"] <= b + 1e-12), None)
        if pt is None:
            continue
        kept.append(float(b))
        rows.append(pt["thresholds"].astype(np.float32))
    if not kept:
        raise ValueError("no budget in %s is reachable (cheapest %.3f)" % (budgets, path[-1]["ops_fraction"]))
    sched["budgets"] = np.array(kept, np.float32)
    sched["thresholds"] = np.stack(rows)
    sched["val"] = [{"budget": b, **{k: v for k, v in next(p for p in path if p["ops_fraction"] <= b + 1e-12).items()
                                     if k != "thresholds"}} for b in kept]
    return sched


# ---------------------------------------------------------------------------
# The model file.

def scheduler_keys(sched: Dict) -> Dict[str, tuple]:
    """beenet.eenet.* as {key: (type, values)} (docs/model-format.md)."""
    f = lambda a: [float(v) for v in np.asarray(a, np.float32).ravel()]  # noqa: E731
    return {KEY_PREFIX + "hidden": (T_U32, int(sched["hidden"])),
            KEY_PREFIX + "w1": (T_F32, f(sched["w1"])), KEY_PREFIX + "b1": (T_F32, f(sched["b1"])),
            KEY_PREFIX + "w2": (T_F32, f(sched["w2"])), KEY_PREFIX + "b2": (T_F32, f(sched["b2"])),
            KEY_PREFIX + "budgets": (T_F32, f(sched["budgets"])),
            KEY_PREFIX + "thresholds": (T_F32, f(sched["thresholds"]))}


def set_keys(data: bytes, keys: Dict[str, tuple], drop_prefix: str = KEY_PREFIX) -> bytes:
    """The GGUF bytes with every key starting with drop_prefix removed and
    `keys` added (u32 scalars, f32 arrays); tensor data moves to the new
    aligned data start (offsets are relative to it)."""
    from .exclusion import rewrite_keys
    return rewrite_keys(data, keys, lambda k: k.startswith(drop_prefix))


def write_scheduler(src: str, out: str, sched: Dict) -> int:
    from .exclusion import rewrite_file
    return rewrite_file(src, out, lambda data: set_keys(data, scheduler_keys(sched)))


def read_scheduler(path: str) -> Optional[Dict]:
    """beenet.eenet.* of a model file (shapes restored), or None."""
    from .gguf_writer import read_gguf
    with open(path, "rb") as f:
        kv = read_gguf(f.read())[0]
    if KEY_PREFIX + "hidden" not in kv:
        return None
    H = int(kv[KEY_PREFIX + "hidden"])
    b2 = np.asarray(kv[KEY_PREFIX + "b2"], np.float32)
    E = len(b2)
    budgets = np.asarray(kv[KEY_PREFIX + "budgets"], np.float32)
    return {"hidden": H, "w1": np.asarray(kv[KEY_PREFIX + "w1"], np.float32).reshape(E, H, -1),
            "b1": np.asarray(kv[KEY_PREFIX + "b1"], np.float32).reshape(E, H),
            "w2": np.asarray(kv[KEY_PREFIX + "w2"], np.float32).reshape(E, H), "b2": b2, "budgets": budgets,
            "thresholds": np.asarray(kv[KEY_PREFIX + "thresholds"], np.float32).reshape(len(budgets), E)}


# ---------------------------------------------------------------------------
# Data (cached) and the engine check.

def split_cached(model, model_path: str, data: str, split: str, max_clips: Optional[int] = None,
                 cache: Optional[str] = None):
    """exclusion.split_logits (features, labels, (N, E, K) engine logits of a
    corpus split), kept in `cache` (a directory) as an .npz named after the
    model file's SHA-256, the corpus path, the split and max_clips, so a
    second run skips the front-end and network passes."""
    from .exclusion import split_logits
    path = None
    if cache:
        with open(model_path, "rb") as f:
            h = hashlib.sha256(f.read())
        h.update(("%s|%s|%s" % (os.path.abspath(data), split, max_clips)).encode())
        path = os.path.join(cache, "split-%s.npz" % h.hexdigest()[:24])
        if os.path.exists(path):
            z = np.load(path)
            return z["feats"], z["y"], z["logits"]
    feats, y, logits = split_logits(model, data, split, max_clips)
    if path:
        os.makedirs(cache, exist_ok=True)
        tmp = path + ".tmp.npz"
        np.savez(tmp, feats=feats, y=y, logits=logits)
        os.replace(tmp, path)
    return feats, y, logits


def engine_check(model, feats: np.ndarray, sim: Dict, params) -> int:
    """Clips whose class or exit differ between the engine's classify call
    and the simulation."""
    s = model.session()
    bad = 0
    for i in range(len(feats)):
        r = s.classify_features(feats[i], params)
        bad += int(r["class_index"] != sim["pred"][i] or r["exit_index"] != sim["exit"][i])
    return bad


# ---------------------------------------------------------------------------
# The study: EENet beside entropy, patience and class exclusion.

def _row(policy: str, par: str, sim, y, costs) -> Dict:
    acc, cost = summary(sim, y, costs)
    return {"policy": policy, "parameter": par, "accuracy": acc, "ops_fraction": cost, "pred": sim["pred"],
            "exit": sim["exit"]}


def _versus(r: Dict, rows: List[Dict], y) -> Dict:
    from .exclusion import paired_diff
    near = min(rows, key=lambda o: abs(o["ops_fraction"] - r["ops_fraction"]))
    d, ci = paired_diff(r["pred"], near["pred"], y)
    return {"parameter": near["parameter"], "ops_fraction": near["ops_fraction"], "accuracy": near["accuracy"],
            "diff": d, "ci95": ci}


def study(logits: np.ndarray, y: np.ndarray, costs: Sequence[float], sched: Dict,
          factors: Optional[Sequence[float]], score: str = "softmax") -> Dict:
    """Every policy's sweep on one split's exit logits, with the engine's
    rules; each EENet row against the entropy and class-exclusion rows of
    the nearest cost (paired difference, 95 % interval)."""
    from .exclusion import ENTROPY_SWEEP, SCALE_SWEEP, margins_of, simulate as ce_simulate, simulate_entropy
    inputs, best = exit_inputs(logits)
    q = scores(sched, inputs)
    E = logits.shape[1]
    ee = [_row("eenet", "budget %g" % b, simulate(q, best, thresholds_at(sched, b)), y, costs)
          for b in np.asarray(sched["budgets"], np.float64).round(4)]
    ent = [_row("entropy", "threshold %g" % t, simulate_entropy(logits, t), y, costs) for t in ENTROPY_SWEEP]
    pat = [_row("patience", "patience %d" % k, simulate_patience(best, k), y, costs) for k in range(1, E + 1)]
    ce = [_row("class-exclusion", "scale %g" % s, ce_simulate(logits, margins_of(factors, s), score=score), y, costs)
          for s in SCALE_SWEEP] if factors is not None else []
    for r in ee:
        r["vs_entropy"] = _versus(r, ent, y)
        if ce:
            r["vs_class_exclusion"] = _versus(r, ce, y)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("pred", "exit")} for r in rows]  # noqa: E731
    return {"n": int(len(y)), "eenet": strip(ee), "entropy": strip(ent), "patience": strip(pat),
            "class_exclusion": strip(ce), "_sims": {"eenet": ee}}


def study_markdown(res: Dict) -> str:
    L = ["| policy | parameter | accuracy | average OPs fraction |", "| --- | --- | --- | --- |"]
    for key in ("entropy", "patience", "class_exclusion", "eenet"):
        for r in res[key]:
            L.append("| %s | %s | %.2f %% | %.3f |" % (r["policy"], r["parameter"], 100 * r["accuracy"],
                                                      r["ops_fraction"]))
    L += ["", "| EENet budget | OPs | accuracy | entropy at the nearest cost: threshold, OPs, accuracy | EENet - entropy "
          "(95 % CI) | class exclusion at the nearest cost: scale, OPs, accuracy | EENet - class exclusion (95 % CI) |",
          "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in res["eenet"]:
        v = r["vs_entropy"]
        line = "| %s | %.3f | %.2f %% | %s, %.3f, %.2f %% | %+.2f +- %.2f points |" % (
            r["parameter"].split()[1], r["ops_fraction"], 100 * r["accuracy"], v["parameter"].split()[1],
            v["ops_fraction"], 100 * v["accuracy"], 100 * v["diff"], 100 * v["ci95"])
        c = r.get("vs_class_exclusion")
        line += (" %s, %.3f, %.2f %% | %+.2f +- %.2f points |" % (
            c["parameter"].split()[1], c["ops_fraction"], 100 * c["accuracy"], 100 * c["diff"], 100 * c["ci95"])
            if c else " | |")
        L.append(line)
    L.append("")
    L.append("%d clips; EENet rows re-run through the engine's classify call, clips that differ: %s" % (
        res["n"], ", ".join("budget %s: %d" % kv for kv in res.get("engine_mismatches", {}).items()) or "not run"))
    return "\n".join(L)


def plot(res: Dict, path: str, title: str) -> None:
    from .studyplot import plot_study
    plot_study(res, (("entropy", "entropy (threshold sweep)", "o-"), ("patience", "patience (k = 1..E)", "v-"),
                     ("class_exclusion", "class exclusion (margin scale sweep)", "s-"),
                     ("eenet", "EENet (stored budgets)", "D-")), path, title, figsize=(6.5, 4.2), ms=4)


def main(a) -> int:
    import json
    from .exclusion import exit_costs_of, search_factors
    from .frontend import Model, policy_params
    from .studyplot import study_title
    model = Model(a.model)
    feats, y, logits = split_cached(model, a.model, a.data, a.split, a.max_clips, a.cache)
    costs = exit_costs_of(model, feats)
    sched = fit(logits, y, costs, hidden=a.hidden, seed=a.seed)
    for p in sched["val"]:
        print("budget %g on %s (%d clips): accuracy %.4f, OPs %.3f" % (
            p["budget"], a.split, len(y), p["accuracy"], p["ops_fraction"]), flush=True)
    res = {"exit_ops_fractions": costs, "val": sched["val"]}
    if a.out:
        n = write_scheduler(a.model, a.out, sched)
        print("wrote %s (%d bytes) with %s* (budgets %s)" % (a.out, n, KEY_PREFIX, Model(a.out).eenet_budgets))
    if a.study:
        score = model.exclusion_score
        factors = search_factors(logits, y, costs, a.tolerance, score=score)["factors"]
        print("class-exclusion factors (tolerance %g on %s, %s scores): %s" % (a.tolerance, a.split, score,
                                                                             factors))
        tf, ty, tl = split_cached(model, a.model, a.data, a.study, a.max_clips, a.cache)
        res["study"] = study(tl, ty, costs, sched, factors, score)
        if a.out:
            m2 = Model(a.out)
            sims = {r["parameter"].split()[1]: r for r in res["study"]["_sims"]["eenet"]}
            res["study"]["engine_mismatches"] = {
                b: engine_check(m2, tf, sims[b], policy_params(POLICY, budget=float(b)))
                for b in a.check_budgets if b in sims}
        del res["study"]["_sims"]
        print(study_markdown(res["study"]))
        if a.plot:
            plot(res["study"], a.plot, study_title(model.name, a.study, len(ty)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=float)
    return 0
