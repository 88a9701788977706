#!/usr/bin/python3
"""LID-6 end to end at small scale: texts, a tiny corpus (byte-identical
when rebuilt, split by voice, every clip in its language's folder), a
short training run on a task without _silence_/_unknown_, and the
exported model in the engine (labels, no keyword), in beenet-classify
(no detection) and in the element (no beenet-detection message).

Run: PYTHONPATH=train:tests/train BEENET_LIB=build/engine/libbeenet.so \
     /usr/bin/python3 -m unittest test_lid
Needs espeak-ng, flite and festival with festvox-italp16k (as CI installs them)
and the texts (fortunes-de/-es/-it/-ru, debian-faq-fr; tools/setup-debian.sh).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)

from beenet_train.data import gsc, lid, synth as S, task as K, voices as V  # noqa: E402
from beenet_train.data.audio import CLIP_SAMPLES  # noqa: E402
from test_task import _digest  # noqa: E402

LANGS = ["en", "de", "fr", "es", "it", "ru"]
HAVE_ESPEAK = shutil.which("espeak-ng") is not None
HAVE_TEXTS = all(os.path.isfile(p) for _, ps in lid.TEXT_SOURCES.values() for p in ps[:1])
VARIANTS = ["", "m3", "f2"]    # 3 eSpeak groups: one each for train, val and test
CONFIG = {"stem_channels": 4, "stages": [[16, 1], [32, 2]], "exits": [1, 2, 3]}
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(os.environ.get("BEENET_LIB", "build/engine/x"))))


class TestLidTask(unittest.TestCase):
    def test_task(self):
        t = K.load_task("lid6")
        self.assertEqual(t.labels, LANGS)
        self.assertIsNone(t.silence)
        self.assertIsNone(t.unknown)
        self.assertEqual(t.kind, "classification")
        self.assertEqual(t.keywords, LANGS)           # the class folders
        self.assertEqual(t.detection_keywords, [])    # nothing is detected
        self.assertEqual(K.Task.from_dict(t.to_dict()).to_dict(), t.to_dict())
        with self.assertRaisesRegex(K.TaskError, "kind"):
            K.Task.from_dict(dict(t.to_dict(), kind="detector"))
        # a keyword task keeps its old file form (no "kind" written)
        self.assertNotIn("kind", K.load_task("kws12").to_dict())

    @unittest.skipUnless(HAVE_TEXTS, "LID texts not installed (tools/setup-debian.sh)")
    def test_texts(self):
        pools = lid.sentences(0)
        for lang in LANGS:
            for split in ("train", "val", "test"):
                self.assertGreater(len(pools[lang][split]), 20, (lang, split))
            seen = set(pools[lang]["train"])
            self.assertFalse(seen & set(pools[lang]["test"]), lang)
            self.assertFalse(seen & set(pools[lang]["val"]), lang)
        ru = pools["ru"]["train"][0]
        self.assertTrue(any("\u0400" <= c <= "\u04ff" for c in ru), ru)
        self.assertIsNone(lid.clean_sentence("Это English sentence is mixed up here.", "ru"))
        self.assertIsNone(lid.clean_sentence("Il y a 3 paquets ici pour vous.", "fr"))
        self.assertEqual(lid.clean_sentence("Chi vive sperando, muore digiuno.", "it"),
                         "Chi vive sperando, muore digiuno.")

    def test_words_only(self):
        """The festival Russian voice stops on punctuation standing alone or
        before a word (found by the first full LID-6 build): it is given the
        words, commas glued to them, and the final mark."""
        self.assertTrue(V.FESTIVAL_VOICES["msu_ru_nsh_clunits"].words_only)
        self.assertFalse(V.FESTIVAL_VOICES["lp_diphone"].words_only)
        self.assertEqual(V.words_only('А, что такое "ничего"?'), "А, что такое ничего?")
        self.assertEqual(V.words_only("больше, чем ...чужая жизнь!!!"), "больше, чем чужая жизнь!")
        self.assertEqual(V.words_only('Человек - кузнец своего счастья".'), "Человек кузнец своего счастья.")
        self.assertEqual(V.words_only("Овца и волк по-разному; в этом"), "Овца и волк по-разному в этом.")

    def test_random_crops(self):
        rng = np.random.default_rng(0)
        y = np.zeros(5 * CLIP_SAMPLES, np.float32)
        y[2 * CLIP_SAMPLES:3 * CLIP_SAMPLES] = rng.standard_normal(CLIP_SAMPLES).astype(np.float32)
        crops = lid.random_crops(y, 4, np.random.default_rng(1))
        self.assertEqual(len(crops), 4)
        for c in crops:
            self.assertEqual(c.size, CLIP_SAMPLES)
            # speech-bearing: at least MIN_ACTIVE of the crop is the noise burst
            self.assertGreaterEqual(np.mean(np.abs(c.reshape(100, -1)).max(1) > 0), lid.MIN_ACTIVE)
        short = lid.random_crops(np.ones(4000, np.float32), 1, np.random.default_rng(2))[0]
        self.assertEqual((short.size, int((short != 0).sum())), (CLIP_SAMPLES, 4000))


@unittest.skipUnless(HAVE_ESPEAK and HAVE_TEXTS, "espeak-ng or the LID texts are not installed")
class TestLidCorpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = os.path.join(cls._tmp.name, "lid")
        with open(os.devnull, "w") as null:
            cls.meta = lid.synthesize(cls.root, seed=0, small=True, log=null, variants=VARIANTS,
                                      sounds=False)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_layout_and_split(self):
        voices = self.meta["voices"]
        lang_of = {v["speaker"]: v["lang"] for v in voices.values()}
        split_of = {v["speaker"]: v["split"] for v in voices.values()}
        self.assertEqual(sorted({v["lang"] for v in voices.values()}), sorted(LANGS))
        self.assertEqual(set(split_of.values()), {"train", "val", "test"})
        splits = gsc.load_gsc(self.root, LANGS)
        for split, exs in splits.items():
            self.assertTrue(exs, split)
            for e in exs:
                self.assertEqual(e.word, lang_of[e.speaker])           # folder = the voice's language
                self.assertEqual(LANGS[e.label_index], e.word)
                self.assertEqual(split_of[e.speaker], split)           # split by voice
            self.assertEqual({LANGS[e.label_index] for e in exs}, set(LANGS), split)
        spk = {s: {e.speaker for e in exs} for s, exs in splits.items()}
        self.assertFalse(spk["train"] & spk["test"])
        self.assertFalse(spk["train"] & spk["val"])
        # an eSpeak variant is one group: the same split in every language
        for var in VARIANTS:
            names = [n for n in voices if n.startswith("espeak:") and
                     n.partition("+")[2] == var]
            self.assertEqual(len({voices[n]["split"] for n in names}), 1, var)
        x = gsc.read_wav(splits["train"][0].path)
        self.assertEqual(x.size, CLIP_SAMPLES)
        self.assertGreater(float(np.abs(x).max()), 0.05)
        with open(os.path.join(self.root, "task.json")) as f:
            self.assertEqual(json.load(f)["labels"], LANGS)
        self.assertEqual(self.meta["failed"], [])

    def test_rebuild_is_byte_identical(self):
        # in a fresh process, as a user regenerates it: a second build inside
        # this process is not identical (libespeak-ng keeps state from the
        # first one's voice look-ups in the parent; docs/data.md)
        again = os.path.join(self._tmp.name, "lid-again")
        code = ("import os, sys; from beenet_train.data import lid; "
                "lid.synthesize(sys.argv[1], seed=0, small=True, log=open(os.devnull, 'w'), "
                "variants=%r, sounds=False, jobs=1)" % (VARIANTS,))
        subprocess.run([sys.executable, "-c", code, again], check=True,
                       env=dict(os.environ, PYTHONPATH=TRAIN_DIR))
        self.assertEqual(_digest(again), _digest(self.root))
        shutil.rmtree(again)

    def test_interrupted_build_continues(self):
        """A build stopped part-way (--max-voices, as a session ending
        would) is continued by the same command, and the corpus is byte for
        byte the uninterrupted one; a partial build of other settings is
        started again, not continued."""
        again = os.path.join(self._tmp.name, "lid-resumed")
        code = ("import os, sys; from beenet_train.data import lid; "
                "m = lid.synthesize(sys.argv[1], seed=0, small=True, log=open(os.devnull, 'w'), "
                "variants=%r, sounds=False, jobs=1, max_voices=int(sys.argv[2]) or None); "
                "sys.exit(3 if m is None else 0)" % (VARIANTS,))
        env = dict(os.environ, PYTHONPATH=TRAIN_DIR)
        run = lambda n: subprocess.run([sys.executable, "-c", code, again, str(n)], env=env).returncode  # noqa: E731
        self.assertEqual(run(4), 3)
        journal = os.path.join(again + ".partial", S.RESUME_DIR)
        self.assertEqual(len([f for f in os.listdir(journal) if f.endswith(".pkl")]), 4)
        self.assertFalse(os.path.exists(again))
        self.assertEqual(run(3), 3)                 # a second session: 3 more
        self.assertEqual(len([f for f in os.listdir(journal) if f.endswith(".pkl")]), 7)
        self.assertEqual(run(0), 0)                 # the rest
        self.assertFalse(os.path.exists(again + ".partial"))
        self.assertEqual(_digest(again), _digest(self.root))
        shutil.rmtree(again)
        # another key: the partial directory is not continued
        part = S.start_partial(again, False, "key-a")
        open(os.path.join(part, "clip.wav"), "w").close()
        self.assertEqual(S.start_partial(again, False, "key-a"), part)
        self.assertTrue(os.path.exists(os.path.join(part, "clip.wav")))
        S.start_partial(again, False, "key-b")
        self.assertFalse(os.path.exists(os.path.join(part, "clip.wav")))
        shutil.rmtree(part)

    def test_train_export_engine_element(self):
        if "BEENET_LIB" not in os.environ:
            self.skipTest("BEENET_LIB is not set (run under meson test)")
        from beenet_train.frontend import Model, Session
        from beenet_train.corpus import Corpus
        from beenet_train.train import train
        c = Corpus(self.root, eval_only=True)
        self.assertEqual((c.silence_index, c.unknown_index), (None, None))
        out = os.path.join(self._tmp.name, "lid.gguf")
        ck = train(self.root, out, seed=0, epochs=1, batch_size=16, config=CONFIG, quiet=True)
        self.assertEqual(ck["labels"], LANGS)
        self.assertEqual(ck["keywords"], [])
        m = Model(out)
        self.assertEqual(m.labels, LANGS)
        self.assertIn("keywords: none", m.describe())
        test = gsc.load_gsc(self.root, LANGS)["test"]
        wave = gsc.read_wav(test[0].path)
        r = Session(m).classify(wave)
        self.assertIn(r["label"], LANGS)
        self.assertEqual(r["probabilities"].size, len(LANGS))
        # beenet-classify: every window labelled with a language, no detection
        wav = test[0].path
        tool = os.path.join(BUILD, "tools", "beenet-classify")
        if not os.path.exists(tool):
            self.skipTest(f"{tool} not built")
        p = subprocess.run([tool, "--model", out, wav], capture_output=True, text=True, check=True)
        rows = [l.split("\t") for l in p.stdout.splitlines() if l and not l.startswith("#")]
        self.assertTrue(rows)
        self.assertTrue(all(r[3] in LANGS for r in rows), rows)
        p = subprocess.run([tool, "--model", out, "--detections", "--detection-threshold", "0.01",
                            wav], capture_output=True, text=True, check=True)
        self.assertEqual([l for l in p.stdout.splitlines() if l and not l.startswith("#")], [])
        # the element: "beenet" messages with language labels, never a detection
        if not shutil.which("gst-launch-1.0"):
            self.skipTest("gst-launch-1.0 missing")
        env = dict(os.environ, GST_PLUGIN_PATH=os.path.join(BUILD, "gst"),
                   GST_REGISTRY=os.path.join(self._tmp.name, "registry.bin"))
        p = subprocess.run(["gst-launch-1.0", "-m", "filesrc", f"location={wav}", "!", "wavparse", "!",
                            "audioconvert", "!", "audioresample", "!", "beenet", f"model={out}",
                            "detection-threshold=0.01", "!", "fakesink"],
                           capture_output=True, text=True, env=env, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("beenet, ", p.stdout)
        self.assertNotIn("beenet-detection", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
