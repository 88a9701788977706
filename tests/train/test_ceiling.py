#!/usr/bin/python3
"""The real-valued twin (config "real_valued") and the PyTorch evaluation of
checkpoints (beenet_train.ceiling) that measures what binarisation costs.

- the switch relaxes every sign and nothing else: the same parameters, a
  different function, gradients reaching the latent weights unclipped by the STE;
- such a network is refused by the exporter with a message naming the tool;
- distillation from such a teacher (losses.distill_losses): zero when an exit
  matches the teacher, the teacher's exit of the same index, checked options;
- ceiling's stream windows of the shipped binary checkpoint equal the engine's
  full-depth probabilities (so its figures for the binary network are the
  engine's), and its streams feed the engine's detector;
- bad input (not a checkpoint, truncated, missing, no split, a host that is
  not a model; a teacher that is not a checkpoint) is one error line, exit 2."""
import os
import sys
import unittest

import numpy as np
import torch

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(SRC, "train"))

from beenet_train import ceiling  # noqa: E402
from beenet_train.binary import BinaryConv2d, BinaryLinear  # noqa: E402
from beenet_train.frontend import Model, policy_params  # noqa: E402
from beenet_train.model import BeeNet, build_graph  # noqa: E402
from beenet_train.streams import classify_stream  # noqa: E402
from beenet_train.losses import check_distill, distill_losses, load_teacher  # noqa: E402

MODEL = os.path.join(SRC, "models", "kws12.gguf")
CHECKPOINT = os.path.join(SRC, "models", "kws12.pt")


class RealValued(unittest.TestCase):
    def test_same_parameters_other_function(self):
        torch.manual_seed(0)
        b = BeeNet().eval()
        r = BeeNet({"real_valued": True}).eval()
        self.assertEqual([k for k in b.state_dict()], [k for k in r.state_dict()])
        r.load_state_dict(b.state_dict())
        layers = [m for m in r.modules() if isinstance(m, (BinaryConv2d, BinaryLinear))]
        self.assertTrue(layers and all(m.real for m in layers))
        self.assertFalse(any(m.real for m in b.modules() if isinstance(m, (BinaryConv2d, BinaryLinear))))
        x = torch.randn(3, 1, 98, 64)
        with torch.no_grad():
            self.assertFalse(torch.allclose(b(x)[-1], r(x)[-1]))

    def test_latent_weight_gets_its_own_gradient(self):
        torch.manual_seed(1)
        r = BeeNet({"real_valued": True})
        conv = next(m for m in r.modules() if isinstance(m, BinaryConv2d))
        with torch.no_grad():
            conv.weight.fill_(3.0)   # outside [-1, 1]: the STE would pass no gradient
        r(torch.randn(4, 1, 98, 64))[-1].sum().backward()
        self.assertGreater(float(conv.weight.grad.abs().sum()), 0.0)

    def test_no_export(self):
        with self.assertRaisesRegex(ValueError, "real-valued.*beenet_train.ceiling"):
            build_graph(BeeNet({"real_valued": True}).eval())


class Distill(unittest.TestCase):
    def test_losses(self):
        torch.manual_seed(2)
        t = [torch.randn(5, 12) for _ in range(3)]
        same = distill_losses([x.clone() for x in t], t, 2.0)
        self.assertTrue(all(float(v) < 1e-6 for v in same))
        other = distill_losses([t[1], t[0], t[2]], t, 2.0)
        self.assertGreater(float(other[0]), 1e-3)
        self.assertLess(float(other[2]), 1e-6)   # exit k learns from the teacher's exit k
        # a teacher with another number of exits: every exit learns from its last
        last = distill_losses([t[2].clone(), t[2].clone()], t, 1.0)
        self.assertTrue(all(float(v) < 1e-6 for v in last))
        # T^2 * KL: by hand for one row
        s, q = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 0.0]])
        T = 2.0
        pt, ps = torch.softmax(q / T, 1), torch.softmax(s / T, 1)
        want = T * T * float((pt * (pt.log() - ps.log())).sum())
        self.assertAlmostEqual(float(distill_losses([s], [q], T)[0]), want, places=5)

    def test_options(self):
        self.assertEqual(check_distill({"weight": 1, "temperature": 3}), {"weight": 1.0, "temperature": 3.0})
        for bad, msg in (({"weight": 1.5, "temperature": 2}, "weight"), ({"weight": 0.5, "temperature": 0}, "temperature"),
                         ({"weight": 0.5, "temperature": 2, "alpha": 1}, "unknown")):
            with self.assertRaisesRegex(ValueError, msg):
                check_distill(bad)

    def test_teacher_frozen_and_checked(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "t.pt")
            m = BeeNet({"real_valued": True})
            torch.save({"config": m.config, "state_dict": m.state_dict()}, p)
            t = load_teacher(p, 12, "cpu")
            self.assertFalse(t.training)
            self.assertFalse(any(q.requires_grad for q in t.parameters()))
            self.assertTrue(t.config["real_valued"])
            with self.assertRaisesRegex(ValueError, "12 classes"):
                load_teacher(p, 35, "cpu")


