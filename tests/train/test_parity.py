"""PyTorch vs engine parity on a freshly trained model (QuickNet family; test_parity_birealnet.py
runs the same checks on a Bi-Real Net by subclassing TestParity with another CONFIG).

Synthesises a tiny corpus (beenet_train.data.synth --small), trains a small
early-exit model for at most ~90 s, exports it to GGUF, loads it in the engine
(libbeenet via ctypes) and checks that every exit's argmax agrees with PyTorch
on >= 99.5 % of the clips and that the logits match closely.

Run: BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 tests/train/test_parity.py
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)

from beenet_train import frontend as fe  # noqa: E402
from beenet_train.evaluate import nodes_from_gguf  # noqa: E402
from beenet_train.model import exit_ops_fractions  # noqa: E402
from beenet_train.corpus import Corpus, eval_waves  # noqa: E402
from beenet_train.train import train  # noqa: E402
from beenet_train.validation import predict_logits  # noqa: E402

SMALL_CONFIG = {"name": "parity-test", "stem_channels": 4, "stages": [[16, 2], [32, 1], [48, 1]],
                "exits": [1, 2, 3, 4]}


class TestParity(unittest.TestCase):
    CONFIG = SMALL_CONFIG

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="beenet-parity-")
        cls.corpus = os.path.join(cls.tmp, "corpus")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.abspath(TRAIN_DIR) + os.pathsep + env.get("PYTHONPATH", "")
        subprocess.run([sys.executable, "-m", "beenet_train.data.synth", "--out", cls.corpus, "--seed", "0",
                        "--small"], check=True, env=env, stdout=subprocess.DEVNULL)
        cls.out = os.path.join(cls.tmp, "model.gguf")
        # 40 short epochs without augmentation (~300 steps, well under two minutes on 2 cores
        # when idle). No wall-clock cap (minutes=None): with one, a loaded machine ran too few
        # steps to learn and test_model_trained failed on load, not on a defect.
        cls.ck = train(cls.corpus, cls.out, seed=0, epochs=40, minutes=None, batch_size=64, lr=5e-3,
                       config=cls.CONFIG, augment=False, quiet=True)
        cls.model = cls.ck["model"]
        c = Corpus(cls.corpus, seed=0)
        cls.examples = c.splits["test"] + c.splits["val"] + c.splits["train"]
        cls.n_test = len(c.splits["test"])
        waves = eval_waves(c, cls.examples, 1234)
        cls.engine_model = fe.Model(cls.out)
        cls.feats = fe.Frontend(cls.engine_model.frontend_config).compute_batch(waves)
        s = cls.engine_model.session()
        cls.engine_logits = np.stack([s.run_all_exits(f) for f in cls.feats], axis=1)   # (E, N, K)
        cls.torch_logits = predict_logits(cls.model, cls.feats)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_model_trained(self):
        # The model learned something (the test is meaningless on a constant model).
        y = np.array([e.label_index for e in self.examples])
        acc = (self.torch_logits[-1].argmax(-1) == y).mean()
        self.assertGreater(acc, 2.0 / 12, "final exit accuracy %.3f is at chance level" % acc)
        self.assertGreater(len(set(self.torch_logits[-1].argmax(-1).tolist())), 2)

    def test_metadata(self):
        m = self.engine_model
        self.assertEqual(m.num_exits, len(self.CONFIG["exits"]))
        self.assertEqual(self.model.config["family"], self.CONFIG.get("family", "quicknet"))
        self.assertEqual(m.labels[:3], ["_silence_", "_unknown_", "yes"])
        self.assertAlmostEqual(m.default_threshold, self.ck["threshold"], places=6)

    def test_argmax_parity_every_exit(self):
        agree = (self.engine_logits.argmax(-1) == self.torch_logits.argmax(-1)).all(axis=0)
        test_frac = agree[:self.n_test].mean()
        all_frac = agree.mean()
        print("\nparity (%s): every-exit argmax agreement %.4f on test (%d clips), %.4f on all %d clips"
              % (self.model.config["family"], test_frac, self.n_test, all_frac, len(agree)))
        self.assertGreaterEqual(test_frac, 0.995)
        self.assertGreaterEqual(all_frac, 0.995)

    def test_logits_close(self):
        d = np.abs(self.engine_logits - self.torch_logits).max(axis=(0, 2))   # per clip
        scale = np.abs(self.torch_logits).max()
        print("\nlogits: median per-clip max |diff| %.2e, worst %.2e (logit scale %.1f)"
              % (np.median(d), d.max(), scale))
        self.assertLess(np.median(d), 1e-3 * max(1.0, scale))
        self.assertGreaterEqual((d < 1e-2 * max(1.0, scale)).mean(), 0.99)

    def test_early_exit_matches_simulation(self):
        # The engine's own early exit (entropy policy) picks the same exit and class as the
        # all-exits logits imply, and reports the trainer's ops fraction for that exit.
        fr, _, _ = exit_ops_fractions(nodes_from_gguf(self.out))
        s = self.engine_model.session()
        L = self.engine_logits
        z = L - L.max(-1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
        ent = -(p * np.log(np.maximum(p, 1e-30))).sum(-1)
        for th in (0.25, 1.0):
            for i in range(0, len(self.feats), 7):
                r = s.classify_features(self.feats[i], "entropy", th)
                stop = np.nonzero(ent[:, i] < th)[0]
                e = int(stop[0]) if len(stop) else L.shape[0] - 1
                if (np.abs(ent[:e + 1, i] - th) < 1e-4).any():
                    continue  # too close to call
                self.assertEqual(r["exit_index"], e + 1)
                self.assertEqual(r["class_index"], int(L[e, i].argmax()))
                self.assertAlmostEqual(r["ops_fraction"], fr[e], places=5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
