#!/usr/bin/python3
"""bench/detection_rules.py, the exploration tool for keyword-detection rules:
its copy of the engine's rule makes the engine detector's detections on
synthetic posteriors, and the 'pool' condition sums a window's keyword
probabilities into its likeliest keyword (a keyword split between two
similar classes then crosses the threshold, under that class's name)."""
import os
import sys
import unittest

import numpy as np

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(SRC, "train"))
sys.path.insert(0, os.path.join(SRC, "bench"))

import detection_rules as R  # noqa: E402
from beenet_train.frontend import Model  # noqa: E402

MODEL = os.path.join(SRC, "models", "kws12.gguf")


class Rules(unittest.TestCase):
    def setUp(self):
        self.model = Model(MODEL)
        self.keyword = np.array([self.model.is_keyword(i) for i in range(self.model.num_classes)])
        self.unknown = list(self.model.labels).index("_unknown_")
        self.yes, self.no = (list(self.model.labels).index(k) for k in ("yes", "no"))

    def stream(self, rows):
        """Windows every 250 ms: each row (class -> probability), the rest on _unknown_."""
        p = np.zeros((len(rows), self.model.num_classes))
        for i, r in enumerate(rows):
            for c, v in r.items():
                p[i, c] = v
            p[i, self.unknown] += 1.0 - p[i].sum()
        return np.arange(len(rows), dtype=np.int64) * 250_000_000, p

    def test_pooled(self):
        _, p = self.stream([{self.yes: 0.5, self.no: 0.45}, {}])
        q = R.pooled(p, self.keyword)
        self.assertAlmostEqual(q[0, self.yes], 0.95)
        self.assertEqual(q[0, self.no], 0.0)
        self.assertAlmostEqual(q[0, self.unknown], p[0, self.unknown])
        np.testing.assert_allclose(q.sum(1), p.sum(1))

    def test_plain_rule_is_the_engine_detector(self):
        rows = [{}] * 4 + [{self.yes: 0.95}] * 3 + [{}] * 8 + [{self.no: 0.92}] + [{self.yes: 0.97}] + [{}] * 3
        t, p = self.stream(rows)
        for smoothing in (0.0, 250.0, 500.0):
            det = self.model.detector(threshold=0.9, smoothing_ms=smoothing, refractory_ms=1000.0, min_windows=1)
            engine = [(d["time_ns"], list(self.model.labels).index(d["label"])) for d in det.run(t.tolist(), p)]
            self.assertEqual(R.run_rule(t, p, self.keyword, 0.9, smoothing), engine)
            self.assertTrue(engine)

    def test_pool_finds_a_split_keyword(self):
        t, p = self.stream([{}] * 4 + [{self.yes: 0.5, self.no: 0.45}] * 2 + [{}] * 4)
        self.assertEqual(R.run_rule(t, p, self.keyword, 0.9, 250.0), [])
        self.assertEqual(R.run_rule(t, p, self.keyword, 0.9, 250.0, pool=1), [(int(t[5]), self.yes)])   # the second window: 250 ms span


if __name__ == "__main__":
    unittest.main()
