"""Evaluate a beenet model file WITH THE ENGINE (ctypes) and write the model card."""
from __future__ import annotations

import os
import time
from typing import Dict, List, Optional, Sequence

import numpy as np

from .frontend import Frontend, Model, PolicyParams, policy_params
from .gguf_writer import read_gguf
from .model import exit_ops_fractions
from .corpus import Corpus, eval_waves
from .validation import SWEEP_THRESHOLDS, choose_threshold, predict_logits

SPLIT_ALIASES = {"testing": "test", "validation": "val", "valid": "val", "training": "train"}
EVAL_SEED = 1234


def nodes_from_gguf(path: str) -> List[Dict]:
    with open(path, "rb") as f:
        kv, _ = read_gguf(f.read())
    nodes = []
    for i in range(kv["beenet.node_count"]):
        p = "beenet.node.%d." % i
        n = {"op": kv[p + "op"], "inputs": kv[p + "inputs"]}
        for k in ("kernel", "stride", "padding", "groups", "out_channels", "activation", "channel_offset",
                  "smooth", "eps"):
            if p + k in kv:
                n[k] = kv[p + k]
        nodes.append(n)
    return nodes


def engine_logits(model: Model, feats: np.ndarray) -> np.ndarray:
    """(num_exits, N, classes) logits from beenet_session_run_all_exits."""
    s = model.session()
    out = np.empty((model.num_exits, len(feats), model.num_classes), np.float32)
    for i in range(len(feats)):
        out[:, i, :] = s.run_all_exits(feats[i])
    return out


def engine_policy_row(model: Model, feats: np.ndarray, y: np.ndarray, params: PolicyParams) -> Dict:
    """Early exit as the engine does it (beenet_session_classify_features_params) under one policy."""
    s = model.session()
    pred = np.empty(len(feats), np.int64)
    ex = np.empty(len(feats), np.int64)
    ops = np.empty(len(feats))
    for i in range(len(feats)):
        r = s.classify_features(feats[i], params)
        pred[i], ex[i], ops[i] = r["class_index"], r["exit_index"], r["ops_fraction"]
    return {"params": params.as_dict(), "accuracy": float((pred == y).mean()), "avg_exit": float(ex.mean()),
            "ops_fraction": float(ops.mean()),
            "exit_histogram": np.bincount(ex - 1, minlength=model.num_exits).tolist(),
            "pred": pred, "exit": ex}


def engine_sweep(model: Model, feats: np.ndarray, y: np.ndarray, thresholds) -> List[Dict]:
    """The entropy-threshold sweep (BEENet Fig. 2), one engine_policy_row per threshold."""
    rows = []
    for th in thresholds:
        r = engine_policy_row(model, feats, y, policy_params("entropy", th))
        del r["params"]
        rows.append(dict(r, threshold=th))
    return rows


def confusion(y: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (y, p), 1)
    return m


def _md_confusion(m: np.ndarray, labels: List[str]) -> str:
    short = [l.strip("_")[:7] for l in labels]
    lines = ["| true \\ pred | " + " | ".join(short) + " |", "|---" * (len(labels) + 1) + "|"]
    for i, l in enumerate(short):
        lines.append("| **%s** | " % l + " | ".join(str(v) for v in m[i]) + " |")
    return "\n".join(lines)


def voice_group(name: str) -> str:
    """The row a voice reports under: eSpeak voices by variant over all
    accents, flite/festival voices singly."""
    if name.startswith("espeak:"):
        return "eSpeak +%s (all accents)" % (name.partition("+")[2] or "default")
    return name


def speaker_voices(data: str) -> Dict[str, str]:
    """Speaker id (as in clip names) -> voice name of a synthetic corpus
    (<data>/voices.json); {} for other corpora."""
    import json
    from .data.voices import speaker_id
    try:
        with open(os.path.join(data, "voices.json")) as f:
            names = list(json.load(f))
    except (OSError, ValueError):
        return {}
    return {speaker_id(n): n for n in names}


