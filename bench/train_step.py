"""Per-step training time of each family, and what a 45-minute budget buys (issue 9).

One training step as train.py does it (forward through every exit, summed cross-entropy,
backward, Adam, weight clipping) on a random batch of 128 normalised 98 x 64 inputs, for each
family of model.FAMILY_CONFIGS at full size; REPS rounds that each time STEPS steps of every
family in turn (interleaved, so a change of machine load hits all alike); the median per step
of this process's CPU time (steadier than wall time on a shared machine) and of the wall time.

The estimate scales a measured QuickNet epoch (--quicknet-epoch-s: seconds per epoch of the
default model's training run, docs/training.md) by each family's step-time ratio to QuickNet:
epoch_F = epoch_Q * step_F / step_Q, epochs in 45 min = 2700 / epoch_F.  It overestimates the
epoch of a slower family (the batch worker's augmentation, about half of QuickNet's epoch, runs
beside the steps and does not grow with the network).

    PYTHONPATH=train /usr/bin/python3 bench/train_step.py [--reps 3] [--steps 5] [--threads 2]

``--profile FAMILY`` instead: where one family's step spends its time (PyTorch's profiler,
operators by input shape, the top ``--top`` by self CPU time); ``--config JSON`` overrides the
family's config and ``--bf16`` runs the step under the trainer's bfloat16 autocast
(``--precision bf16``), so ``--profile quicknet --config '{"stem_channels": 64}' --bf16`` is one
configuration's step as the trainer takes it.

``--configs JSON [JSON ...]`` instead: QuickNet's step with each set of config overrides (e.g. the
stem's width), under the trainer's bfloat16 autocast, interleaved as above; the ratio is to the
first configuration, and the last column the size of the configuration's model file without the
detection keys (docs/ablation.md, s65-s66).

``--variants FAMILY`` instead: the same family's step as the trainer runs it ("as trained") against
ways of running it faster, interleaved the same way: "channels-last" (model and batch in NHWC memory
order, which oneDNN's convolutions prefer) and "bf16" (CPU autocast to bfloat16, which this
machine's AVX-512 BF16 computes natively); ratios below 1 are faster.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))

from beenet_train.model import FAMILY_CONFIGS, FAMILY_NAMES, BeeNet  # noqa: E402


def steps(model, opt, x, y, n, ctx=contextlib.nullcontext):
    c0, t0 = time.process_time(), time.time()
    for _ in range(n):
        with ctx():
            outs = model(x)
        loss = sum(F.cross_entropy(o.float(), y) for o in outs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.clip_()
    return (time.process_time() - c0) / n, (time.time() - t0) / n


def bf16():
    return torch.autocast("cpu", dtype=torch.bfloat16)


def profile(fam: str, x: torch.Tensor, y: torch.Tensor, n: int, top: int, config: dict,
            ctx=contextlib.nullcontext) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof
    m = BeeNet(dict(config, family=fam)).train()
    opt = torch.optim.Adam(m.parameters(), lr=2e-3)
    steps(m, opt, x, y, 2, ctx)
    with prof(activities=[ProfilerActivity.CPU], record_shapes=True) as pr:
        c, w = steps(m, opt, x, y, n, ctx)
    print("%s: %.3f CPU s, %.3f wall s a step (%d steps profiled)" % (FAMILY_NAMES[fam], c, w, n))
    print(pr.key_averages(group_by_input_shape=True).table(
        sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=32, max_shapes_column_width=80))


def _variant(name: str, fam: str, x: torch.Tensor):
    m = BeeNet({"family": fam}).train()
    ctx = contextlib.nullcontext
    if name == "channels-last":
        m = m.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    elif name == "bf16":
        ctx = bf16
    return m, torch.optim.Adam(m.parameters(), lr=2e-3), x, ctx


VARIANTS = ("as trained", "channels-last", "bf16")


def interleaved(runs: dict, y: torch.Tensor, reps: int, n: int):
    """runs: name -> (model, optimiser, batch, autocast context).  One warm-up step each, then
    `reps` rounds of `n` steps of every run in turn; the median CPU and wall seconds a step per run."""
    for m, opt, xv, ctx in runs.values():
        steps(m, opt, xv, y, 1, ctx)                    # warm-up
    cpu = {k: [] for k in runs}
    wall = {k: [] for k in runs}
    for _ in range(reps):
        for k, (m, opt, xv, ctx) in runs.items():
            c, w = steps(m, opt, xv, y, n, ctx)
            cpu[k].append(c)
            wall[k].append(w)
    return ({k: statistics.median(v) for k, v in cpu.items()},
            {k: statistics.median(v) for k, v in wall.items()})


def _net(config: dict, x: torch.Tensor, ctx=contextlib.nullcontext):
    m = BeeNet(config).train()
    return m, torch.optim.Adam(m.parameters(), lr=2e-3), x, ctx


def variants(fam: str, x: torch.Tensor, y: torch.Tensor, reps: int, n: int) -> None:
    cpu, wall = interleaved({v: _variant(v, fam, x) for v in VARIANTS}, y, reps, n)
    base = cpu[VARIANTS[0]]
    print("%s, %d x %d steps each, interleaved" % (FAMILY_NAMES[fam], reps, n))
    print("| variant | CPU s/step | wall s/step | ratio to as trained (CPU) |")
    print("|---|---|---|---|")
    for v in VARIANTS:
        print("| %s | %.3f | %.3f | %.2f |" % (v, cpu[v], wall[v], cpu[v] / base))


def file_bytes(config: dict) -> int:
    """Bytes of the model file of a network with this config and the kws12 task's labels, without
    the detection keys that tune-detection adds (about 2 KB; the 256 KiB cap of issue 7 counts them)."""
    from beenet_train.export import model_to_gguf
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train", "beenet_train",
                           "tasks", "kws12.json")) as f:
        labels = json.load(f)["labels"]
    return len(model_to_gguf(BeeNet(config), labels).to_bytes())


def configs(overrides: list, x: torch.Tensor, y: torch.Tensor, reps: int, n: int) -> None:
    cpu, wall = interleaved({cfg: _net(json.loads(cfg), x, bf16) for cfg in overrides}, y, reps, n)
    base = cpu[overrides[0]]
    print("QuickNet, bf16 autocast, %d x %d steps each, interleaved" % (reps, n))
    print("| config | CPU s/step | wall s/step | ratio to the first (CPU) | model file bytes |")
    print("|---|---|---|---|---|")
    for cfg in overrides:
        print("| `%s` | %.3f | %.3f | %.2f | %d |" % (cfg, cpu[cfg], wall[cfg], cpu[cfg] / base,
                                                     file_bytes(json.loads(cfg))))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--quicknet-epoch-s", type=float, default=269.0,
                   help="seconds per epoch of the default model's run (docs/training.md: 232-308 s, "
                        "epochs 1-13 of the shipped run average 269 s)")
    p.add_argument("--profile", choices=list(FAMILY_CONFIGS), help="profile this family's step instead")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--config", default="{}", help="--profile: JSON overrides of the family's config")
    p.add_argument("--bf16", action="store_true", help="--profile: the step under bfloat16 autocast")
    p.add_argument("--configs", nargs="+", metavar="JSON",
                   help="time QuickNet's bf16 step with each of these config overrides instead")
    p.add_argument("--variants", choices=list(FAMILY_CONFIGS),
                   help="time this family's step as trained against channels-last and bf16 instead")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.randn(a.batch, 1, 98, 64)
    y = torch.randint(0, 12, (a.batch,))
    if a.profile:
        return profile(a.profile, x, y, a.steps, a.top, json.loads(a.config),
                       bf16 if a.bf16 else contextlib.nullcontext)
    if a.configs:
        return configs(a.configs, x, y, a.reps, a.steps)
    if a.variants:
        return variants(a.variants, x, y, a.reps, a.steps)
    cpu, wall = interleaved({fam: _net({"family": fam}, x) for fam in FAMILY_CONFIGS}, y, a.reps, a.steps)
    q = cpu["quicknet"]
    print("| family | CPU s/step | wall s/step | ratio to QuickNet (CPU) | est. epoch | est. epochs in 45 min |")
    print("|---|---|---|---|---|---|")
    for fam in FAMILY_CONFIGS:
        ep = a.quicknet_epoch_s * cpu[fam] / q
        print("| %s | %.3f | %.3f | %.2f | %.0f s | %.1f |" % (
            FAMILY_NAMES[fam], cpu[fam], wall[fam], cpu[fam] / q, ep, 2700.0 / ep))


if __name__ == "__main__":
    main()