@unittest.skipUnless(os.path.isfile(MODEL) and os.path.isfile(CHECKPOINT), "shipped model not present")
class BinaryCheckpointIsTheEngine(unittest.TestCase):
    def test_stream_probabilities(self):
        host = Model(MODEL)
        rng = np.random.default_rng(7)
        wave = (0.1 * rng.standard_normal(16000 * 3)).astype(np.float32)
        wave[8000:20000] += 0.3 * np.sin(np.arange(12000) * 0.07).astype(np.float32)
        mine = ceiling.stream_run(ceiling.load_checkpoint(CHECKPOINT)[0], host, wave, 250.0)
        ref = classify_stream(host, wave, 250.0, None, policy_params("entropy", threshold=0.0),
                              refine_level=1.0)   # the grid alone, as stream_run
        self.assertEqual(mine["times_ns"], ref["times_ns"])
        self.assertTrue((ref["exits"] == host.num_exits).all())
        np.testing.assert_allclose(mine["probs"], ref["probs"], atol=2e-3)


class BestPoint(unittest.TestCase):
    def test_bounds(self):
        roc = [{"threshold": 0.8, "miss_rate": 0.3, "false_alarms_per_hour": 0.5, "false_alarms_keyword_stream": 7},
               {"threshold": 0.9, "miss_rate": 0.4, "false_alarms_per_hour": 1.0, "false_alarms_keyword_stream": 6},
               {"threshold": 0.95, "miss_rate": 0.5, "false_alarms_per_hour": 0.0, "false_alarms_keyword_stream": 0}]
        st = {"keyword_stream_minutes": 120.0, "roc": roc}
        # 7 wrong in 2 h is over 3 per hour; 6 is not; 1.0 FA/h is allowed
        self.assertEqual(ceiling.best_point(st), "40.0 % at 0.900")
        self.assertEqual(ceiling.best_point(st, max_fa=0.5), "50.0 % at 0.950")
        self.assertEqual(ceiling.best_point(dict(st, roc=roc[:1])), "none")


if __name__ == "__main__":
    unittest.main()


@unittest.skipUnless(os.path.isfile(MODEL) and os.path.isfile(CHECKPOINT), "shipped model not present")
class BadInput(unittest.TestCase):
    """A file that is not a trainer checkpoint, a truncated one, a missing one,
    a missing split or a host that is not a model: one line on stderr, exit 2,
    before any evaluation (ceiling) or corpus reading (train --teacher)."""

    def run_main(self, fn, argv):
        import contextlib
        import io
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = fn(argv)
        return rc, err.getvalue()

    def test_ceiling(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            cut = os.path.join(d, "cut.pt")
            with open(CHECKPOINT, "rb") as f, open(cut, "wb") as g:
                g.write(f.read(4000))
            split = os.path.join(d, "eval", "val")
            os.makedirs(split)
            for ck, evalset, host, msg in ((MODEL, d + "/eval", MODEL, "not a PyTorch checkpoint"),
                                           (cut, d + "/eval", MODEL, "not a PyTorch checkpoint"),
                                           (d + "/none.pt", d + "/eval", MODEL, "No such file"),
                                           (CHECKPOINT, d + "/none", MODEL, "no such evaluation split"),
                                           (CHECKPOINT, d + "/eval", CHECKPOINT, "not a GGUF file")):
                rc, err = self.run_main(ceiling.main, ["--checkpoint", "x=" + ck, "--evalset", evalset,
                                                       "--host", host])
                self.assertEqual(rc, 2, err)
                self.assertIn(msg, err)
                self.assertNotIn("Traceback", err)

    def test_teacher(self):
        import tempfile
        from beenet_train.__main__ import main
        with tempfile.TemporaryDirectory() as d:
            for teacher, msg in ((MODEL, "not a PyTorch checkpoint"), (d + "/none.pt", "no such file")):
                rc, err = self.run_main(main, ["train", "--data", d + "/no-corpus", "--out", d + "/x.gguf",
                                               "--teacher", teacher])
                self.assertEqual(rc, 2, err)
                self.assertIn("--teacher", err)
                self.assertIn(msg, err)
