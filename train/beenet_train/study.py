"""The threshold study of issue 9 (the paper's Figures 2-5) on the catalogued models.

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train.study \\
        [--catalogue models/catalogue.json] [--data kws12=data/kws12-v2] [--data lid6=data/lid6] \\
        [--data kws31=data/kws31-v2] [--cache build/study-cache] [--figures docs] [--write docs/results.md]

For every model of the catalogue (a JSON list of {"model", "task", "family"};
paths relative to the catalogue's directory) the engine computes every exit's
logits for every clip of the task's held-out split once (the un-augmented
clips `beenet_train evaluate` uses, exclusion.split_logits), kept in
``--cache`` as an .npz named after the model file's SHA-256 (and the corpus,
split and clip limit), so a rerun only redoes the numpy part.  The entropy
policy is then swept in numpy exactly as the engine decides
(:func:`engine_exits`: float32 probabilities and entropy in nats from the
float64 softmax of engine/ops.c beenet_softmax_entropy, stop at the first
exit whose entropy < threshold, the last exit always stops, argmax lowest
index on ties; the policy's keyword_exit is 0, the paper's rule).  When the
logits are computed, the first ``--check-clips`` clips are re-run through the
engine's classify call at every threshold and the clips whose class or exit
differ are counted (reported, must be 0).

Figures (PNG, matplotlib Agg) and the markdown block between the study
markers of ``--write``:

* Figure 2 (``study-fig2-accuracy.png``): accuracy per threshold, one line a
  family, one panel a task;
* Figure 3 (``study-fig3-exits.png``): share of windows leaving at each exit
  per threshold (stacked bars), one panel a (task, family);
* Figure 4 (``study-fig4-cost.png``): accuracy against the average exit and
  against the average share of the network's operations;
* Figure 5 (``study-fig5-classes.png``): per-class exit usage of the
  ``--per-class-task`` models (LID-6) at threshold ``--per-class-threshold``.

Entries whose model file or corpus is missing are listed as such in the
output and the block, never dropped silently.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

THRESHOLDS = [0.1, 0.25, 0.5, 0.75, 1.0]
TASK_NAMES = {"kws12": "KWS-12", "kws31": "KWS-31", "lid6": "LID-6"}
DEFAULT_DATA = {"kws12": "data/kws12-v2", "kws31": "data/kws31-v2", "lid6": "data/lid6"}
BEGIN, END = "<!-- study.py figures begin -->", "<!-- study.py figures end -->"
FIGURES = {"fig2": "study-fig2-accuracy.png", "fig3": "study-fig3-exits.png", "fig4": "study-fig4-cost.png",
           "fig5": "study-fig5-classes.png"}


# ---------------------------------------------------------------------------
# The engine's entropy rule in numpy.

def engine_softmax(logits: np.ndarray):
    """logits (..., K) float32 -> (probabilities float32, entropy float32 in
    nats, argmax of the float32 probabilities), as beenet_softmax_entropy and
    run_network (engine/ops.c, engine/session.c) compute them."""
    x = np.asarray(logits, np.float32)
    d = x.astype(np.float64) - x.max(axis=-1, keepdims=True).astype(np.float64)
    logp = d - np.log(np.exp(d).sum(axis=-1, keepdims=True))
    p = np.exp(logp)
    h = -np.where(p > 0.0, p * logp, 0.0).sum(axis=-1)
    probs = p.astype(np.float32)
    return probs, np.maximum(h, 0.0).astype(np.float32), probs.argmax(axis=-1)


def engine_exits(logits: np.ndarray, threshold: float) -> Dict[str, np.ndarray]:
    """The entropy policy on (N, E, K) logits: exit (1-based) and class of
    each clip; stop at the first exit whose entropy < threshold (float32
    comparison, as entropy_stop), the last exit always stops."""
    _, h, best = engine_softmax(logits)
    stop = h < np.float32(threshold)
    stop[:, -1] = True
    ex = stop.argmax(axis=1)
    return {"exit": ex + 1, "pred": best[np.arange(len(ex)), ex]}


def sweep_row(logits: np.ndarray, y: np.ndarray, costs: Sequence[float], threshold: float,
              num_classes: Optional[int] = None) -> Dict:
    """Accuracy, average exit, average OPs fraction, share of clips per exit
    and per class (rows: true class; absent classes are all zeros) at one
    threshold."""
    sim = engine_exits(logits, threshold)
    E = logits.shape[1]
    K = num_classes or logits.shape[2]
    hist = np.bincount(sim["exit"] - 1, minlength=E)
    per_class = np.zeros((K, E))
    np.add.at(per_class, (y, sim["exit"] - 1), 1.0)
    n_class = per_class.sum(axis=1, keepdims=True)
    return {"threshold": threshold, "accuracy": float((sim["pred"] == y).mean()),
            "avg_exit": float(sim["exit"].mean()),
            "ops_fraction": float(np.asarray(costs, np.float64)[sim["exit"] - 1].mean()),
            "exit_share": (hist / len(y)).tolist(), "class_counts": n_class[:, 0].astype(int).tolist(),
            "class_exit_share": np.divide(per_class, n_class, out=np.zeros_like(per_class),
                                          where=n_class > 0).tolist()}


def engine_mismatches(model, feats: np.ndarray, logits: np.ndarray, thresholds: Sequence[float]) -> int:
    """Clips x thresholds whose class or exit differ between the engine's
    classify call (entropy policy, keyword_exit 0) and engine_exits."""
    from .frontend import policy_params
    s = model.session()
    bad = 0
    for t in thresholds:
        sim = engine_exits(logits, t)
        p = policy_params("entropy", t, keyword_exit=0)
        for i in range(len(feats)):
            r = s.classify_features(feats[i], p)
            bad += int(r["class_index"] != sim["pred"][i] or r["exit_index"] != sim["exit"][i])
    return bad


# ---------------------------------------------------------------------------
# Inputs: the catalogue, the engine's outputs (cached).

def load_catalogue(path: str) -> List[Dict]:
    """Entries with "model" resolved against the catalogue's directory."""
    with open(path) as f:
        entries = json.load(f)
    base = os.path.dirname(os.path.abspath(path))
    out = []
    for e in entries:
        missing = [k for k in ("model", "task", "family") if k not in e]
        if missing:
            raise SystemExit("%s: entry %s lacks %s" % (path, e, ", ".join(missing)))
        out.append(dict(e, path=os.path.normpath(os.path.join(base, e["model"]))))
    return out


