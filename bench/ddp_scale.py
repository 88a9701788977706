#!/usr/bin/python3
"""Data-parallel training throughput on this machine (docs/scale.md).

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train:tests/train \\
        /usr/bin/python3 bench/ddp_scale.py --json runs/ddp-scale.json

Trains the default network (models/kws12's architecture, full augmentation)
for ``--epochs`` epochs on a generated GSC-layout corpus
(tests/train/test_distributed.make_corpus, ``--speakers`` speakers x 11
words) in three set-ups: 1 process with 1 thread, 2 processes (gloo, env://)
with 1 thread each, 1 process with 2 threads; each process also forks its
batch-making worker.  Reports the last epoch's clips/s and seconds, the
bytes DDP all-reduced per step, and the time of one gloo all-reduce of that
many bytes between two local processes.  Short on purpose: a few minutes.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "train"))
sys.path.insert(0, os.path.join(HERE, "..", "train"))

import benchio  # noqa: E402
import test_distributed as T  # noqa: E402


def allreduce_worker(n_floats: int, reps: int) -> None:
    import torch
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method="env://")
    torch.set_num_threads(1)
    t = torch.ones(n_floats)
    dist.all_reduce(t)   # warm-up (connections)
    dist.barrier()
    t0 = time.time()
    for _ in range(reps):
        dist.all_reduce(t)
    dt = (time.time() - t0) / reps
    if dist.get_rank() == 0:
        print(json.dumps({"allreduce_seconds": dt, "bytes": 4 * n_floats}))
    dist.destroy_process_group()


def time_allreduce(n_floats: int, reps: int = 20) -> dict:
    port = T.free_port()
    procs = []
    for r in range(2):
        env = dict(os.environ, RANK=str(r), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen([sys.executable, __file__, "--allreduce-worker", str(n_floats), str(reps)],
                                      env=env, stdout=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600)[0] for p in procs]
    return json.loads(outs[0])


def run(setup: str, procs: int, threads: int, a, tmp: str) -> dict:
    save = os.path.join(tmp, setup + "-%d.pt")
    t0 = time.time()
    T.run_ranks(procs, {"data": a.data, "out": os.path.join(tmp, setup + ".gguf"),
                        "kw": {"config": None, "batch_size": a.batch, "epochs": a.epochs, "threads": threads},
                        "save": save}, tmp)
    import torch
    r = torch.load(save % 0)
    last = r["history"][-1]
    clips = (a.steps_per_epoch or 0) * a.batch
    return {"setup": setup, "processes": procs, "threads": threads, "epoch_seconds": last["seconds"],
            "clips_per_epoch": clips, "clips_per_second": clips / last["seconds"],
            "feature_seconds": last["feature_seconds"],
            "allreduce_bytes_per_step": r["training"]["allreduce_bytes_per_step"],
            "wall_seconds": time.time() - t0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--speakers", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32, help="global batch")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a.data = os.path.join(tmp, "corpus")
        T.make_corpus(a.data, a.speakers)
        from beenet_train.corpus import Corpus
        a.steps_per_epoch = len(Corpus(a.data).splits["train"]) // a.batch
        res = {"load_average_before": os.getloadavg(), "speakers": a.speakers, "batch": a.batch,
               "steps_per_epoch": a.steps_per_epoch, "runs": []}
        for setup, procs, threads in (("1 process x 1 thread", 1, 1), ("2 processes x 1 thread", 2, 1),
                                      ("1 process x 2 threads", 1, 2)):
            r = run(setup.replace(" ", ""), procs, threads, a, tmp)
            r["setup"] = setup
            res["runs"].append(r)
            print("%-24s %6.1f clips/s  epoch %6.1f s (%d clips; features %.1f s)  all-reduced %d bytes/step"
                  % (setup, r["clips_per_second"], r["epoch_seconds"], r["clips_per_epoch"],
                     r["feature_seconds"], r["allreduce_bytes_per_step"]), flush=True)
        grad_bytes = int(res["runs"][1]["allreduce_bytes_per_step"])
        res["allreduce"] = time_allreduce(grad_bytes // 4)
        print("gloo all-reduce of %d bytes between 2 local processes: %.1f ms; load average %s" % (
            grad_bytes, 1e3 * res["allreduce"]["allreduce_seconds"], benchio.load_average_after(res)))
    benchio.write_json(a.json, res)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--allreduce-worker":
        allreduce_worker(int(sys.argv[2]), int(sys.argv[3]))
        sys.exit(0)
    sys.exit(main())
