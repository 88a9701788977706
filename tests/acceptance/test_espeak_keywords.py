#!/usr/bin/python3
"""Acceptance: the embedded default model recognises the ten keywords spoken by
espeak voices that were held out of training, through a real gst-launch-1.0
pipeline (issue 3):

    gst-launch-1.0 -m espeak text=yes voice=V ! audioconvert ! audioresample ! \
        audio/x-raw,rate=16000 ! beenet ! fakesink

A (word, voice) case is recognised when at least one window reports the keyword
and no window reports a different keyword (windows may say _silence_ or
_unknown_ around the word). The voices come from models/kws12-heldout-voices.json,
which the trainer writes from the voice split of the corpus the model was trained
on (four voices).

Asserted, at the element's default threshold:
* the issue's criterion: every keyword is recognised with at least two of the
  held-out voices;
* stricter: no window of any case reports a *different* keyword (a miss may
  say _unknown_, a false keyword is what a user would act on).
Every case is printed with a "N/40 recognised" total, so a regression that
still passes shows in the log. With the shipped model (corpus v2): 39/40
(en-us+Annie "down" stays _unknown_), no wrong keyword.
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
        recognised = {w: [] for w in KEYWORDS}
        wrong_keyword = []
        n = 0
        for voice in voices:
            for word in KEYWORDS:
                labels = run_pipeline(word, voice)
                wrong = [l for l in labels if l in KEYWORDS and l != word]
                ok = word in labels and not wrong
                print("%-18s %-6s -> %s %s" % (voice, word, labels,
                                               "ok" if ok else ("WRONG KEYWORD" if wrong else "missed")))
                n += 1
                if ok:
                    recognised[word].append(voice)
                if wrong:
                    wrong_keyword.append((voice, word, labels))
        total = sum(len(v) for v in recognised.values())
        print("%d/%d recognised" % (total, n))
        self.assertEqual(wrong_keyword, [], "a window reported a different keyword")
        few = {w: v for w, v in recognised.items() if len(v) < 2}
        self.assertEqual(few, {}, "keywords recognised with fewer than two held-out voices")


if __name__ == "__main__":
    unittest.main(verbosity=2)
