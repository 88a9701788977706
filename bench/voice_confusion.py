#!/usr/bin/python3
"""What a model predicts for each held-out voice of one class: the final
exit's class distribution per voice (eSpeak variants pooled per variant,
recorded voices one by one), measured by the engine on the un-augmented
clips `evaluate` uses.  Made to see where the LID-6 models' English errors
go (docs/results.md, "LID-6").

    BEENET_LIB=build/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 bench/voice_confusion.py \\
        --data data/lid6 --label en models/lid6-quicknet.gguf models/lid6-birealnet.gguf
"""
import argparse
import json
import os
import sys
from collections import defaultdict

import numpy as np


def voice_rows(model_path: str, data: str, label: str, split: str):
    from beenet_train.evaluate import EVAL_SEED, engine_logits
    from beenet_train.frontend import Frontend, Model
    from beenet_train.corpus import Corpus, eval_waves
    from beenet_train.data.voices import speaker_id
    model = Model(model_path)
    corpus = Corpus(data, seed=EVAL_SEED, eval_only=True)
    k = corpus.labels.index(label)
    examples = [ex for ex in corpus.splits[split] if ex.label_index == k]
    feats = Frontend(model.frontend_config).compute_batch(eval_waves(corpus, examples, EVAL_SEED))
    pred = engine_logits(model, feats)[-1].argmax(-1)
    with open(os.path.join(data, "voices.json")) as f:
        names = {speaker_id(n): n for n in json.load(f)}
    groups = defaultdict(list)
    for ex, p in zip(examples, pred):
        name = names.get(ex.speaker, ex.speaker)
        key = "eSpeak +%s" % name.partition("+")[2] if name.startswith("espeak:") and "+" in name else name
        groups["eSpeak (all)" if name.startswith("espeak:") else key].append(int(p))
        if name.startswith("espeak:"):
            groups[key].append(int(p))
    return model.labels, groups


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data", required=True)
    ap.add_argument("--label", required=True, help="the class whose clips are looked at")
    ap.add_argument("--split", default="test")
    a = ap.parse_args(argv)
    for m in a.models:
        labels, groups = voice_rows(m, a.data, a.label, a.split)
        print("\n%s, `%s` clips of the %s split, final exit: share predicted as each class (%%)\n"
              % (os.path.basename(m), a.label, a.split))
        print("| voice | clips | " + " | ".join("`%s`" % l for l in labels) + " |")
        print("|---|---|" + "---|" * len(labels))
        for g in sorted(groups, key=lambda g: (not g.startswith("eSpeak (all)"), g.startswith("eSpeak +"), g)):
            c = np.bincount(groups[g], minlength=len(labels)) / len(groups[g])
            print("| %s | %d | %s |" % (g, len(groups[g]), " | ".join("%.1f" % (100 * v) for v in c)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
