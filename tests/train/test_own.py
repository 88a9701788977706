#!/usr/bin/python3
"""`python3 -m beenet_train own`: a word list to a model file in one command.

Runs the command line on a micro preset (the --small voices, one
repetition, one epoch): the task, corpus, model, checkpoint, card and
evaluation it writes, and the model the engine loads from it.  Accuracy
is not asserted here (one epoch); the shipped example model is tested in
the element suite (tests/element/test-beenet-own.c).
"""
import json
import os
import shutil
import sys
import tempfile
import unittest

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)

from beenet_train import own  # noqa: E402
from beenet_train.__main__ import main as cli  # noqa: E402
from beenet_train.frontend import Model  # noqa: E402

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
MICRO = {"synth": {"small": True, "reps": 1, "unknown_reps": 1, "other_mult": 1,
                   "vocab_words": {"espeak": 1, "other": 1}},
         "config": {"stem_channels": 4, "stages": [[16, 1], [32, 2]], "exits": [1, 2, 3]},
         "epochs": 1, "minutes": 1.0, "batch_size": 32}


@unittest.skipUnless(HAVE_ESPEAK, "espeak-ng is not installed")
class TestOwn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.out = os.path.join(cls._tmp.name, "mykw")
        own.PRESETS["micro"] = MICRO     # the CLI's --preset choices are read at parse time
        try:
            cls.rc = cli(["own", "--words", "lights on, music", "--out", cls.out, "--preset", "micro",
                          "--threads", "2"])
        finally:
            del own.PRESETS["micro"]

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_outputs(self):
        self.assertEqual(self.rc, 0)
        for f in ("task.json", "corpus/task.json", "corpus/corpus.json", "model.gguf", "model.pt",
                  "card.md", "evaluation.json"):
            self.assertTrue(os.path.isfile(os.path.join(self.out, f)), f)

    def test_model(self):
        m = Model(os.path.join(self.out, "model.gguf"))
        self.assertEqual(m.labels, ["_silence_", "_unknown_", "lights_on", "music"])
        self.assertEqual(m.num_exits, 3)
        d = m.describe()
        self.assertIn("keywords: lights_on, music", d)
        self.assertIn("own-quicknet-ee", d)

    def test_evaluation_and_card(self):
        with open(os.path.join(self.out, "evaluation.json")) as f:
            ev = json.load(f)
        self.assertEqual(ev["task"]["labels"][2:], ["lights_on", "music"])
        self.assertEqual(len(ev["exit_accuracy"]), 3)
        self.assertTrue(all(0.0 <= a <= 1.0 for a in ev["exit_accuracy"]))
        conf = ev["confusion"]
        self.assertEqual(sum(map(sum, conf)), ev["n"])
        self.assertGreaterEqual(ev["parity"]["all_exits_agree"], 0.99)
        with open(os.path.join(self.out, "card.md")) as f:
            card = f.read()
        self.assertIn("--words 'lights on, music'", card)
        self.assertIn("`lights_on` = \"lights on\"", card)

    def test_reuses_corpus_of_same_task_only(self):
        with self.assertRaisesRegex(ValueError, "another task"):
            own.run("music", self.out, MICRO, corpus=os.path.join(self.out, "corpus"))

    def test_bad_words(self):
        self.assertEqual(cli(["own", "--words", "r2d2", "--out", os.path.join(self._tmp.name, "x")]), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
