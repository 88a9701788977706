#!/usr/bin/python3
"""Tests of beenet_train.data.synth (synthetic corpus in the GSC v2 layout).

Run: /usr/bin/python3 tests/train/test_synth.py   (or under pytest)
Synthesizes the --small corpus (~15 s) into a temporary directory through
the command line, then checks layout, audio format, the by-voice split,
the reader on it, --stats and determinism.  Needs espeak-ng (libespeak-ng),
flite and festival as installed by the project's CI.
"""

import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import signal
import unittest
import wave
from unittest import mock

import numpy as np

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)

from beenet_train.data import gsc, synth, voices as V  # noqa: E402
from beenet_train.data.audio import active_region  # noqa: E402

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
ENV = dict(os.environ, PYTHONPATH=os.path.abspath(TRAIN_DIR))
HAVE_ESPEAK = shutil.which("espeak-ng") is not None
NAME_RE = re.compile(r"^([0-9a-f]{8})_nohash_(\d+)\.wav$")


def run_cli(*args):
    return subprocess.run([PY, "-m", "beenet_train.data.synth", *args], env=ENV,
                          capture_output=True, text=True, timeout=600)


@unittest.skipUnless(HAVE_ESPEAK, "espeak-ng is not installed")
class TestSmallCorpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = os.path.join(cls._tmp.name, "kws12-small")
        r = run_cli("--out", cls.root, "--seed", "0", "--small")
        if r.returncode != 0:
            raise RuntimeError(f"synth --small failed ({r.returncode}):\n{r.stderr}")
        cls.log = r.stderr
        with open(os.path.join(cls.root, "voices.json")) as f:
            cls.voices = json.load(f)
        with open(os.path.join(cls.root, "corpus.json")) as f:
            cls.meta = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def wavs(self):
        for w in gsc.word_folders(self.root):
            for fn in sorted(os.listdir(os.path.join(self.root, w))):
                yield w, fn

    def test_progress_and_summary(self):
        self.assertRegex(self.log, r"\[synth\] \d+/\d+ clips")
        self.assertRegex(self.log, r"done: \d+ clips, 0 failed")

    def test_layout(self):
        words = gsc.word_folders(self.root)
        for k in gsc.KWS12_KEYWORDS:
            self.assertIn(k, words)
        unknown = [w for w in words if w not in gsc.KWS12_KEYWORDS]
        self.assertEqual(sorted(unknown), sorted(synth.SMALL_UNKNOWN_WORDS))
        for f in ("validation_list.txt", "testing_list.txt", "voices.json", "corpus.json"):
            self.assertTrue(os.path.isfile(os.path.join(self.root, f)), f)
        noise = os.listdir(os.path.join(self.root, "_background_noise_"))
        for n in ("white_noise.wav", "pink_noise.wav", "brown_noise.wav"):
            self.assertIn(n, noise)
        for w, fn in self.wavs():
            self.assertRegex(fn, NAME_RE)

    def test_audio_format(self):
        n = 0
        for w, fn in self.wavs():
            p = os.path.join(self.root, w, fn)
            with wave.open(p) as f:
                self.assertEqual((f.getnchannels(), f.getsampwidth(), f.getframerate(),
                                  f.getnframes()), (1, 2, 16000, 16000), p)
            x = gsc.read_wav(p)
            s, e = active_region(x)
            self.assertGreater(e - s, 1600, f"{p}: no speech")   # > 0.1 s of sound
            self.assertLess(e - s, 16000, f"{p}: not trimmed")
            self.assertGreater(np.abs(x).max(), 0.05, p)
            self.assertLess(np.abs(x).max(), 0.95, p)
            n += 1
        self.assertEqual(n, self.meta["clips"])
        for fn in os.listdir(os.path.join(self.root, "_background_noise_")):
            a = gsc.read_wav(os.path.join(self.root, "_background_noise_", fn))
            self.assertGreater(a.size, 16000)
            self.assertGreater(np.std(a), 1e-3)

    def test_sentences(self):
        """Running sentences: every English voice reads its own split's text,
        no sentence holds a keyword, and no text is read in two splits."""
        from beenet_train.data import texts as T
        with open(os.path.join(self.root, synth.SENTENCE_DIR, "sentences.json")) as f:
            meta = json.load(f)
        self.assertEqual(len(meta), self.meta["sentences"])
        english = {v for v, info in self.meta["voices"].items() if info["lang"] == "en"}
        self.assertEqual({m["voice"] for m in meta}, english)
        texts_by_split = collections.defaultdict(set)
        for m in meta:
            self.assertEqual(m["split"], self.voices[m["voice"]])
            self.assertEqual(T.text_split(m["text"], 0), m["split"], m["text"])
            self.assertFalse(T.has_keyword(m["text"]), m["text"])
            texts_by_split[m["split"]].add(m["text"])
            p = os.path.join(self.root, m["file"])
            with wave.open(p) as f:
                self.assertEqual((f.getnchannels(), f.getsampwidth(), f.getframerate()),
                                 (1, 2, 16000), p)
                n = f.getnframes()
            self.assertAlmostEqual(n / 16000.0, m["seconds"], places=2)
            self.assertGreaterEqual(n, 8000, p)
            self.assertLessEqual(n, synth.SENTENCE_MAX_SECONDS * 16000, p)
        self.assertFalse(texts_by_split["train"] & (texts_by_split["val"] | texts_by_split["test"]))

    def test_every_voice_says_every_word(self):
        spk_of = {V.speaker_id(v): v for v in self.voices}
        self.assertEqual(len(spk_of), len(self.voices), "speaker id collision")
        seen = collections.defaultdict(set)
        for w, fn in self.wavs():
            spk = NAME_RE.match(fn).group(1)
            self.assertIn(spk, spk_of, f"{w}/{fn}: unknown speaker")
            seen[spk].add(w)
        for spk, v in spk_of.items():
            self.assertEqual(seen[spk], set(gsc.word_folders(self.root)), v)

    def test_split_is_by_voice(self):
        self.assertEqual(set(self.voices.values()), {"train", "val", "test"})
        lists = {}
        for s, f in (("val", "validation_list.txt"), ("test", "testing_list.txt")):
            with open(os.path.join(self.root, f)) as fh:
                lists[s] = {l.strip() for l in fh if l.strip()}
        spk_split = {V.speaker_id(v): s for v, s in self.voices.items()}
        for w, fn in self.wavs():
            rel = f"{w}/{fn}"
            want = spk_split[NAME_RE.match(fn).group(1)]
            got = "val" if rel in lists["val"] else ("test" if rel in lists["test"] else "train")
            self.assertEqual(got, want, rel)
        # groups (eSpeak variant / recorded speaker) never straddle splits
        by_group = collections.defaultdict(set)
        for v, info in self.meta["voices"].items():
            by_group[info["group"]].add(self.voices[v])
        for g, splits in by_group.items():
            self.assertEqual(len(splits), 1, g)
        # every synthesizer family is in train and test
        fam = collections.defaultdict(set)
        for v, s in self.voices.items():
            fam[v.split(":")[0]].add(s)
        for f in ("espeak", "flite"):
            self.assertTrue({"train", "test"} <= fam[f], f)

    def test_reader_on_corpus(self):
        d = gsc.load_gsc(self.root)
        for split in ("train", "val", "test"):
            self.assertEqual({e.label_index for e in d[split]}, set(range(12)), split)
        test_spk = {V.speaker_id(v) for v, s in self.voices.items() if s == "test"}
        self.assertEqual({e.speaker for e in d["test"] if e.path}, test_spk)

    def test_stats_cli(self):
        r = run_cli("--stats", self.root)
        self.assertEqual(r.returncode, 0, r.stderr)
        counts = collections.Counter(w for w, _ in self.wavs())
        for w, c in counts.items():
            m = re.search(rf"^\s+{w}\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", r.stdout, re.M)
            self.assertIsNotNone(m, w)
            self.assertEqual(int(m.group(4)), c, w)
        m = re.search(r"^\s+TOTAL\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", r.stdout, re.M)
        self.assertEqual(int(m.group(4)), sum(counts.values()))

    def test_heldout_espeak_voices(self):
        held = V.heldout_espeak_voices(self.root)
        self.assertGreaterEqual(len(held), 2)
        es = V.Espeak()
        for h in held:
            self.assertEqual(self.voices["espeak:" + h], "test")
            self.assertTrue(es.has_voice(h), h)
            self.assertRegex(h, r"^[a-z0-9-]+(\+[A-Za-z0-9_-]+)?$")
        # nothing of a held-out variant was trained on
        held_vars = {h.partition("+")[2] for h in held}
        for v, s in self.voices.items():
            if v.startswith("espeak:") and v.partition("+")[2] in held_vars:
                self.assertEqual(s, "test", v)

    @unittest.skipUnless(shutil.which("gst-launch-1.0") and shutil.which("gst-inspect-1.0")
                         and subprocess.run(["gst-inspect-1.0", "espeak"],
                                            capture_output=True).returncode == 0,
                         "GStreamer espeak element not installed")
    def test_heldout_voices_work_in_gstreamer_espeak(self):
        def say(voice):
            out = os.path.join(self._tmp.name, f"gst-{voice}.wav")
            subprocess.run(["gst-launch-1.0", "-q", "espeak", "text=stop", f"voice={voice}",
                            "!", "wavenc", "!", "filesink", f"location={out}"],
                           check=True, capture_output=True, timeout=60)
            with open(out, "rb") as f:
                return f.read()
        fallback = say("no-such-voice")  # unknown names fall back to the default voice
        held = V.heldout_espeak_voices(self.root)[:2]
        outs = [say(h) for h in held]
        for h, o in zip(held, outs):
            self.assertGreater(len(o), 4000, h)
            self.assertNotEqual(o, fallback, f"{h} is not accepted by the espeak element")
        self.assertNotEqual(outs[0], outs[1])

    def test_shards_union_is_the_corpus(self):
        """Two shards (one from --shard/--num-shards, one from RANK/WORLD_SIZE
        as under torchrun) make disjoint file sets; copied into one directory
        and finished (--finish-shards) they are byte-for-byte the unsharded
        corpus (corpus.json: all but the run time)."""
        import filecmp
        d = [os.path.join(self._tmp.name, f"shard{i}") for i in range(2)]
        base = [PY, "-m", "beenet_train.data.synth", "--seed", "0", "--small", "--jobs", "1"]
        procs = [subprocess.Popen(base + ["--out", d[0], "--shard", "0", "--num-shards", "2"], env=ENV,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True),
                 subprocess.Popen(base + ["--out", d[1]], env=dict(ENV, RANK="1", WORLD_SIZE="2"),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)]
        for p in procs:
            out = p.communicate(timeout=900)[0]
            self.assertEqual(p.returncode, 0, out)

        def files(root):
            return {os.path.relpath(os.path.join(dp, f), root)
                    for dp, _, fs in os.walk(root) for f in fs}
        parts = [files(x) - {f for f in files(x) if f.startswith(synth.SHARDS_DIR)} for x in d]
        self.assertTrue(parts[0] and parts[1])
        self.assertEqual(parts[0] & parts[1], set())
        self.assertFalse(os.path.exists(os.path.join(d[0], "corpus.json")))   # not complete yet
        shutil.copytree(d[1], d[0], dirs_exist_ok=True)
        r = run_cli("--out", d[0], "--finish-shards", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        got, want = files(d[0]), files(self.root)
        self.assertEqual(got, want)
        for rel in sorted(want - {"corpus.json"}):
            self.assertTrue(filecmp.cmp(os.path.join(d[0], rel), os.path.join(self.root, rel), shallow=False),
                            rel)
        with open(os.path.join(d[0], "corpus.json")) as f:
            meta = json.load(f)
        self.assertEqual({k: v for k, v in meta.items() if k != "seconds"},
                         {k: v for k, v in self.meta.items() if k != "seconds"})

    def test_refuses_to_overwrite(self):
        r = run_cli("--out", self.root, "--small")
        self.assertEqual(r.returncode, 1)
        self.assertIn("--force", r.stderr)


@unittest.skipUnless(HAVE_ESPEAK, "espeak-ng is not installed")
@unittest.skipUnless(shutil.which("espeak-ng"), "espeak-ng is not installed")
class TestEspeakBinding(unittest.TestCase):
    def test_one_binding_per_process(self):
        """A second Espeak() is the first, so the library's one callback stays valid
        (two syntheses in one process crashed the second's forked children before)."""
        import gc
        a = V.Espeak()
        rate = a.rate
        del a
        gc.collect()
        b = V.Espeak()
        self.assertIs(b, V.Espeak())
        self.assertEqual(b.rate, rate)
        b.set_voice("en")
        x, sr = b.synth("yes")
        self.assertEqual(sr, rate)
        self.assertGreater(len(x), 1000)


class TestDeterminism(unittest.TestCase):
    def test_voice_synthesis_is_seeded(self):
        v = V.Voice("espeak:en-us+f2", "espeak", "en-us+f2", "espeak-variant:f2")
        plan = [("yes", 2), ("stop", 1)]
        # each call in a fresh process: libespeak-ng carries state between utterances
        a, b = list(synth.synth_isolated([(v, plan, 0, None)] * 2, jobs=2))
        (c,) = synth.synth_isolated([(v, plan, 1, None)], jobs=1)
        self.assertEqual(sorted(a["clips"]), [("stop", 0), ("yes", 0), ("yes", 1)])
        for k in a["clips"]:
            self.assertEqual(a["clips"][k].shape, (16000,))
            self.assertTrue(np.array_equal(a["clips"][k], b["clips"][k]), k)
        self.assertFalse(all(np.array_equal(a["clips"][k], c["clips"][k]) for k in a["clips"]))
        # repetitions differ (prosody is randomised per clip)
        self.assertFalse(np.array_equal(a["clips"][("yes", 0)], a["clips"][("yes", 1)]))

    def test_split_is_seeded(self):
        vs = V.inventory(small=True)
        s0, s0b, s1 = V.assign_splits(vs, 0), V.assign_splits(vs, 0), V.assign_splits(vs, 1)
        self.assertEqual(s0, s0b)
        self.assertEqual(set(s0), {v.name for v in vs})
        self.assertNotEqual(s0, s1)

    def test_full_split_proportions(self):
        vs = [V.Voice(f"espeak:{l}+{x}", "espeak", f"{l}+{x}", f"espeak-variant:{x}")
              for l in ("en-us", "en") for x in [f"v{i}" for i in range(100)]]
        s = V.assign_splits(vs, 0)
        c = collections.Counter(s.values())
        self.assertEqual(c["test"], 20)
        self.assertEqual(c["val"], 20)
        self.assertEqual(c["train"], 160)

    def test_speaker_id(self):
        self.assertRegex(V.speaker_id("espeak:en-us+f4"), r"^[0-9a-f]{8}$")
        self.assertEqual(V.speaker_id("flite:slt"), V.speaker_id("flite:slt"))
        self.assertNotEqual(V.speaker_id("flite:slt"), V.speaker_id("flite:kal"))


def _segfault_once(voice, marker):
    """A voice function whose first call per voice dies of SIGSEGV, like
    libespeak-ng on a few (voice, word) pairs."""
    if voice.name == "crashy" and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGSEGV)
    return {"voice": voice.name, "how": "first"}