def voice_breakdown(data: str, examples, y: np.ndarray, preds: List[np.ndarray]) -> List[Dict]:
    """Accuracy per held-out voice group of a synthetic corpus (needs
    <data>/voices.json; [] for other corpora), grouped by voice_group;
    `_silence_` clips form their own row."""
    by_spk = speaker_voices(data)
    if not by_spk:
        return []
    groups: Dict[str, List[int]] = {}
    for i, ex in enumerate(examples):
        name = by_spk.get(getattr(ex, "speaker", "") or "")
        if name is None:
            g = "_silence_ (background noise)" if not getattr(ex, "path", None) else "unknown speaker"
        else:
            g = voice_group(name)
        groups.setdefault(g, []).append(i)
    rows = []
    for g, idx in groups.items():
        idx = np.asarray(idx)
        rows.append({"group": g, "n": int(idx.size),
                     "accuracy": [float((p[idx] == y[idx]).mean()) for p in preds]})
    rows.sort(key=lambda r: (r["accuracy"][0], r["group"]))
    return rows


def evaluate(model_path: str, data: str, split: str = "test", checkpoint: Optional[str] = None,
             card: Optional[str] = None, command: Optional[str] = None, max_clips: Optional[int] = None,
             quiet: bool = False, policies: Sequence[PolicyParams] = ()) -> Dict:
    """policies: extra exit policies (e.g. policy_params("patience", patience=2)) measured
    on the same clips; reported in res["policies"] and in the card."""
    t0 = time.time()
    say = (lambda m: None) if quiet else (lambda m: print(m, flush=True))
    split = SPLIT_ALIASES.get(split, split)
    model = Model(model_path)
    corpus = Corpus(data, seed=EVAL_SEED)
    labels = corpus.labels
    if labels != model.labels:
        raise SystemExit("model labels %s differ from the corpus labels %s" % (model.labels, labels))
    examples = corpus.splits[split]
    if max_clips:
        examples = examples[:max_clips]
    waves = eval_waves(corpus, examples, EVAL_SEED)
    fe = Frontend(model.frontend_config)
    feats = fe.compute_batch(waves)
    y = np.array([ex.label_index for ex in examples])
    K = model.num_classes
    logits = engine_logits(model, feats)
    exit_acc = (logits.argmax(-1) == y[None]).mean(axis=1)
    nodes = nodes_from_gguf(model_path)
    exit_fracs, tb, tf = exit_ops_fractions(nodes, (int(model.frontend_config.n_frames),
                                                    int(model.frontend_config.n_mels)), K)
    if tb != model.total_bops or tf != model.total_flops:
        say("WARNING: op counts differ: trainer %d/%d engine %d/%d" % (tb, tf, model.total_bops, model.total_flops))
    thresholds = sorted(set(SWEEP_THRESHOLDS + [model.default_threshold]))
    rows = engine_sweep(model, feats, y, thresholds)
    final_acc = float(exit_acc[-1])
    rec_th = model.default_threshold
    rec_row = [r for r in rows if abs(r["threshold"] - rec_th) < 1e-6][0]
    test_choice = choose_threshold([r for r in rows if r["threshold"] in SWEEP_THRESHOLDS], final_acc)
    # what the model ships: its policy, threshold and keyword exit (beenet_model_default_params)
    ship = engine_policy_row(model, feats, y, model.default_params())
    size = os.path.getsize(model_path)
    res = {"split": split, "n": len(y), "exit_accuracy": exit_acc.tolist(), "exit_ops_fractions": exit_fracs,
           "sweep": [{k: v for k, v in r.items() if k not in ("pred", "exit")} for r in rows],
           "threshold": rec_th, "size_bytes": size, "total_bops": model.total_bops,
           "total_flops": model.total_flops, "test_choice": test_choice,
           "shipped": {k: v for k, v in ship.items() if k not in ("pred", "exit")},
           "confusion": confusion(y, logits[-1].argmax(-1), K).tolist()}
    prows = [engine_policy_row(model, feats, y, p) for p in policies]
    res["policies"] = [{k: v for k, v in r.items() if k not in ("pred", "exit")} for r in prows]
    for r in res["policies"]:
        say("policy %s: acc %.4f avg exit %.2f ops %.3f hist %s" % (
            r["params"], r["accuracy"], r["avg_exit"], r["ops_fraction"], r["exit_histogram"]))
    # PyTorch vs engine parity
    parity = None
    if checkpoint:
        from .export import load_checkpoint
        tm, ck = load_checkpoint(checkpoint)
        tl = predict_logits(tm, feats)
        agree_all = (tl.argmax(-1) == logits.argmax(-1)).all(axis=0)
        parity = {"all_exits_agree": float(agree_all.mean()),
                  "per_exit_agree": (tl.argmax(-1) == logits.argmax(-1)).mean(axis=1).tolist(),
                  "max_abs_logit_diff": float(np.abs(tl - logits).max()),
                  "median_abs_logit_diff": float(np.median(np.abs(tl - logits)))}
        res["parity"] = parity
        res["training"] = ck.get("training", {})
        res["history"] = ck.get("history", [])
        res["val_sweep"] = ck.get("val_sweep")
    res["by_voice"] = voice_breakdown(data, examples, y, [logits[-1].argmax(-1), rec_row["pred"]])
    say("exit accuracies: %s" % " ".join("%.4f" % a for a in exit_acc))
    for r in res["by_voice"]:
        say("voice %-40s n %4d final %.4f at threshold %.4f" % (r["group"], r["n"], *r["accuracy"]))
    for r in rows:
        say("threshold %.2f: acc %.4f avg exit %.2f ops %.3f hist %s" % (
            r["threshold"], r["accuracy"], r["avg_exit"], r["ops_fraction"], r["exit_histogram"]))
    if parity:
        say("parity: %s" % parity)
    if card:
        write_card(card, model, res, rows, rec_row, confusion(y, logits[-1].argmax(-1), K),
                   confusion(y, rec_row["pred"], K), labels, command, data, time.time() - t0, model_path)
        say("wrote %s" % card)
    return res


