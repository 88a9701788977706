"""EENet in the trainer (beenet_train.eenet): the scheduler fitted on a small
synthetic set holds each stored budget on that set and trades accuracy for
cost; the numpy rule is the engine's (same class and exit, clip by clip, on
a copy of the shipped model carrying a scheduler fitted on its own exit
logits); the scheduler round-trips through the model file; files without
one refuse the policy; a split's exit logits are computed once per model
and kept in the --cache directory (eenet and exclusion share it).

Run: BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 tests/train/test_eenet.py
"""
import os
import sys
import tempfile
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))

from beenet_train import eenet  # noqa: E402
from beenet_train import frontend as fe  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SHIPPED = os.path.join(ROOT, "models", "kws12.gguf")
COSTS = [0.2, 0.45, 0.7, 1.0]


def synthetic_logits(n=800, exits=4, classes=6, seed=0):
    """Exit e: the true class gets a bonus growing with depth, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(0.0, 1.0, (n, exits, classes)).astype(np.float32)
    for e in range(exits):
        x[np.arange(n), e, y] += 0.8 + 1.0 * e
    return x, y


class TestFit(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.logits, cls.y = synthetic_logits()
        cls.sched = eenet.fit(cls.logits, cls.y, COSTS, budgets=[0.3, 0.5, 0.7, 0.9, 1.0], hidden=4)
        cls.inputs, cls.best = eenet.exit_inputs(cls.logits)
        cls.q = eenet.scores(cls.sched, cls.inputs)

    def test_measures(self):
        # largest probability, normalised entropy, margin, agreement
        inp = self.inputs
        self.assertTrue(np.all((inp[:, :, 0] > 0) & (inp[:, :, 0] <= 1)))
        self.assertTrue(np.all((inp[:, :, 1] >= 0) & (inp[:, :, 1] <= 1 + 1e-6)))
        self.assertTrue(np.all(inp[:, :, 2] >= 0))
        np.testing.assert_array_equal(inp[:, 0, 3], 0.0)
        both = self.best[:, 0] == self.best[:, 1]
        np.testing.assert_array_equal(inp[:, 1, 3], both.astype(float))
        np.testing.assert_allclose(inp[:, :, 4:].sum(axis=2), 1.0, atol=1e-5)

    def test_utility_predicts_correctness(self):
        # higher utility, more often right: the top half of exit 1's scores is
        # right more often than the bottom half
        q, right = self.q[:, 0], self.best[:, 0] == self.y
        hi = q >= np.median(q)
        self.assertGreater(right[hi].mean(), right[~hi].mean() + 0.2)

    def test_budgets_hold_on_the_fit_set(self):
        b = self.sched["budgets"]
        np.testing.assert_array_equal(b, np.float32([0.3, 0.5, 0.7, 0.9, 1.0]))
        accs = []
        for budget in b:
            sim = eenet.simulate(self.q, self.best, eenet.thresholds_at(self.sched, budget))
            acc, cost = eenet.summary(sim, self.y, COSTS)
            self.assertLessEqual(cost, budget + 1e-9)
            accs.append(acc)
        # more budget, no less accuracy (the thresholds only fall along the path)
        self.assertTrue(all(a <= b_ + 1e-12 for a, b_ in zip(accs, accs[1:])), accs)
        full = (self.best[:, -1] == self.y).mean()
        self.assertGreater(accs[0], 0.5)
        self.assertGreaterEqual(accs[-1], full - 1e-12)
        # at half the network it beats stopping everything at the exit of that cost
        self.assertGreater(accs[1], (self.best[:, 1] == self.y).mean())

    def test_thresholds_interpolate(self):
        t = eenet.thresholds_at(self.sched, 0.6)
        t5, t7 = self.sched["thresholds"][1].astype(float), self.sched["thresholds"][2].astype(float)
        fin = np.isfinite(t5) & np.isfinite(t7)
        np.testing.assert_allclose(t[fin], ((t5 + t7) / 2)[fin], rtol=1e-6)
        np.testing.assert_array_equal(eenet.thresholds_at(self.sched, 0.1), self.sched["thresholds"][0])


def shipped_exit_logits(n: int):
    """The shipped model, n windows of random log-Mel-like features (seed 3)
    and the engine's logits of every exit for them, (n, E, K)."""
    model = fe.Model(SHIPPED)
    feats = np.random.default_rng(3).normal(-6.0, 2.5, (n, 98, 64)).astype(np.float32)
    s = model.session()
    return model, feats, np.stack([s.run_all_exits(f) for f in feats])


