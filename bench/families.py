"""Table 1 of the study (issue 9): size, cost and per-exit latency of the four binary families.

Builds each family of model.FAMILY_CONFIGS at full size (QuickNet = the default model's
config), untrained (seeded weights: latency does not depend on them, every window runs to the
exit being timed), exports it with the trainer's exporter and measures it in the engine:

* parameters (binary weights, real-valued parameters before folding), the file's binary and
  float32 tensor bytes and its size;
* OPs (FLOPs + BOPs / 64, docs/model-format.md) up to each exit;
* latency of each exit including the front-end: `bench-engine --sections exits` (the window's
  samples through beenet_session_classify_params with max_exit = e), pinned with
  `taskset -c CPU`, REPS repetitions that each run every family in turn (interleaved, so a
  change of machine load hits all alike); the median over repetitions of wall and CPU ms per
  window, with the min-max of the wall time;
* callgrind instructions per window per exit (deterministic, load-independent):
  (Ir(-n 2N) - Ir(-n N)) / N of the same section under valgrind, so set-up cancels.

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 bench/families.py \\
        [--build build] [--reps 5] [--windows 200] [--write docs/results.md]

--write replaces the block between the Table 1 markers of that file (or appends one).
Not a test: nothing is asserted.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))

from beenet_train.export import model_to_gguf  # noqa: E402
from beenet_train.gguf_writer import read_gguf  # noqa: E402
from beenet_train.study import write_block  # noqa: E402
from beenet_train.model import (FAMILY_CONFIGS, FAMILY_NAMES, BeeNet, build_graph,  # noqa: E402
                                graph_shapes_and_ops, parameter_count)

LABELS = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
BEGIN, END = "<!-- families.py table 1 begin -->", "<!-- families.py table 1 end -->"


def build_family(family: str, out_dir: str) -> dict:
    """Export the untrained full-size model of `family`; return its static figures."""
    torch.manual_seed(0)
    model = BeeNet({"family": family}).eval()
    nodes = build_graph(model)
    cfg = model.config
    _, costs = graph_shapes_and_ops(nodes, tuple(cfg["in_shape"]), cfg["num_classes"])
    ops, acc = [], 0.0
    for n, (b, f) in zip(nodes, costs):
        acc += f + b / 64.0
        if n["op"] == "exit":
            ops.append(acc)
    data = model_to_gguf(model, LABELS).to_bytes()
    path = os.path.join(out_dir, family + ".gguf")
    with open(path, "wb") as f:
        f.write(data)
    kv, tensors = read_gguf(data)
    binary = sum(t.nbytes for t in tensors.values() if t.dtype != np.float32)
    floats = sum(t.nbytes for t in tensors.values() if t.dtype == np.float32)
    pc = parameter_count({"family": family})
    return {"family": family, "path": path, "nodes": len(nodes), "version": kv["beenet.format_version"],
            "binary_weights": pc["binary_weights"], "real_parameters": pc["real_parameters"],
            "binary_bytes": binary, "float_bytes": floats, "file_bytes": len(data), "exit_ops": ops,
            "bops": sum(b for b, _ in costs), "flops": sum(f for _, f in costs)}


_ROW = re.compile(r"^\s*(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")


def run_exits(engine: str, path: str, windows: int, cpu: int):
    """One bench-engine run: {exit: (wall ms, cpu ms)} and the front-end's ms."""
    out = subprocess.run(["taskset", "-c", str(cpu), engine, path, "--sections", "fe,exits", "-n", str(windows)],
                         check=True, capture_output=True, text=True).stdout
    rows = {}
    in_table = False
    for line in out.splitlines():
        if line.startswith("per exit"):
            in_table = True
        m = _ROW.match(line) if in_table else None
        if m:
            rows[int(m.group(1))] = (float(m.group(3)), float(m.group(4)))
    fe = re.search(r"front-end only: .*\(([\d.]+) ms/window, ([\d.]+) ms CPU/window\)", out)
    kernels = re.search(r"^kernels: ([^,]*),", out, re.M).group(1)
    return rows, (float(fe.group(1)), float(fe.group(2))), kernels


def callgrind_ir(engine: str, path: str, exit_index: int, n: int) -> int:
    """Instructions per window (front-end + network to exit `exit_index`, 0 = front-end only)."""
    def ir(k):
        args = ["--sections", "exits", "--exit", str(exit_index)] if exit_index else ["--sections", "fe"]
        r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", engine, path]
                           + args + ["-n", str(k)], capture_output=True, text=True, check=True)
        return int(re.search(r"Collected : (\d+)", r.stderr).group(1))
    return (ir(2 * n) - ir(n)) // n


def kib(b):
    return "%.1f" % (b / 1024.0)


