#!/usr/bin/python3
"""Tests of beenet_train.data.mswc on small MSWC trees made here: Ogg Opus
tones (one frequency per word) encoded with GStreamer, a split CSV per
language.  Skipped without gst-launch-1.0 and its opus/ogg elements."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)

from beenet_train.data import gsc, mswc  # noqa: E402
from beenet_train.data.audio import SAMPLE_RATE, read_wav  # noqa: E402
from beenet_train.data.task import from_words, corpus_task  # noqa: E402

FREQ = {"music": 440.0, "lights": 660.0, "yes": 880.0, "cat": 1100.0}


def have_gst_opus() -> bool:
    if not shutil.which("gst-launch-1.0") or not shutil.which("gst-inspect-1.0"):
        return False
    return all(subprocess.run(["gst-inspect-1.0", e], capture_output=True).returncode == 0
               for e in ("opusenc", "oggmux", "opusdec", "oggdemux", "wavenc"))


def opus_tone(path: str, freq: float, seconds: float = 1.0) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    n = int(seconds * 48000 / 1024) + 1
    subprocess.run(["gst-launch-1.0", "-q", "audiotestsrc", f"freq={freq}", "volume=0.3",
                    "samplesperbuffer=1024", f"num-buffers={n}", "!",
                    "audio/x-raw,rate=48000,channels=1", "!", "opusenc", "!", "oggmux", "!",
                    "filesink", f"location={path}"], check=True, capture_output=True)


def make_tree(root: str, rows, lang: str = "en", header=",".join(mswc.COLUMNS)) -> None:
    """rows: (SET, word, speaker, n, VALID); writes clips and the split file."""
    lines = [header]
    for st, word, spk, n, valid in rows:
        rel = f"{word}/common_voice_{lang}_{spk}{n}.opus"
        opus_tone(os.path.join(root, lang, "clips", rel), FREQ[word])
        lines.append(f"{st},{rel},{word},{valid},{spk},FEMALE")
    with open(mswc.splits_file(root, lang), "w") as f:
        f.write("\n".join(lines) + "\n")


ROWS = [("TRAIN", "music", "spka", 0, "True"), ("TRAIN", "music", "spka", 1, "True"),
        ("TRAIN", "lights", "spka", 0, "True"), ("TRAIN", "cat", "spkb", 0, "True"),
        ("TRAIN", "yes", "spkb", 0, "False"),
        ("DEV", "music", "spkc", 0, "True"), ("DEV", "cat", "spkc", 0, "True"),
        ("TEST", "music", "spkd", 0, "True"), ("TEST", "yes", "spkd", 0, "True")]


@unittest.skipUnless(have_gst_opus(), "gst-launch-1.0 with opus/ogg elements not available")
class TestMSWC(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = os.path.join(cls._tmp.name, "mswc")
        make_tree(cls.root, ROWS)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_scan(self):
        clips = mswc.scan(self.root, "en")
        self.assertEqual(len(clips), 8)             # the VALID False row is left out
        self.assertEqual([c["split"] for c in clips].count("val"), 2)
        self.assertEqual(clips[0]["word"], "music")
        self.assertTrue(clips[0]["path"].endswith(".opus"))

    def test_decode(self):
        with tempfile.TemporaryDirectory() as tmp:
            x = mswc.decode(mswc.scan(self.root, "en")[0]["path"], tmp)
        self.assertGreater(x.size, 0.9 * SAMPLE_RATE)
        spec = np.abs(np.fft.rfft(x))
        peak = np.argmax(spec) * SAMPLE_RATE / x.size
        self.assertAlmostEqual(peak, FREQ["music"], delta=5.0)

    def test_convert_and_read(self):
        task = from_words(["music"])
        task.unknown_words = ["cat", "lights", "yes"]
        out = os.path.join(self._tmp.name, "gsc")
        with open(os.devnull, "w") as null:
            meta = mswc.convert(self.root, "en", out, task, noise_seconds=2, log=null)
        self.assertEqual(meta["counts"]["train"], {"music": 2, "lights": 1, "cat": 1})
        self.assertEqual(meta["counts"]["val"], {"music": 1, "cat": 1})
        self.assertEqual(meta["counts"]["test"], {"music": 1, "yes": 1})
        self.assertEqual(corpus_task(out).labels, ["_silence_", "_unknown_", "music"])
        sp = gsc.load_gsc(out, corpus_task(out).labels, unknown_fraction=None)
        labels = {s: sorted(e.label_index for e in sp[s] if e.path) for s in sp}
        self.assertEqual(labels, {"train": [1, 1, 2, 2], "val": [1, 2], "test": [1, 2]})
        # one folder per speaker id, speakers kept apart
        spk = {s: {e.speaker for e in sp[s] if e.path} for s in sp}
        self.assertFalse(spk["train"] & spk["val"] or spk["train"] & spk["test"])
        x = read_wav(sp["test"][0].path)
        self.assertEqual(x.size, SAMPLE_RATE)
        with self.assertRaises(FileExistsError):
            mswc.convert(self.root, "en", out, task, noise_seconds=2)

    def test_errors(self):
        cases = [
            (lambda r: make_tree(r, ROWS[:1], header="SET,LINK,WORD"), "header"),
            (lambda r: make_tree(r, [("EVAL", "music", "s", 0, "True")]), "SET 'EVAL'"),
            (lambda r: make_tree(r, [("TRAIN", "music", "s", 0, "True"), ("TEST", "cat", "s", 0, "True")]),
             "speaker s is in train and test"),
        ]
        for make, msg in cases:
            with tempfile.TemporaryDirectory() as r:
                make(r)
                with self.assertRaisesRegex(gsc.CorpusError, msg):
                    mswc.scan(r, "en")
        with tempfile.TemporaryDirectory() as r:
            make_tree(r, ROWS[:1])
            os.remove(os.path.join(r, "en", "clips", "music", "common_voice_en_spka0.opus"))
            with self.assertRaisesRegex(gsc.CorpusError, "does not exist"):
                mswc.scan(r, "en")
            with self.assertRaisesRegex(FileNotFoundError, "de_splits.csv"):
                mswc.scan(r, "de")
        with tempfile.TemporaryDirectory() as r:
            make_tree(r, ROWS[:2])
            with self.assertRaisesRegex(gsc.CorpusError, "no clips of the keywords lights_on"):
                mswc.convert(r, "en", os.path.join(r, "out"), from_words(["lights on"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