class TestEngine(unittest.TestCase):
    """A scheduler fitted on the shipped model's own exit logits (random
    features, labels = the last exit's argmax), written into a copy."""

    @classmethod
    def setUpClass(cls):
        cls.model, cls.feats, cls.logits = shipped_exit_logits(120)
        cls.y = cls.logits[:, -1].argmax(axis=1)
        s = cls.model.session()
        cls.costs = [s.classify_features(cls.feats[0], fe.policy_params("entropy", -1.0, max_exit=e + 1))
                     ["ops_fraction"] for e in range(cls.model.num_exits)]
        cls.sched = eenet.fit(cls.logits, cls.y, cls.costs, budgets=[0.4, 0.6, 0.8, 1.0], hidden=3)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.path = os.path.join(cls.tmp.name, "eenet.gguf")
        eenet.write_scheduler(SHIPPED, cls.path, cls.sched)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_round_trip(self):
        back = eenet.read_scheduler(self.path)
        for k in ("w1", "b1", "w2", "b2", "budgets", "thresholds"):
            np.testing.assert_array_equal(back[k], np.asarray(self.sched[k], np.float32), k)
        self.assertEqual(back["hidden"], 3)
        m = fe.Model(self.path)
        self.assertEqual(m.eenet_budgets, [float(np.float32(b)) for b in self.sched["budgets"]])
        self.assertIn("eenet scheduler: 3 hidden units", m.describe())
        # the rest of the file is the shipped model: same logits
        np.testing.assert_array_equal(m.session().run_all_exits(self.feats[0]), self.logits[0])
        # writing again replaces the keys instead of adding a second set
        again = os.path.join(self.tmp.name, "again.gguf")
        eenet.write_scheduler(self.path, again, self.sched)
        self.assertEqual(os.path.getsize(again), os.path.getsize(self.path))

    def test_engine_is_the_simulation(self):
        m = fe.Model(self.path)
        inputs, best = eenet.exit_inputs(self.logits)
        q = eenet.scores(eenet.read_scheduler(self.path), inputs)
        exits = set()
        for budget in (0.3, 0.4, 0.5, 0.6, 0.75, 1.0):   # stored, between, below the range
            sim = eenet.simulate(q, best, eenet.thresholds_at(self.sched, budget))
            p = fe.policy_params("eenet", budget=budget)
            self.assertEqual(eenet.engine_check(m, self.feats, sim, p), 0, budget)
            exits |= set(sim["exit"].tolist())
        self.assertGreater(len(exits), 1)     # the budgets move the exits

    def test_without_scheduler_refuses(self):
        m = fe.Model(SHIPPED)
        self.assertIsNone(m.eenet_budgets)
        with self.assertRaises(fe.BeenetError) as cm:
            m.check_params(fe.policy_params("eenet"))
        self.assertIn("beenet_train eenet", str(cm.exception))
        with self.assertRaises(fe.BeenetError):
            fe.policy_params("eenet", budget=0.0)


class TestSplitCache(unittest.TestCase):
    def test_second_call_reads_the_cache(self):
        """split_cached computes a split once per (model file, corpus,
        split, max_clips) and reads it back; another model file misses."""
        from beenet_train import exclusion
        calls = []

        def fake(model, data, split, max_clips=None):
            calls.append(split)
            n = len(calls)
            return (np.full((2, 3), n, np.float32), np.array([n, n]), np.full((2, 4, 5), n, np.float32))

        real = exclusion.split_logits
        exclusion.split_logits = fake
        try:
            with tempfile.TemporaryDirectory() as d:
                other = os.path.join(d, "other.gguf")
                with open(other, "wb") as f:
                    f.write(b"not the shipped model")
                first = eenet.split_cached(None, SHIPPED, "corpus", "val", None, d)
                again = eenet.split_cached(None, SHIPPED, "corpus", "val", None, d)
                test = eenet.split_cached(None, SHIPPED, "corpus", "test", None, d)
                eenet.split_cached(None, other, "corpus", "val", None, d)
                eenet.split_cached(None, SHIPPED, "corpus", "val", None, None)   # no cache: computed
        finally:
            exclusion.split_logits = real
        self.assertEqual(calls, ["val", "test", "val", "val"])
        for a, b in zip(first, again):
            np.testing.assert_array_equal(a, b)
        self.assertEqual(int(test[1][0]), 2)


if __name__ == "__main__":
    unittest.main()
