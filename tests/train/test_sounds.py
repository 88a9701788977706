#!/usr/bin/python3
"""Tests of beenet_train.data.sounds (recorded non-speech sounds from Debian packages).

Run: /usr/bin/python3 tests/train/test_sounds.py   (or under pytest)
Collects at most 3 files per source row with music cut to 4 s (a few
seconds), twice, and checks determinism, the split by recording, the audio
format and level, and the manifest.  Skipped when sox or every source
package is missing (tools/setup-debian.sh installs them).
"""

import filecmp
import glob
import io
import os
import shutil
import struct
import sys
import tempfile
import unittest
import warnings
import wave

import numpy as np

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)

from beenet_train.data import sounds  # noqa: E402
from beenet_train.data.audio import read_wav_rate  # noqa: E402

HAVE_SOX = shutil.which("sox") is not None
AVAILABLE = [s for s in sounds.SOURCES if any(
    os.path.exists(p) if s.container else glob.glob(p, recursive=True)
    for p in s.include)] if HAVE_SOX else []
KW = dict(max_files_per_source=3, music_max_seconds=4.0, log=None)
FIELDS = {"split", "file", "offset", "seconds", "package", "source", "title", "licence",
          "category", "rms_dbfs", "peak_limited"}


@unittest.skipUnless(AVAILABLE, "sox or all recorded-sound packages missing "
                     "(run tools/setup-debian.sh)")
class TestSounds(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="beenet-sounds-")
        cls.a = os.path.join(cls.tmp, "a")
        cls.b = os.path.join(cls.tmp, "b")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cls.man = sounds.collect_sounds(cls.a, 0, **KW)
            cls.man_b = sounds.collect_sounds(cls.b, 0, **KW)
        cls.meta = sounds.load_manifest(cls.a)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def wavs(self, root):
        out = []
        for dp, _, fns in os.walk(root):
            out += [os.path.relpath(os.path.join(dp, f), root) for f in fns]
        return sorted(out)

    def test_deterministic(self):
        fa, fb = self.wavs(self.a), self.wavs(self.b)
        self.assertEqual(fa, fb)
        self.assertIn("manifest.json", fa)
        match, mismatch, errors = filecmp.cmpfiles(self.a, self.b, fa, shallow=False)
        self.assertEqual((mismatch, errors), ([], []))
        self.assertEqual(self.man, self.man_b)

    def test_split_by_recording(self):
        split_of = {}
        for r in self.man:
            self.assertIn(r["split"], ("train", "val", "test"))
            key = (r["package"], r["source"])
            self.assertEqual(split_of.setdefault(key, r["split"]), r["split"], key)
        self.assertEqual(len(split_of), len(self.man), "a recording is listed twice")
        for r in self.man:
            self.assertTrue(r["file"].startswith(r["split"] + "/"), r)
        self.assertIn("train", {r["split"] for r in self.man})
        if len(self.man) >= 10:
            self.assertEqual({r["split"] for r in self.man}, {"train", "val", "test"})

    def test_audio_format_and_level(self):
        files = {r["file"] for r in self.man}
        self.assertEqual(files, {f for f in self.wavs(self.a) if f.endswith(".wav")})
        for f in sorted(files):
            with wave.open(os.path.join(self.a, f)) as w:
                self.assertEqual((w.getnchannels(), w.getsampwidth(), w.getframerate()),
                                 (1, 2, 16000), f)
            x, _ = read_wav_rate(os.path.join(self.a, f))
            self.assertGreater(x.size, 0)
            self.assertLess(float(np.max(np.abs(x))), 0.99, f)
        for r in self.man:
            x, _ = read_wav_rate(os.path.join(self.a, r["file"]))
            a = int(round(r["offset"] * 16000))
            seg = x[a:a + int(round(r["seconds"] * 16000))].astype(np.float64)
            db = 10 * np.log10(np.mean(seg ** 2))
            self.assertAlmostEqual(db, r["rms_dbfs"], delta=0.3, msg=r)
            if r["peak_limited"]:
                self.assertLess(db, sounds.TARGET_DBFS + 0.3, r)
            else:
                self.assertAlmostEqual(db, sounds.TARGET_DBFS, delta=0.3, msg=r)

    def test_manifest_fields(self):
        self.assertTrue(self.man)
        for r in self.man:
            self.assertEqual(set(r), FIELDS)
            self.assertIn(r["category"], sounds.CATEGORIES)
            self.assertIn(r["package"], sounds.PACKAGES)
            self.assertTrue(r["licence"])
            self.assertGreaterEqual(r["seconds"], sounds.MIN_SECONDS)
            if r["category"] == "music":
                self.assertLessEqual(r["seconds"], 4.0 + 1e-3)
            if r["file"].split("/")[1].startswith("short__"):
                self.assertLess(r["seconds"], sounds.SHORT_SECONDS)
        self.assertEqual(self.meta["files"], self.man)
        self.assertEqual(self.meta["seed"], 0)
        for m in self.meta["missing_packages"]:
            self.assertIn(m["package"], sounds.PACKAGES)
        # nothing that the table excludes was used
        used = {r["source"] for r in self.man}
        self.assertFalse(used & {e["source"] for e in self.meta["excluded"]})
        self.assertFalse(any("_desc" in s or "audio-channel-" in s for s in used))

    def test_existing_output_needs_force(self):
        with self.assertRaises(FileExistsError):
            sounds.collect_sounds(self.a, 0, **KW)

    def test_missing_package_skipped_and_nothing_is_an_error(self):
        ghost = sounds.Source("no-such-package-beenet", "effect", "none", "test",
                              ("/nonexistent/beenet/*.wav",))
        d = os.path.join(self.tmp, "missing")
        with self.assertRaises(sounds.NoSoundsError):
            sounds.collect_sounds(d, 0, sources=(ghost,), **KW)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            man = sounds.collect_sounds(d, 0, sources=(ghost, AVAILABLE[0]),
                                        max_files_per_source=2, music_max_seconds=2.0, log=None)
        self.assertTrue(man)
        meta = sounds.load_manifest(d)
        self.assertEqual([m["package"] for m in meta["missing_packages"]],
                         ["no-such-package-beenet"])


class TestOpensfxParser(unittest.TestCase):
    def test_synthetic_container(self):
        def riff(n):
            buf = io.BytesIO()
            with wave.open(buf, "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(8000)
                w.writeframes(b"\1\0" * n)
            return buf.getvalue()
        entries = [(b"one\0", riff(10)), (b"second\0", riff(3))]
        off = 8 * len(entries)
        head, body = b"", b""
        for name, r in entries:
            head += struct.pack("<II", (off + len(body)) | 0x80000000, len(r))
            body += bytes([len(name)]) + name + r
        with tempfile.NamedTemporaryFile(suffix=".cat") as f:
            f.write(head + body)
            f.flush()
            got = sounds.opensfx_members(f.name)
        self.assertEqual([(i, n) for i, n, _ in got], [(0, "one"), (1, "second")])
        self.assertEqual([r for _, _, r in got], [r for _, r in entries])


if __name__ == "__main__":
    unittest.main(verbosity=2)