# What each task's card says a model is for, and how to do better with real data.
REAL_DATA = {
    "kws12": "retrain with `--data <GSC v2 root>` for real use",
    "kws31": "retrain on a real corpus (the MSWC reader, docs/data.md) for real use",
    "lid6": "retrain on real recordings (the VoxForge-style reader, docs/data.md) for real use",
}


def intended_use(task: Optional[str], labels: List[str]) -> str:
    """The card's "Intended use and limitations" paragraph for the model's
    task (beenet.task; a file without it is taken as KWS-12)."""
    if task in (None, "kws12"):   # the text of every KWS-12 card so far
        return ("Twelve-class keyword spotting (Google Speech Commands v2 label set: 10 keywords, `_unknown_`, "
                "`_silence_`) on 1-second 16 kHz windows. The default model is trained on a **synthetic** "
                "corpus (espeak-ng/flite/festival voices with noise augmentation, see docs/training.md); the "
                "test split uses voices held out from training. Accuracy on real human speech (for example "
                "GSC v2) will be lower than reported here; %s." % REAL_DATA["kws12"])
    else:
        from .data.task import TaskError, load_task
        try:
            what = "%s, %d classes" % (load_task(task).description, len(labels))
        except (TaskError, OSError):
            what = "Task `%s` (%d classes: %s)" % (task, len(labels), ", ".join("`%s`" % x for x in labels))
    return ("%s on 1-second 16 kHz windows. The model is trained on a **synthetic** corpus "
            "(espeak-ng/flite/festival voices with noise augmentation, see docs/training.md); the test split "
            "uses voices held out from training. Accuracy on real human speech will be lower than reported "
            "here; %s." % (what, REAL_DATA.get(task or "kws12", "retrain on recordings of real speakers for "
                                               "real use")))


