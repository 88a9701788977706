#!/usr/bin/python3
"""Tests of beenet_train.data.task (a task as data) and of its use by the
text filters and the synthesizer.

Run: PYTHONPATH=train:tests/train /usr/bin/python3 -m unittest test_task
The synthesis tests need espeak-ng, flite and festival (as CI installs them).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)

from beenet_train.data import gsc, synth, task as K, texts as T  # noqa: E402

HAVE_ESPEAK = shutil.which("espeak-ng") is not None


class TestTaskFile(unittest.TestCase):
    def test_kws12(self):
        t = K.load_task("kws12")
        self.assertEqual(t.labels, ["_silence_", "_unknown_", "yes", "no", "up", "down", "left",
                                    "right", "on", "off", "stop", "go"])
        self.assertEqual(t.keywords, t.labels[2:])
        self.assertEqual((t.silence, t.unknown, t.language), ("_silence_", "_unknown_", "en"))
        self.assertEqual(len(t.unknown_words), 35)
        self.assertEqual(t.unknown_for(small=True), ["bed", "cat", "yet", "town", "top"])
        ex = t.excluded_words()
        for w in ("yes", "know", "write", "going", "stopped", "on"):
            self.assertIn(w, ex)
        for w in ("yet", "top", "cup", "upon", "lights"):
            self.assertNotIn(w, ex)
        self.assertTrue(t.foreign_voices)
        # the constants the rest of the package uses are this file's
        self.assertEqual(gsc.KWS12_LABELS, t.labels)
        self.assertEqual(synth.UNKNOWN_WORDS, t.unknown_words)
        self.assertEqual(set(T.KEYWORD_LIKE), ex)

    def test_round_trip(self):
        t = K.from_words(["lights on", "music"])
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "t.json")
            t.save(p)
            u = K.load_task(p)
        self.assertEqual(u.to_dict(), t.to_dict())

    def test_corpus_task_fallback(self):
        with tempfile.TemporaryDirectory() as d:
            self.assertEqual(K.corpus_task(d).name, "kws12")
            K.from_words(["music"]).save(os.path.join(d, K.CORPUS_TASK_FILE))
            self.assertEqual(K.corpus_task(d).labels, ["_silence_", "_unknown_", "music"])

    def test_bad_files(self):
        good = K.load_task("kws12").to_dict()
        cases = [
            (dict(good, format="beenet-task-0"), "format"),
            (dict(good, colour="red"), "unknown fields"),
            (dict(good, labels=["_silence_", "_unknown_", "Yes"]), "not a folder name"),
            (dict(good, labels=["_unknown_", "yes"]), "'_silence_' is not a label"),
            (dict(good, labels=["_silence_", "_unknown_"]), "no keyword"),
            (dict(good, labels=["_silence_", "_unknown_", "yes", "yes"]), "unique"),
            (dict(good, unknown_words=["yes", "bed"]), "holds keywords"),
            (dict(good, phrases={"bed": "a bed"}), "not a keyword"),
            ({k: v for k, v in good.items() if k != "labels"}, "missing field 'labels'"),
        ]
        for d, msg in cases:
            with self.assertRaisesRegex(K.TaskError, msg):
                K.Task.from_dict(d)
        with self.assertRaisesRegex(K.TaskError, "no such task file"):
            K.load_task("no-such-task")


class TestOwnWords(unittest.TestCase):
    def test_parse(self):
        self.assertEqual(K.parse_words(" Lights  On, lights off ,music,"),
                         ["lights on", "lights off", "music"])
        for bad, msg in (("", "no words"), ("music, Music", "twice"), ("r2d2", "letters"),
                         ("a b c d e", "at most 4")):
            with self.assertRaisesRegex(K.TaskError, msg):
                K.parse_words(bad)

    def test_from_words(self):
        t = K.from_words(["lights on", "lights off", "music"])
        self.assertEqual(t.labels, ["_silence_", "_unknown_", "lights_on", "lights_off", "music"])
        self.assertEqual(t.keywords, ["lights_on", "lights_off", "music"])
        self.assertEqual(t.text("lights_on"), "lights on")
        self.assertEqual(t.text("music"), "music")
        self.assertEqual(t.keyword_phrases(), [["lights", "on"], ["lights", "off"]])
        # the parts of a phrase and the KWS-12 keywords are near-misses: _unknown_
        for w in ("lights", "on", "off", "yes", "bed", "light"):
            self.assertIn(w, t.unknown_words)
        self.assertIn("lights", t.unknown_for(small=True))
        # a one-word keyword and its inflections never are
        ex = t.excluded_words()
        for w in ("music", "musics"):
            self.assertIn(w, ex)
            self.assertNotIn(w, t.unknown_words)
        self.assertNotIn("on", ex)
        self.assertFalse(t.foreign_voices)
        t2 = K.from_words(["yes", "cat"])
        self.assertNotIn("yes", t2.unknown_words)
        self.assertNotIn("cat", t2.unknown_words)
        self.assertIn("no", t2.unknown_words)

    def test_text_filters(self):
        t = K.from_words(["lights on", "music"])
        ex, ph = t.excluded_words(), t.keyword_phrases()
        self.assertTrue(T.has_keyword("Turn the lights on now.", ex, ph))
        self.assertTrue(T.has_keyword("Musical chairs again.", ex | {"musical"}, ph))
        self.assertTrue(T.has_keyword("I like Music.", ex, ph))
        self.assertFalse(T.has_keyword("The lights are on.", ex, ph))   # not in sequence
        self.assertFalse(T.has_keyword("Stop it, go on.", ex, ph))      # KWS-12 words are fine here
        self.assertTrue(T.has_keyword("Stop it, go on."))                # but not for KWS-12


def _digest(root, skip=("corpus.json", "task.json")):
    """SHA-256 over every file of a corpus but the run metadata, with its path."""
    h = hashlib.sha256()
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            rel = os.path.relpath(os.path.join(d, f), root)
            if rel in skip:
                continue
            h.update(rel.encode() + b"\0")
            with open(os.path.join(d, f), "rb") as fh:
                h.update(fh.read())
    return h.hexdigest()


@unittest.skipUnless(HAVE_ESPEAK, "espeak-ng is not installed")
class TestSynthTask(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.task = K.from_words(["lights on", "music"], name="demo")
        cls.root = os.path.join(cls._tmp.name, "own")
        with open(os.devnull, "w") as null:
            cls.meta = synth.synthesize(cls.root, seed=0, small=True, reps=1, other_mult=1, log=null,
                                        task=cls.task, vocab_words={"espeak": 2, "other": 2})

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_layout(self):
        words = gsc.word_folders(self.root)
        for k in self.task.keywords:
            self.assertIn(k, words)
        for w in self.task.unknown_for(small=True):
            self.assertIn(w, words)
        self.assertNotIn("music", [w for w in words if w not in self.task.keywords])
        self.assertEqual(K.corpus_task(self.root).to_dict(), self.task.to_dict())
        self.assertEqual(self.meta["labels"], self.task.labels)
        self.assertEqual(self.meta["task"], "demo")
        # every voice reads English: no foreign festival voice without respellings
        self.assertTrue(all(v["lang"] == "en" for v in self.meta["voices"].values()))
        # two vocabulary words per voice: more word folders than the plan's
        self.assertGreater(len(words), len(self.task.keywords) + len(self.task.unknown_for(True)))

    def test_reader_and_stats(self):
        sp = gsc.load_gsc(self.root, self.task.labels)
        for split in ("train", "val", "test"):
            got = {self.task.labels[e.label_index] for e in sp[split]}
            self.assertEqual(got, set(self.task.labels), split)
        st = gsc.corpus_stats(self.root)
        self.assertEqual(list(st["per_label"]["balanced"]), self.task.labels)
        n = sum(st["per_word"]["lights_on"].values())
        self.assertEqual(n, len(self.meta["voices"]))   # one repetition per voice

    def test_sentences_have_no_keyword(self):
        with open(os.path.join(self.root, "_sentences_", "sentences.json")) as f:
            for m in json.load(f):
                self.assertFalse(T.has_keyword(m["text"], self.task.excluded_words(),
                                               self.task.keyword_phrases()), m["text"])


class TestKws31File(unittest.TestCase):
    def test_kws31(self):
        t = K.load_task("kws31")
        self.assertEqual(len(t.labels), 33)
        self.assertEqual(t.labels[:2], ["_silence_", "_unknown_"])
        self.assertEqual(len(t.keywords), 31)
        self.assertEqual(t.detection_keywords, t.keywords)
        self.assertFalse(t.foreign_voices)
        # no keyword is another's inflection, and none is an _unknown_ word
        ex = t.excluded_words()
        for k in t.keywords:
            self.assertIn(k, ex)
            self.assertFalse(set(K.inflections(k)) & set(t.keywords), k)
        self.assertFalse(set(t.unknown_words) & ex)
        # KWS-12's keywords are near-misses here
        for w in ("yes", "no", "stop", "go"):
            self.assertIn(w, t.unknown_words)


@unittest.skipUnless(HAVE_ESPEAK, "espeak-ng is not installed")
class TestSynthKws31(unittest.TestCase):
    """`synth --task kws31 --small`: every keyword folder, split by voice,
    byte-identical when rebuilt."""
    ARGS = dict(seed=0, small=True, reps=1, other_mult=1, vocab_words={"espeak": 0, "other": 0})

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.task = K.load_task("kws31")
        cls.root = os.path.join(cls._tmp.name, "kws31")
        with open(os.devnull, "w") as null:
            cls.meta = synth.synthesize(cls.root, log=null, task=cls.task, **cls.ARGS)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_labels_and_split(self):
        self.assertEqual(self.meta["labels"], self.task.labels)
        self.assertEqual(K.corpus_task(self.root).name, "kws31")
        sp = gsc.load_gsc(self.root, self.task.labels)
        split_of = {v["speaker"]: v["split"] for v in self.meta["voices"].values()}
        for split in ("train", "val", "test"):
            got = {self.task.labels[e.label_index] for e in sp[split]}
            self.assertEqual(got, set(self.task.labels), split)
            for e in sp[split]:
                if e.path:
                    self.assertEqual(split_of[e.speaker], split)
        n = sum(gsc.corpus_stats(self.root)["per_word"]["water"].values())
        self.assertEqual(n, len(self.meta["voices"]))   # one repetition per voice

    def test_rebuild_is_byte_identical(self):
        # in a fresh process, as a user regenerates it (a second build inside
        # one process is not identical: libespeak-ng keeps state in the parent);
        # with one process, and stopped after 5 voices then continued by a
        # second run (as a build spread over two sessions is)
        again = os.path.join(self._tmp.name, "again")
        code = ("import os, sys; from beenet_train.data import synth, task; "
                "m = synth.synthesize(sys.argv[1], log=open(os.devnull, 'w'), task=task.load_task('kws31'), "
                "jobs=1, max_voices=int(sys.argv[2]) or None, **%r); sys.exit(3 if m is None else 0)"
                % (self.ARGS,))
        env = dict(os.environ, PYTHONPATH=TRAIN_DIR)
        self.assertEqual(subprocess.run([sys.executable, "-c", code, again, "5"], env=env).returncode, 3)
        self.assertTrue(os.path.isdir(again + ".partial"))
        self.assertFalse(os.path.exists(again))
        self.assertEqual(subprocess.run([sys.executable, "-c", code, again, "0"], env=env).returncode, 0)
        self.assertFalse(os.path.exists(again + ".partial"))
        self.assertEqual(_digest(again), _digest(self.root))


if __name__ == "__main__":
    unittest.main()
