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

    def test_engine_rule_is_the_plain_rule(self):
        rows = [{}] * 3 + [{self.yes: 0.95}] * 2 + [{}] * 6 + [{self.no: 0.93}] * 2 + [{}] * 2
        t, p = self.stream(rows)
        got = R.engine_rule(self.model, t, p.astype(np.float32), 0.9, 250.0)
        self.assertEqual(got, R.run_rule(t, p, self.keyword, 0.9, 250.0))
        self.assertEqual([c for _, c in got], [self.yes, self.no])

    def test_combine_exits(self):
        # two windows, five exits, three classes: exits 4 and 5 disagree on the first
        logits = np.zeros((2, 5, 3), np.float32)
        logits[0, 3] = np.log([0.2, 0.6, 0.2])
        logits[0, 4] = np.log([0.6, 0.2, 0.2])
        logits[1, :] = np.log([0.1, 0.8, 0.1])
        np.testing.assert_allclose(R.combine(logits, "final")[0], [0.6, 0.2, 0.2], rtol=1e-5)
        np.testing.assert_allclose(R.combine(logits, "mean45")[0], [0.4, 0.4, 0.2], rtol=1e-5)
        g = np.sqrt([0.12, 0.12, 0.04])
        np.testing.assert_allclose(R.combine(logits, "geo45")[0], g / g.sum(), rtol=1e-4)
        np.testing.assert_allclose(R.combine(logits, "min45")[0], [1 / 3, 1 / 3, 1 / 3], rtol=1e-5)   # min 0.2 each
        np.testing.assert_allclose(R.combine(logits, "mean345")[0], np.array([1 / 3 + 0.8, 1 / 3 + 0.8, 1 / 3 + 0.4]) / 3,
                                   rtol=1e-5)   # exit 3: uniform
        for how in R.COMBINE:      # exits that agree give their own probabilities back
            np.testing.assert_allclose(R.combine(logits, how)[1], [0.1, 0.8, 0.1], rtol=1e-4)

    def test_whole_window_right(self):
        labels = ["_silence_", "_unknown_", "yes", "no"]
        t = np.array([0.0, 0.25, 0.5, 0.75])
        p = np.array([[0, 1, 0, 0], [0, 0.3, 0.6, 0.1], [0, 0.4, 0.5, 0.1], [0, 0.1, 0.6, 0.3]], float)
        kws = [{"label": "yes", "start": 0.8, "end": 1.2},      # windows 1-3 hold it: 1 gives yes 0.6 first, its top
               {"label": "no", "start": 0.8, "end": 1.2},       # window 3 gives no its most (0.3), top is yes
               {"label": "yes", "start": 5.0, "end": 5.4}]      # no window holds it: not counted
        self.assertEqual(R.whole_window_right(t, p, 1.0, kws, labels).tolist(), [True, False])

    def test_ensemble_averages_the_caches(self):
        import tempfile
        t, p = self.stream([{self.yes: 0.9}, {self.no: 0.5}, {}])
        _, q = self.stream([{self.yes: 0.5}, {self.no: 0.9}, {self.yes: 0.2}])
        z = {"labels": np.array(self.model.labels), "model": np.array(MODEL)}
        with tempfile.TemporaryDirectory() as d:
            other = os.path.join(d, "b.npz")
            np.savez(other, negative_t=t[:2], negative_p=q[:2], keywords_t=t, keywords_p=q, **z)
            z.update(negative_t=t[:2], negative_p=p[:2], keywords_t=t, keywords_p=p)
            got = R.ensemble(z, [other], None)
            np.testing.assert_allclose(got["keywords"], (p + q) / 2, rtol=1e-6)
            np.testing.assert_allclose(got["negative"], (p[:2] + q[:2]) / 2, rtol=1e-6)
            self.assertEqual(R.ensemble(z, [], None)["keywords"].tolist(), p.astype(np.float32).tolist())
            np.savez(other, **dict(z, keywords_t=t + 1, keywords_p=q))
            with self.assertRaisesRegex(SystemExit, "not the same labels and windows"):
                R.ensemble(z, [other], None)
            with self.assertRaisesRegex(SystemExit, "--all-exits"):
                R.ensemble(z, [], "mean45")

    def test_refine_select(self):
        # a cache every 62.5 ms, the grid every 4th window (250 ms); window 4
        # has a keyword at 0.5, window 8 at 0.2, the rest nothing
        p = np.zeros((13, 3))
        p[:, 0] = 1.0
        p[4] = [0.5, 0.5, 0.0]
        p[8] = [0.8, 0.0, 0.2]
        kw = [False, True, True]
        sel = lambda *args: np.where(R.refine_select(p, kw, 4, *args))[0].tolist()  # noqa: E731
        self.assertEqual(sel(2, 0.3, 0), [0, 4, 6, 8, 12])            # the half-way window after 4
        self.assertEqual(sel(2, 0.3, 1), [0, 2, 4, 6, 8, 12])         # and the one before it
        self.assertEqual(sel(1, 0.1, 0), [0, 4, 5, 8, 9, 12])   # 5 after 4, 9 after 8: 5 and 9 have no keyword
        self.assertEqual(sel(2, 0.6, 1), [0, 4, 8, 12])               # nothing reaches 0.6
        self.assertEqual(sel(2, -1, 0), [0, 2, 4, 6, 8, 10, 12])      # a plain 125-ms grid


if __name__ == "__main__":
    unittest.main()
