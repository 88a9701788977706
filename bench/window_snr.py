#!/usr/bin/python3
"""How sure the network is of a keyword as the noise rises (docs/training.md,
"Why the targets are missed").

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 bench/window_snr.py \\
        --model models/kws12.gguf --corpus data/kws12-v2 --split val

Takes a seeded sample of the evaluation sets' one-second windows
(``data.evalsets.window_items``: held-out keyword clips, unknown words and
sentence crops of one split), mixes each with the split's babble or
recorded sound at each SNR (the window sets' ``mix_at_snr``, the same
noise draw per window at every SNR) and runs every model's final exit
through the engine.  For keyword windows it prints how often the right
class wins (argmax) and how often its posterior reaches 0.5, 0.9 and the
model's own detection threshold; for the other windows how often
``_unknown_`` wins.  The per-window sets give only the argmax at 10 and
0 dB; a detector needs the posterior over its threshold, which is what the
stream's keywords lack in noise.  ``--noise-split train`` draws the babble
(training sentences) and sounds (``_sounds_/train``) from the training
split instead, noise the network was trained on, around the same held-out
words: the difference says how much of the loss in noise is noise the
network has never heard; ``--split train`` takes the windows from the
training clips themselves (how well the network fits what it was trained
on, not what it generalises to).  Use ``--split val`` for decisions,
``test`` only to report.
"""
import argparse
import os
import sys

import numpy as np

from beenet_train.data import evalsets as E
from beenet_train.evaluate import engine_logits
from beenet_train.frontend import Frontend, Model


def sample(mat, n, seed):
    """n windows of the split (all of them if fewer), in window_items order."""
    items = [it for it in E.window_items(mat, seed) if it[1] in ("keyword", "word", "crop")]
    if n < len(items):
        pick = np.random.default_rng([seed, 0x51]).choice(len(items), n, replace=False)
        items = [items[int(i)] for i in sorted(pick)]
    return items


def waves_at(noise_mat, items, kind, snr_db, seed):
    out = []
    for k, (_, _, _, w) in enumerate(items):
        if snr_db is not None:
            w = E.mix_at_snr(w, noise_mat.noise(kind, w.size, np.random.default_rng([seed, 0x52, k])), snr_db)
        peak = float(np.abs(w).max())
        if peak > 0.99:
            w = w * np.float32(0.99 / peak)
        out.append(np.round(w * 32767.0).astype(np.float32) / np.float32(32768.0))   # as a 16-bit file
    return out


def measure(model, feats, y, keyword):
    lg = engine_logits(model, feats)[-1].astype(np.float64)
    p = np.exp(lg - lg.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    right = p.argmax(1) == y
    pc = p[np.arange(y.size), y]
    th = float(model.detection_defaults["threshold"])
    kw = 100.0 * np.array([right[keyword].mean(), (pc[keyword] >= 0.5).mean(), (pc[keyword] >= 0.9).mean(),
                           (pc[keyword] >= th).mean()])
    return kw, 100.0 * right[~keyword].mean() if (~keyword).any() else float("nan"), th


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", required=True, help="model file (repeat for side by side)")
    ap.add_argument("--corpus", required=True, help="corpus v2 root (its held-out clips, sentences, sounds)")
    ap.add_argument("--split", choices=("train", "val", "test"), default="val")
    ap.add_argument("--noise-split", choices=("train", "val", "test"),
                    help="draw the babble and sounds from this split (default: --split's)")
    ap.add_argument("--windows", type=int, default=2000, help="windows in the sample (default 2000)")
    ap.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 5.0, 0.0], help="SNRs in dB")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    for m in a.model:
        if not os.path.isfile(m):
            raise SystemExit("%s: no such model file" % m)
    if a.windows < 1:
        raise SystemExit("--windows must be >= 1")
    try:
        mat = E.Material(a.corpus, a.split)
    except (OSError, ValueError) as e:
        raise SystemExit("%s: not a corpus v2 with a %s split (%s)" % (a.corpus, a.split, e))
    noise_split = a.noise_split or a.split
    noise_mat = mat if noise_split == a.split else E.Material(a.corpus, noise_split)
    models = [Model(m) for m in a.model]
    items = sample(mat, a.windows, a.seed)
    keyword = np.array([it[1] == "keyword" for it in items])
    print("%s split, %d windows (%d keywords), noise of the %s split, final exit"
          % (a.split, len(items), keyword.sum(), noise_split))
    print("| condition | model | keywords right | reach 0.5 | reach 0.9 | reach own threshold | non-keywords right |")
    print("|---|---|---|---|---|---|---|")
    conds = [("clean", None)] + [(k, s) for k in ("babble", "sound") for s in a.snr]
    for kind, snr in conds:
        waves = waves_at(noise_mat, items, kind, snr, a.seed)
        for path, model in zip(a.model, models):
            feats = Frontend(model.frontend_config).compute_batch(waves)
            y = np.array([list(model.labels).index(it[0]) for it in items])
            kw, other, th = measure(model, feats, y, keyword)
            print("| %s | %s | %.1f %% | %.1f %% | %.1f %% | %.1f %% (%.2f) | %.1f %% |" % (
                kind if snr is None else "%s %g dB" % (kind, snr), path, kw[0], kw[1], kw[2], kw[3], th, other),
                flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
