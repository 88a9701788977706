"""Table 2 of the study (issue 9): each exit trained alone (E_s) against the same exit inside the
jointly trained network (E_m), per family, with the same training budget for every run.

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train.table2 \\
        --data data/kws12-v2 --out runs/table2 --epochs 8 [--families quicknet,birealnet] \\
        [--write docs/results.md]

Per family (model.FAMILY_CONFIGS, ``--config`` overriding every family's
defaults) one jointly trained network (all exits, equal loss weights) and,
for each exit k, the network truncated at exit k with that exit alone
(``train --single-exit K``, model.single_exit_config: the same layers up to
the exit).  Every run trains from scratch with the same seed and the same
budget: ``--epochs`` full epochs (deterministic whatever loads the machine)
or ``--minutes`` of wall clock each.  Every exported model is measured by the
engine on the ``--split`` clips (`evaluate`'s un-augmented clips,
exclusion.split_logits): E_m is exit k's accuracy in the joint model, E_s the
single-exit model's.

Resumable: a finished run's ``<out>/<family>-<run>.json`` is reused, a
running one continues from its ``<out>/<family>-<run>.resume.pt`` (written
every ``--resume-minutes``).  The runs share their training batches through
``--batch-cache`` (default ``<out>/batches``; bcache.py): they all train on
the same batches, which the first run makes and the others read back.  --write replaces the block between the Table 2
markers of that file (or appends one); with ``--report-only`` nothing is
trained and the table shows the runs finished so far (the others as "not
run yet"), so a partial table can be published while the runs go on.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from typing import Dict, List, Optional

BEGIN, END = "<!-- table2.py table 2 begin -->", "<!-- table2.py table 2 end -->"


def run_names(config: Dict) -> List[tuple]:
    """(run name, single exit or None) of one family: the joint run, then exit1..E."""
    from .model import FAMILY_CONFIGS
    n = len(dict(FAMILY_CONFIGS[config.get("family", "quicknet")], **config)["exits"])
    return [("joint", None)] + [("exit%d" % k, k) for k in range(1, n + 1)]


def run_one(family: str, name: str, single: int, a) -> Optional[Dict]:
    """Train (or resume, or reuse) one run and measure it with the engine; with
    ``--report-only`` a run that has not finished is None (nothing trained)."""
    from .exclusion import split_logits
    from .frontend import Model
    from .train import train
    slug = "%s-%s" % (family, name)
    res_path = os.path.join(a.out, slug + ".json")
    if os.path.isfile(res_path):
        with open(res_path) as f:
            return json.load(f)
    if a.report_only:
        return None
    model_path = os.path.join(a.out, slug + ".gguf")
    epochs, minutes = (a.epochs, None) if a.epochs else (10 ** 6, a.minutes)
    ck = train(a.data, model_path, seed=a.seed, epochs=epochs, minutes=minutes, threads=a.threads,
               batch_size=a.batch_size, config=dict(a.config, family=family), single_exit=single,
               resume=os.path.join(a.out, slug + ".resume.pt"), resume_minutes=a.resume_minutes,
               quiet=a.quiet, batch_cache=None if a.batch_cache == "none" else a.batch_cache)
    m = Model(model_path)
    _, y, logits = split_logits(m, a.data, a.split, a.max_clips)
    r = {"family": family, "run": name, "single_exit": single, "epochs": ck["training"]["epochs"],
         "train_minutes": ck["training"]["train_minutes"],
         "resumed_after_minutes": ck["training"]["resumed_after_minutes"], "split": a.split, "clips": int(len(y)),
         "accuracy": (logits.argmax(axis=2) == y[:, None]).mean(axis=0).tolist(), "total_ops": m.total_ops,
         "num_exits": m.num_exits}
    with open(res_path, "w") as f:
        json.dump(r, f, indent=1)
    return r


def table(results: Dict[str, List[Optional[Dict]]], budget: str) -> List[str]:
    """Table 2's rows; a run that has not finished (None) is shown as such."""
    from .model import FAMILY_NAMES
    L = ["| family | exit | OPs up to the exit (M) | E_s: exit alone | E_m: exit in the joint network | "
         "E_s - E_m (points) |", "|---|---|---|---|---|---|"]
    for family, runs in results.items():
        joint = runs[0]
        for k, r in enumerate(runs[1:], 1):
            es = r["accuracy"][0] if r else None
            em = joint["accuracy"][k - 1] if joint else None
            ops = (r or {}).get("total_ops")
            L.append("| %s | %d | %s | %s | %s | %s |" % (
                FAMILY_NAMES.get(family, family), k, "%.3f" % (ops / 1e6) if ops else "",
                "%.2f %%" % (100 * es) if es is not None else "not run yet",
                "%.2f %%" % (100 * em) if em is not None else "not run yet",
                "%+.2f" % (100 * (es - em)) if es is not None and em is not None else ""))
    done = [r for runs in results.values() for r in runs if r]
    every = sorted({(r["epochs"], r["clips"]) for r in done})
    total = sum(len(runs) for runs in results.values())
    L += ["", "Budget %s a run; %d of %d runs finished; epochs trained, clips of the `%s` split measured: %s." % (
        budget, len(done), total, done[0]["split"] if done else "test",
        ", ".join("%d epochs on %d clips" % e for e in every) or "none yet")]
    return L


def main(argv=None) -> int:
    from .model import FAMILY_CONFIGS
    from .study import write_block
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.table2", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="corpus root (the task's corpus; KWS-12 for the paper's table)")
    ap.add_argument("--out", required=True, help="directory of the runs (models, resume files, results)")
    budget = ap.add_mutually_exclusive_group(required=True)
    budget.add_argument("--epochs", type=int, help="full epochs per run")
    budget.add_argument("--minutes", type=float, help="wall-clock budget per run")
    ap.add_argument("--families", default=",".join(FAMILY_CONFIGS))
    ap.add_argument("--config", default="{}", help="JSON dict overriding every family's defaults")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="training threads (default: cores less one)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--resume-minutes", type=float, default=5.0, help="save the resume file this often")
    ap.add_argument("--split", default="test", help="split every model is measured on (default test)")
    ap.add_argument("--max-clips", type=int, help="a fixed random subset of this many clips")
    ap.add_argument("--batch-cache", help="directory of the training batches shared by the runs "
                    "(bcache.py; default <out>/batches, 'none': every run makes its own). Every run "
                    "trains on the same batches either way; the cache only saves making them again")
    ap.add_argument("--quiet", action="store_true", help="no training log")
    ap.add_argument("--write", help="markdown file whose Table 2 block is replaced")
    ap.add_argument("--report-only", action="store_true",
                    help="train nothing: write the table from the runs finished so far")
    a = ap.parse_args(argv)
    a.config = json.loads(a.config)
    if a.batch_cache is None:
        a.batch_cache = os.path.join(a.out, "batches")
    os.makedirs(a.out, exist_ok=True)
    results = {}
    for family in a.families.split(","):
        results[family] = [run_one(family, name, k, a) for name, k in run_names(dict(a.config, family=family))]
    lines = table(results, "%d epochs" % a.epochs if a.epochs else "%g minutes" % a.minutes)
    command = "BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train.table2 " + \
        " ".join(shlex.quote(x) for x in argv if x != "--report-only")
    block = "\n".join([BEGIN, "", "Regenerate:", "", "    " + command, ""] + lines + ["", END])
    print("\n".join(lines))
    if a.write:
        write_block(a.write, block, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
