#!/usr/bin/python3
"""Tests of beenet_train.data.gsc (Speech Commands v2 layout reader).

Run: /usr/bin/python3 tests/train/test_gsc_reader.py   (or under pytest)
Builds small fake GSC trees in temporary directories.
"""

import os
import sys
import tempfile
import unittest
import wave

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))

from beenet_train.data import gsc  # noqa: E402
from beenet_train.data.audio import AudioFormatError, write_wav  # noqa: E402

KEYWORDS = gsc.KWS12_KEYWORDS
UNKNOWN = ["bed", "cat", "dog"]
SPEAKERS = ["0a1b2c3d", "11111111", "22222222", "3badcafe", "44444444", "55555555"]
VAL_SPK = {"3badcafe"}
TEST_SPK = {"44444444"}
REPS = 2


def tone(n=16000, f=440.0, amp=0.3):
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / 16000)).astype(np.float32)


def make_tree(root, words=KEYWORDS + UNKNOWN, noise=True, lists=True, short=False):
    val, test = [], []
    for w in words:
        os.makedirs(os.path.join(root, w))
        for s in SPEAKERS:
            for r in range(REPS):
                rel = f"{w}/{s}_nohash_{r}.wav"
                write_wav(os.path.join(root, rel), tone(8000 if short else 16000))
                if s in VAL_SPK:
                    val.append(rel)
                elif s in TEST_SPK:
                    test.append(rel)
    if lists:
        with open(os.path.join(root, "validation_list.txt"), "w") as f:
            f.write("\n".join(val) + "\n")
        with open(os.path.join(root, "testing_list.txt"), "w") as f:
            f.write("\n".join(test) + "\n")
    if noise:
        d = os.path.join(root, "_background_noise_")
        os.makedirs(d)
        rng = np.random.default_rng(0)
        write_wav(os.path.join(d, "white_noise.wav"), 0.1 * rng.standard_normal(48000))
        write_wav(os.path.join(d, "short.wav"), 0.1 * rng.standard_normal(4000))
    return val, test


