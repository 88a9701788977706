#!/usr/bin/python3
"""Tests of beenet_train.data.voxforge on small VoxForge-style trees made
here (WAV tones, one frequency per language, several sessions per speaker)."""
import os
import sys
import tempfile
import unittest

import numpy as np

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)

from beenet_train.data import gsc, voxforge as VF  # noqa: E402
from beenet_train.data.audio import SAMPLE_RATE, read_wav, write_wav  # noqa: E402
from beenet_train.data.task import corpus_task  # noqa: E402

FREQ = {"en": 300.0, "de": 500.0, "fr": 700.0}


def make_tree(root: str, speakers_per_lang: int = 5) -> None:
    """<lang>/<user>-<date>-<id>/wav/*.wav; speaker 0 has two sessions, one
    of them named differently but saying so in etc/README."""
    for lang, f0 in FREQ.items():
        for s in range(speakers_per_lang):
            sessions = [f"u{s}-20100101-aaa"] + ([f"other{s}-20110101-bbb"] if s == 0 else [])
            for j, sess in enumerate(sessions):
                d = os.path.join(root, lang, sess)
                os.makedirs(os.path.join(d, "wav"))
                if j:
                    os.makedirs(os.path.join(d, "etc"))
                    with open(os.path.join(d, "etc", "README"), "w") as f:
                        f.write(f"User Name:u{s}\nLanguage: {lang.upper()}\n")
                for k, sec in enumerate((2.5, 0.6)):
                    t = np.arange(int(sec * SAMPLE_RATE)) / SAMPLE_RATE
                    write_wav(os.path.join(d, "wav", f"a{k:04d}.wav"),
                              (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32))


class TestVoxForge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = os.path.join(cls._tmp.name, "vf")
        make_tree(cls.root)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_scan_speakers_and_split(self):
        recs = VF.scan(self.root)
        self.assertEqual(len(recs), 3 * (5 + 1) * 2)
        self.assertEqual({r["speaker"] for r in recs if r["lang"] == "en"}, {f"u{s}" for s in range(5)})
        for lang in FREQ:
            split = {}
            for r in recs:
                if r["lang"] == lang:
                    self.assertEqual(split.setdefault(r["speaker"], r["split"]), r["split"])
            self.assertEqual(sorted(split.values()).count("test"), 1)   # 10 % of 5, at least 1
            self.assertEqual(sorted(split.values()).count("val"), 1)
        self.assertEqual(VF.scan(self.root, ["de"], seed=1)[0]["lang"], "de")
        self.assertEqual([r["split"] for r in VF.scan(self.root)], [r["split"] for r in recs])

    def test_convert_and_read(self):
        out = os.path.join(self._tmp.name, "lid")
        with open(os.devnull, "w") as null:
            meta = VF.convert(self.root, out, ["en", "de", "fr"], crops_per_file=2, log=null)
        task = corpus_task(out)
        self.assertEqual(task.labels, ["en", "de", "fr"])
        self.assertIsNone(task.silence)
        total = sum(sum(c.values()) for c in meta["crops"].values())
        self.assertEqual(total, 36 * 2)
        sp = gsc.load_gsc(out, task.labels, silence_fraction=0.0)
        self.assertEqual(sum(len(v) for v in sp.values()), total)
        for s in ("val", "test"):
            self.assertFalse({e.speaker for e in sp[s]} & {e.speaker for e in sp["train"]})
        for e in sp["test"]:
            x = read_wav(e.path)
            self.assertEqual(x.size, SAMPLE_RATE)
            f = np.argmax(np.abs(np.fft.rfft(x))) * SAMPLE_RATE / x.size
            self.assertAlmostEqual(f, FREQ[task.labels[e.label_index]], delta=2.0)
        with self.assertRaises(FileExistsError):
            VF.convert(self.root, out)

    def test_errors(self):
        with self.assertRaisesRegex(gsc.CorpusError, "no folder for the languages ru"):
            VF.scan(self.root, ["en", "ru"])
        with tempfile.TemporaryDirectory() as r:
            os.makedirs(os.path.join(r, "it", "x-1-2", "etc"))
            with self.assertRaisesRegex(gsc.CorpusError, "no recordings"):
                VF.scan(r)
        with self.assertRaises(FileNotFoundError):
            VF.scan(os.path.join(self.root, "missing"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
