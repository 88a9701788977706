#!/usr/bin/python3
"""Tests of beenet_train.data.texts (non-keyword vocabulary and running sentences).

Needs the Debian packages wamerican and fortunes (tools/setup-debian.sh).
"""
import os
import sys
import unittest

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)

from beenet_train.data import texts as T  # noqa: E402

HAVE = os.path.isfile(T.DICT_PATH) and os.path.isdir(T.FORTUNES_DIR)


class TestKeywordFilter(unittest.TestCase):
    def test_keyword_like(self):
        for w in ["yes", "No", "know", "write", "going", "stopped", "Off"]:
            self.assertTrue(T.is_keyword_like(w), w)
        for w in ["yet", "note", "cup", "town", "top", "goat", "online", "upon"]:
            self.assertFalse(T.is_keyword_like(w), w)

    def test_has_keyword(self):
        self.assertTrue(T.has_keyword("Turn it on, please."))
        self.assertTrue(T.has_keyword("I don't know why."))
        self.assertTrue(T.has_keyword("Stop!"))
        self.assertFalse(T.has_keyword("Peanuts are not really nuts."))
        self.assertFalse(T.has_keyword("Once upon a time online."))

    def test_split_deterministic_and_normalised(self):
        a = T.text_split("Peanuts are not really nuts.", 0)
        self.assertEqual(a, T.text_split("peanuts, are NOT really nuts!", 0))
        self.assertIn(a, ("train", "val", "test"))
        # digits are not words: spell the index in letters so each text differs
        splits = [T.text_split("sentence %s here." % "".join(chr(97 + int(c)) for c in str(i)), 0)
                  for i in range(2000)]
        for name, frac in T.SPLIT_FRACTIONS:
            self.assertAlmostEqual(splits.count(name) / 2000.0, frac, delta=0.03)


@unittest.skipUnless(HAVE, "wamerican/fortunes not installed")
class TestSources(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sp = T.sentences(0)
        cls.voc = T.unknown_vocabulary()

    def test_sentences_disjoint_keyword_free(self):
        sets = {k: set(v) for k, v in self.sp.items()}
        self.assertFalse(sets["train"] & sets["test"])
        self.assertFalse(sets["train"] & sets["val"])
        self.assertFalse(sets["val"] & sets["test"])
        for k, v in self.sp.items():
            self.assertGreater(len(v), 1000, k)
            for s in v:
                self.assertFalse(T.has_keyword(s), s)
                self.assertEqual(T.text_split(s, 0), k)

    def test_vocabulary(self):
        self.assertEqual(len(self.voc), 3000)
        self.assertEqual(len(set(self.voc)), 3000)
        self.assertEqual(self.voc, sorted(self.voc))
        for w in self.voc:
            self.assertFalse(T.is_keyword_like(w), w)
            self.assertRegex(w, r"^[a-z]+$")
        for w in ["the", "yet", "top", "cup"]:
            self.assertIn(w, self.voc)


if __name__ == "__main__":
    unittest.main()
