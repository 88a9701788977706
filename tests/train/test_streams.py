#!/usr/bin/python3
"""Scoring rules of beenet_train.streams (hits, false alarms, latency) on
hand-made detections, the choice of the detection defaults
(choose_detection, with and without a margin cross-validated on the
streams' halves) on hand-made posterior streams, and refined windows:
classify_stream's windows are beenet-classify's (the element's windower)
on espeak-ng speech."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)

from beenet_train import streams  # noqa: E402
from beenet_train.streams import score  # noqa: E402

KW = [{"label": "yes", "start": 10.0, "end": 10.5}, {"label": "no", "start": 20.0, "end": 20.4}]


def det(label, window_start_s):
    return {"label": label, "time_ns": int(round(window_start_s * 1e9))}


class TestScore(unittest.TestCase):
    def test_hit_inside_window(self):
        s = score([det("yes", 9.6)], KW, 1.0)   # decided at 10.6 s: 0.1 s after the end
        self.assertEqual((s["hits"], s["false_alarms"]), (1, 0))
        self.assertAlmostEqual(s["latency_median_s"], 0.1)
        self.assertAlmostEqual(s["miss_rate"], 0.5)
        self.assertEqual(s["missed_by_label"], {"no": 1, "yes": 0})

    def test_limits(self):
        # decided exactly 1 s after the end: hit; later: false alarm
        self.assertEqual(score([det("yes", 10.5)], KW, 1.0)["hits"], 1)
        s = score([det("yes", 10.51)], KW, 1.0)
        self.assertEqual((s["hits"], s["false_alarms"], s["false_alarms_on_keywords"]), (0, 1, 0))
        # decided before the word started: false alarm, between keywords
        s = score([det("yes", 9.0)], KW, 1.0)
        self.assertEqual((s["hits"], s["false_alarms"], s["false_alarms_on_keywords"]), (0, 1, 0))

    def test_wrong_label_and_double(self):
        s = score([det("no", 9.6), det("yes", 9.6), det("yes", 10.0)], KW, 1.0)
        self.assertEqual((s["hits"], s["false_alarms"]), (1, 2))   # wrong label, second detection
        self.assertEqual(s["false_alarms_on_keywords"], 2)          # both within the word's span
        self.assertEqual((s["doubles"], s["confusions"]), (1, {"yes->no": 1}))
        s = score([det("yes", 9.6), det("no", 19.5)], KW, 1.0)
        self.assertEqual((s["hits"], s["false_alarms"], s["miss_rate"]), (2, 0, 0.0))


class FakeDetector:
    """Fires on every window whose keyword probability >= threshold (labels
    0, 1 are _silence_, _unknown_)."""
    def __init__(self, labels, threshold, **_):
        self.labels, self.threshold = labels, threshold

    def run(self, times_ns, probs):
        return [{"label": self.labels[int(p.argmax())], "class_index": int(p.argmax()), "time_ns": t}
                for t, p in zip(times_ns, probs) if p.argmax() >= 2 and p.max() >= self.threshold]


class FakeModel:
    labels = ["_silence_", "_unknown_", "yes"]
    num_classes, num_exits, default_threshold = 3, 2, 0.75
    interval_ms = 250.0      # beenet.detection.interval_ms
    detection_defaults = {"threshold": 0.7, "smoothing_ms": 500.0, "refractory_ms": 1000.0}

    def detector(self, **p):
        return FakeDetector(self.labels, p["threshold"])

    def default_params(self):
        return streams.policy_params("entropy", self.default_threshold)


def fake_stream(kind, exit_threshold, keyword_exit=0):
    """30 windows 0.5 s apart.  Keyword stream: "yes" said at 10.0-10.5 s,
    seen by the window starting at 9.5 s; a window that stopped early (exit
    threshold 0.75) is less confident (0.80) than one that went deeper
    (0.95).  Negative stream: one window of running speech looks like "yes"
    at 0.85."""
    times = [int(i * 0.5e9) for i in range(30)]
    probs = np.tile(np.array([0.05, 0.9, 0.05], np.float32), (30, 1))
    # keyword_exit sends the keyword window to the deep exit: confident again
    conf = 0.95 if exit_threshold <= 0.5 or keyword_exit else 0.80
    i, c = (19, conf) if kind == "keywords" else (7, 0.85)
    probs[i] = [0.0, 1.0 - c, c]
    return {"times_ns": times, "probs": probs, "exits": np.ones(30, np.int32),
            "ops": np.full(30, (0.3 if exit_threshold > 0.5 else 0.6) + (0.05 if keyword_exit else 0.0)),
            "window_s": 1.0, "seconds": 15.0,
            "cpu_seconds": 0.0}


def fake_evalset(test, keyword_rows, classify):
    """An evaluation set directory (test.tmp) whose stream/keywords.tsv holds
    keyword_rows, with streams.read_wav giving "negative" / "keywords" and
    streams.classify_stream replaced by classify, both put back after the test."""
    test.tmp = tempfile.TemporaryDirectory()
    test.addCleanup(test.tmp.cleanup)
    d = os.path.join(test.tmp.name, "stream")
    os.makedirs(d)
    with open(os.path.join(d, "keywords.tsv"), "w") as f:
        f.write("label\tstart\tend\tsource\n" + keyword_rows)
    saved = streams.classify_stream, streams.read_wav
    test.addCleanup(lambda: setattr(streams, "classify_stream", saved[0]) or setattr(streams, "read_wav", saved[1]))
    streams.read_wav = lambda path: os.path.basename(path)[:-4]      # "negative" / "keywords"
    streams.classify_stream = classify


class TestChooseDetection(unittest.TestCase):
    def setUp(self):
        fake_evalset(self, "yes\t10.0\t10.5\ta.wav\n",
                     lambda model, kind, iv, th, pol, rl=None: fake_stream(kind, th, pol.keyword_exit))

    def choose(self, **kw):
        return streams.choose_detection(FakeModel(), self.tmp.name, intervals=(500.0,), smoothings=(0.0,),
                                        log=lambda m: None, **kw)

    def test_model_threshold_only(self):
        # at the model's exit threshold the keyword (0.80) is below the
        # false alarm (0.85): no false alarm means missing it
        best = self.choose()
        self.assertEqual(best["exit_threshold"], 0.75)
        self.assertEqual(best["val_miss_rate"], 1.0)
        self.assertEqual(best["val_false_alarms_per_hour"], 0.0)

    def test_joint_exit_threshold(self):
        # a lower exit threshold makes the keyword window confident enough to
        # be detected above the false alarm's level
        best = self.choose(exit_thresholds=[0.5, 0.75])
        self.assertEqual(best["exit_threshold"], 0.5)
        self.assertEqual(best["val_miss_rate"], 0.0)
        self.assertEqual(best["val_false_alarms_per_hour"], 0.0)
        self.assertEqual(best["threshold"], 0.9)      # lowest ROC threshold above 0.85
        self.assertAlmostEqual(best["ops_fraction"], 0.6)

    def test_threshold_step(self):
        # the ROC's grid jumps from 0.85 to 0.9; with 0.01 steps the lowest
        # threshold above the false alarm's 0.85 is 0.86, and the ROC's own
        # thresholds are all still tried
        self.assertEqual(streams.tuning_thresholds(), list(streams.ROC_THRESHOLDS))
        fine = streams.tuning_thresholds(0.01)
        self.assertTrue(set(streams.ROC_THRESHOLDS) <= set(fine))
        self.assertEqual(fine, sorted(set(fine)))
        self.assertIn(0.67, fine)
        self.assertEqual((fine[0], fine[-1]), (0.3, 0.999))
        best = self.choose(exit_thresholds=[0.5], threshold_step=0.01)
        self.assertEqual((best["threshold"], best["val_miss_rate"], best["val_false_alarms_per_hour"]),
                         (0.86, 0.0, 0.0))

    def test_keyword_exit(self):
        # at the model's exit threshold the keyword window is only detected
        # when keyword_exit sends it deeper, which costs less than a lower
        # exit threshold for every window
        best = self.choose(exit_thresholds=[0.5, 0.75], keyword_exits=(0, 5))
        self.assertEqual((best["exit_threshold"], best["keyword_exit"]), (0.75, 5))
        self.assertEqual(best["val_miss_rate"], 0.0)
        self.assertAlmostEqual(best["ops_fraction"], 0.35)

    def test_model_interval_by_default(self):
        # no interval given: the model's own (the interval its defaults were tuned for)
        seen = []
        streams.classify_stream = lambda model, kind, iv, th, pol, rl=None: seen.append(iv) or fake_stream(kind, th)
        r = streams.evaluate_streams(FakeModel(), self.tmp.name)
        self.assertEqual(seen, [250.0, 250.0])
        self.assertEqual(r["interval_ms"], 250.0)
        seen.clear()
        self.assertEqual(streams.evaluate_streams(FakeModel(), self.tmp.name, 500.0)["interval_ms"], 500.0)
        self.assertEqual(seen, [500.0, 500.0])

    def test_ties_prefer_cheaper(self):
        # both exit thresholds equally good: the larger (cheaper) one wins
        streams.classify_stream = lambda model, kind, iv, th, pol, rl=None: fake_stream(kind, 0.5)
        best = self.choose(exit_thresholds=[0.25, 0.5])
        self.assertEqual(best["exit_threshold"], 0.5)

    def test_wrong_detections_bounded(self):
        # the keyword stream also has a window at 2.0 s (no word said) that
        # looks like "yes" at 0.92: unbounded, the lowest threshold above the
        # negative stream's 0.85 detects the keyword and that wrong one;
        # bounded, the threshold rises above 0.92 and still detects the word
        def with_wrong(model, kind, iv, th, pol, rl=None):
            st = fake_stream(kind, th, pol.keyword_exit)
            if kind == "keywords":
                st["probs"][4] = [0.0, 0.08, 0.92]
            return st
        streams.classify_stream = with_wrong
        free = self.choose(exit_thresholds=[0.5])
        self.assertEqual((free["threshold"], free["val_miss_rate"], free["val_wrong_in_keyword_stream"]),
                         (0.9, 0.0, 1))
        bounded = self.choose(exit_thresholds=[0.5], max_wrong_per_hour=1.0)
        self.assertGreater(bounded["threshold"], 0.92)
        self.assertEqual((bounded["val_miss_rate"], bounded["val_wrong_in_keyword_stream"]), (0.0, 0))


class TestCrossValidatedMargin(unittest.TestCase):
    """The tuning cross-validated on the streams' halves (split_streams,
    choose_detection margins=...).  Negative stream: 30 s, a window every
    0.5 s, running speech that looks like "yes" at 0.85, 0.62 and 0.61 in
    the first half and 0.63 and 0.52 in the second.  Keyword stream: 60 s,
    "yes" at 10 s (seen at 0.80) and at 40 s (seen at 0.60).  Bound 250
    false alarms per hour: one event in a 15-s half (240/h), two in 30 s."""

    def setUp(self):
        fake_evalset(self, "yes\t10.0\t10.5\ta.wav\nyes\t40.0\t40.5\tb.wav\n",
                     lambda model, kind, iv, th, pol, rl=None: self.stream(kind))

    @staticmethod
    def stream(kind):
        n = 60 if kind == "negative" else 120
        probs = np.tile(np.array([0.05, 0.9, 0.05], np.float32), (n, 1))
        peaks = {2: 0.85, 10: 0.62, 20: 0.61, 40: 0.63, 50: 0.52} if kind == "negative" else {19: 0.80, 79: 0.60}
        for i, c in peaks.items():
            probs[i] = [0.0, 1.0 - c, c]
        return {"times_ns": [int(i * 0.5e9) for i in range(n)], "probs": probs, "exits": np.ones(n, np.int32),
                "ops": np.full(n, 0.5), "refined": np.zeros(n, bool), "window_s": 1.0, "seconds": n / 2.0,
                "cpu_seconds": 0.0}

    def test_split_streams(self):
        kws = streams.read_keywords(os.path.join(self.tmp.name, "stream", "keywords.tsv"))
        pair = {k: self.stream(k) for k in ("negative", "keywords")}
        (a, ka), (b, kb) = streams.split_streams(pair, kws, True), streams.split_streams(pair, kws, False)
        self.assertEqual(([k["start"] for k in ka], [k["start"] for k in kb]), ([10.0], [40.0]))
        self.assertEqual((a["negative"]["seconds"], b["negative"]["seconds"]), (15.0, 15.0))
        # the keyword stream is cut in the pause between the words (25.25 s), not at its middle
        self.assertEqual((a["keywords"]["seconds"], b["keywords"]["seconds"]), (25.25, 34.75))
        self.assertEqual(len(a["keywords"]["times_ns"]) + len(b["keywords"]["times_ns"]), 120)
        self.assertEqual(b["keywords"]["times_ns"][0], int(25.5e9))
        self.assertEqual(a["negative"]["probs"].shape, (30, 3))
        self.assertEqual(len(b["negative"]["ops"]), 30)
        # a single keyword goes with the half its start lies in
        one = [kws[1]]
        self.assertEqual(streams.split_streams(pair, one, True)[1], [])
        self.assertEqual(streams.split_streams(pair, one, False)[1], one)

    def test_margin(self):
        # without a margin the second half's choice (0.55, to catch its 0.60
        # word at one false alarm) lets the first half's three through on
        # held-out data (720/h); half the bounds hold on both folds
        best = streams.choose_detection(FakeModel(), self.tmp.name, intervals=(500.0,), smoothings=(0.0,),
                                        max_fa_per_hour=250.0, log=lambda m: None, margins=(1.0, 0.5, 0.0))
        rows = {r["margin"]: r for r in best["cross_validation"]}
        self.assertEqual([f["threshold"] for f in rows[1.0]["folds"]], [0.65, 0.55])
        self.assertAlmostEqual(rows[1.0]["false_alarms_per_hour"], 360.0)
        self.assertFalse(rows[1.0]["within"])
        self.assertEqual([f["threshold"] for f in rows[0.5]["folds"]], [0.9, 0.65])
        self.assertAlmostEqual(rows[0.5]["false_alarms_per_hour"], 120.0)
        self.assertTrue(rows[0.5]["within"])
        self.assertEqual(best["margin"], 0.5)
        # the final choice on the whole streams within 125/h: one event, the 0.85
        self.assertEqual((best["threshold"], best["val_miss_rate"]), (0.65, 0.5))
        self.assertAlmostEqual(best["val_false_alarms_per_hour"], 120.0)
        # margins are factors on the bounds
        for bad in ((1.5,), (-0.1, 1.0), (float("nan"),)):
            with self.assertRaisesRegex(ValueError, "factors in"):
                streams.choose_detection(FakeModel(), self.tmp.name, intervals=(500.0,), smoothings=(0.0,),
                                         max_fa_per_hour=250.0, log=lambda m: None, margins=bad)
        # no margins: as before, no cross-validation in the choice
        self.assertNotIn("margin", streams.choose_detection(FakeModel(), self.tmp.name, intervals=(500.0,),
                                                            smoothings=(0.0,), max_fa_per_hour=250.0,
                                                            log=lambda m: None))


class TestClassOffsets(unittest.TestCase):
    """Per-keyword thresholds (choose_class_offsets) on a hand-made negative
    stream of 2 h, a window every 0.5 s: "yes" looks like a keyword once in
    each hour, at 0.72 in the first and 0.80 in the second; "no" never
    reaches 0.5."""

    class Model4(FakeModel):
        labels = ["_silence_", "_unknown_", "yes", "no"]
        num_classes, keywords = 4, [2, 3]

    def stream(self):
        n = 2 * 3600 * 2
        probs = np.tile(np.array([0.05, 0.9, 0.05, 0.0], np.float32), (n, 1))
        probs[1000] = [0.0, 0.28, 0.72, 0.0]
        probs[n // 2 + 1000] = [0.0, 0.20, 0.80, 0.0]
        probs[50] = [0.0, 0.55, 0.0, 0.45]
        return {"times_ns": [int(i * 0.5e9) for i in range(n)], "probs": probs, "seconds": 7200.0}

    def choose(self, max_fa):
        return streams.choose_class_offsets(self.Model4(), self.stream(), {"threshold": 0.9},
                                            max_fa_per_hour=max_fa, log=lambda m: None)

    def test_margin_by_cross_validation(self):
        # margin 0: "yes" fitted on the first hour (quiet from 0.75) fires in
        # the second (0.80), fitted on the second (0.85) not in the first:
        # 0.5 false alarms per held-out hour on average
        c = self.choose(1.0)
        self.assertEqual(c["margin"], 0)
        self.assertEqual(c["thresholds"], {"yes": 0.85, "no": 0.5})
        # within 0.4/h: margin 1 (0.8 still fires at 0.80) is not enough, 2 is
        c = self.choose(0.4)
        self.assertEqual(c["margin"], 2)
        self.assertEqual(c["thresholds"], {"yes": 0.93, "no": 0.7})
        logit = lambda p: np.log(p / (1 - p))
        self.assertEqual(c["class_offsets"][:2], [0.0, 0.0])
        self.assertAlmostEqual(c["class_offsets"][2], logit(0.93) - logit(0.9), places=4)
        self.assertAlmostEqual(c["class_offsets"][3], logit(0.7) - logit(0.9), places=4)


class TestKeywordWindows(unittest.TestCase):
    """keyword_windows on a hand-made run: windows every 0.5 s, two "yes"
    keywords by two voices; the first is heard (0.95), the second never
    gets above 0.3 and is heard as _unknown_."""

    def test_per_voice(self):
        import json
        from beenet_train.data.voices import speaker_id
        voices = ["espeak:en+m7", "flite:slt"]
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "eval", "stream"))
            with open(os.path.join(d, "voices.json"), "w") as f:
                json.dump({v: {} for v in voices}, f)
            with open(os.path.join(d, "eval", "stream", "keywords.tsv"), "w") as f:
                f.write("label\tstart\tend\tsource\n")
                f.write("yes\t2.2\t2.6\t%s_nohash_0.wav\n" % speaker_id(voices[0]))
                f.write("yes\t6.2\t6.6\t%s_nohash_1.wav\n" % speaker_id(voices[1]))
            probs = np.tile(np.array([0.8, 0.15, 0.05], np.float32), (20, 1))
            probs[4] = [0.0, 0.05, 0.95]    # window 2.0-3.0 s holds the first word
            probs[12] = [0.0, 0.7, 0.3]     # window 6.0-7.0 s holds the second
            probs[11] = [0.0, 0.8, 0.2]     # 5.5-6.5 s: does not hold it
            run = {"times_ns": [int(i * 0.5e9) for i in range(20)], "probs": probs, "window_s": 1.0}
            saved = streams.Model, streams.read_wav, streams.classify_stream
            streams.Model = lambda path: FakeModel()
            streams.read_wav = lambda path: np.zeros(16000 * 10, np.float32)
            streams.classify_stream = lambda *a, **k: run
            try:
                r = streams.keyword_windows("model.gguf", os.path.join(d, "eval"), 500.0, data=d)
            finally:
                streams.Model, streams.read_wav, streams.classify_stream = saved
        self.assertEqual(r["keywords"], 2)
        self.assertEqual((r["best_ge_0.5"], r["best_ge_0.9"], r["any"]), (0.5, 0.5, 0.5))
        self.assertEqual(r["unheard_as"], {"_unknown_": 1})
        self.assertEqual([(v["group"], v["n"], v["best_ge_0.5"]) for v in r["by_voice"]],
                         [("flite:slt", 1, 0.0), ("eSpeak +m7 (all accents)", 1, 1.0)])

    def test_by_share(self):
        """Windows over the bound are split by the share of the word they
        hold: the whole word heard right, half of it heard as another
        keyword, a window under the bound not counted."""
        class TwoKeywords(FakeModel):
            labels = ["_silence_", "_unknown_", "yes", "no"]
            num_classes = 4
        kws = [{"label": "yes", "start": 2.2, "end": 2.6}]
        probs = np.tile(np.array([0.8, 0.2, 0.0, 0.0], np.float32), (8, 1))
        probs[4] = [0.0, 0.05, 0.95, 0.0]   # 2.0-3.0 s: the whole word, right
        probs[3] = [0.0, 0.3, 0.0, 0.7]     # 1.5-2.5 s: 75 % of it, heard as "no"
        probs[5] = [0.0, 0.5, 0.0, 0.5]     # 2.5-3.5 s: 25 %, under 0.6
        run = {"times_ns": [int(i * 0.5e9) for i in range(8)], "probs": probs, "window_s": 1.0}
        r = streams.windows_by_share(TwoKeywords(), run, kws, 0.6)
        self.assertEqual(r["right"], [0, 0, 0, 0, 1])
        self.assertEqual(r["wrong"], [0, 0, 1, 0, 0])
        self.assertEqual(r["wrong_pairs"], {"yes->no (part)": 1})


MODEL = os.path.join(TRAIN_DIR, "..", "models", "kws12.gguf")
BUILD = os.path.dirname(os.path.dirname(os.path.abspath(os.environ.get("BEENET_LIB", "build/engine/x"))))


@unittest.skipUnless(shutil.which("espeak-ng") and os.environ.get("BEENET_LIB"), "needs espeak-ng and the engine")
class TestRefinedWindows(unittest.TestCase):
    """After a window whose likeliest keyword is above the refine level, the
    window refine_offset (half the interval) later is classified too; the grid itself does not move."""

    @classmethod
    def setUpClass(cls):
        from beenet_train.data.audio import read_wav, resample, write_wav
        from beenet_train.frontend import Model
        cls.tmp = tempfile.TemporaryDirectory()
        raw, cls.wav = os.path.join(cls.tmp.name, "raw.wav"), os.path.join(cls.tmp.name, "speech.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-g", "40", "-w", raw,
                        "the weather is fine. yes. we walked along the river. stop. left."], check=True)
        from beenet_train.data.audio import read_wav_rate
        x, rate = read_wav_rate(raw)
        write_wav(cls.wav, np.concatenate([resample(x, rate, 16000), np.zeros(8000, np.float32)]))
        cls.wave = read_wav(cls.wav)
        cls.model = Model(MODEL)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_level(self, level):
        return streams.classify_stream(self.model, self.wave, 250.0, None, refine_level=level)

    def test_offset(self):
        self.assertEqual(streams.refine_offset(4000), 2000)
        self.assertEqual(streams.refine_offset(333), 166)
        self.assertEqual(streams.refine_offset(1), 0)

    def test_refined_after_keyword_windows(self):
        grid = self.run_level(1.0)
        self.assertFalse(grid["refined"].any())
        self.assertEqual(grid["times_ns"], [k * 250_000_000 for k in range(len(grid["times_ns"]))])
        kws = self.model.keywords
        for level in (0.0, 0.5):
            r = self.run_level(level)
            t, ref = np.array(r["times_ns"]), r["refined"]
            np.testing.assert_array_equal(t[~ref], grid["times_ns"])      # the grid does not move
            np.testing.assert_array_equal(r["probs"][~ref], grid["probs"])
            asked = [i for i in np.where(~ref)[0] if r["probs"][i, kws].max() > level
                     and t[i] // 62500 + 2000 + 16000 <= self.wave.size]   # the refined window fits (ns -> samples)
            self.assertEqual(np.where(ref)[0].tolist(), [i + 1 for i in asked])
            np.testing.assert_array_equal(t[ref], t[np.array(asked, int)] + 125_000_000)
        self.assertTrue(0 < self.run_level(0.5)["refined"].sum() < len(grid["times_ns"]))

    def test_same_windows_as_beenet_classify(self):
        tool = os.path.join(BUILD, "tools", "beenet-classify")
        if not os.path.exists(tool):
            self.skipTest(tool + " not built")
        r = self.run_level(0.5)
        p = subprocess.run([tool, "--model", MODEL, "--interval", "250", "--refine-level", "0.5", self.wav],
                           capture_output=True, text=True, check=True)
        rows = [line.split("\t") for line in p.stdout.splitlines() if line and not line.startswith("#")]
        rows = [x for x in rows if float(x[2]) >= 1.0]      # windows of real samples only (no padded tail)
        self.assertEqual([round(float(x[1]) * 1000) for x in rows], [t // 1_000_000 for t in r["times_ns"]])
        self.assertEqual([x[3] for x in rows], [self.model.labels[int(i)] for i in r["probs"].argmax(1)])


if __name__ == "__main__":
    unittest.main()