def table(figs, lat, fe, cg, args, kernels, run) -> str:
    lines = [BEGIN, "",
             "Regenerate (every figure below; this run took %.0f s. On a busy machine the wall times include "
             "waiting for a CPU; on an idle one they equal the CPU times):" % run,
             "", "    meson setup build && meson compile -C build",
             "    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 bench/families.py \\",
             "        --reps %d --windows %d --callgrind-windows %d --write docs/results.md" % (
                 args.reps, args.windows, args.callgrind_windows), "",
             "Untrained full-size models (seed 0) exported by the trainer's exporter; "
             "engine kernels %s natively, avx2 under valgrind." % kernels, "",
             "| family | params: binary weights | params: real | binary bytes | float bytes | file | "
             "format | total OPs (FLOPs + BOPs/64) |",
             "|---|---|---|---|---|---|---|---|"]
    for f in figs:
        lines.append("| %s | %d | %d | %d (%s KiB) | %d (%s KiB) | %d (%s KiB) | v%d | %.2f M (%.2f M FLOPs, %.1f M BOPs) |" % (
            FAMILY_NAMES[f["family"]], f["binary_weights"], f["real_parameters"], f["binary_bytes"],
            kib(f["binary_bytes"]), f["float_bytes"], kib(f["float_bytes"]), f["file_bytes"],
            kib(f["file_bytes"]), f["version"], f["exit_ops"][-1] / 1e6, f["flops"] / 1e6, f["bops"] / 1e6))
    lines += ["", "Per exit: OPs up to the exit (share of the network), latency of the window "
              "including the front-end (wall ms, median of %d interleaved runs of %d windows on CPU %d, "
              "min-max; CPU ms median), callgrind instructions per window (front-end + network to "
              "that exit). The front-end alone (the same for every family; median of the %s runs) "
              "takes %.3f ms wall, %.3f ms CPU and %.2f M instructions per window." % (
                  args.reps, args.windows, args.cpu, FAMILY_NAMES[figs[0]["family"]],
                  statistics.median(x[0] for x in fe[figs[0]["family"]]),
                  statistics.median(x[1] for x in fe[figs[0]["family"]]), cg[figs[0]["family"]][0] / 1e6),
              "", "| family | exit | OPs | share | wall ms (min-max) | CPU ms | instructions |",
              "|---|---|---|---|---|---|---|"]
    for f in figs:
        fam = f["family"]
        for e, o in enumerate(f["exit_ops"], 1):
            w = [r[e][0] for r in lat[fam]]
            c = [r[e][1] for r in lat[fam]]
            lines.append("| %s | %d | %.3f M | %.3f | %.3f (%.3f-%.3f) | %.3f | %.2f M |" % (
                FAMILY_NAMES[fam], e, o / 1e6, o / f["exit_ops"][-1], statistics.median(w), min(w), max(w),
                statistics.median(c), cg[fam][e] / 1e6))
    lines += ["", END]
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--windows", type=int, default=200, help="windows per exit per run")
    p.add_argument("--cpu", type=int, default=1, help="CPU for taskset (default 1)")
    p.add_argument("--callgrind-windows", type=int, default=4, help="N of the Ir difference (0 = skip valgrind)")
    p.add_argument("--families", default=",".join(FAMILY_CONFIGS))
    p.add_argument("--write", help="markdown file whose Table 1 block is replaced")
    a = p.parse_args(argv)
    t0 = time.monotonic()
    engine = os.path.join(a.build, "bench", "bench-engine")
    if not os.access(engine, os.X_OK):
        sys.exit("families.py: %s not built (meson compile -C %s)" % (engine, a.build))
    tmp = tempfile.mkdtemp(prefix="beenet-families-")
    try:
        figs = [build_family(f, tmp) for f in a.families.split(",")]
        lat = {f["family"]: [] for f in figs}
        fe = {f["family"]: [] for f in figs}
        kernels = "?"
        for rep in range(a.reps):
            for f in figs:
                rows, fe_ms, kernels = run_exits(engine, f["path"], a.windows, a.cpu)
                lat[f["family"]].append(rows)
                fe[f["family"]].append(fe_ms)
            print("repetition %d/%d done" % (rep + 1, a.reps), file=sys.stderr)
        cg = {}
        for f in figs:
            n = a.callgrind_windows
            cg[f["family"]] = [callgrind_ir(engine, f["path"], e, n) if n and shutil.which("valgrind") else 0
                               for e in range(len(f["exit_ops"]) + 1)]
            print("callgrind %s done" % f["family"], file=sys.stderr)
        block = table(figs, lat, fe, cg, a, kernels, time.monotonic() - t0)
        print(block)
        if a.write:
            write_block(a.write, block, BEGIN, END)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
