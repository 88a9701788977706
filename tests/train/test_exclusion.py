"""Class exclusion in the trainer (beenet_train.exclusion): the numpy rule is
the engine's (same class, exit and candidate counts on the shipped model's
real exit logits), the factor search on a small synthetic set keeps its
accuracy bound and saves compute, and the factors round-trip through a model
file (written into a copy of the shipped model: same logits, engine reads the
factors back; files without them refuse the policy).

Run: BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 tests/train/test_exclusion.py
"""
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))

from beenet_train import exclusion as ce  # noqa: E402
from beenet_train import frontend as fe  # noqa: E402
from beenet_train.gguf_writer import read_gguf  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SHIPPED = os.path.join(ROOT, "models", "kws12.gguf")


def synthetic_logits(n=600, exits=4, classes=6, seed=0):
    """Exit e: the true class gets a bonus growing with depth, plus noise, so
    early exits are often right but unsure and late exits mostly right."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(0.0, 1.0, (n, exits, classes)).astype(np.float32)
    for e in range(exits):
        x[np.arange(n), e, y] += 0.8 + 1.2 * e
    return x, y


def random_features(n, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.normal(-6.0, 2.5, (n, 98, 64))).astype(np.float32)


class TestSimulateIsTheEngine(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = fe.Model(SHIPPED)
        cls.feats = random_features(40)
        s = cls.model.session()
        cls.logits = np.stack([s.run_all_exits(f) for f in cls.feats])     # (N, E, K)

    def test_same_decisions(self):
        s = self.model.session()
        E = self.model.num_exits
        # factor sets from "nothing excluded" to "almost everything at exit 1"
        for factors in ([0.0] * E, [0.05, 0.1, 0.2, 0.3, 0.0], [0.3, 0.5, 0.5, 0.6, 0.0],
                        [0.9, 0.9, 0.9, 0.9, 0.9]):
            for scale, max_exit in ((1.0, 0), (0.5, 0), (2.0, 3)):
                sim = ce.simulate(self.logits, ce.margins_of(factors, scale), max_exit)
                p = ce.exclusion_params(scale, factors, max_exit)
                for i, f in enumerate(self.feats):
                    r = s.classify_features(f, p)
                    ctx = (factors, scale, max_exit, i)
                    self.assertEqual(r["class_index"], sim["pred"][i], ctx)
                    self.assertEqual(r["exit_index"], sim["exit"][i], ctx)
                    self.assertEqual(r["classes_remaining"], sim["remaining"][i].tolist(), ctx)
                    # the masked softmax: zero outside the candidates, sums to 1
                    left = r["probabilities"] > 0
                    self.assertLessEqual(left.sum(), r["classes_remaining"][r["exit_index"] - 1])
                    self.assertAlmostEqual(float(r["probabilities"].sum()), 1.0, places=5)

    def test_study_rows(self):
        # the study's entropy rows use the same rule as the engine, and a
        # study on these clips runs and checks itself against the engine
        E = self.model.num_exits
        costs = ce.exit_costs_of(self.model, self.feats)
        self.assertEqual(len(costs), E)
        self.assertAlmostEqual(costs[-1], 1.0)
        y = self.logits[:, -1].argmax(1)
        found = {t: ce.search_factors(self.logits, y, costs, t)["factors"] for t in (0.0, 0.05)}
        res = ce.study(self.model, self.feats, y, self.logits, costs, found, 0.05)
        self.assertEqual(res["engine_mismatches"], {"entropy 0.75": 0, "class-exclusion scale 1": 0})
        self.assertEqual(len(res["entropy"]), len(ce.ENTROPY_SWEEP))
        self.assertIn("class-exclusion", ce.study_markdown(res))
        for t in ce.ENTROPY_SWEEP:
            sim = ce.simulate_entropy(self.logits, t)
            r = [self.model.session().classify_features(f, "entropy", t) for f in self.feats]
            self.assertEqual([x["exit_index"] for x in r], sim["exit"].tolist(), t)
            self.assertEqual([x["class_index"] for x in r], sim["pred"].tolist(), t)

    def test_scale_zero_stops_at_exit_one(self):
        sim = ce.simulate(self.logits, ce.margins_of([0.5] * 5, 0.0))
        self.assertTrue((sim["exit"] == 1).all())
        self.assertTrue((sim["pred"] == self.logits[:, 0].argmax(1)).all())


class TestSearch(unittest.TestCase):
    def setUp(self):
        self.x, self.y = synthetic_logits()
        self.costs = [0.25, 0.5, 0.75, 1.0]

    def test_search_keeps_the_bound_and_saves(self):
        for tol in (0.0, 0.01, 0.05):
            r = ce.search_factors(self.x, self.y, self.costs, tol)
            self.assertEqual(len(r["factors"]), 4)
            self.assertEqual(r["factors"][-1], 0.0)
            self.assertTrue(all(0.0 <= f <= 1.0 for f in r["factors"]))
            # start: nothing excluded = the last exit's accuracy at full cost
            self.assertAlmostEqual(r["accuracy_start"], float((self.x[:, -1].argmax(1) == self.y).mean()))
            self.assertAlmostEqual(r["ops_start"], 1.0)
            self.assertGreaterEqual(r["accuracy"], r["accuracy_start"] - tol - 1e-9)
            # what it reports is what the factors do
            acc, cost = ce.summary(ce.simulate(self.x, ce.margins_of(r["factors"])), self.y, self.costs)
            self.assertAlmostEqual(acc, r["accuracy"], places=6)
            self.assertAlmostEqual(cost, r["ops_fraction"], places=6)
        loose = ce.search_factors(self.x, self.y, self.costs, 0.05)
        tight = ce.search_factors(self.x, self.y, self.costs, 0.0)
        self.assertLess(loose["ops_fraction"], 0.8)      # early exits are used
        self.assertLessEqual(loose["ops_fraction"], tight["ops_fraction"] + 1e-12)

    def test_scale_trades_cost(self):
        r = ce.search_factors(self.x, self.y, self.costs, 0.02)
        costs = [ce.summary(ce.simulate(self.x, ce.margins_of(r["factors"], s)), self.y, self.costs)[1]
                 for s in (0.0, 0.5, 1.0, 2.0, 8.0)]
        self.assertEqual(costs, sorted(costs))
        self.assertAlmostEqual(costs[0], 0.25)


class TestModelFile(unittest.TestCase):
    def test_round_trip(self):
        with open(SHIPPED, "rb") as f:
            data = f.read()
        old = fe.Model(data=data)
        self.assertIsNone(old.exclusion_factors)                 # older files: no factors ...
        with self.assertRaises(fe.BeenetError) as cm:            # ... and the policy is refused
            old.check_params(ce.exclusion_params())
        self.assertEqual(cm.exception.status, "UNSUPPORTED")
        self.assertIn(ce.FACTORS_KEY, str(cm.exception))

        x, y = synthetic_logits(exits=old.num_exits, classes=old.num_classes)
        factors = ce.search_factors(x, y, [0.3, 0.4, 0.5, 0.75, 1.0], 0.02)["factors"]
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "kws12-ce.gguf")
            ce.write_factors(SHIPPED, out, [0.5] * old.num_exits)
            ce.write_factors(out, out, factors)                   # replaces the key
            with open(out, "rb") as f:
                new_data = f.read()
        kv, tensors = read_gguf(new_data)
        _, old_tensors = read_gguf(data)
        self.assertEqual(sorted(tensors), sorted(old_tensors))
        for k in tensors:
            np.testing.assert_array_equal(tensors[k], old_tensors[k])
        self.assertEqual(len(kv[ce.FACTORS_KEY]), old.num_exits)
        new = fe.Model(data=new_data)
        np.testing.assert_array_equal(np.float32(new.exclusion_factors), np.float32(factors))
        new.check_params(ce.exclusion_params())
        self.assertIn("class-exclusion factors:", new.describe())
        feats = random_features(5, seed=3)
        so, sn = old.session(), new.session()
        for f in feats:
            np.testing.assert_array_equal(so.run_all_exits(f), sn.run_all_exits(f))
            # the model's factors are the ones used when the params have none
            a = sn.classify_features(f, ce.exclusion_params())
            b = so.classify_features(f, ce.exclusion_params(1.0, factors))
            self.assertEqual((a["class_index"], a["exit_index"], a["classes_remaining"]),
                             (b["class_index"], b["exit_index"], b["classes_remaining"]))

    def test_sigmoid_scores(self):
        """A file whose exits score classes one by one (beenet.class_exclusion.score
        sigmoid, as the trainer writes for --exit-loss bce): the engine compares
        ln sigmoid(logit), the numpy rule with score="sigmoid" makes the same
        decisions, and they differ from the softmax rule's on these clips."""
        from beenet_train.gguf_writer import T_STRING
        with open(SHIPPED, "rb") as f:
            data = f.read()
        old = fe.Model(data=data)
        self.assertEqual(old.exclusion_score, "softmax")
        E = old.num_exits
        new = fe.Model(data=ce.rewrite_keys(data, {"beenet.class_exclusion.score": (T_STRING, "sigmoid"),
                                                   ce.FACTORS_KEY: (ce.T_F32, [0.5] * E)},
                                            lambda k: k == ce.FACTORS_KEY))
        self.assertEqual(new.exclusion_score, "sigmoid")
        self.assertIn("(sigmoid scores)", new.describe())
        feats = random_features(40, seed=5)
        s = new.session()
        logits = np.stack([s.run_all_exits(f) for f in feats])
        differ = 0
        for factors in ([0.05, 0.1, 0.2, 0.3, 0.0], [0.3, 0.5, 0.5, 0.6, 0.0], [0.9, 0.9, 0.9, 0.9, 0.9]):
            for scale in (1.0, 0.25):
                sim = ce.simulate(logits, ce.margins_of(factors, scale), score="sigmoid")
                soft = ce.simulate(logits, ce.margins_of(factors, scale))
                differ += int((sim["remaining"] != soft["remaining"]).any())
                p = ce.exclusion_params(scale, factors)
                for i, f in enumerate(feats):
                    r = s.classify_features(f, p)
                    ctx = (factors, scale, i)
                    self.assertEqual(r["class_index"], sim["pred"][i], ctx)
                    self.assertEqual(r["exit_index"], sim["exit"][i], ctx)
                    self.assertEqual(r["classes_remaining"], sim["remaining"][i].tolist(), ctx)
        self.assertGreater(differ, 0)
        # the search runs on sigmoid scores too
        y = logits[:, -1].argmax(1)
        r = ce.search_factors(logits, y, [0.3, 0.4, 0.5, 0.75, 1.0], 0.05, score="sigmoid")
        self.assertGreaterEqual(r["accuracy"], r["accuracy_start"] - 0.05)

    def test_params_binding(self):
        p = ce.exclusion_params(0.5, [0.1, 0.2, 0.0])
        d = p.as_dict()
        self.assertEqual(d["policy"], "class-exclusion")
        self.assertEqual(d["threshold"], 0.5)
        self.assertEqual(d["exclusion_factors"], [0.1, 0.2, 0.0])
        q = fe.policy_params(p, max_exit=2)                       # a copy keeps the factors alive
        del p
        self.assertEqual(q.as_dict()["exclusion_factors"], [0.1, 0.2, 0.0])
        with self.assertRaises(fe.BeenetError):
            ce.exclusion_params(1.0, [0.5, 1.5, 0.0])
        with self.assertRaises(fe.BeenetError):
            ce.exclusion_params(-1.0)


if __name__ == "__main__":
    unittest.main()