def cache_path(cache: str, model_path: str, data: str, split: str, max_clips: Optional[int]) -> str:
    """The cache file of one model on one split.  The key holds the engine's
    FFT backend: the features (and so a few decisions) differ by float
    rounding between backends, and logits cached with one must not be read
    for the other (they were, once: docs/results.md's KWS-12 rows were
    kiss_fft's after FFTW became the default)."""
    from .frontend import fft_backend
    with open(model_path, "rb") as f:
        h = hashlib.sha256(f.read()).hexdigest()
    key = hashlib.sha256(("%s|%s|%s|fft=%s" % (os.path.abspath(data), split, max_clips,
                                                fft_backend())).encode()).hexdigest()
    return os.path.join(cache, "study-%s-%s.npz" % (h[:24], key[:12]))


def exit_outputs(model_path: str, data: str, split: str = "test", max_clips: Optional[int] = None,
                 cache: Optional[str] = None, check_clips: int = 100,
                 thresholds: Sequence[float] = THRESHOLDS) -> Dict:
    """labels y (N,), engine logits (N, E, K), the engine's OPs fraction of
    each exit, the class labels and the engine-check count (clips x
    thresholds that differ), computed once and kept in `cache`."""
    from .exclusion import exit_costs_of, split_logits
    from .frontend import Model
    path = cache_path(cache, model_path, data, split, max_clips) if cache else None
    if path and os.path.exists(path):
        z = np.load(path)
        return {"y": z["y"], "logits": z["logits"], "costs": z["costs"].tolist(), "labels": z["labels"].tolist(),
                "checked": int(z["checked"]), "mismatches": int(z["mismatches"]), "cached": True}
    model = Model(model_path)
    feats, y, logits = split_logits(model, data, split, max_clips)
    n = min(check_clips, len(y))
    res = {"y": y, "logits": logits, "costs": exit_costs_of(model, feats), "labels": model.labels,
           "checked": n * len(thresholds),
           "mismatches": engine_mismatches(model, feats[:n], logits[:n], thresholds), "cached": False}
    if path:
        os.makedirs(cache, exist_ok=True)
        tmp = path + ".tmp.npz"
        np.savez(tmp, y=y, logits=logits, costs=np.asarray(res["costs"]), labels=np.asarray(model.labels),
                 checked=res["checked"], mismatches=res["mismatches"])
        os.replace(tmp, path)
    return res


