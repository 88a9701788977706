"""The threshold study (beenet_train.study, Figures 2-5 of issue 9):

* the numpy sweep on synthetic exit logits with known answers (threshold 0:
  every clip at the last exit; a huge threshold: every clip at exit 1;
  accuracy, average exit, OPs and exit shares worked out by hand);
* the numpy rule is the engine's: the entropy in nats (not normalised) the
  engine reports, and the same class and exit as the engine's classify call
  for thresholds from 0 to 5, on the shipped model's logits of random
  features;
* the command end to end on a tiny corpus and a catalogue with a missing
  entry: figures and markdown block written, the missing entry reported,
  the engine check 0, the rerun from the cache identical.

Run: BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train:tests/train /usr/bin/python3 tests/train/test_study.py
"""
import json
import math
import os
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "train"))
sys.path.insert(0, HERE)

from beenet_train import study  # noqa: E402
import test_eenet  # noqa: E402  (the module, so unittest does not collect its tests here too)

SHIPPED = os.path.abspath(os.path.join(HERE, "..", "..", "models", "kws12.gguf"))
OWN = os.path.abspath(os.path.join(HERE, "..", "..", "models", "own-example.gguf"))   # other labels


def hand_logits():
    """4 clips, 3 exits, 2 classes.  Entropies (nats) of [a, 0]:
    a = 10: 0.0005, a = 2: 0.3653, a = 0: ln 2 = 0.6931."""
    L = np.array([
        [[10, 0], [10, 0], [10, 0]],     # sure at every exit, class 0
        [[0, 0], [0, 2], [0, 10]],       # unsure, then class 1 at 0.36, sure at exit 3
        [[0, 0], [0, 0], [2, 0]],        # unsure until exit 3 (class 0)
        [[0, 2], [10, 0], [10, 0]],      # class 1 at 0.36 at exit 1, class 0 after
    ], np.float32)
    y = np.array([0, 1, 0, 0])
    return L, y


class TestSweepArithmetic(unittest.TestCase):
    COSTS = [0.2, 0.5, 1.0]

    def test_threshold_zero_runs_everything_to_the_last_exit(self):
        L, y = hand_logits()
        sim = study.engine_exits(L, 0.0)
        np.testing.assert_array_equal(sim["exit"], [3, 3, 3, 3])
        np.testing.assert_array_equal(sim["pred"], [0, 1, 0, 0])
        r = study.sweep_row(L, y, self.COSTS, 0.0)
        self.assertEqual(r["accuracy"], 1.0)
        self.assertEqual(r["avg_exit"], 3.0)
        self.assertEqual(r["ops_fraction"], 1.0)
        self.assertEqual(r["exit_share"], [0.0, 0.0, 1.0])

    def test_huge_threshold_stops_everything_at_exit_1(self):
        L, y = hand_logits()
        r = study.sweep_row(L, y, self.COSTS, 100.0)
        self.assertEqual(r["exit_share"], [1.0, 0.0, 0.0])
        # exit 1's argmax: 0, 0 (tie -> lowest index), 0 (tie), 1
        self.assertEqual(r["accuracy"], 0.5)
        self.assertAlmostEqual(r["ops_fraction"], 0.2)

    def test_middle_threshold(self):
        L, y = hand_logits()
        # 0.5: clip 0 at exit 1 (0.0005), clip 1 at exit 2 (0.36), clip 2 at exit 3 (the last),
        # clip 3 at exit 1 (0.36, class 1: wrong)
        r = study.sweep_row(L, y, self.COSTS, 0.5)
        np.testing.assert_array_equal(study.engine_exits(L, 0.5)["exit"], [1, 2, 3, 1])
        self.assertEqual(r["accuracy"], 0.75)
        self.assertAlmostEqual(r["avg_exit"], 7 / 4)
        self.assertAlmostEqual(r["ops_fraction"], (0.2 + 0.5 + 1.0 + 0.2) / 4)
        self.assertEqual(r["exit_share"], [0.5, 0.25, 0.25])
        # per true class: class 0 = clips 0, 2, 3 -> exits 1, 3, 1; class 1 = clip 1 -> exit 2
        self.assertEqual(r["class_counts"], [3, 1])
        np.testing.assert_allclose(r["class_exit_share"], [[2 / 3, 0, 1 / 3], [0, 1, 0]])
        # 0.3: clip 1 (0.36 at exit 2) and clip 3 (0.36 at exit 1) go one exit further
        np.testing.assert_array_equal(study.engine_exits(L, 0.3)["exit"], [1, 3, 3, 2])
        self.assertEqual(study.sweep_row(L, y, self.COSTS, 0.3)["accuracy"], 1.0)

    def test_entropy_is_in_nats(self):
        _, h, best = study.engine_softmax(np.zeros((1, 12), np.float32))
        self.assertAlmostEqual(float(h[0]), math.log(12), places=6)
        self.assertEqual(int(best[0]), 0)

    def test_absent_class_rows_are_zero(self):
        L, y = hand_logits()
        r = study.sweep_row(L, y, self.COSTS, 0.5, num_classes=3)
        self.assertEqual(r["class_counts"], [3, 1, 0])
        self.assertEqual(r["class_exit_share"][2], [0.0, 0.0, 0.0])