class TreeCase(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.root = self._tmp.name
        self.val, self.test = make_tree(self.root)

    def tearDown(self):
        self._tmp.cleanup()


class TestSplitsAndLabels(TreeCase):
    def test_splits_follow_lists(self):
        d = gsc.load_gsc(self.root, unknown_fraction=None, silence_fraction=0)
        self.assertEqual(set(d), {"train", "val", "test"})
        val = {os.path.join(self.root, p) for p in self.val}
        test = {os.path.join(self.root, p) for p in self.test}
        for e in d["val"]:
            self.assertIn(e.path, val)
            self.assertIn(e.speaker, VAL_SPK)
        for e in d["test"]:
            self.assertIn(e.path, test)
            self.assertIn(e.speaker, TEST_SPK)
        for e in d["train"]:
            self.assertNotIn(e.path, val | test)
            self.assertNotIn(e.speaker, VAL_SPK | TEST_SPK)
        n_words = len(KEYWORDS) + len(UNKNOWN)
        self.assertEqual(len(d["val"]), n_words * REPS * len(VAL_SPK))
        self.assertEqual(len(d["test"]), n_words * REPS * len(TEST_SPK))
        self.assertEqual(len(d["train"]), n_words * REPS * (len(SPEAKERS) - 2))

    def test_label_mapping(self):
        d = gsc.load_gsc(self.root, unknown_fraction=None)
        labels = gsc.KWS12_LABELS
        self.assertEqual(labels[:2], ["_silence_", "_unknown_"])
        self.assertEqual(labels[2:], ["yes", "no", "up", "down", "left", "right",
                                      "on", "off", "stop", "go"])
        seen = set()
        for split in d.values():
            for e in split:
                seen.add(e.label_index)
                if e.path is None:
                    self.assertEqual((e.label_index, e.word, e.speaker), (0, "_silence_", ""))
                elif e.word in KEYWORDS:
                    self.assertEqual(labels[e.label_index], e.word)
                    self.assertEqual(os.path.basename(os.path.dirname(e.path)), e.word)
                else:
                    self.assertIn(e.word, UNKNOWN)
                    self.assertEqual(e.label_index, 1)
        self.assertEqual(seen, set(range(12)))

    def test_background_noise_is_not_a_word(self):
        d = gsc.load_gsc(self.root, unknown_fraction=None)
        for split in d.values():
            for e in split:
                self.assertNotIn("_background_noise_", e.path or "")

    def test_unknown_balancing(self):
        d = gsc.load_gsc(self.root)  # default unknown_fraction=0.1
        for name, split in d.items():
            n_kw = sum(1 for e in split if e.label_index >= 2)
            unk = [e for e in split if e.label_index == 1]
            self.assertEqual(len(unk), round(0.1 * n_kw), name)
        # train: 10 kw * 4 spk * 2 reps = 80 -> 8 unknowns, round-robin over 3 words
        words = [e.word for e in d["train"] if e.label_index == 1]
        self.assertEqual(sorted(set(words)), UNKNOWN)
        self.assertLessEqual(max(words.count(w) for w in UNKNOWN) -
                             min(words.count(w) for w in UNKNOWN), 1)

    def test_unknown_all_and_restricted(self):
        d = gsc.load_gsc(self.root, unknown_fraction=None)
        unk = [e for e in d["train"] if e.label_index == 1]
        self.assertEqual(len(unk), len(UNKNOWN) * 4 * REPS)
        d = gsc.load_gsc(self.root, unknown_words=["bed"], unknown_fraction=None)
        self.assertEqual({e.word for s in d.values() for e in s if e.label_index == 1}, {"bed"})
        self.assertFalse(any(e.word in ("cat", "dog") for s in d.values() for e in s))

    def test_unknown_words_errors(self):
        with self.assertRaises(ValueError):
            gsc.load_gsc(self.root, unknown_words=["yes"])
        with self.assertRaisesRegex(gsc.CorpusError, "zebra"):
            gsc.load_gsc(self.root, unknown_words=["zebra"])

    def test_silence(self):
        d = gsc.load_gsc(self.root, silence_fraction=0.25)
        for split in d.values():
            n_kw = sum(1 for e in split if e.label_index >= 2)
            sil = [e for e in split if e.label_index == 0]
            self.assertEqual(len(sil), round(0.25 * n_kw))
            self.assertTrue(all(e.path is None for e in sil))
        d = gsc.load_gsc(self.root, silence_fraction=0)
        self.assertFalse(any(e.path is None for s in d.values() for e in s))

    def test_silence_needs_noise(self):
        with tempfile.TemporaryDirectory() as r:
            make_tree(r, noise=False)
            with self.assertRaisesRegex(gsc.CorpusError, "_background_noise_"):
                gsc.load_gsc(r)
            d = gsc.load_gsc(r, silence_fraction=0)
            self.assertGreater(len(d["train"]), 0)

    def test_deterministic_and_seeded(self):
        a = gsc.load_gsc(self.root, seed=3)
        b = gsc.load_gsc(self.root, seed=3)
        self.assertEqual(a, b)
        picks = {tuple(e.path for e in gsc.load_gsc(self.root, seed=s)["train"]
                       if e.label_index == 1) for s in range(6)}
        self.assertGreater(len(picks), 1, "seed does not change the unknown subset")

    def test_custom_labels(self):
        labels = ["_silence_", "_unknown_", "yes", "no"]
        d = gsc.load_gsc(self.root, labels=labels, unknown_fraction=None, silence_fraction=0)
        for e in d["train"]:
            if e.word in ("yes", "no"):
                self.assertEqual(labels[e.label_index], e.word)
            else:
                self.assertEqual(e.label_index, 1)
        self.assertIn("stop", {e.word for e in d["train"] if e.label_index == 1})
        d = gsc.load_gsc(self.root, labels=["yes", "no"])
        self.assertEqual({e.label_index for e in d["train"]}, {0, 1})
        with self.assertRaises(ValueError):
            gsc.load_gsc(self.root, labels=["yes", "yes"])


class TestErrors(unittest.TestCase):
    def tree(self, **kw):
        t = tempfile.TemporaryDirectory()
        self.addCleanup(t.cleanup)
        make_tree(t.name, **kw)
        return t.name

    def test_missing_root(self):
        with self.assertRaisesRegex(FileNotFoundError, "does not exist"):
            gsc.load_gsc("/nonexistent/gsc-root")

    def test_missing_lists(self):
        r = self.tree(lists=False)
        with self.assertRaisesRegex(FileNotFoundError, "validation_list.txt"):
            gsc.load_gsc(r)
        open(os.path.join(r, "validation_list.txt"), "w").close()
        with self.assertRaisesRegex(FileNotFoundError, "testing_list.txt"):
            gsc.load_gsc(r)
        open(os.path.join(r, "testing_list.txt"), "w").close()
        d = gsc.load_gsc(r)  # empty lists: everything is train
        self.assertEqual(len(d["val"]), 0)
        self.assertGreater(len(d["train"]), 0)

    def test_malformed_line(self):
        r = self.tree()
        with open(os.path.join(r, "testing_list.txt"), "a") as f:
            f.write("/abs/path/yes.wav\n")
        with self.assertRaisesRegex(gsc.CorpusError, r"testing_list.txt:\d+: malformed"):
            gsc.load_gsc(r)

    def test_listed_file_missing(self):
        r = self.tree()
        with open(os.path.join(r, "validation_list.txt"), "a") as f:
            f.write("yes/deadbeef_nohash_9.wav\n")
        with self.assertRaisesRegex(gsc.CorpusError, "deadbeef_nohash_9.wav is listed but does not exist"):
            gsc.load_gsc(r)

    def test_in_both_lists(self):
        r = self.tree()
        with open(os.path.join(r, "validation_list.txt")) as f:
            first = f.readline()
        with open(os.path.join(r, "testing_list.txt"), "a") as f:
            f.write(first)
        with self.assertRaisesRegex(gsc.CorpusError, "in both"):
            gsc.load_gsc(r)

    def test_duplicate_line(self):
        r = self.tree()
        with open(os.path.join(r, "validation_list.txt")) as f:
            first = f.readline()
        with open(os.path.join(r, "validation_list.txt"), "a") as f:
            f.write(first)
        with self.assertRaisesRegex(gsc.CorpusError, "duplicate"):
            gsc.load_gsc(r)

    def test_missing_keyword_folder(self):
        r = self.tree(words=[k for k in KEYWORDS if k != "stop"] + UNKNOWN)
        with self.assertRaisesRegex(gsc.CorpusError, "stop"):
            gsc.load_gsc(r)

    def test_no_unknown_words(self):
        r = self.tree(words=KEYWORDS)
        with self.assertRaisesRegex(gsc.CorpusError, "_unknown_"):
            gsc.load_gsc(r)


class TestAudio(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.d = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def write_raw(self, name, data, rate=16000, ch=1, width=2):
        p = os.path.join(self.d, name)
        with wave.open(p, "wb") as w:
            w.setnchannels(ch)
            w.setsampwidth(width)
            w.setframerate(rate)
            w.writeframes(data)
        return p

    def test_roundtrip(self):
        p = os.path.join(self.d, "a.wav")
        x = tone(16000)
        write_wav(p, x)
        y = gsc.read_wav(p)
        self.assertEqual(y.dtype, np.float32)
        self.assertEqual(y.shape, (16000,))
        self.assertLess(np.abs(x - y).max(), 1.0 / 32768 + 1e-7)

    def test_rate_check_and_resample(self):
        n = np.arange(8000)
        x = (0.3 * np.sin(2 * np.pi * 300.0 * n / 8000) * 32767).astype("<i2").tobytes()
        p = self.write_raw("r8k.wav", x, rate=8000)
        with self.assertRaisesRegex(AudioFormatError, "8000 Hz, expected 16000"):
            gsc.read_wav(p)
        y = gsc.read_wav(p, resample_to=16000)
        self.assertEqual(y.size, 16000)
        # the 300 Hz tone survives resampling
        spec = np.abs(np.fft.rfft(y))
        self.assertEqual(int(np.argmax(spec)), 300)

    def test_stereo_and_widths(self):
        l = np.full(100, 1000, "<i2")
        r = np.full(100, 3000, "<i2")
        p = self.write_raw("st.wav", np.stack([l, r], 1).tobytes(), ch=2)
        self.assertTrue(np.allclose(gsc.read_wav(p), 2000 / 32768))
        p = self.write_raw("u8.wav", bytes([128 + 64] * 10), width=1)
        self.assertTrue(np.allclose(gsc.read_wav(p), 0.5))
        v = (-(1 << 22)) & 0xFFFFFF
        p = self.write_raw("s24.wav", bytes([v & 255, (v >> 8) & 255, v >> 16]) * 10, width=3)
        self.assertTrue(np.allclose(gsc.read_wav(p), -0.5))

    def test_bad_files(self):
        p = os.path.join(self.d, "junk.wav")
        with open(p, "wb") as f:
            f.write(b"this is not a wav file at all" * 10)
        with self.assertRaisesRegex(AudioFormatError, "not a readable PCM WAV"):
            gsc.read_wav(p)
        p = os.path.join(self.d, "trunc.wav")
        write_wav(p, tone(1000))
        with open(p, "rb") as f:
            head = f.read(20)
        with open(p, "wb") as f:
            f.write(head)
        with self.assertRaises(AudioFormatError):
            gsc.read_wav(p)
        with self.assertRaises(FileNotFoundError):
            gsc.read_wav(os.path.join(self.d, "missing.wav"))


class TestHelpers(TreeCase):
    def test_background_noise(self):
        bank = gsc.load_background_noise(self.root)
        self.assertEqual(len(bank), 2)
        for b in bank:
            self.assertEqual(b.dtype, np.float32)
            self.assertGreaterEqual(b.size, 16000)  # short file tiled
        with tempfile.TemporaryDirectory() as r:
            with self.assertRaises(FileNotFoundError):
                gsc.load_background_noise(r)

    def test_silence_wave(self):
        bank = gsc.load_background_noise(self.root)
        a = gsc.silence_wave(bank, np.random.default_rng([0, 5]))
        b = gsc.silence_wave(bank, np.random.default_rng([0, 5]))
        self.assertEqual(a.shape, (16000,))
        self.assertTrue(np.array_equal(a, b))
        self.assertLessEqual(np.abs(a).max(), max(np.abs(x).max() for x in bank) + 1e-6)
        z = gsc.silence_wave(bank, np.random.default_rng(0), max_volume=0.0)
        self.assertFalse(np.any(z))

    def test_load_example_pads_centred(self):
        with tempfile.TemporaryDirectory() as r:
            make_tree(r, short=True)
            d = gsc.load_gsc(r)
            bank = gsc.load_background_noise(r)
            e = next(e for e in d["train"] if e.path)
            w = gsc.load_example(e, bank, None)
            self.assertEqual(w.shape, (16000,))
            self.assertFalse(np.any(w[:3999]))
            self.assertFalse(np.any(w[12001:]))
            self.assertTrue(np.any(w[4000:12000]))
            s = next(e for e in d["train"] if e.path is None)
            self.assertEqual(gsc.load_example(s, bank, np.random.default_rng(0)).shape, (16000,))

    def test_stats(self):
        st = gsc.corpus_stats(self.root)
        self.assertEqual(st["per_word"]["yes"], {"train": 4 * REPS, "val": REPS, "test": REPS})
        self.assertEqual(st["speakers"], {"train": 4, "val": 1, "test": 1})
        bal = st["per_label"]["balanced"]
        self.assertEqual(bal["yes"]["train"], 4 * REPS)
        self.assertEqual(bal["_unknown_"]["train"], round(0.1 * 10 * 4 * REPS))
        txt = gsc.format_stats(st)
        self.assertIn("_silence_", txt)
        self.assertRegex(txt, r"yes\s+8\s+2\s+2\s+12")


if __name__ == "__main__":
    unittest.main(verbosity=2)
