#!/usr/bin/python3
"""On-the-fly features against the feature cache (docs/scale.md, "Feature cache").

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train \\
        /usr/bin/python3 bench/feature_cache.py --data data/kws12-small --cache /tmp/kws12-small.fcache \\
        --pairs 5 --batches 6 --json bench/results/feature-cache.json [--train-epochs 2]

1. Builds (or finds) the cache and times the build.
2. Batch making, the trainer's data path alone (``batches.prepare_batch``, one
   process, global batch 128, full augmentation): on-the-fly waveform path,
   cache with 25 % of the examples on the waveform path (the default
   ``--cache-wave-fraction``), cache with none.  The machine is shared, so
   the variants run in *pairs*: each repetition runs every variant once on
   the same batches, the order rotating; a repetition's ratio compares runs
   made seconds apart.  Reports clips/s per run and the per-repetition
   ratios (median, min, max).
3. With ``--train-epochs N``: one training run per path (same seed,
   epochs, network), reporting the epochs' clips/s and the accuracy on
   the validation and test splits (final exit, engine features, no
   augmentation).
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))

import numpy as np  # noqa: E402

import benchio  # noqa: E402

VARIANTS = (("on-the-fly", None), ("cache, wave fraction 0.25", 0.25), ("cache, wave fraction 0", 0.0))


def batch_rates(a, corpus, fe, cache) -> dict:
    from beenet_train import fcache
    from beenet_train.batches import DEFAULT_FEATURE_AUG, prepare_batch
    from beenet_train.corpus import train_items
    fa = dict(DEFAULT_FEATURE_AUG)
    items = train_items(corpus, a.seed, 0)
    nb = min(a.batches, len(items) // a.batch)
    made = {name: (fcache.CachedExamples(cache, corpus, f) if f is not None else None) for name, f in VARIANTS}
    for name, c in made.items():   # warm-up: clips read and kept in memory, pages mapped
        for b in range(nb):
            prepare_batch(corpus, fe, items, a.batch, True, fa, a.seed, 0, b, cached=c)
    runs = {name: [] for name, _ in VARIANTS}
    ratios = {name: [] for name, _ in VARIANTS[1:]}
    for rep in range(a.pairs):
        order = [VARIANTS[(rep + k) % len(VARIANTS)][0] for k in range(len(VARIANTS))]
        rate = {}
        for name in order:
            t = time.perf_counter()
            for b in range(nb):
                prepare_batch(corpus, fe, items, a.batch, True, fa, a.seed, 1 + rep, b, cached=made[name])
            rate[name] = nb * a.batch / (time.perf_counter() - t)
            runs[name].append(rate[name])
        for name in ratios:
            ratios[name].append(rate[name] / rate["on-the-fly"])
        print("repetition %d: %s" % (rep + 1, ", ".join("%s %.1f clips/s" % (n, rate[n]) for n in order)),
              flush=True)
    return {"batches": nb, "batch": a.batch, "clips_per_second": runs,
            "ratio_to_on_the_fly": {n: {"median": statistics.median(r), "min": min(r), "max": max(r), "all": r}
                                    for n, r in ratios.items()}}


def accuracy(model, corpus, fe, split: str, seed: int) -> float:
    from beenet_train.corpus import eval_waves
    from beenet_train.validation import features_for, predict_logits
    exs = corpus.splits[split]
    logits = predict_logits(model, features_for(fe, eval_waves(corpus, exs, seed)))
    return float((logits[-1].argmax(-1) == np.array([e.label_index for e in exs])).mean())


def train_runs(a, corpus, fe) -> list:
    from beenet_train.train import train
    out = []
    for name, cache in (("on-the-fly", None), ("cache, wave fraction 0.25", a.cache)):
        ck = train(a.data, None, checkpoint="", seed=a.seed, epochs=a.train_epochs, minutes=0,
                   batch_size=a.batch, threads=1, quiet=True, feature_cache=cache,
                   config=json.loads(a.config) if a.config else None)
        h = ck["history"]
        clips = [a.batch * (len(corpus.epoch_items("train", np.random.default_rng([a.seed, 0]))) // a.batch
                            if corpus.v2 else len(corpus.splits["train"]) // a.batch) / e["seconds"] for e in h]
        r = {"path": name, "epochs": len(h), "clips_per_second": clips,
             "val_final": accuracy(ck["model"], corpus, fe, "val", a.seed + 2),
             "test_final": accuracy(ck["model"], corpus, fe, "test", a.seed + 3),
             "loss": [e["loss"] for e in h]}
        print("train %-26s epochs %d, clips/s %s, val %.4f, test %.4f" % (
            name, r["epochs"], " ".join("%.1f" % c for c in clips), r["val_final"], r["test_final"]), flush=True)
        out.append(r)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--pairs", type=int, default=5, help="repetitions of the paired batch-making runs (0: none)")
    ap.add_argument("--batches", type=int, default=6, help="batches per run")
    ap.add_argument("--batch", type=int, default=128, help="global batch (batch making and training)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-epochs", type=int, default=0, help="also train each path this many epochs")
    ap.add_argument("--config", help="network config JSON for the training runs (default: the default network)")
    ap.add_argument("--json")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    from beenet_train import fcache
    from beenet_train.frontend import Frontend
    from beenet_train.corpus import Corpus
    corpus = Corpus(a.data, seed=a.seed)
    fe = Frontend()
    res = {"data": os.path.basename(os.path.normpath(a.data)), "load_average_before": os.getloadavg()}
    t = time.perf_counter()
    cache = fcache.prepare(a.cache, corpus, fe, say=print)
    res["cache"] = {"seconds": time.perf_counter() - t, "entries": len(cache),
                    "clips": len(cache.plan.clip_index), "bytes": sum(f.nbytes for f in cache.feats)}
    print("cache: %d entries (%d training clips), %.1f MB, ready in %.1f s" % (
        len(cache), res["cache"]["clips"], res["cache"]["bytes"] / 1e6, res["cache"]["seconds"]), flush=True)
    if a.pairs > 0:
        res["batch_making"] = batch_rates(a, corpus, fe, cache)
        for n, r in res["batch_making"]["ratio_to_on_the_fly"].items():
            print("%s / on-the-fly: median %.2fx (min %.2fx, max %.2fx)" % (n, r["median"], r["min"], r["max"]))
    if a.train_epochs:
        res["training"] = train_runs(a, corpus, fe)
    print("load average %s" % benchio.load_average_after(res))
    benchio.write_json(a.json, res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
