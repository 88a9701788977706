"""The budget controller through the ctypes binding (frontend.Budget): the
structs cross ctypes intact and the controller drives a simulated plant
(fixed seed) to its target, as the C test does.

Run: BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 tests/train/test_budget.py
"""
import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))

from beenet_train import frontend as fe  # noqa: E402


def plant(p, rng, n_exits=5, n_classes=12):
    """Exit e of a window of difficulty d has entropy ln(C) d 0.55^(e-1)."""
    d = rng.random()
    last = p.max_exit if 0 < p.max_exit < n_exits else n_exits
    e = 1
    while e < last and not math.log(n_classes) * d * 0.55 ** (e - 1) < p.threshold:
        e += 1
    return e / n_exits


class BudgetTest(unittest.TestCase):
    def test_off_passes_params(self):
        b = fe.Budget()
        user = fe.policy_params("entropy", threshold=0.3)
        self.assertAlmostEqual(b.apply(user).threshold, 0.3, places=6)
        st = b.state
        self.assertFalse(st["active"])
        self.assertEqual(st["target"], 1.0)

    def test_tracks_target(self):
        rng = random.Random(5)
        b = fe.Budget(target=0.5)
        user = fe.policy_params("entropy", threshold=0.5)
        for target in (0.5, 0.7):
            b.set_target(target)
            costs = []
            for i in range(630):
                c = plant(b.apply(user), rng)
                b.update(c)
                if i >= 30:
                    costs.append(c)
            self.assertLess(abs(sum(costs) / len(costs) - target), 0.05 * target)
            self.assertTrue(b.state["active"])
        b.reset()
        self.assertEqual(b.state["windows"], 0)

    def test_invalid_target(self):
        with self.assertRaises(fe.BeenetError):
            fe.Budget(target=0.0)
        with self.assertRaises(fe.BeenetError):
            fe.Budget().set_target(-1.0)


if __name__ == "__main__":
    unittest.main()
