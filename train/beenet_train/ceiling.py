"""What binarisation costs: checkpoints evaluated in PyTorch on the held-out evaluation sets.

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train.ceiling \\
        --checkpoint v7=models/kws12.pt --checkpoint real=runs/real/kws12-real.pt \\
        --evalset data/kws12-v2-eval --split val --data data/kws12-v2 --json runs/real/ceiling.json

A network trained with ``--config '{"real_valued": true}'`` (binary.set_real_valued:
every sign relaxed to hardtanh and the latent weight) has no model file, so the
engine cannot measure it.  This runs every checkpoint the same way, at full
depth in PyTorch, on the engine's front-end features: the per-window sets of
the model card (card.window_set's figures) and the stream sets (windows every
``--hop-ms``, no refined windows, the detector of the ``--host`` model file with its detection
defaults, the ROC over detection thresholds; streams.evaluate_streams).  Put the
binary network beside the real-valued one: its figures here are the engine's at
full depth (the card's "final" column) up to float rounding, which the printout
lets anyone check against docs/models.md.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List

import numpy as np
import torch

from .card import WINDOW_SETS, recorded_voices
from .data.audio import read_wav
from .frontend import BeenetError, Frontend, Model
from .export import load_checkpoint
from .model import BeeNet
from .streams import evaluate_streams
from .validation import predict_logits

CHUNK = 2048   # windows per feature batch on the streams


def probabilities(net: BeeNet, feats: np.ndarray) -> np.ndarray:
    """(N, classes) softmax of the final exit."""
    with torch.no_grad():
        z = predict_logits(net, feats)[-1]
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def window_sets(net: BeeNet, host: Model, split_dir: str, data: str) -> Dict:
    fe = Frontend(host.frontend_config)
    out = {}
    for name in WINDOW_SETS:
        d = os.path.join(split_dir, name)
        rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(d, "labels.tsv"), encoding="utf-8")][1:]
        y = np.array([host.labels.index(r[1]) for r in rows])
        pred = probabilities(net, fe.compute_batch([read_wav(os.path.join(d, r[0])) for r in rows])).argmax(1)
        kw = np.array([r[2] == "keyword" for r in rows])
        ws = {"n": len(rows), "final": float((pred == y).mean()),
              "keywords_final": float((pred[kw] == y[kw]).mean()),
              "non_keywords_final": float((pred[~kw] == y[~kw]).mean())}
        if name == "clean" and data:
            ws["recorded_voices"] = recorded_voices({"rows": rows, "pred_final": pred, "y": y}, data)
        out[name] = ws
    return out


def stream_run(net: BeeNet, host: Model, wave: np.ndarray, hop_ms: float) -> Dict:
    """classify_stream's result at full depth, from the PyTorch network."""
    fe = Frontend(host.frontend_config)
    W, rate = int(host.frontend_config.window_samples), int(host.frontend_config.sample_rate)
    hop = int(round(hop_ms * rate / 1000.0))
    starts = list(range(0, max(1, wave.size - W + 1), hop))
    probs = np.concatenate([probabilities(net, fe.compute_batch([wave[s:s + W] for s in starts[i:i + CHUNK]]))
                            for i in range(0, len(starts), CHUNK)]).astype(np.float32)
    n = len(starts)
    return {"times_ns": [int(s * 1_000_000_000 // rate) for s in starts], "probs": probs,
            "exits": np.full(n, net.num_exits, np.int64), "ops": np.ones(n), "window_s": W / rate,
            "seconds": wave.size / rate, "cpu_seconds": 0.0}


def streams(net: BeeNet, host: Model, split_dir: str, hop_ms: float) -> Dict:
    d = os.path.join(split_dir, "stream")
    runs = {}
    for name in ("negative", "keywords"):
        w = read_wav(os.path.join(d, name + ".wav"))
        runs[name] = stream_run(net, host, w[0] if isinstance(w, tuple) else w, hop_ms)
    r = evaluate_streams(host, split_dir, interval_ms=hop_ms, streams=runs)
    return {k: r[k] for k in ("interval_ms", "detection", "negative_hours", "keyword_stream_minutes", "result",
                              "roc")}


def evaluate(checkpoints: Dict[str, str], host_path: str, evalset: str, split: str, data: str,
             hop_ms: float) -> Dict:
    host = Model(host_path)
    split_dir = os.path.join(evalset, split)
    if not os.path.isdir(split_dir):
        raise ValueError("%s: no such evaluation split (make it with beenet_train.data.evalsets)" % split_dir)
    loaded = {}
    for name, path in checkpoints.items():   # every file checked before minutes of evaluation
        net, ck = load_checkpoint(path)
        if net.config["num_classes"] != host.num_classes:
            raise ValueError("%s: %d classes, the host model %s has %d" % (path, net.config["num_classes"],
                                                                          host_path, host.num_classes))
        loaded[name] = net, ck
    out = {}
    for name, path in checkpoints.items():
        net, ck = loaded[name]
        out[name] = {"checkpoint": path, "real_valued": bool(net.config.get("real_valued")),
                     "training": ck.get("training", {}),
                     "windows": window_sets(net, host, split_dir, data), "streams": streams(net, host, split_dir,
                                                                                           hop_ms)}
    return out


def markdown(res: Dict) -> str:
    names = list(res)
    lines = ["| %s | %s |" % (res[names[0]]["split"] if "split" in res[names[0]] else "", " | ".join(names)),
             "|---|" + "---|" * len(names)]

    def row(label, f):
        lines.append("| %s | %s |" % (label, " | ".join(f(res[n]) for n in names)))
    for s in WINDOW_SETS:
        row("%s, final exit" % s, lambda r, s=s: "%.2f %%" % (100 * r["windows"][s]["final"]))
    row("babble0, keywords only", lambda r: "%.2f %%" % (100 * r["windows"]["babble0"]["keywords_final"]))
    row("worst recorded voice, clean", lambda r: "%.1f %%" % (100 * min(
        [v["accuracy"] for v in r["windows"]["clean"].get("recorded_voices", [])] or [float("nan")])))
    ths = [t["threshold"] for t in res[names[0]]["streams"]["roc"]]
    for t in ths:
        if t in (0.5, 0.7, 0.8, 0.9, 0.95, 0.98):
            row("stream miss at %.2f (FA/h, wrong in keyword stream)" % t, lambda r, t=t: next(
                "%.1f %% (%.1f, %d)" % (100 * x["miss_rate"], x["false_alarms_per_hour"],
                                        x["false_alarms_keyword_stream"])
                for x in r["streams"]["roc"] if x["threshold"] == t))
    row("lowest miss at <= 1 FA/h and <= 3 wrong/h", lambda r: best_point(r["streams"]))
    return "\n".join(lines)


def best_point(st: Dict, max_fa: float = 1.0, max_wrong_per_hour: float = 3.0) -> str:
    """The ROC point tune-detection's bounds would allow (on the ROC's thresholds only)."""
    hours_kw = st["keyword_stream_minutes"] / 60.0
    ok = [x for x in st["roc"] if x["false_alarms_per_hour"] <= max_fa
          and x["false_alarms_keyword_stream"] / hours_kw <= max_wrong_per_hour]
    if not ok:
        return "none"
    x = min(ok, key=lambda x: x["miss_rate"])
    return "%.1f %% at %.3f" % (100 * x["miss_rate"], x["threshold"])


def main(argv: List[str] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.ceiling", description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", action="append", required=True, metavar="NAME=PATH",
                    help="a trained checkpoint (.pt); repeat to compare")
    ap.add_argument("--host", default="models/kws12.gguf",
                    help="model file whose front-end, labels and detector (with its defaults) are used")
    ap.add_argument("--evalset", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--data", help="the corpus (voices.json) for the recorded voices' figures")
    ap.add_argument("--hop-ms", type=float, default=250.0)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    cks = {}
    for c in a.checkpoint:
        if "=" not in c:
            ap.error("--checkpoint wants NAME=PATH, got %r" % c)
        k, v = c.split("=", 1)
        cks[k] = v
    torch.set_num_threads(2)
    try:
        res = evaluate(cks, a.host, a.evalset, a.split, a.data, a.hop_ms)
    except (OSError, ValueError, BeenetError) as e:   # BeenetError: the engine refused --host
        print("error: %s" % e, file=sys.stderr)
        return 2
    for r in res.values():
        r["split"] = a.split
    print(markdown(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
