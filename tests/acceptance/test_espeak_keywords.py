#!/usr/bin/python3
"""Acceptance: the embedded default model recognises the ten keywords spoken by
espeak voices that were held out of training, through a real gst-launch-1.0
pipeline (issue 3):

    gst-launch-1.0 -m espeak text=yes voice=V ! audioconvert ! audioresample ! \
        audio/x-raw,rate=16000 ! beenet ! fakesink

A (word, voice) case passes when at least one window reports the keyword and no
window reports a different keyword (windows may say _silence_ or _unknown_
around the word). The voices come from models/kws12-heldout-voices.json, which
the trainer writes from the voice split of the corpus the model was trained on.
"""
import json
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
LABEL_RE = re.compile(r"beenet, .*?label=\(string\)([^,;]+)")


def heldout_voices():
    path = os.path.join(SRC, "models", "kws12-heldout-voices.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)["espeak_element_voices"]


def run_pipeline(word, voice):
    cmd = ["gst-launch-1.0", "-m", "espeak", "text=" + word, "voice=" + voice,
           "!", "audioconvert", "!", "audioresample", "!",
           "audio/x-raw,rate=16000", "!", "beenet", "!", "fakesink"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError("pipeline failed (%d): %s\n%s" %
                             (out.returncode, " ".join(cmd), out.stderr))
    return LABEL_RE.findall(out.stdout)


class EspeakKeywords(unittest.TestCase):
    def test_keywords_with_heldout_voices(self):
        voices = heldout_voices()
        self.assertGreaterEqual(len(voices), 2, "need at least two held-out voices")
        failures = []
        for voice in voices:
            for word in KEYWORDS:
                labels = run_pipeline(word, voice)
                wrong = [l for l in labels if l in KEYWORDS and l != word]
                ok = word in labels and not wrong
                print("%-14s %-6s -> %s %s" % (voice, word, labels,
                                               "ok" if ok else "FAIL"))
                if not ok:
                    failures.append((voice, word, labels))
        self.assertEqual(failures, [], "misrecognised keywords")


if __name__ == "__main__":
    unittest.main(verbosity=2)