def class_accuracy(final_logits: np.ndarray, y: np.ndarray, n_classes: int) -> List[Optional[float]]:
    """Final-exit accuracy on the clips of each class (None: no clip)."""
    pred = final_logits.argmax(axis=1)
    return [float((pred[y == k] == k).mean()) if (y == k).any() else None for k in range(n_classes)]


def study_entry(entry: Dict, data: Optional[str], a) -> Dict:
    """One catalogue entry: its status, and its sweep when model and corpus exist."""
    r = {k: entry[k] for k in ("model", "task", "family")}
    if "card" in entry:     # the model card's path relative to the catalogue (default: <model>.md)
        r["card"] = entry["card"]
    if not os.path.isfile(entry["path"]):
        return dict(r, status="model file missing (not trained yet)")
    r["size_bytes"] = os.path.getsize(entry["path"])
    if not data or not os.path.isdir(data):
        return dict(r, status="corpus %s missing" % (data or "(none given)"))
    try:
        out = exit_outputs(entry["path"], data, a.split, a.max_clips, a.cache, a.check_clips, a.thresholds)
    except SystemExit as e:   # split_logits: the model's labels are not the corpus' (wrong task or corpus)
        return dict(r, status="not measured: %s" % e)
    y, logits = out["y"], out["logits"]
    r.update(status="ok", data=data, clips=int(len(y)), labels=out["labels"], exit_ops_fractions=out["costs"],
             exit_accuracy=(logits.argmax(axis=2) == y[:, None]).mean(axis=0).tolist(),
             class_accuracy=class_accuracy(logits[:, -1], y, len(out["labels"])),
             engine_check={"checked": out["checked"], "mismatches": out["mismatches"]}, cached=out["cached"],
             rows=[sweep_row(logits, y, out["costs"], t, len(out["labels"])) for t in a.thresholds])
    return r


# ---------------------------------------------------------------------------
# Figures.

def _family_order(results: List[Dict]) -> List[str]:
    from .model import FAMILY_CONFIGS
    fams = [f for f in FAMILY_CONFIGS if any(r["family"] == f for r in results)]
    return fams + sorted({r["family"] for r in results} - set(fams))


def _task_order(results: List[Dict]) -> List[str]:
    seen = []
    for r in results:
        if r["task"] not in seen:
            seen.append(r["task"])
    return seen


