#!/usr/bin/python3
"""The weight average of `train --select ema` (train/beenet_train/average.py):
the averaging rule, what is averaged and what is copied, a resumed average,
and batch-norm statistics measured again under the averaged weights."""
import os
import sys
import unittest

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))

from beenet_train.average import WeightAverage, check_decay, recalibrate_bn  # noqa: E402


def small_net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    net.register_buffer("scale", torch.tensor([0.1, 0.2, 0.3]))   # a constant, like feat_mean
    return net


def set_weights(net, value):
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(value)
        net[0].running_mean.fill_(value)
        net[0].num_batches_tracked.fill_(int(value * 10))


class TestWeightAverage(unittest.TestCase):
    def test_rule(self):
        """avg <- d_t avg + (1 - d_t) w with d_t = min(decay, (1 + t) / (10 + t)); parameters and
        batch-norm statistics averaged, other buffers copied."""
        net = small_net()
        set_weights(net, 0.0)
        avg = WeightAverage(net, decay=0.5)
        want = 0.0
        for t, w in enumerate([1.0, 2.0, 4.0, 8.0]):
            set_weights(net, w)
            d = min(0.5, (1.0 + t) / (10.0 + t))
            self.assertAlmostEqual(avg.rate(), d)
            avg.update(net)
            want = d * want + (1 - d) * w
        st = avg.averaged_state(net)
        for k in ("0.weight", "0.bias", "0.running_mean", "1.weight", "1.bias"):
            self.assertTrue(torch.allclose(st[k], torch.full_like(st[k], want)), k)
        self.assertEqual(avg.updates, 4)
        self.assertEqual(int(st["0.num_batches_tracked"]), 80)      # copied
        self.assertEqual(st["0.num_batches_tracked"].dtype, torch.long)
        self.assertTrue(torch.equal(st["scale"], torch.tensor([0.1, 0.2, 0.3])))   # copied bit for bit
        net.load_state_dict(st)                                      # loads as is

    def test_resume(self):
        """An average saved and loaded continues exactly as the uninterrupted one."""
        net = small_net()
        a = WeightAverage(net, decay=0.9)
        for w in (1.0, 3.0):
            set_weights(net, w)
            a.update(net)
        b = WeightAverage(small_net(), decay=0.2)
        b.load_state_dict(a.state_dict())
        for w in (5.0, -2.0):
            set_weights(net, w)
            a.update(net)
            b.update(net)
        self.assertEqual((b.decay, b.updates), (0.9, 4))
        for k, v in a.avg.items():
            self.assertTrue(torch.equal(v, b.avg[k]), k)

    def test_bad_decay(self):
        for bad in (0.0, 1.0, -0.5, 1.5, "0.9", True):
            with self.assertRaisesRegex(ValueError, "averaging decay"):
                check_decay(bad)
            with self.assertRaisesRegex(ValueError, "averaging decay"):
                WeightAverage(small_net(), decay=bad)
        self.assertEqual(check_decay(0.999), 0.999)

    def test_recalibrate_bn(self):
        """The running statistics become the plain mean over the batches of each batch's statistics
        (equal batches); the momentum is restored and the model left in eval mode."""
        net = small_net()
        g = torch.Generator().manual_seed(1)
        batches = [torch.randn(16, 3, generator=g) * (i + 1) + i for i in range(3)]
        self.assertEqual(recalibrate_bn(net, batches), 3)
        self.assertFalse(net.training)
        self.assertEqual(net[0].momentum, 0.1)
        means = torch.stack([x.mean(0) for x in batches]).mean(0)
        vars_ = torch.stack([x.var(0, unbiased=True) for x in batches]).mean(0)
        self.assertTrue(torch.allclose(net[0].running_mean, means, atol=1e-6))
        self.assertTrue(torch.allclose(net[0].running_var, vars_, atol=1e-5))
        before = {k: v.clone() for k, v in net.state_dict().items()}
        self.assertEqual(recalibrate_bn(net, []), 0)                 # nothing to measure: unchanged
        for k, v in net.state_dict().items():
            self.assertTrue(torch.equal(v, before[k]), k)


if __name__ == "__main__":
    unittest.main()
