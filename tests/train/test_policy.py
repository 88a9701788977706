"""Exit policies through the ctypes binding: the names, descriptions and
defaults come from the engine's table (beenet_policy_*), BeenetPolicyParams
crosses ctypes intact, and patience / max_exit act on a hand-made network.

Run: BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 tests/train/test_policy.py
"""
import argparse
import ctypes
import os
import re
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))

from beenet_train import frontend as fe  # noqa: E402
from beenet_train import __main__ as cli  # noqa: E402
from beenet_train.export import graph_to_gguf  # noqa: E402

TRAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train", "beenet_train")
# Argmax sequence A, A, B, B, B over 5 exits (A = class 0, B = class 1).
AABBB = [[1, 0, 0], [2, 0, 0], [0, 3, 0], [0, 4, 0], [0, 5, 0]]


def constant_exits_model(logits, policy="entropy", threshold=0.5, exclusion_factors="none"):
    """Exit e always outputs logits[e]: global_avgpool -> dense (zero weights,
    bias = logits) -> exit, per exit.  exclusion_factors: "none" = factors 0
    (class exclusion excludes nothing, so every policy runs), None = no key."""
    if isinstance(exclusion_factors, str):
        exclusion_factors = [0.0] * len(logits)
    k = len(logits[0])
    nodes = [{"op": "global_avgpool", "inputs": [0]}]
    for row in logits:
        nodes.append({"op": "dense", "inputs": [1], "out_channels": k, "activation": "none",
                      "weight": np.zeros((k, 1), np.float32), "scale": np.ones(k, np.float32),
                      "bias": np.asarray(row, np.float32)})
        nodes.append({"op": "exit", "inputs": [len(nodes)]})
    labels = ["class%d" % i for i in range(k)]
    data = graph_to_gguf(nodes, labels, np.zeros(64, np.float32), np.ones(64, np.float32), name="aabbb",
                         policy=policy, threshold=threshold, exclusion_factors=exclusion_factors).to_bytes()
    return fe.Model(data=data)


class TestNamesFromEngine(unittest.TestCase):
    def test_names_are_the_engines(self):
        L = fe.lib()
        n = L.beenet_policy_count()
        self.assertGreaterEqual(n, 3)
        names = fe.policy_names()
        self.assertEqual(names, [L.beenet_policy_name(i).decode() for i in range(n)])
        for i, name in enumerate(names):
            self.assertEqual(fe.policy_id(name), i)
            self.assertEqual(fe.policy_name(i), name)
            self.assertEqual(fe.policy_description(name), L.beenet_policy_description(i).decode())
            self.assertEqual(fe.policy_params(name).policy, i)
        self.assertIn("patience", names)

    def test_binding_has_no_copy_of_the_names(self):
        # no list of names or name -> number mapping in the trainer: only
        # "entropy" is spelled (the documented sweep and export default)
        for f in ("frontend.py", "__main__.py", "streams.py", "evaluate.py"):
            with open(os.path.join(TRAIN, f), encoding="utf-8") as fh:
                src = fh.read()
            self.assertNotIn("max-probability", src, f)
            self.assertNotIn("max_probability", src, f)
            self.assertNotIn("BEENET_POLICY_", src, f)
            self.assertIsNone(re.search(r'choices=\[', src), f)

    def test_unknown_names(self):
        for bad in ("max_probability", "Entropy", ""):
            with self.assertRaises(fe.BeenetError) as cm:
                fe.policy_id(bad)
            self.assertEqual(cm.exception.status, "INVALID_ARGUMENT")
            self.assertIn('"patience"', str(cm.exception))
        with self.assertRaises(fe.BeenetError):
            fe.policy_id(len(fe.policy_names()))

    def test_cli_choices_come_from_the_engine(self):
        self.assertEqual(cli._policy_name("patience"), "patience")
        with self.assertRaises(argparse.ArgumentTypeError):
            cli._policy_name("pabee")