class TestEngineAgreement(unittest.TestCase):
    THRESHOLDS = [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0]

    @classmethod
    def setUpClass(cls):
        cls.model, cls.feats, cls.logits = test_eenet.shipped_exit_logits(40)     # logits (N, E, K)

    def test_engine_reports_this_entropy(self):
        _, h, best = study.engine_softmax(self.logits)
        s = self.model.session()
        for i in range(0, 40, 4):
            for e in range(self.model.num_exits):
                r = s.classify_features(self.feats[i], "entropy", threshold=-1.0, max_exit=e + 1)
                self.assertEqual(r["exit_index"], e + 1)
                self.assertEqual(np.float32(r["entropy"]), h[i, e])
                self.assertEqual(r["class_index"], best[i, e])

    def test_same_class_and_exit_as_the_engine(self):
        used = set()
        for t in self.THRESHOLDS:
            self.assertEqual(study.engine_mismatches(self.model, self.feats, self.logits, [t]), 0, t)
            used.update(study.engine_exits(self.logits, t)["exit"].tolist())
        # the thresholds reach more than one exit (the check is not all-last or all-first)
        self.assertGreater(len(used), 2, used)


class TestCommand(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from test_distributed import open_tiny_corpus
        d = open_tiny_corpus(cls)
        cls.catalogue = os.path.join(d, "catalogue.json")
        with open(cls.catalogue, "w") as f:
            json.dump([{"model": SHIPPED, "task": "kws12", "family": "quicknet"},
                       {"model": "kws12-birealnet.gguf", "task": "kws12", "family": "birealnet"},
                       {"model": SHIPPED, "task": "lid6", "family": "quicknet"},
                       {"model": OWN, "task": "kws12", "family": "quicknet"}], f)
        cls.md = os.path.join(d, "results.md")
        with open(cls.md, "w") as f:
            f.write("# before\n\n%s\nold\n%s\n\n# after\n" % (study.BEGIN, study.END))
        cls.args = ["--catalogue", cls.catalogue, "--data", "kws12=" + cls.data,
                    "--data", "lid6=" + os.path.join(d, "no-lid6-corpus"), "--cache", os.path.join(d, "cache"),
                    "--figures", os.path.join(d, "figs"), "--write", cls.md, "--check-clips", "6",
                    "--per-class-task", "kws12", "--catalogue-md", os.path.join(d, "README.md")]
        study.main(cls.args + ["--json", os.path.join(d, "first.json")])
        study.main(cls.args + ["--json", os.path.join(d, "second.json")])
        with open(os.path.join(d, "first.json")) as f:
            cls.first = json.load(f)
        with open(os.path.join(d, "second.json")) as f:
            cls.second = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_statuses(self):
        st = [r["status"] for r in self.first]
        self.assertEqual(st[0], "ok")
        self.assertEqual(st[1], "model file missing (not trained yet)")
        self.assertEqual(st[2], "corpus %s missing" % os.path.join(self.d, "no-lid6-corpus"))
        if os.path.exists(OWN):   # a model of another task on this corpus: reported, the others measured
            self.assertTrue(st[3].startswith("not measured: model labels"), st[3])
        ok = self.first[0]
        self.assertEqual(ok["engine_check"], {"checked": 6 * 5, "mismatches": 0})
        self.assertEqual([w["threshold"] for w in ok["rows"]], study.THRESHOLDS)
        self.assertEqual(ok["clips"], sum(ok["rows"][0]["class_counts"]))

    def test_rerun_from_cache_is_identical(self):
        self.assertFalse(self.first[0]["cached"])
        self.assertTrue(self.second[0]["cached"])
        strip = lambda rs: [{k: v for k, v in r.items() if k != "cached"} for r in rs]  # noqa: E731
        self.assertEqual(strip(self.first), strip(self.second))
        self.assertEqual(len(os.listdir(os.path.join(self.d, "cache"))), 1)

    def test_figures_and_block(self):
        for name in study.FIGURES.values():
            p = os.path.join(self.d, "figs", name)
            with open(p, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", name)
        with open(self.md) as f:
            text = f.read()
        self.assertTrue(text.startswith("# before\n"))
        self.assertTrue(text.rstrip().endswith("# after"))
        self.assertNotIn("\nold\n", text)
        self.assertEqual(text.count(study.BEGIN), 1)
        self.assertIn("model file missing (not trained yet)", text)
        self.assertIn("python3 -m beenet_train.study --catalogue", text)
        r = self.first[0]
        # Figure 2's accuracy at 0.5 as the table prints it
        self.assertIn("%.2f %%" % (100 * r["rows"][2]["accuracy"]), text)
        self.assertIn("![Figure 5]", text)
        # the per-class accuracy row: final exit on each class's clips, recomputed from the sweep's inputs
        self.assertEqual(len(r["class_accuracy"]), len(r["labels"]))
        self.assertIn("| %s | %s |" % (study._fam_name("quicknet"), " | ".join(
            "" if v is None else "%.1f" % (100 * v) for v in r["class_accuracy"])), text)

    def test_class_accuracy(self):
        logits = np.array([[5.0, 0, 0], [0, 5.0, 0], [5.0, 0, 0], [0, 0, 5.0]])
        self.assertEqual(study.class_accuracy(logits, np.array([0, 1, 1, 1]), 4), [1.0, 1 / 3, None, None])

    def test_catalogue_table(self):
        with open(os.path.join(self.d, "README.md")) as f:
            text = f.read()
        self.assertEqual(text.count(study.CATALOGUE_BEGIN), 1)   # replaced on the rerun, not appended
        r = self.first[0]
        self.assertIn("%.1f KiB | %s |" % (os.path.getsize(SHIPPED) / 1024.0,
                                          " / ".join("%.1f" % (100 * a) for a in r["exit_accuracy"])), text)
        self.assertIn("| `kws12-birealnet.gguf` | | model file missing (not trained yet) |", text)

    def test_default_catalogue_lists_twelve_models(self):
        cat = study.load_catalogue(os.path.join(HERE, "..", "..", "models", "catalogue.json"))
        self.assertEqual(len(cat), 12)
        self.assertEqual(len({(e["task"], e["family"]) for e in cat}), 12)
        self.assertTrue(any(os.path.samefile(e["path"], SHIPPED) for e in cat if os.path.exists(e["path"])))




class TestCacheKey(unittest.TestCase):
    """The logit cache is keyed by the engine's FFT backend too."""

    def test_fft_backend_in_the_key(self):
        from beenet_train import frontend
        with tempfile.TemporaryDirectory() as d:
            model = os.path.join(d, "m.gguf")
            with open(model, "wb") as f:
                f.write(b"not a model: only its digest is read")
            old = os.environ.get("BEENET_FFT")
            try:
                keys = {}
                for name in ("gst", "no-such-backend"):
                    os.environ["BEENET_FFT"] = name
                    keys[name] = study.cache_path(d, model, "data/x", "test", None)
                self.assertEqual(frontend.fft_backend(), "none")
            finally:
                if old is None:
                    os.environ.pop("BEENET_FFT", None)
                else:
                    os.environ["BEENET_FFT"] = old
            self.assertNotEqual(keys["gst"], keys["no-such-backend"])

if __name__ == "__main__":
    unittest.main(verbosity=2)