def _fam_name(f: str) -> str:
    from .model import FAMILY_NAMES
    return FAMILY_NAMES.get(f, f)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _missing_panel(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_fig2(results: List[Dict], path: str) -> None:
    plt = _pyplot()
    tasks = _task_order(results)
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        ok = [r for r in results if r["task"] == task and r["status"] == "ok"]
        ax.set_title(TASK_NAMES.get(task, task))
        if not ok:
            _missing_panel(ax, "no trained model")
            continue
        for r in sorted(ok, key=lambda r: _family_order(results).index(r["family"])):
            ax.plot([w["threshold"] for w in r["rows"]], [100 * w["accuracy"] for w in r["rows"]], "o-",
                    label=_fam_name(r["family"]))
        ax.set_xlabel("entropy threshold (nats)")
        ax.set_ylabel("accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _stacked(ax, shares: np.ndarray, xlabels: List[str]) -> None:
    """shares (bars, exits): one stacked bar a row, one colour an exit."""
    bottom = np.zeros(shares.shape[0])
    for e in range(shares.shape[1]):
        ax.bar(np.arange(len(xlabels)), 100 * shares[:, e], bottom=100 * bottom, label="exit %d" % (e + 1))
        bottom += shares[:, e]
    ax.set_xticks(np.arange(len(xlabels)))
    ax.set_xticklabels(xlabels, fontsize=7, rotation=45 if len(xlabels) > 6 else 0)
    ax.set_ylim(0, 100)


def plot_fig3(results: List[Dict], path: str) -> None:
    plt = _pyplot()
    tasks, fams = _task_order(results), _family_order(results)
    fig, axes = plt.subplots(len(tasks), len(fams), figsize=(3.0 * len(fams), 2.8 * len(tasks)), squeeze=False)
    for i, task in enumerate(tasks):
        for j, fam in enumerate(fams):
            ax = axes[i][j]
            ax.set_title("%s, %s" % (TASK_NAMES.get(task, task), _fam_name(fam)), fontsize=9)
            r = next((r for r in results if r["task"] == task and r["family"] == fam), None)
            if r is None or r["status"] != "ok":
                _missing_panel(ax, "not in the catalogue" if r is None else r["status"])
                continue
            _stacked(ax, np.array([w["exit_share"] for w in r["rows"]]), ["%g" % w["threshold"] for w in r["rows"]])
            ax.set_xlabel("entropy threshold", fontsize=8)
            ax.set_ylabel("windows (%)", fontsize=8)
            ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_fig4(results: List[Dict], path: str) -> None:
    plt = _pyplot()
    fams = _family_order(results)
    markers = {t: m for t, m in zip(_task_order(results), "osD^v")}
    colors = {f: "C%d" % i for i, f in enumerate(fams)}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for r in results:
        if r["status"] != "ok":
            continue
        lab = "%s, %s" % (_fam_name(r["family"]), TASK_NAMES.get(r["task"], r["task"]))
        acc = [100 * w["accuracy"] for w in r["rows"]]
        for ax, key in zip(axes, ("avg_exit", "ops_fraction")):
            ax.plot([w[key] for w in r["rows"]], acc, "-", marker=markers[r["task"]], color=colors[r["family"]],
                    label=lab)
    for ax, xl in zip(axes, ("average exit", "average share of the network's operations")):
        ax.set_xlabel(xl)
        ax.set_ylabel("accuracy (%)")
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            _missing_panel(ax, "no trained model")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_fig5(results: List[Dict], path: str, task: str, threshold: float) -> bool:
    """False (nothing written) when no model of `task` was measured."""
    ok = [r for r in results if r["task"] == task and r["status"] == "ok"]
    if not ok:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(ok), figsize=(4.2 * len(ok), 3.6), squeeze=False)
    for ax, r in zip(axes[0], ok):
        w = _row_at(r, threshold)
        _stacked(ax, np.array(w["class_exit_share"]), r["labels"])
        ax.set_title("%s, %s, threshold %g" % (TASK_NAMES.get(task, task), _fam_name(r["family"]), threshold),
                     fontsize=9)
        ax.set_ylabel("windows of the class (%)")
        ax.legend(fontsize=6, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def _row_at(r: Dict, threshold: float) -> Dict:
    return min(r["rows"], key=lambda w: abs(w["threshold"] - threshold))


# ---------------------------------------------------------------------------
# Markdown.

def models_table(results: List[Dict]) -> List[str]:
    L = ["| task | family | model | status | clips | accuracy per exit (%) | OPs fraction per exit | "
         "engine check (clips x thresholds differing) |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if r["status"] != "ok":
            L.append("| %s | %s | `%s` | %s | | | | |" % (TASK_NAMES.get(r["task"], r["task"]),
                                                         _fam_name(r["family"]), r["model"], r["status"]))
            continue
        L.append("| %s | %s | `%s` | ok | %d | %s | %s | %d of %d |" % (
            TASK_NAMES.get(r["task"], r["task"]), _fam_name(r["family"]), r["model"], r["clips"],
            " / ".join("%.1f" % (100 * a) for a in r["exit_accuracy"]),
            " / ".join("%.3f" % c for c in r["exit_ops_fractions"]), r["engine_check"]["mismatches"],
            r["engine_check"]["checked"]))
    return L


def fig2_table(results: List[Dict], thresholds: Sequence[float]) -> List[str]:
    L = ["| task | family | " + " | ".join("%g" % t for t in thresholds) + " |",
         "|---|---|" + "---|" * len(thresholds)]
    for r in results:
        if r["status"] == "ok":
            L.append("| %s | %s | %s |" % (TASK_NAMES.get(r["task"], r["task"]), _fam_name(r["family"]),
                                           " | ".join("%.2f %%" % (100 * w["accuracy"]) for w in r["rows"])))
    return L


def fig34_table(results: List[Dict]) -> List[str]:
    L = ["| task | family | threshold | accuracy | average exit | average OPs fraction | windows per exit 1..E (%) |",
         "|---|---|---|---|---|---|---|"]
    for r in results:
        for w in r.get("rows", []):
            L.append("| %s | %s | %g | %.2f %% | %.2f | %.3f | %s |" % (
                TASK_NAMES.get(r["task"], r["task"]), _fam_name(r["family"]), w["threshold"], 100 * w["accuracy"],
                w["avg_exit"], w["ops_fraction"], " / ".join("%.1f" % (100 * s) for s in w["exit_share"])))
    return L


def fig5_table(results: List[Dict], task: str, threshold: float) -> List[str]:
    L = ["| family | class | windows | average exit | windows per exit 1..E (%) |", "|---|---|---|---|---|"]
    for r in results:
        if r["task"] != task or r["status"] != "ok":
            continue
        w = _row_at(r, threshold)
        for lab, n, sh in zip(r["labels"], w["class_counts"], w["class_exit_share"]):
            avg = sum((e + 1) * s for e, s in enumerate(sh))
            L.append("| %s | %s | %d | %.2f | %s |" % (_fam_name(r["family"]), lab, n, avg,
                                                       " / ".join("%.1f" % (100 * s) for s in sh)))
    return L


def class_accuracy_tables(results: List[Dict]) -> List[str]:
    """Per task, one row per family: final-exit accuracy on each class's clips."""
    L = []
    for task in _task_order(results):
        ok = [r for r in results if r["task"] == task and r["status"] == "ok"]
        if not ok:
            continue
        labels = ok[0]["labels"]
        L += ["", "%s (clips per class: %s)" % (TASK_NAMES.get(task, task), ", ".join(
            "%s %d" % (lab, n) for lab, n in zip(labels, _row_at(ok[0], 0.0)["class_counts"]))), "",
              "| family | " + " | ".join("`%s`" % lab for lab in labels) + " |", "|---|" + "---|" * len(labels)]
        for r in ok:
            L.append("| %s | %s |" % (_fam_name(r["family"]), " | ".join(
                "" if v is None else "%.1f" % (100 * v) for v in r["class_accuracy"])))
    return L


def markdown(results: List[Dict], a, figures: Dict[str, str], command: str) -> str:
    rel = lambda p: os.path.relpath(p, os.path.dirname(os.path.abspath(a.write))) if a.write else p  # noqa: E731
    ok = [r for r in results if r["status"] == "ok"]
    L = [BEGIN, "", "Regenerate (every figure and table of this block):", "", "    " + command, "",
         "Split `%s` of each task's corpus%s; the entropy policy (stop at the first exit whose entropy in nats "
         "is below the threshold, keyword_exit 0) swept in numpy on the engine's exit logits; the engine check "
         "re-runs the first clips through the engine's classify call at every threshold." % (
             a.split, ", at most %d clips" % a.max_clips if a.max_clips else ""), ""]
    L += models_table(results)
    if ok:
        L += ["", "Final-exit accuracy per class (%) on the held-out split (per language for LID-6):"]
        L += class_accuracy_tables(results)
    L += ["", "**Figure 2**: accuracy per entropy threshold (one line a family, one panel a task)."]
    L += (["", "![Figure 2](%s)" % rel(figures["fig2"]), ""] + fig2_table(results, a.thresholds)) if ok else \
        ["", "No model measured."]
    L += ["", "**Figures 3 and 4**: share of windows leaving at each exit per threshold (Figure 3, stacked bars), "
          "accuracy against the average exit and the average share of operations (Figure 4)."]
    if ok:
        L += ["", "![Figure 3](%s)" % rel(figures["fig3"]), "", "![Figure 4](%s)" % rel(figures["fig4"]), ""]
        L += fig34_table(results)
    L += ["", "**Figure 5**: per-class exit usage of %s at threshold %g." % (
        TASK_NAMES.get(a.per_class_task, a.per_class_task), a.per_class_threshold)]
    if "fig5" in figures:
        L += ["", "![Figure 5](%s)" % rel(figures["fig5"]), ""] + fig5_table(results, a.per_class_task,
                                                                          a.per_class_threshold)
    else:
        L += ["", "Not made: no %s model was measured (see the status column above)." % (
            TASK_NAMES.get(a.per_class_task, a.per_class_task))]
    L += ["", END]
    return "\n".join(L)


# ---------------------------------------------------------------------------
# Command line.

CATALOGUE_BEGIN, CATALOGUE_END = "<!-- study.py catalogue begin -->", "<!-- study.py catalogue end -->"


def catalogue_block(results: List[Dict], command: str, models_dir: str) -> str:
    """models/README.md's table: every catalogue entry with its file size,
    its test accuracy and cost per exit, and its card when one is shipped."""
    L = [CATALOGUE_BEGIN, "", "Regenerate (with the study, docs/results.md):", "", "    " + command, "",
         "| task | family | model | size | accuracy per exit on the test split (%) | OPs fraction per exit | card |",
         "|---|---|---|---|---|---|---|"]
    for r in results:
        card = r.get("card") or os.path.splitext(r["model"])[0] + ".md"
        card = "[%s](%s)" % (card, card) if os.path.isfile(os.path.join(models_dir, card)) else ""
        head = "| %s | %s | `%s` | " % (TASK_NAMES.get(r["task"], r["task"]), _fam_name(r["family"]), r["model"])
        if r["status"] != "ok":
            L.append(head + "| %s | | %s |" % (r["status"], card))
            continue
        L.append(head + "%.1f KiB | %s | %s | %s |" % (
            r["size_bytes"] / 1024.0, " / ".join("%.1f" % (100 * a) for a in r["exit_accuracy"]),
            " / ".join("%.3f" % c for c in r["exit_ops_fractions"]), card))
    return "\n".join(L + ["", CATALOGUE_END])


def write_block(path: str, block: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the text between begin and end (inclusive) of path, or append the block."""
    text = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text + ("\n" if text else "") + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def parse_data(items: Optional[Sequence[str]]) -> Dict[str, str]:
    d = dict(DEFAULT_DATA)
    for it in items or []:
        task, sep, path = it.partition("=")
        if not sep:
            raise SystemExit("--data wants TASK=DIR, got %r" % it)
        d[task] = path
    return d


def run(a) -> List[Dict]:
    data = parse_data(a.data)
    results = []
    for e in load_catalogue(a.catalogue):
        r = study_entry(e, data.get(e["task"]), a)
        results.append(r)
        if r["status"] != "ok":
            print("%s %s (%s): %s" % (e["task"], e["family"], e["model"], r["status"]), flush=True)
            continue
        print("%s %s (%s): %d clips%s, accuracy per exit %s, engine check %d of %d differ" % (
            e["task"], e["family"], e["model"], r["clips"], " (cached)" if r["cached"] else "",
            " ".join("%.4f" % v for v in r["exit_accuracy"]), r["engine_check"]["mismatches"],
            r["engine_check"]["checked"]), flush=True)
        for w in r["rows"]:
            print("  threshold %g: accuracy %.4f, average exit %.2f, OPs %.3f, per exit %s" % (
                w["threshold"], w["accuracy"], w["avg_exit"], w["ops_fraction"],
                " ".join("%.3f" % s for s in w["exit_share"])), flush=True)
    return results


def make_figures(results: List[Dict], a) -> Dict[str, str]:
    os.makedirs(a.figures, exist_ok=True)
    figs = {k: os.path.join(a.figures, v) for k, v in FIGURES.items()}
    if not any(r["status"] == "ok" for r in results):
        return {}
    plot_fig2(results, figs["fig2"])
    plot_fig3(results, figs["fig3"])
    plot_fig4(results, figs["fig4"])
    if not plot_fig5(results, figs["fig5"], a.per_class_task, a.per_class_threshold):
        del figs["fig5"]
    return figs


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.study", description=__doc__.split("\n")[0])
    ap.add_argument("--catalogue", default="models/catalogue.json",
                    help="JSON list of {model, task, family} (default models/catalogue.json)")
    ap.add_argument("--data", action="append", metavar="TASK=DIR",
                    help="corpus of a task (defaults: %s)" % ", ".join("%s=%s" % kv for kv in DEFAULT_DATA.items()))
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-clips", type=int, help="a fixed random subset of this many clips per model")
    ap.add_argument("--cache", help="directory keeping each model's exit logits (.npz by the file's SHA-256)")
    ap.add_argument("--check-clips", type=int, default=100,
                    help="clips re-run through the engine's classify call at every threshold (default 100)")
    ap.add_argument("--thresholds", type=float, nargs="+", default=THRESHOLDS)
    ap.add_argument("--per-class-task", default="lid6", help="task of Figure 5 (default lid6)")
    ap.add_argument("--per-class-threshold", type=float, default=0.5)
    ap.add_argument("--figures", default="docs", help="directory of the PNG figures (default docs)")
    ap.add_argument("--write", help="markdown file whose study block is replaced (or appended)")
    ap.add_argument("--json", help="also write every figure's numbers here")
    ap.add_argument("--catalogue-md", help="markdown file (models/README.md) whose catalogue table is replaced")
    return ap


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parser().parse_args(argv)
    results = run(a)
    figures = make_figures(results, a)
    command = "BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train.study " + \
        " ".join(shlex.quote(x) for x in argv)
    block = markdown(results, a, figures, command)
    if a.write:
        write_block(a.write, block)
    if a.catalogue_md:
        write_block(a.catalogue_md, catalogue_block(results, command, os.path.dirname(os.path.abspath(a.catalogue))),
                    CATALOGUE_BEGIN, CATALOGUE_END)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    missing = [r for r in results if r["status"] != "ok"]
    print("%d of %d catalogue entries measured; missing: %s" % (
        len(results) - len(missing), len(results),
        ", ".join("%s %s" % (r["task"], r["family"]) for r in missing) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