class TestParams(unittest.TestCase):
    def test_struct_layout(self):
        # BeenetPolicyParams: policy, threshold, patience, max_exit, then the
        # appended exclusion_factors pointer and its count
        # (+ keyword_exit and budget, then padding to the pointer's alignment)
        self.assertEqual(ctypes.sizeof(fe.PolicyParams),
                         16 + 2 * ctypes.sizeof(ctypes.c_void_p) + 8)
        self.assertEqual(fe.PolicyParams.exclusion_factors.offset, 16)
        # keyword_exit appended after the count (in its padding on 64-bit)
        self.assertEqual(fe.PolicyParams.keyword_exit.offset,
                         fe.PolicyParams.num_exclusion_factors.offset + 4)
        # then the eenet budget
        self.assertEqual(fe.PolicyParams.budget.offset, fe.PolicyParams.keyword_exit.offset + 4)

    def test_defaults_and_overrides(self):
        p = fe.policy_params("patience")
        self.assertEqual(p.as_dict(), {"policy": "patience", "threshold": 0.0, "patience": 2, "max_exit": 0,
                                       "keyword_exit": 0})
        p = fe.policy_params("patience", patience=4, max_exit=3)
        self.assertEqual((p.patience, p.max_exit), (4, 3))
        q = fe.policy_params(p, max_exit=0)        # a copy: p is unchanged
        self.assertEqual((q.patience, q.max_exit, p.max_exit), (4, 0, 3))
        self.assertAlmostEqual(fe.policy_params("entropy", 0.25).threshold, 0.25)

    def test_invalid_params(self):
        with self.assertRaises(fe.BeenetError) as cm:
            fe.policy_params("patience", patience=0)
        self.assertEqual(cm.exception.status, "INVALID_ARGUMENT")
        self.assertIn("patience", str(cm.exception))
        with self.assertRaises(fe.BeenetError) as cm:
            fe.policy_params("entropy", float("nan"))
        self.assertIn("NaN", str(cm.exception))
        with self.assertRaises(fe.BeenetError):
            fe.policy_params("entropy", max_exit=-1)


class TestSession(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = constant_exits_model(AABBB)
        cls.session = cls.model.session()
        cls.feats = np.zeros((98, 64), np.float32)

    def run_policy(self, *args, **kw):
        r = self.session.classify_features(self.feats, *args, **kw)
        return r["exit_index"], r["class_index"]

    def test_patience(self):
        self.assertEqual(self.run_policy("patience", patience=1), (1, 0))
        self.assertEqual(self.run_policy("patience", patience=2), (2, 0))
        self.assertEqual(self.run_policy("patience", patience=3), (5, 1))
        self.assertEqual(self.run_policy(fe.policy_params("patience", patience=3, max_exit=4)), (4, 1))

    def test_max_exit_every_policy(self):
        never = {"entropy": -1.0, "max-probability": 2.0, "patience": None}
        for name in fe.policy_names():
            if name == "eenet":
                continue     # needs a scheduler in the model (test_eenet.py)
            for cap, want in ((0, 5), (1, 1), (3, 3), (9, 5)):
                got = self.run_policy(name, never.get(name), patience=100, max_exit=cap)[0]
                self.assertEqual(got, want, (name, cap))

    def test_audio_entry_point(self):
        r = self.session.classify(np.zeros(16000, np.float32), "patience", patience=2)
        self.assertEqual(r["exit_index"], 2)

    def test_model_default_params(self):
        self.assertEqual(self.model.default_policy_name, "entropy")
        self.assertEqual(self.model.default_params().as_dict(),
                         {"policy": "entropy", "threshold": 0.5, "patience": 2, "max_exit": 0,
                          "keyword_exit": 0})
        m = constant_exits_model(AABBB, policy="patience", threshold=0.0)
        self.assertEqual(m.default_policy_name, "patience")
        self.assertEqual(m.session().classify_features(self.feats, m.default_params())["exit_index"], 2)


if __name__ == "__main__":
    unittest.main()
