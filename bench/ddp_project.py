#!/usr/bin/python3
"""Projection of one MSWC-English epoch on K machines from bench/ddp_scale.py's
measurements (docs/scale.md).

    /usr/bin/python3 bench/ddp_project.py runs/ddp-scale.json

Model: each machine is like this one (2 cores) running 2 ranks of 1 thread
at the measured 2-process rate; an epoch is N clips in N/B steps of global
batch B; a step costs max(compute, all-reduce) at best (DDP overlaps the
gradient all-reduce with the backward pass) and compute + all-reduce at
worst (one bucket: the whole 5.3 MB is ready only at the end of backward,
which is this model's case). The all-reduce is a ring over W = 2K ranks:
2 (W-1)/W * S / bandwidth + 2 (W-1) * latency, with S the measured bytes per
step. Compute per step is B / (K * measured clips/s of 2 ranks).
"""
import json
import sys

# MSWC English: 1957 h of 1 s clips (the dataset card on huggingface.co,
# MLCommons/ml_spoken_words) -> about 7.05 million clips
MSWC_EN_CLIPS = 1957 * 3600
LATENCY = 50e-6          # s per ring hop on a LAN (assumed, not measured)
BANDWIDTHS = {"1 Gbit/s": 125e6, "10 Gbit/s": 1250e6}


def project(res: dict, batch: int = 128, machines=(1, 2, 4, 8, 16, 32, 64)):
    two = next(r for r in res["runs"] if r["processes"] == 2)
    rate = two["clips_per_second"]                 # one machine, 2 ranks
    size = two["allreduce_bytes_per_step"]
    steps = MSWC_EN_CLIPS / batch
    rows = []
    for k in machines:
        w = 2 * k
        compute = batch / (k * rate)
        row = {"machines": k, "ranks": w, "per_rank_batch": batch / w, "compute_s_per_step": compute}
        for name, bw in BANDWIDTHS.items():
            ar = 0.0 if w == 1 else 2 * (w - 1) / w * size / bw + 2 * (w - 1) * LATENCY
            row[name] = {"allreduce_s": ar, "epoch_h_best": steps * max(compute, ar) / 3600,
                         "epoch_h_worst": steps * (compute + ar) / 3600}
        rows.append(row)
    return rate, size, steps, rows


def main() -> int:
    with open(sys.argv[1]) as f:
        res = json.load(f)
    rate, size, steps, rows = project(res)
    print("measured: 2 ranks on this machine %.1f clips/s, %d bytes all-reduced per step; "
          "MSWC English %d clips = %d steps of 128" % (rate, size, MSWC_EN_CLIPS, steps))
    print("| machines (2 ranks each) | per-rank batch | compute per step | all-reduce 1 Gbit/s | epoch 1 Gbit/s "
          "| all-reduce 10 Gbit/s | epoch 10 Gbit/s |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        a, b = r["1 Gbit/s"], r["10 Gbit/s"]
        print("| %d | %g | %.0f ms | %.0f ms | %.1f-%.1f h | %.1f ms | %.1f-%.1f h |" % (
            r["machines"], r["per_rank_batch"], 1e3 * r["compute_s_per_step"], 1e3 * a["allreduce_s"],
            a["epoch_h_best"], a["epoch_h_worst"], 1e3 * b["allreduce_s"], b["epoch_h_best"],
            b["epoch_h_worst"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