class TestWorkerDeath(unittest.TestCase):
    """A worker killed by a signal is retried once with the retry function
    (words one per process); the result says so; a second death stops."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="beenet-death-")
        self.marker = os.path.join(self.tmp, "died")
        self.tasks = [(V.Voice(n, "flite", "x", "g"), self.marker) for n in ("ok", "crashy", "ok2")]

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def test_died_worker_is_retried(self):
        retry = lambda voice, marker: {"voice": voice.name, "how": "retry"}  # noqa: E731
        got = {r["voice"]: r for r in synth.synth_isolated(self.tasks, 2, _segfault_once, retry)}
        self.assertEqual(sorted(got), ["crashy", "ok", "ok2"])
        self.assertEqual(got["crashy"]["how"], "retry")
        self.assertEqual(got["crashy"]["retried"], "worker died (exit code %d)" % -signal.SIGSEGV)
        self.assertNotIn("retried", got["ok"])

    def test_without_retry_or_second_death_the_build_stops(self):
        with self.assertRaisesRegex(RuntimeError, "crashy: worker died"):
            list(synth.synth_isolated(self.tasks, 2, _segfault_once))
        os.remove(self.marker)
        with self.assertRaisesRegex(RuntimeError, "crashy: worker died"):
            list(synth.synth_isolated(self.tasks, 1, _segfault_once, _segfault_always))

    def test_guarded_retry_drops_the_dead_attempts_files(self):
        """A word that crashes in the retry is listed as failed, and the file
        the dead attempt wrote for it is gone (it would leak into train)."""
        v = V.Voice("espeak:en-us+f2", "espeak", "en-us+f2", "espeak-variant:f2")
        os.makedirs(os.path.join(self.tmp, "yes"))
        stale = [os.path.join(self.tmp, "yes", f"{v.speaker_id}_nohash_{i}.wav") for i in (0, 1)]
        for path in stale:
            open(path, "w").close()
        real, calls = synth._espeak_guarded, []

        def second_crashes(es, text, params):
            calls.append(text)
            return None if len(calls) == 2 else real(es, text, params)
        with mock.patch.object(synth, "_espeak_guarded", side_effect=second_crashes):
            r = synth.synth_voice(v, [("yes", 2)], 0, self.tmp, guard_words=True)
        self.assertEqual(r["failed"], ["yes#1"])
        self.assertEqual(r["files"], [f"yes/{v.speaker_id}_nohash_0.wav"])
        self.assertGreater(os.path.getsize(stale[0]), 1000)
        self.assertFalse(os.path.exists(stale[1]))


def _segfault_always(voice, marker):
    os.kill(os.getpid(), signal.SIGSEGV)


def _median_f0(x, sr=16000):
    """Median autocorrelation F0 (Hz) over the loud 40 ms frames of a clip."""
    n = int(0.04 * sr)
    frames = [x[i:i + n] for i in range(0, len(x) - n, n // 2)]
    e = np.array([np.sqrt(np.mean(f ** 2)) for f in frames])
    f0 = []
    for f, ef in zip(frames, e):
        if ef < 0.3 * e.max():
            continue
        f = f - f.mean()
        ac = np.correlate(f, f, "full")[n - 1:]
        lo, hi = sr // 400, sr // 60
        f0.append(sr / (lo + int(np.argmax(ac[lo:hi]))))
    return float(np.median(f0))


HAVE_FESTIVAL = shutil.which("festival") is not None


@unittest.skipUnless(HAVE_FESTIVAL, "festival is not installed")
class TestExtraFestivalVoices(unittest.TestCase):
    """The non-English recorded voices (training only) and the "+high"
    pseudo-speakers: installed by tools/setup-debian.sh, so CI runs this."""

    @classmethod
    def setUpClass(cls):
        cls.available = set(V.festival_voices_available())
        cls.inv = {v.name: v for v in V.inventory()}

    def test_all_installed(self):
        self.assertEqual(set(V.FESTIVAL_VOICES) - self.available, set(),
                         "run tools/setup-debian.sh to install the festival voices")

    def synth(self, name, plan):
        (r,) = synth.synth_isolated([(self.inv[name], plan, 0, None)], jobs=1)
        self.assertEqual(r["failed"], [])
        return r["clips"]

    def test_foreign_voices_say_the_respelled_words(self):
        for name, v in sorted(self.inv.items()):
            if v.lang == "en":
                continue
            with self.subTest(voice=name):
                clips = self.synth(name, [("yes", 1), ("sheila", 1), ("visual", 1)])
                for k, c in clips.items():
                    s, e = active_region(c, 16000, rel_db=-30.0)
                    # one word, not letters spelled out or an encoding error read aloud
                    self.assertTrue(0.15 < (e - s) / 16000 < 0.95, (name, k, (e - s) / 16000))

    def test_foreign_voices_are_training_only(self):
        split = V.assign_splits(list(self.inv.values()), 0)
        for name, v in self.inv.items():
            if v.lang != "en":
                self.assertEqual(split[name], "train", name)
        english = [v for v in self.inv.values() if v.lang == "en"]
        self.assertEqual({k: s for k, s in split.items() if self.inv[k].lang == "en"},
                         V.assign_splits(english, 0))

    def test_high_variant_raises_pitch(self):
        for base in ("festival:kal_diphone", "festival:ked_diphone"):
            with self.subTest(voice=base):
                lo = self.synth(base, [("yes", 3)])
                hi = self.synth(base + "+high", [("yes", 3)])
                f_lo = np.median([_median_f0(c) for c in lo.values()])
                f_hi = np.median([_median_f0(c) for c in hi.values()])
                self.assertGreater(f_hi, 1.4 * f_lo, (f_lo, f_hi))
                self.assertEqual(self.inv[base].group, self.inv[base + "+high"].group)


class TestWordLists(unittest.TestCase):
    def test_every_word_has_a_respelling(self):
        words = set(gsc.KWS12_KEYWORDS) | set(synth.UNKNOWN_WORDS)
        # ru: festvox-ru's voice reads LID-6 only; inventory() leaves it out
        langs = {fv.lang for fv in V.FESTIVAL_VOICES.values()} - {"en", "ru"}
        self.assertEqual(langs, set(V.FOREIGN_SPELLINGS))
        for lang, table in V.FOREIGN_SPELLINGS.items():
            self.assertEqual(set(table), words, lang)
            enc = {fv.encoding for fv in V.FESTIVAL_VOICES.values() if fv.lang == lang}
            for w, t in table.items():
                self.assertRegex(t, r"^[^\W\d_]+$", (lang, w))
                for e in enc:
                    t.encode(e)  # must be representable for festival

    def test_babble_text_has_no_corpus_word(self):
        words = set(gsc.KWS12_KEYWORDS) | set(synth.UNKNOWN_WORDS)
        toks = set(re.findall(r"[a-z']+", synth.BABBLE_TEXT.lower()))
        self.assertEqual(toks & words, set())

    def test_unknown_words(self):
        self.assertGreaterEqual(len(synth.UNKNOWN_WORDS), 25)
        self.assertEqual(set(synth.UNKNOWN_WORDS) & set(gsc.KWS12_KEYWORDS), set())
        self.assertTrue(set(synth.SMALL_UNKNOWN_WORDS) <= set(synth.UNKNOWN_WORDS))


if __name__ == "__main__":
    unittest.main(verbosity=2)
