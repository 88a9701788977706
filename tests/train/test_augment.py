#!/usr/bin/python3
"""Tests of beenet_train.data.augment.

Run: /usr/bin/python3 tests/train/test_augment.py   (or under pytest)
"""

import os
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))

from beenet_train.data.augment import Augmenter, AugmentConfig, coloured_noise  # noqa: E402

OFF = dict(p_shift=0.0, p_speed=0.0, p_reverb=0.0, p_noise=0.0, p_gain=0.0)


def word_like(rng, n=16000):
    """A 0.4 s noisy harmonic burst in the middle of a 1 s window."""
    x = np.zeros(n, np.float32)
    t = np.arange(6400) / 16000
    burst = sum(np.sin(2 * np.pi * f * t) for f in (220, 440, 880)) * np.hanning(6400)
    x[4800:11200] = 0.1 * burst + 0.01 * rng.standard_normal(6400)
    return x


def bank(seed=0):
    r = np.random.default_rng(seed)
    return [0.1 * r.standard_normal(40000).astype(np.float32),
            0.05 * np.sin(np.arange(20000) * 0.05).astype(np.float32)]


class TestAugmenter(unittest.TestCase):
    def setUp(self):
        self.x = word_like(np.random.default_rng(0))

    def test_shape_dtype_range(self):
        aug = Augmenter(bank(), seed=1)
        rng = np.random.default_rng(0)
        for _ in range(50):
            y = aug(self.x, rng)
            self.assertEqual(y.shape, (16000,))
            self.assertEqual(y.dtype, np.float32)
            self.assertTrue(np.all(np.isfinite(y)))
            self.assertLessEqual(np.abs(y).max(), 1.0)
        self.assertEqual(aug(self.x[:12345], rng).shape, (12345,))

    def test_deterministic(self):
        a1, a2 = Augmenter(bank(), seed=7), Augmenter(bank(), seed=7)
        r1, r2 = np.random.default_rng(3), np.random.default_rng(3)
        for _ in range(20):
            self.assertTrue(np.array_equal(a1(self.x, r1), a2(self.x, r2)))
            self.assertTrue(np.array_equal(a1.make_silence(r1), a2.make_silence(r2)))
        # own generator (rng=None) is seeded by `seed`
        self.assertTrue(np.array_equal(Augmenter(bank(), 5)(self.x), Augmenter(bank(), 5)(self.x)))
        y1 = a1(self.x, np.random.default_rng(1))
        y2 = a1(self.x, np.random.default_rng(2))
        self.assertFalse(np.array_equal(y1, y2))
        self.assertFalse(np.array_equal(a1(self.x, np.random.default_rng(1)), self.x))

    def test_input_not_modified(self):
        x = self.x.copy()
        Augmenter(bank(), 0)(x, np.random.default_rng(0))
        self.assertTrue(np.array_equal(x, self.x))

    def snr_of(self, clean, noisy):
        n = noisy - clean
        return 10 * np.log10(np.mean(clean.astype(np.float64) ** 2) / np.mean(n.astype(np.float64) ** 2))

    def test_snr_achieved(self):
        for p_col in (0.0, 1.0):  # background bank, generated coloured noise
            for snr in (-5.0, 0.0, 10.0, 20.0):
                aug = Augmenter(bank(), 0, dict(OFF, p_noise=1.0, snr_db=(snr, snr),
                                                p_coloured=p_col))
                rng = np.random.default_rng(int(snr) + 100)
                for _ in range(5):
                    y = aug(self.x, rng)
                    self.assertAlmostEqual(self.snr_of(self.x, y), snr, delta=0.05)

    def test_snr_range_respected(self):
        aug = Augmenter(bank(), 0, dict(OFF, p_noise=1.0, snr_db=(5.0, 15.0)))
        rng = np.random.default_rng(0)
        vals = [self.snr_of(self.x, aug(self.x, rng)) for _ in range(200)]
        self.assertGreaterEqual(min(vals), 5.0 - 0.05)
        self.assertLessEqual(max(vals), 15.0 + 0.05)
        self.assertGreater(max(vals) - min(vals), 5.0)

    def test_empty_bank_uses_coloured_noise(self):
        aug = Augmenter([], 0, dict(OFF, p_noise=1.0, snr_db=(10, 10)))
        y = aug(self.x, np.random.default_rng(0))
        self.assertAlmostEqual(self.snr_of(self.x, y), 10.0, delta=0.05)
        self.assertTrue(np.any(aug.make_silence(np.random.default_rng(0))))

    def test_shift(self):
        x = self.x
        y = Augmenter.shift(x, 800)
        self.assertTrue(np.array_equal(y[800:], x[:-800]))
        self.assertFalse(np.any(y[:800]))
        y = Augmenter.shift(x, -800)
        self.assertTrue(np.array_equal(y[:-800], x[800:]))
        self.assertFalse(np.any(y[-800:]))
        self.assertTrue(np.array_equal(Augmenter.shift(x, 0), x))
        self.assertFalse(np.any(Augmenter.shift(x, 20000)))

    def test_shift_through_config(self):
        # a single impulse: the output must be the impulse moved by <= 100 ms
        x = np.zeros(16000, np.float32)
        x[8000] = 0.5
        aug = Augmenter(None, 0, dict(OFF, p_shift=1.0, shift_ms=100.0))
        rng = np.random.default_rng(0)
        shifts = set()
        for _ in range(100):
            y = aug(x, rng)
            nz = np.nonzero(y)[0]
            self.assertEqual(len(nz), 1)
            self.assertEqual(y[nz[0]], np.float32(0.5))
            k = int(nz[0]) - 8000
            self.assertLessEqual(abs(k), 1600)
            shifts.add(k)
        self.assertGreater(len(shifts), 50)
        self.assertTrue(any(k < 0 for k in shifts) and any(k > 0 for k in shifts))

    def test_shift_inside_keeps_the_word(self):
        # a 300 ms burst at 0.5-0.8 s, shifts of up to 400 ms: the burst moves
        # both ways and by more than 100 ms, but is never cut by the window edge
        x = np.zeros(16000, np.float32)
        x[8000:12800] = 0.25 * np.sin(np.arange(4800, dtype=np.float32))
        energy = float(np.dot(x, x))
        aug = Augmenter(None, 0, dict(OFF, p_shift=1.0, shift_ms=400.0, shift_inside=True))
        lo, hi = aug.shift_range(x)
        self.assertEqual(hi - 1, 16000 - 12800 - 320)   # the active region ends 20 ms after the burst
        self.assertEqual(lo, -6400)                       # 400 ms, the whole range fits
        rng = np.random.default_rng(0)
        starts = []
        for _ in range(200):
            y = aug(x, rng)
            self.assertAlmostEqual(float(np.dot(y, y)), energy, delta=1e-3 * energy)
            starts.append(int(np.nonzero(y)[0][0]) - 8000)
        self.assertLess(min(starts), -1600)
        self.assertGreater(max(starts), 1600)
        # without shift_inside the same range cuts the burst sometimes
        plain = Augmenter(None, 0, dict(OFF, p_shift=1.0, shift_ms=400.0))
        self.assertEqual(plain.shift_range(x), (-6400, 6401))

    def test_speed(self):
        n = 16000
        t = np.arange(n) / 16000
        x = (0.5 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)
        self.assertTrue(np.allclose(Augmenter.speed_perturb(x, 1.0), x, atol=1e-6))
        for f in (0.9, 1.1):
            y = Augmenter.speed_perturb(x, f)
            self.assertEqual(y.shape, x.shape)
            win = y[4000:12000] * np.hanning(8000)
            peak = np.argmax(np.abs(np.fft.rfft(win))) * 16000 / 8000
            self.assertAlmostEqual(peak, 500 * f, delta=2.5)
        # faster playback of a centred burst: shorter and still centred
        b = self.x
        y = Augmenter.speed_perturb(b, 1.1)
        nz = np.nonzero(np.abs(y) > 1e-4)[0]
        nzb = np.nonzero(np.abs(b) > 1e-4)[0]
        self.assertLess(nz[-1] - nz[0], (nzb[-1] - nzb[0]) / 1.1 + 3)
        self.assertAlmostEqual((nz[0] + nz[-1]) / 2, (nzb[0] + nzb[-1]) / 2, delta=3)

    def test_reverb(self):
        rng = np.random.default_rng(0)
        x = self.x
        short = Augmenter.reverb(x, 0.1, np.random.default_rng(1), drr_db=0.0)
        long = Augmenter.reverb(x, 0.8, np.random.default_rng(1), drr_db=0.0)
        for y in (short, long):
            self.assertEqual(y.shape, x.shape)
            self.assertAlmostEqual(float(np.mean(y ** 2)), float(np.mean(x ** 2)), delta=1e-3 * np.mean(x ** 2) + 1e-9)
        # energy after the burst ends (sample 11200) grows with RT60
        tail = lambda y: float(np.sum(y[11400:] ** 2))  # noqa: E731
        self.assertLess(tail(x), 1e-6)
        self.assertGreater(tail(long), 10 * tail(short))
        self.assertGreater(tail(short), 0)
        # through the config
        aug = Augmenter(None, 0, dict(OFF, p_reverb=1.0, rt60_s=(0.5, 0.5)))
        self.assertGreater(tail(aug(x, rng)), 0)

    def test_gain(self):
        aug = Augmenter(None, 0, dict(OFF, p_gain=1.0, gain_db=(6.0, 6.0)))
        y = aug(self.x, np.random.default_rng(0))
        self.assertTrue(np.allclose(y, self.x * 10 ** (6 / 20), atol=1e-6))
        loud = Augmenter(None, 0, dict(OFF, p_gain=1.0, gain_db=(40.0, 40.0)))
        self.assertLessEqual(np.abs(loud(self.x, np.random.default_rng(0))).max(), 1.0)

    def test_all_off_is_identity(self):
        aug = Augmenter(bank(), 0, OFF)
        self.assertTrue(np.array_equal(aug(self.x, np.random.default_rng(0)), self.x))

    def test_make_silence(self):
        aug = Augmenter(bank(), 0)
        rng = np.random.default_rng(0)
        levels = []
        for _ in range(100):
            s = aug.make_silence(rng)
            self.assertEqual(s.shape, (16000,))
            self.assertEqual(s.dtype, np.float32)
            levels.append(np.sqrt(np.mean(s ** 2)))
        self.assertLess(max(levels), 0.2)
        self.assertGreater(max(levels) - min(levels), 0.01)  # random volume
        mute = Augmenter(bank(), 0, dict(silence_volume=(0.0, 0.0)))
        self.assertFalse(np.any(mute.make_silence(rng)))
        self.assertEqual(aug.make_silence(rng, length=8000).shape, (8000,))

    def test_config_validation(self):
        with self.assertRaisesRegex(ValueError, "probability"):
            Augmenter(None, 0, dict(p_noise=1.5))
        with self.assertRaisesRegex(ValueError, "unknown keys"):
            Augmenter(None, 0, dict(snr=(1, 2)))
        with self.assertRaisesRegex(ValueError, "snr_db"):
            Augmenter(None, 0, dict(snr_db=(20, 10)))
        with self.assertRaisesRegex(ValueError, "speed"):
            Augmenter(None, 0, dict(speed=(0.0, 1.1)))
        with self.assertRaises(TypeError):
            Augmenter(None, 0, "loud")
        cfg = AugmentConfig(snr_db=(3.0, 4.0))
        self.assertEqual(Augmenter(None, 0, cfg).config.snr_db, (3.0, 4.0))
        self.assertEqual(Augmenter(None, 0, {"snr_db": [1, 2]}).config.snr_db, (1, 2))

    def test_bad_input(self):
        aug = Augmenter(None, 0)
        x = self.x.copy()
        x[10] = np.nan
        with self.assertRaisesRegex(ValueError, "NaN"):
            aug(x, np.random.default_rng(0))
        with self.assertRaisesRegex(ValueError, "1-D"):
            aug(np.zeros((2, 16000), np.float32), np.random.default_rng(0))

    def test_coloured_noise_slopes(self):
        rng = np.random.default_rng(0)
        for e in (0.0, 1.0, 2.0):
            y = coloured_noise(1 << 16, e, rng)
            self.assertAlmostEqual(float(np.sqrt(np.mean(y ** 2))), 1.0, places=4)
            P = np.abs(np.fft.rfft(y)) ** 2
            f = np.arange(P.size)
            lo = P[(f > 100) & (f < 200)].mean()
            hi = P[(f > 10000) & (f < 20000)].mean()
            slope = np.log10(lo / hi) / np.log10(15000 / 150)  # ~ exponent
            self.assertAlmostEqual(slope, e, delta=0.15)


if __name__ == "__main__":
    unittest.main(verbosity=2)