def write_card(path, model: Model, res, rows, rec_row, conf_final, conf_rec, labels, command, data,
               seconds, model_path):
    E = model.num_exits
    tr = res.get("training") or {}
    L = []
    L.append("# Model card: `%s` (%s)\n" % (os.path.basename(model_path), model.name))
    L.append("Generated by `beenet_train evaluate` on %s. **Every number below was computed by the engine "
             "(libbeenet through ctypes: `beenet_session_run_all_exits` for per-exit accuracy, "
             "`beenet_session_classify_features` for the early-exit sweep)**, on the `%s` split of "
             "`%s` (%d clips, un-augmented; `_silence_` clips cut from the background-noise files "
             "with fixed seed %d).\n" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), res["split"],
                                          data, res["n"], EVAL_SEED))
    L.append("Regenerate this card with:\n\n```sh\n%s\n```\n" % command)
    L.append("## Summary\n")
    L.append("| item | value |\n|---|---|")
    L.append("| labels | %s |" % ", ".join("`%s`" % l for l in labels))
    L.append("| exits | %d |" % E)
    L.append("| file size | %d bytes (%.1f KiB) |" % (res["size_bytes"], res["size_bytes"] / 1024))
    L.append("| total OPs (all exits) | %.0f = FLOPs %d + BOPs %d / 64 |" % (
        res["total_flops"] + res["total_bops"] / 64.0, res["total_flops"], res["total_bops"]))
    L.append("| final-exit accuracy | %.2f %% |" % (100 * res["exit_accuracy"][-1]))
    L.append("| recommended policy / threshold (in the file) | entropy < %.2f nats |" % res["threshold"])
    L.append("| accuracy at the recommended threshold | %.2f %% (%.2f points vs final exit) |" % (
        100 * rec_row["accuracy"], 100 * (rec_row["accuracy"] - res["exit_accuracy"][-1])))
    L.append("| average OPs fraction at the recommended threshold | %.3f |" % rec_row["ops_fraction"])
    L.append("| average exit at the recommended threshold | %.2f of %d |" % (rec_row["avg_exit"], E))
    ship = res.get("shipped", dict(rec_row, params={}))
    ke = ship["params"].get("keyword_exit", 0)
    if ke:
        L.append("| keyword exit (in the file): keyword candidates run on to exit %d | accuracy %.2f %% "
                 "(%+.2f points vs final exit), OPs fraction %.3f, average exit %.2f |" % (
                     ke, 100 * ship["accuracy"], 100 * (ship["accuracy"] - res["exit_accuracy"][-1]),
                     ship["ops_fraction"], ship["avg_exit"]))
    if "parity" in res:
        p = res["parity"]
        L.append("| PyTorch vs engine: clips where the argmax of every exit agrees | %.2f %% |" % (
            100 * p["all_exits_agree"]))
        L.append("| PyTorch vs engine: max / median abs logit difference | %.2e / %.2e |" % (
            p["max_abs_logit_diff"], p["median_abs_logit_diff"]))
    if tr:
        L.append("| training | seed %s, %s epochs (best %s), %s min wall time, data `%s` |" % (
            tr.get("seed"), tr.get("epochs"), tr.get("best_epoch"), tr.get("wall_minutes"), tr.get("data")))
    L.append("")
    fin = res["exit_accuracy"][-1]
    chk = lambda ok: "met" if ok else "**NOT met**"
    L.append("## Project targets\n")
    L.append("The targets set for the KWS-12 default model (issues 3 and 7), shown for every model "
             "for comparison.\n")
    L.append("| target | measured | status |\n|---|---|---|")
    L.append("| final-exit accuracy >= 95 %% on held-out voices | %.2f %% | %s |" % (100 * fin, chk(fin >= 0.95)))
    L.append("| accuracy at the shipped settings within 1 point of the final exit | %+.2f points | %s |" % (
        100 * (ship["accuracy"] - fin), chk(ship["accuracy"] >= fin - 0.01)))
    L.append("| average OPs fraction at the shipped settings <= 50 %% (keyword clips run deeper with a keyword "
             "exit) | %.1f %% | %s |" % (100 * ship["ops_fraction"], chk(ship["ops_fraction"] <= 0.5)))
    L.append("| file size <= 256 KiB | %.1f KiB | %s |" % (res["size_bytes"] / 1024, chk(res["size_bytes"] <= 262144)))
    if "parity" in res:
        L.append("| PyTorch/engine every-exit argmax parity >= 99.5 %% | %.2f %% | %s |" % (
            100 * res["parity"]["all_exits_agree"], chk(res["parity"]["all_exits_agree"] >= 0.995)))
    L.append("")
    L.append("## Each exit used alone\n")
    L.append("| exit | accuracy | OPs fraction (cumulative, incl. this exit) |\n|---|---|---|")
    for e in range(E):
        L.append("| %d | %.2f %% | %.3f |" % (e + 1, 100 * res["exit_accuracy"][e], res["exit_ops_fractions"][e]))
    L.append("")
    L.append("## Entropy-threshold sweep (early exit, as in Fig. 2 of the BEENet paper)\n")
    L.append("Stop at the first exit whose softmax entropy (nats) is below the threshold; the last exit "
             "always stops.\n")
    L.append("| threshold | accuracy | average exit | average OPs fraction | clips per exit |\n|---|---|---|---|---|")
    for r in rows:
        mark = " **(recommended)**" if abs(r["threshold"] - res["threshold"]) < 1e-6 else ""
        L.append("| %.2f%s | %.2f %% | %.2f | %.3f | %s |" % (r["threshold"], mark, 100 * r["accuracy"],
                                                              r["avg_exit"], r["ops_fraction"],
                                                              " / ".join(str(v) for v in r["exit_histogram"])))
    L.append("")
    L.append("The recommended threshold is the largest sweep threshold whose accuracy is within 1 point of "
             "the final exit, chosen on the **validation** split by the trainer (so the test split stays "
             "held out) and stored in the file as `beenet.threshold`. On this split the same rule would "
             "pick %.2f.\n" % res["test_choice"])
    if res.get("val_sweep"):
        L.append("Validation sweep used for the choice:\n")
        L.append("| threshold | accuracy | average OPs fraction |\n|---|---|---|")
        for r in res["val_sweep"]:
            L.append("| %.2f | %.2f %% | %.3f |" % (r["threshold"], 100 * r["accuracy"], r["ops_fraction"]))
        L.append("")
    if res.get("by_voice"):
        L.append("## Accuracy by held-out voice\n")
        L.append("eSpeak voices grouped by variant (each variant in all its accents and languages); recorded "
                 "voices (flite, festival) one per row. Worst first.\n")
        L.append("| voice | clips | final exit | at threshold %.2f |\n|---|---|---|---|" % res["threshold"])
        for r in res["by_voice"]:
            L.append("| %s | %d | %.2f %% | %.2f %% |" % (r["group"], r["n"], 100 * r["accuracy"][0],
                                                         100 * r["accuracy"][1]))
        L.append("")
    if res.get("policies"):
        L.append("## Other exit policies\n")
        L.append("Measured by the engine on the same clips (`beenet_session_classify_features_params`).\n")
        L.append("| policy | threshold | patience | max exit | accuracy | average exit | average OPs fraction "
                 "| clips per exit |\n|---|---|---|---|---|---|---|---|")
        for r in res["policies"]:
            p = r["params"]
            L.append("| %s | %.2f | %d | %s | %.2f %% | %.2f | %.3f | %s |" % (
                p["policy"], p["threshold"], p["patience"], p["max_exit"] or "-", 100 * r["accuracy"],
                r["avg_exit"], r["ops_fraction"], " / ".join(str(c) for c in r["exit_histogram"])))
        L.append("")
    L.append("## Confusion matrix, final exit\n")
    L.append(_md_confusion(conf_final, labels) + "\n")
    L.append("## Confusion matrix, early exit at the recommended threshold (%.2f)\n" % res["threshold"])
    L.append(_md_confusion(conf_rec, labels) + "\n")
    if res.get("history"):
        L.append("## Training curve (validation accuracy per exit)\n")
        L.append("| epoch | loss | val acc per exit | seconds |\n|---|---|---|---|")
        for h in res["history"]:
            L.append("| %d | %.3f | %s | %.0f |" % (h["epoch"], h["loss"], " / ".join(
                "%.3f" % a for a in h["val_acc"]), h["seconds"]))
        L.append("")
    L.append("## Intended use and limitations\n")
    L.append(intended_use(model.task, labels) + "\n")
    L.append("## Engine description\n\n```\n%s\n```\n" % model.describe().rstrip())
    with open(path, "w") as f:
        f.write("\n".join(L))
