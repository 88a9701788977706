#!/usr/bin/python3
"""The shipped default model (models/kws12.gguf) and the element agree.

The element's early-exit threshold default is a #define
(GST_BEENET_DEFAULT_THRESHOLD, elements/gstbeenet.h: property defaults must
not depend on which file was loaded), while the model file carries the
threshold chosen on validation data (beenet.threshold) that the model card
and the detection defaults were measured at. Retraining or retuning the model
without updating the define would silently ship the element at a setting
nobody measured; this test catches that. Also: the model file stays within
the 256 KiB budget, names its keywords and carries detection defaults."""
import os
import re
import sys
import unittest

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(SRC, "train"))

from beenet_train.frontend import Model  # noqa: E402

MODEL = os.path.join(SRC, "models", "kws12.gguf")


def element_default_threshold() -> float:
    with open(os.path.join(SRC, "elements", "gstbeenet.h")) as f:
        m = re.search(r"#define GST_BEENET_DEFAULT_THRESHOLD\s+([0-9.]+)", f.read())
    return float(m.group(1))


@unittest.skipUnless(os.path.isfile(MODEL), "models/kws12.gguf not present")
class ShippedModel(unittest.TestCase):
    def setUp(self):
        self.model = Model(MODEL)

    def test_element_threshold_is_the_models(self):
        self.assertAlmostEqual(self.model.default_threshold, element_default_threshold(), places=6)

    def test_budget_and_keys(self):
        self.assertLessEqual(os.path.getsize(MODEL), 256 * 1024)
        d = self.model.detection_defaults
        self.assertTrue(0.0 < d["threshold"] <= 1.0, d)
        self.assertGreaterEqual(d["smoothing_ms"], 0.0)
        self.assertGreater(d["refractory_ms"], 0.0)
        self.assertEqual(self.model.labels[:2], ["_silence_", "_unknown_"])


def git_tracked(path: str) -> bool:
    import subprocess
    try:
        return subprocess.run(["git", "ls-files", "--error-unmatch", path], cwd=SRC, capture_output=True).returncode == 0
    except OSError:
        return False


@unittest.skipUnless(git_tracked("models/kws12.gguf"), "not a git checkout")
class CardBaselineFromGit(unittest.TestCase):
    """The card's --baseline NAME=git:REV:PATH takes an earlier default from the repository's history,
    so the card's command runs as written, with no files made by hand."""

    def test_git_baseline(self):
        import subprocess
        import tempfile
        from beenet_train.card import baseline_file
        with tempfile.TemporaryDirectory() as tmp:
            self.assertEqual(baseline_file("/x/y.gguf", tmp, 1), "/x/y.gguf")
            got = baseline_file("git:HEAD:models/kws12.gguf", tmp, 1)
            want = subprocess.run(["git", "show", "HEAD:models/kws12.gguf"], cwd=SRC, capture_output=True,
                                  check=True).stdout
            with open(got, "rb") as f:
                self.assertEqual(f.read(), want)
            self.assertEqual(Model(got).labels[:2], ["_silence_", "_unknown_"])
            with self.assertRaises(SystemExit) as e:     # a clear message, not a traceback
                baseline_file("git:no-such-rev:models/kws12.gguf", tmp, 2)
            self.assertIn("git show no-such-rev:models/kws12.gguf failed", str(e.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
