"""Your own keywords: one command from a word list to a model file.

    PYTHONPATH=train BEENET_LIB=build/engine/libbeenet.so /usr/bin/python3 -m beenet_train own \\
        --words "lights on,lights off,music" --out runs/mykw [--preset tiny|small|full]

writes ``<out>/task.json`` (the task: ``_silence_``, ``_unknown_`` and one
class per word or phrase), ``<out>/corpus/`` (synthesized as corpus v2 is:
every synthesizer voice, split by voice, ``_unknown_`` words, running
sentences, noise), ``<out>/model.gguf`` and ``<out>/model.pt``, and
``<out>/card.md`` (accuracy of the exported file, measured with the engine
on the voices held out of training).  A preset fixes the corpus size, the
network and the training budget (``PRESETS``); ``--minutes``/``--epochs``
override the budget.  See train/README.md ("Your own keywords").
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import time
from typing import Dict, Optional

# Corpus (synth.synthesize arguments), network (model config overrides)
# and training budget of each preset.
PRESETS: Dict[str, Dict] = {
    # the --small voice inventory (24 voices: en-us and en x 10 eSpeak variants,
    # flite kal/slt/awb, festival kal_diphone), more repetitions, a small network
    "tiny": {
        "synth": {"small": True, "reps": 8, "unknown_reps": 1, "other_mult": 2,
                  "vocab_words": {"espeak": 30, "other": 40},
                  "sentences": {("espeak", "train"): 4, ("espeak", "val"): 4, ("espeak", "test"): 4,
                                ("other", "train"): 12, ("other", "val"): 12, ("other", "test"): 12}},
        "config": {"stem_channels": 8, "stages": [[32, 2], [64, 3]], "exits": [1, 2, 3, 4, 5]},
        "epochs": 30, "minutes": 4.0, "batch_size": 64,
    },
    # every English voice (826), fewer repetitions; the network of tiny, twice as wide
    "small": {
        "synth": {"small": False, "reps": 2, "unknown_reps": 1, "other_mult": 5,
                  "vocab_words": {"espeak": 6, "other": 60},
                  "sentences": {("espeak", "train"): 1, ("espeak", "val"): 1, ("espeak", "test"): 2,
                                ("other", "train"): 10, ("other", "val"): 10, ("other", "test"): 20}},
        "config": {"stem_channels": 8, "stages": [[64, 2], [128, 3]], "exits": [1, 2, 3, 4, 5]},
        "epochs": 20, "minutes": 15.0, "batch_size": 128,
    },
    # corpus v2's sizes and the default network (docs/training.md)
    "full": {"synth": {"small": False}, "config": {}, "epochs": 40, "minutes": 50.0, "batch_size": 128},
}


def run(words: str, out: str, preset="tiny", seed: int = 0, name: str = "own",
        jobs: int = 2, threads: Optional[int] = None, minutes: Optional[float] = None,
        epochs: Optional[int] = None, corpus: Optional[str] = None, force: bool = False,
        command: str = "", log=sys.stderr) -> Dict:
    """Task, corpus, training, export and engine-side evaluation; returns the
    evaluation (beenet_train.evaluate.evaluate) with the paths.  ``preset``:
    a name of PRESETS or a dict of the same form."""
    from .data import synth
    from .data.task import from_words, parse_words
    from .evaluate import evaluate
    from .train import train

    if isinstance(preset, dict):   # tests: a preset of their own
        p, preset = preset, "custom"
    elif preset in PRESETS:
        p = PRESETS[preset]
    else:
        raise ValueError("preset %r: one of %s" % (preset, ", ".join(PRESETS)))
    t0 = time.time()
    task = from_words(parse_words(words), name=name)
    os.makedirs(out, exist_ok=True)
    task.save(os.path.join(out, "task.json"))
    corpus = corpus or os.path.join(out, "corpus")
    say = lambda m: print("[own] " + m, file=log, flush=True)  # noqa: E731
    say("task %s: %s" % (task.name, ", ".join(task.labels)))
    if os.path.isfile(os.path.join(corpus, "corpus.json")) and not force:
        with open(os.path.join(corpus, "task.json")) as f:
            if json.load(f) != task.to_dict():
                raise ValueError("%s holds a corpus of another task (use --force)" % corpus)
        say("corpus %s exists: reused" % corpus)
    else:
        s = dict(p["synth"])
        synth.synthesize(corpus, seed=seed, small=s.pop("small"), jobs=jobs, force=force, log=log,
                         task=task, **s)
    t_synth = time.time() - t0
    model_path = os.path.join(out, "model.gguf")
    config = dict(p["config"], family="quicknet", name="%s-quicknet-ee" % task.name)
    ck = train(corpus, model_path, seed=seed, epochs=epochs or p["epochs"],
               minutes=p["minutes"] if minutes is None else minutes, batch_size=p["batch_size"],
               config=config, threads=threads, resume=None)
    res = evaluate(model_path, corpus, "test", os.path.join(out, "model.pt"), quiet=True)
    res.update(task=task.to_dict(), preset=preset, model=model_path, corpus=corpus,
               unknown_words=task.unknown_for(bool(p["synth"].get("small"))),
               synth_minutes=round(t_synth / 60, 2), training=ck["training"],
               total_minutes=round((time.time() - t0) / 60, 2))
    write_card(os.path.join(out, "card.md"), res, command)
    with open(os.path.join(out, "evaluation.json"), "w") as f:
        json.dump(res, f, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    say("test accuracy (held-out voices, engine): final exit %.4f, at the model's threshold %.4f; "
        "card %s" % (res["exit_accuracy"][-1], _at_threshold(res)["accuracy"], os.path.join(out, "card.md")))
    return res


def _at_threshold(res: Dict) -> Dict:
    return [r for r in res["sweep"] if abs(r["threshold"] - res["threshold"]) < 1e-6][0]


def write_card(path: str, res: Dict, command: str) -> None:
    """A short model card: the task, how it was made, held-out accuracy."""
    task, tr = res["task"], res["training"]
    labels = task["labels"]
    conf = res["confusion"]
    rec = _at_threshold(res)
    L = ["# Model card: `%s` (own keywords)" % os.path.basename(res["model"]), "",
         "Made by one command (train/README.md, \"Your own keywords\"):", "", "```sh", command, "```", "",
         "| | |", "|---|---|",
         "| task | `%s`: %s |" % (task["name"], ", ".join("`%s`" % l for l in labels)),
         "| said as | %s |" % ", ".join("`%s` = \"%s\"" % (k, v) for k, v in task["phrases"].items())
         if task["phrases"] else "| said as | the labels |",
         "| `_unknown_` words | %d (%s) plus the corpus' vocabulary words and running sentences |"
         % (len(res["unknown_words"]), ", ".join(res["unknown_words"])),
         "| preset | `%s` (train/beenet_train/own.py `PRESETS`) |" % res["preset"],
         "| corpus | synthetic, split by voice (docs/data.md); synthesis %.1f min |" % res["synth_minutes"],
         "| training | %d epochs (best %d), %.1f min, seed %d |" % (tr["epochs"], tr["best_epoch"],
                                                                  tr["train_minutes"], tr["seed"]),
         "| size | %d bytes, %d exits |" % (res["size_bytes"], len(res["exit_accuracy"])),
         "| total wall time | %.1f min |" % res["total_minutes"], "",
         "## Held-out voices (test split), measured with the engine", "",
         "%d one-second clips of voices never heard in training (keywords, `_unknown_` words, "
         "`_silence_` cut from noise), un-augmented." % res["n"], "",
         "| exit | " + " | ".join(str(i + 1) for i in range(len(res["exit_accuracy"]))) + " |",
         "|---" * (len(res["exit_accuracy"]) + 1) + "|",
         "| accuracy | " + " | ".join("%.3f" % a for a in res["exit_accuracy"]) + " |",
         "| OPs fraction | " + " | ".join("%.3f" % f for f in res["exit_ops_fractions"]) + " |", "",
         "Early exit at the model's entropy threshold %.2f: accuracy %.3f, average exit %.2f, "
         "%.3f of the full network's operations." % (res["threshold"], rec["accuracy"], rec["avg_exit"],
                                                     rec["ops_fraction"]), "",
         "Per class (final exit): " + ", ".join(
             "`%s` %d/%d" % (l, conf[i][i], sum(conf[i])) for i, l in enumerate(labels)) + ".", "",
         "Per held-out voice (final exit): " + ", ".join(
             "%s %.3f (%d clips)" % (r["group"], r["accuracy"][0], r["n"]) for r in res["by_voice"]) + ".",
         ""]
    if res.get("parity"):
        L += ["PyTorch/engine parity on these clips: every exit's argmax agrees on %.2f %% of them "
              "(per exit %s)." % (100 * res["parity"]["all_exits_agree"],
                                  ", ".join("%.4f" % a for a in res["parity"]["per_exit_agree"])), ""]
    L += ["Synthetic voices only: accuracy on real microphones and speakers is not measured.", ""]
    with open(path, "w") as f:
        f.write("\n".join(L))


def add_parser(sub) -> None:
    o = sub.add_parser("own", help="your own keywords: synthesize a corpus for a word list, train, "
                       "export and evaluate (train/README.md)")
    o.add_argument("--words", required=True,
                   help='comma-separated words or short phrases, e.g. "lights on,lights off,music"')
    o.add_argument("--out", required=True, help="output directory (task.json, corpus/, model.gguf, card.md)")
    o.add_argument("--preset", choices=sorted(PRESETS), default="tiny",
                   help="corpus size, network and budget (default tiny: a few minutes)")
    o.add_argument("--name", default="own", help="task name (in the model's name; default own)")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--jobs", type=int, default=2, help="synthesis processes (max 2)")
    o.add_argument("--threads", type=int, default=None, help="training threads (default: cores less one)")
    o.add_argument("--minutes", type=float, help="training budget (default: the preset's)")
    o.add_argument("--epochs", type=int, help="epochs (default: the preset's)")
    o.add_argument("--corpus", help="corpus directory (default <out>/corpus; reused when it exists)")
    o.add_argument("--force", action="store_true", help="re-synthesize an existing corpus")


def main(a, argv) -> int:
    from .data.task import TaskError
    cmd = "BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 -m beenet_train " + \
        " ".join(shlex.quote(x) for x in argv)
    try:
        run(a.words, a.out, a.preset, a.seed, a.name, a.jobs, a.threads, a.minutes, a.epochs, a.corpus,
            a.force, cmd)
    except (TaskError, ValueError, FileExistsError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    return 0
