"""What hard-negative mining costs the training process after each epoch (docs/training.md, Hard negatives).

Times, in this process, the two halves of mining.mine_hard_negatives for one epoch's candidates: making the
candidates' features (train.candidate_features; since 2026-12-04 the batch worker makes them during the epoch,
train.MiningFeatures) and scoring them with a model (what remains in the training process), the scoring in
batches of 128 (validation.predict_logits since 2026-12-04) and of 512 (before; the same logits).

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 bench/mining_cost.py \
        --data data/kws12-v2 --checkpoint models/kws12.pt [--candidates 12000] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))

from beenet_train.frontend import Frontend  # noqa: E402
from beenet_train.model import BeeNet  # noqa: E402
from beenet_train.corpus import Corpus  # noqa: E402
from beenet_train.mining import DEFAULT_HARD_NEGATIVES, candidate_features, mine_hard_negatives  # noqa: E402
from beenet_train.validation import predict_logits  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--candidates", type=int, default=DEFAULT_HARD_NEGATIVES["candidates"])
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    ck = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
    model = BeeNet(ck["config"])
    model.load_state_dict(ck["state_dict"])
    corpus = Corpus(a.data, seed=0)
    cfg = dict(DEFAULT_HARD_NEGATIVES, share=0.5, candidates=a.candidates)
    fe = Frontend()
    t0 = time.time()
    feats = candidate_features(corpus, fe, 0, 0, cfg)
    t1 = time.time()
    mine_hard_negatives(model, corpus, fe, 0, 0, cfg, feats)
    t2 = time.time()
    z = predict_logits(model, feats, batch=512)
    t3 = time.time()
    assert (z == predict_logits(model, feats)).all()
    print("| %d candidates | features (now in the batch worker) | scoring, batches of 128 (training process) "
          "| scoring, batches of 512 (before) |" % a.candidates)
    print("|---|---|---|---|")
    print("| seconds | %.1f | %.1f | %.1f |" % (t1 - t0, t2 - t1, t3 - t2))


if __name__ == "__main__":
    main()
