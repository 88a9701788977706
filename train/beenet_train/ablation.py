"""Which corpus-v2 training ingredients help: short runs, each with one removed.

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train.ablation \\
        --data data/kws12-v2 --evalset data/kws12-v2-eval --out runs/ablation --epochs 2 \\
        --table docs/ablation.md

Every variant trains from scratch with the same seed and the same budget,
``--epochs`` full epochs (deterministic whatever else loads the machine) or
``--minutes`` of wall clock (shorter than the shipped model's, so the table
compares variants, not absolute accuracy) and is measured by the engine on the **validation**
sets (``<evalset>/val``: clean, babble 10 dB, babble 0 dB, non-speech 5 dB,
and the held-out recorded validation voice), so the test sets stay unseen.
Resumable: a finished variant's ``<out>/<name>.json`` is reused, a running
one continues from its resume file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

VARIANTS = {
    "all": {},
    # SpecAugment is off in the recipe since the 60-minute comparison (docs/training.md)
    "with SpecAugment": {"feature_aug": {"p_specaugment": 0.5}},
    "no VTLP": {"feature_aug": {"p_vtlp": 0.0}},
    "no keyword context": {"feature_aug": {"p_context": 0.0}},
    "no babble noise": {"augment_config": {"p_babble": 0.0}},
    "recorded voices weight 1": {"recorded_weight": 1},
}
SETS = ["clean", "babble10", "babble0", "noise5"]


def run_variant(name, spec, a) -> dict:
    from .train import train
    from .card import window_set, recorded_voices
    from .frontend import Model
    slug = name.replace(" ", "-")
    res_path = os.path.join(a.out, slug + ".json")
    if os.path.isfile(res_path):
        with open(res_path) as f:
            return json.load(f)
    model_path = os.path.join(a.out, slug + ".gguf")
    epochs, minutes = (a.epochs, None) if a.epochs else (100, a.minutes)
    ck = train(a.data, model_path, seed=a.seed, epochs=epochs, minutes=minutes, threads=a.threads,
               resume=os.path.join(a.out, slug + ".resume.pt"), **spec)
    m = Model(model_path)
    r = {"name": name, "spec": spec, "minutes": ck["training"]["train_minutes"], "epochs": ck["training"]["epochs"], "sets": {}}
    for s in SETS:
        ws = window_set(m, os.path.join(a.evalset, "val", s))
        r["sets"][s] = ws["final"]
        if s == "clean":
            r["recorded"] = recorded_voices(ws, a.data)
    with open(res_path, "w") as f:
        json.dump(r, f, indent=1)
    return r


def table(results) -> str:
    L = ["| variant | epochs | " + " | ".join(SETS) + " | recorded voices (val) |",
         "|---|---|" + "---|" * len(SETS) + "---|"]
    base = results[0]
    for r in results:
        cells = []
        for s in SETS:
            d = 100 * (r["sets"][s] - base["sets"][s])
            cells.append("%.2f %%%s" % (100 * r["sets"][s], "" if r is base else " (%+.2f)" % d))
        rec = ", ".join("%s %.1f %%" % (v["voice"], 100 * v["accuracy"]) for v in r["recorded"])
        L.append("| %s | %d | %s | %s |" % (r["name"], r["epochs"], " | ".join(cells), rec))
    return "\n".join(L)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.ablation", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--evalset", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget per variant")
    ap.add_argument("--epochs", type=int, help="train this many epochs per variant instead of --minutes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="training threads (default: cores less one)")
    ap.add_argument("--only", action="append", help="run only these variants (names)")
    ap.add_argument("--table", help="write the markdown table here")
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    names = [n for n in VARIANTS if not a.only or n in a.only]
    results = [run_variant(n, VARIANTS[n], a) for n in names]
    t = table(results)
    print(t)
    if a.table:
        with open(a.table, "w") as f:
            f.write(t + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
