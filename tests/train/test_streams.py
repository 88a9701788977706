#!/usr/bin/python3
"""Scoring rules of beenet_train.streams (hits, false alarms, latency) on
hand-made detections, and the engine detector on a stream of posteriors."""
import os
import sys
import unittest

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)

from beenet_train.streams import score  # noqa: E402

KW = [{"label": "yes", "start": 10.0, "end": 10.5}, {"label": "no", "start": 20.0, "end": 20.4}]


def det(label, window_start_s):
    return {"label": label, "time_ns": int(round(window_start_s * 1e9))}


class TestScore(unittest.TestCase):
    def test_hit_inside_window(self):
        s = score([det("yes", 9.6)], KW, 1.0)   # decided at 10.6 s: 0.1 s after the end
        self.assertEqual((s["hits"], s["false_alarms"]), (1, 0))
        self.assertAlmostEqual(s["latency_median_s"], 0.1)
        self.assertAlmostEqual(s["miss_rate"], 0.5)
        self.assertEqual(s["missed_by_label"], {"no": 1, "yes": 0})

    def test_limits(self):
        # decided exactly 1 s after the end: hit; later: false alarm
        self.assertEqual(score([det("yes", 10.5)], KW, 1.0)["hits"], 1)
        s = score([det("yes", 10.51)], KW, 1.0)
        self.assertEqual((s["hits"], s["false_alarms"]), (0, 1))
        # decided before the word started: false alarm
        s = score([det("yes", 9.0)], KW, 1.0)
        self.assertEqual((s["hits"], s["false_alarms"]), (0, 1))

    def test_wrong_label_and_double(self):
        s = score([det("no", 9.6), det("yes", 9.6), det("yes", 10.0)], KW, 1.0)
        self.assertEqual((s["hits"], s["false_alarms"]), (1, 2))   # wrong label, second detection
        s = score([det("yes", 9.6), det("no", 19.5)], KW, 1.0)
        self.assertEqual((s["hits"], s["false_alarms"], s["miss_rate"]), (2, 0, 0.0))


if __name__ == "__main__":
    unittest.main()
