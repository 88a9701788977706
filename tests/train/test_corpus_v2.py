#!/usr/bin/python3
"""Corpus v2 on a --small corpus (~1.5 minutes): evaluation sets from held-out
material only, byte-identical when rebuilt; a killed training run resumes from its resume file and ends exactly where an
uninterrupted run ends (same weights), on a --small corpus v2 (~1 minute).

Also covers the corpus v2 epoch: the class mix, running-speech crops and the
recorded-voice weighting."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

TRAIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train")
sys.path.insert(0, TRAIN_DIR)
ENV = dict(os.environ, PYTHONPATH=os.path.abspath(TRAIN_DIR))


@unittest.skipUnless(shutil.which("espeak-ng"), "espeak-ng is not installed")
class TestResume(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = os.path.join(cls._tmp.name, "small")
        subprocess.run(["/usr/bin/python3", "-m", "beenet_train.data.synth", "--out", cls.root,
                        "--seed", "0", "--small"], env=ENV, check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_epoch_mix(self):
        from beenet_train.corpus import Corpus
        c = Corpus(self.root, seed=0, recorded_weight=3)
        self.assertTrue(c.v2)
        items = c.epoch_items("train", np.random.default_rng(0))
        kinds = [k for k, _, _ in items]
        labels = [l for _, _, l in items]
        n = len(items)
        self.assertAlmostEqual(kinds.count("silence") / n, c.mix["silence"], delta=0.02)
        self.assertAlmostEqual(kinds.count("crop") / n, c.mix["speech_crops"], delta=0.02)
        self.assertGreater(labels.count(c.unknown_index), kinds.count("crop"))
        exs = c.splits["train"]
        kw = [i for k, i, l in items if k == "clip" and l not in (c.unknown_index, c.silence_index)]
        rec = [i for i in kw if exs[i].speaker in c.recorded]
        self.assertTrue(rec, "no recorded-voice keyword clips")
        self.assertEqual(len(rec) % 3, 0)   # each one three times
        crop = c.crop("train", np.random.default_rng(1))
        self.assertEqual(crop.shape, (16000,))
        self.assertGreater(float(np.abs(crop).max()), 0.01)

    def test_hard_negatives(self):
        """The pool holds the candidates with the highest keyword posterior, and its crops are those sentences'."""
        import torch
        from beenet_train.frontend import Frontend
        from beenet_train.model import BeeNet
        from beenet_train.corpus import Corpus
        from beenet_train.mining import mine_hard_negatives
        from beenet_train.validation import predict_logits
        c = Corpus(self.root, seed=0)
        torch.manual_seed(0)
        model = BeeNet({"num_classes": len(c.labels)})
        cfg = {"candidates": 64, "keep": 16}
        hard, stats = mine_hard_negatives(model, c, Frontend(), 0, 0, cfg)
        self.assertEqual(hard.shape, (16, 4))
        self.assertTrue((hard[:, 2] == 0).all() and (hard[:, 3] == -1).all())   # mined after epoch 0, clean
        again, _ = mine_hard_negatives(model, c, Frontend(), 0, 0, cfg)
        np.testing.assert_array_equal(hard, again)   # same seed, epoch and weights: same pool
        fe = Frontend()
        z = predict_logits(model, fe.compute_batch([c.crop_at("train", int(i), int(o)) for i, o, _, _ in hard]))[-1]
        p = np.exp(z - z.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        kw = [k for k in range(len(c.labels)) if k not in (c.silence_index, c.unknown_index)]
        self.assertGreaterEqual(float(p[:, kw].max(1).min()), stats["kept_min_post"] - 1e-5)
        w, mined = c.hard_crop(hard, 100.0, np.random.default_rng(0))
        self.assertEqual(w.shape, (16000,))
        self.assertIsNone(mined)      # mined clean: the batch augments it afresh
        w, mined = c.hard_crop(hard[:, :2], 100.0, np.random.default_rng(0))   # an older resume file's pool
        self.assertIsNone(mined)
        last = c.sentences["train"][-1]
        tail = c.crop_at("train", len(c.sentences["train"]) - 1, 10 ** 9)   # offset clamped into the sentence
        self.assertEqual(tail.shape, (16000,))
        if last.size >= 16000:
            np.testing.assert_array_equal(tail, last[-16000:].astype(np.float32) / 32768.0)

    def test_noisy_hard_negatives(self):
        """Noisy mining scores a share of the candidates under the training augmentation; the clean ones
        are those of clean mining, and a noisy one kept is trained on under the very augmentation it was
        scored under (its features again when the jitter draws 0)."""
        import torch
        from beenet_train.frontend import Frontend
        from beenet_train.model import BeeNet
        from beenet_train.corpus import Corpus
        from beenet_train.mining import candidate_features, candidate_noise_rng, mine_hard_negatives, mining_candidates
        c = Corpus(self.root, seed=0)
        torch.manual_seed(0)
        model = BeeNet({"num_classes": len(c.labels)})
        cfg = {"candidates": 64, "keep": 16, "noisy": 0.5}
        s0, o0, n0 = mining_candidates(c, 0, 3, {"candidates": 64})
        s1, o1, n1 = mining_candidates(c, 0, 3, cfg)
        np.testing.assert_array_equal(s0, s1)
        np.testing.assert_array_equal(o0, o1)
        self.assertFalse(n0.any())
        self.assertTrue(10 < int(n1.sum()) < 54)
        fe = Frontend()
        feats = candidate_features(c, fe, 0, 3, cfg)
        clean = candidate_features(c, fe, 0, 3, {"candidates": 64})
        np.testing.assert_array_equal(feats[~n1], clean[~n1])
        self.assertFalse(np.array_equal(feats[n1], clean[n1]))
        hard, stats = mine_hard_negatives(model, c, fe, 0, 3, dict(cfg, noisy=1.0))
        self.assertTrue((hard[:, 2] == 3).all() and (hard[:, 3] >= 0).all())
        self.assertEqual(stats["kept_noisy"], 1.0)
        feats = candidate_features(c, fe, 0, 3, dict(cfg, noisy=1.0))
        w, mined = c.hard_crop(hard[:1], 0.0, np.random.default_rng(0), seed=0)
        want = candidate_noise_rng(0, 3, int(hard[0, 3]))
        self.assertEqual(mined.random(), want.random())
        x = fe.compute_batch([c.augmenter(w, candidate_noise_rng(0, 3, int(hard[0, 3])))])[0]
        np.testing.assert_array_equal(x, feats[hard[0, 3]])

    def test_bad_hard_negatives(self):
        """A bad --hard-negatives is a clear error before anything loads."""
        from beenet_train.mining import check_hard_negatives
        self.assertEqual(check_hard_negatives({"noisy": 0.5})["noisy"], 0.5)
        for bad, word in (({"nosy": 0.5}, "unknown key"), ({"noisy": 1.5}, "noisy must be"),
                          ({"share": "x"}, "share must be"), ({"keep": 0}, "keep must be"),
                          ({"keep": 20000}, "exceeds candidates"), ({"jitter_ms": -1}, "jitter_ms"),
                          ([1], "not a JSON object")):
            with self.assertRaisesRegex(ValueError, word):
                check_hard_negatives(bad)
        self.assert_train_cli_error(["--hard-negatives", '{"nosy": 0.5}'],
                                    "error: --hard-negatives: hard negatives: unknown key(s) nosy")

    def test_partial_keywords(self):
        """A partial keyword is a fragment of a training keyword at one window
        edge, no longer than the asked share of the word; p_partial turns
        running-speech crops (never keyword clips) into them, labelled _unknown_."""
        from beenet_train.data.audio import active_region
        from beenet_train.frontend import Frontend
        from beenet_train.batches import DEFAULT_FEATURE_AUG, prepare_batch
        from beenet_train.corpus import Corpus
        c = Corpus(self.root, seed=0)
        edges = set()
        for k in range(40):
            w = c.partial_keyword((0.2, 0.3), np.random.default_rng(k))
            self.assertEqual(w.shape, (16000,))
            nz = np.nonzero(w)[0]
            self.assertGreater(nz.size, 0)
            at_start = nz[0] < 40        # the word's end entering at the window's start
            self.assertTrue(at_start or nz[-1] >= 16000 - 40, (nz[0], nz[-1]))
            edges.add(bool(at_start))
            s, e = active_region(w)
            self.assertLessEqual(e - s, 0.3 * 16000 + 1)
        self.assertEqual(edges, {True, False})
        c.wave = lambda ex: np.zeros(16000, np.float32)   # a silent source clip gives silence, not an error
        self.assertFalse(c.partial_keyword((0.2, 0.3), np.random.default_rng(0)).any())
        del c.wave
        items = [("crop", -1, c.unknown_index)] * 8 + [("clip", i, c.splits["train"][i].label_index)
                                                        for i in c._keyword_clips[:8]]
        fe = Frontend()
        on = dict(DEFAULT_FEATURE_AUG, p_partial=1.0)
        x, y, _ = prepare_batch(c, fe, items, 16, True, on, 0, 0, 0)
        off = prepare_batch(c, fe, items, 16, True, DEFAULT_FEATURE_AUG, 0, 0, 0)
        self.assertTrue(np.isfinite(x).all())
        np.testing.assert_array_equal(y, off[1])                 # labels unchanged: crops stay _unknown_
        self.assertTrue((y[:8] == c.unknown_index).all())
        self.assertFalse(np.array_equal(x[:8], off[0][:8]))      # the crops became fragments
        np.testing.assert_array_equal(x[8:], off[0][8:])         # keyword clips untouched

    def test_bad_feature_aug(self):
        """A bad p_partial or share range is a clear error before anything loads."""
        from beenet_train.train import train
        for bad, word in (({"p_partial": 1.5}, "p_partial"), ({"partial": [0.5, 0.2]}, "partial"),
                          ({"partial": 0.3}, "partial"), ({"p_parital": 0.5}, "unknown")):
            with self.assertRaisesRegex(ValueError, word):
                train("/nonexistent", os.path.join(self._tmp.name, "x.gguf"), feature_aug=bad, quiet=True)
        self.assert_train_cli_error(["--feature-aug", '{"p_partial": -1}'],
                                    "error: --feature-aug: feature_aug: p_partial = -1")

    def assert_train_cli_error(self, args, message):
        """`train` with these arguments exits with status 2 and a one-line message, no traceback."""
        r = subprocess.run(["/usr/bin/python3", "-m", "beenet_train", "train", "--data", self.root, "--out",
                            os.path.join(self._tmp.name, "x.gguf")] + args, env=ENV, capture_output=True, text=True)
        self.assertEqual(r.returncode, 2)
        self.assertIn(message, r.stderr)
        self.assertNotIn("Traceback", r.stderr)

    def test_mix(self):
        """--mix changes the epoch's shares; a bad one is a clear error before anything loads."""
        from beenet_train.corpus import Corpus, check_mix
        from beenet_train.train import train
        mix = check_mix({"keywords": 0.5, "speech_crops": 0.23})
        c = Corpus(self.root, seed=0, mix=mix)
        items = c.epoch_items("train", np.random.default_rng(0))
        kinds = [k for k, _, _ in items]
        n_kw = sum(1 for k, _, l in items if k == "clip" and l not in (c.unknown_index, c.silence_index))
        # shares relative to the keywords (the small corpus may run short of unknown words)
        self.assertAlmostEqual(kinds.count("crop") / n_kw, 0.23 / 0.5, delta=0.01)
        self.assertAlmostEqual(kinds.count("silence") / n_kw, 0.07 / 0.5, delta=0.01)
        for bad, word in (({"keywords": 0.6}, "sum to"), ({"speech": 0.1}, "unknown"),
                          ({"keywords": 0.0, "unknown_words": 0.78}, "keywords must be"),
                          ({"silence": -0.07, "speech_crops": 0.29}, "silence"), ([0.5], "not a JSON object")):
            with self.assertRaisesRegex(ValueError, word):
                train("/nonexistent", os.path.join(self._tmp.name, "x.gguf"), mix=bad, quiet=True)
        self.assert_train_cli_error(["--mix", '{"silence": 0.5}'], "error: --mix: mix: the shares sum to")

    def test_resume_is_exact(self):
        import torch
        from beenet_train.train import train
        d = self._tmp.name
        # hard negatives on: epoch 2 draws crops from the pool mined after epoch 1,
        # so the resume file must carry that pool
        kw = dict(seed=0, epochs=2, minutes=0, threads=1, quiet=True, batch_size=32,
                  hard_negatives={"share": 0.5, "candidates": 200, "keep": 50})
        a = train(self.root, os.path.join(d, "a.gguf"), resume=os.path.join(d, "a.resume.pt"),
                  resume_minutes=0, **kw)
        saved = torch.load(os.path.join(d, "a.resume.pt"), weights_only=False)
        self.assertEqual(saved["epoch"], 1)    # saved before the last step of epoch 2
        self.assertGreater(saved["b"], 0)
        self.assertEqual(saved["hard"].shape, (50, 4))
        self.assertEqual(a["history"][0]["hard_negatives"]["epoch"], 1)
        self.assertNotIn("hard_negatives", a["history"][1])   # nothing mined after the last epoch
        shutil.copy(os.path.join(d, "a.resume.pt"), os.path.join(d, "b.resume.pt"))
        b = train(self.root, os.path.join(d, "b.gguf"), resume=os.path.join(d, "b.resume.pt"), **kw)
        for k, v in a["state_dict"].items():
            self.assertTrue(torch.equal(v, b["state_dict"][k]), k)
        # (the .gguf files differ only in the recorded wall times)
        self.assertEqual(a["threshold"], b["threshold"])

    def test_mining_features_from_the_worker(self):
        """The batch worker makes the mining candidates' features in slices spread over the
        epoch's steps (all of them at once after a resume): the same features as made in place."""
        from beenet_train.frontend import Frontend
        from beenet_train.batches import BatchMaker
        from beenet_train.corpus import Corpus
        from beenet_train.mining import DEFAULT_HARD_NEGATIVES, MiningFeatures, candidate_features
        c = Corpus(self.root, seed=0)
        cfg = dict(DEFAULT_HARD_NEGATIVES, share=0.5, candidates=30)
        want = candidate_features(c, Frontend(), 3, 1, cfg)
        self.assertEqual(want.shape[0], 30)
        maker = BatchMaker(c, 8, True, {}, 3, None, None, cfg)
        try:
            for first_b in (0, 7):                       # 7: a run resumed in the middle of the epoch
                mf = MiningFeatures(maker, 1, 30, 10, chunks=4)
                for b in range(first_b, 10):
                    mf.step(b)
                    if b == first_b == 7:                # the slices of steps 0-7 at once
                        self.assertEqual(len(mf.jobs), 3)
                self.assertEqual(len(mf.jobs), 4)        # all submitted by nine tenths of the epoch
                self.assertTrue(np.array_equal(mf.get(), want))
            self.assertEqual(len(MiningFeatures(maker, 1, 3, 10).bounds), 3)   # no empty slices
        finally:
            maker.close()

    def test_bf16_precision(self):
        """--precision bf16 trains the same batches with bfloat16 arithmetic: other weights, the
        choice recorded in the checkpoint, float32 master weights; a bad value is a clear error."""
        import torch
        from beenet_train.train import train
        d = self._tmp.name
        kw = dict(seed=0, epochs=1, minutes=0, threads=1, quiet=True, batch_size=32, max_train=200,
                  max_eval=100, resume=None)
        a = train(self.root, os.path.join(d, "fp32.gguf"), **kw)
        b = train(self.root, os.path.join(d, "bf16.gguf"), precision="bf16", **kw)
        self.assertNotIn("precision", a["training"])          # the default's metadata is unchanged
        self.assertEqual(b["training"]["precision"], "bf16")
        for k, v in b["state_dict"].items():
            self.assertEqual(v.dtype, a["state_dict"][k].dtype, k)
        conv = "blocks.0.conv.weight"
        self.assertIn(conv, a["state_dict"])
        self.assertFalse(torch.equal(a["state_dict"][conv], b["state_dict"][conv]))
        self.assertEqual(b["state_dict"][conv].dtype, torch.float32)
        with self.assertRaisesRegex(ValueError, "precision 'fp16'"):
            train(self.root, os.path.join(d, "x.gguf"), precision="fp16", **kw)
        self.assert_train_cli_error(["--precision", "fp16"], "invalid choice: 'fp16'")


    def test_label_smoothing(self):
        """--label-smoothing smooths every exit's cross-entropy target: other weights, recorded in the
        checkpoint; the loss is PyTorch's smoothed cross-entropy; a bad value is a clear error."""
        import torch
        import torch.nn.functional as F
        from beenet_train.losses import exit_losses
        from beenet_train.train import train
        z, y = torch.randn(6, 12), torch.tensor([0, 3, 5, 7, 11, 2])
        soft = exit_losses([z, z], y, "softmax", 0.1)
        want = (-(0.9 * F.one_hot(y, 12) + 0.1 / 12) * F.log_softmax(z, 1)).sum(1).mean()
        self.assertTrue(torch.allclose(soft[0], want) and torch.allclose(soft[1], want))
        self.assertTrue(torch.allclose(exit_losses([z, z], y, "bce", 0.1)[-1], want))   # the last exit's CE
        self.assertTrue(torch.equal(exit_losses([z], y)[0], F.cross_entropy(z, y)))    # default: none
        d = self._tmp.name
        kw = dict(seed=0, epochs=1, minutes=0, threads=1, quiet=True, batch_size=32, max_train=200,
                  max_eval=100, resume=None)
        a = train(self.root, os.path.join(d, "ls0.gguf"), **kw)
        b = train(self.root, os.path.join(d, "ls1.gguf"), label_smoothing=0.1, **kw)
        self.assertNotIn("label_smoothing", a["training"])
        self.assertEqual(b["training"]["label_smoothing"], 0.1)
        conv = "blocks.0.conv.weight"
        self.assertFalse(torch.equal(a["state_dict"][conv], b["state_dict"][conv]))
        for bad in (1.0, -0.1):
            with self.assertRaisesRegex(ValueError, "label smoothing"):
                train(self.root, os.path.join(d, "x.gguf"), label_smoothing=bad, **kw)
        self.assert_train_cli_error(["--label-smoothing", "1.5"], "error: --label-smoothing: label smoothing 1.5")

    def test_select(self):
        """--select last keeps the weights after the last step, --select best (the default) the best
        validation epoch's: the same training, the kept epoch's validation accuracy re-measured on the
        kept weights, the choice recorded; a bad value is a clear error."""
        import torch
        from beenet_train.train import train
        d = self._tmp.name
        kw = dict(seed=0, epochs=3, minutes=0, threads=1, quiet=True, batch_size=32, max_train=200,
                  max_eval=100, resume=None)
        a = train(self.root, os.path.join(d, "best.gguf"), **kw)
        b = train(self.root, os.path.join(d, "last.gguf"), select="last", **kw)
        self.assertEqual([h["val_acc"] for h in a["history"]], [h["val_acc"] for h in b["history"]])
        self.assertNotIn("select", a["training"])          # the default's metadata is unchanged
        self.assertEqual((b["training"]["select"], b["training"]["kept_epoch"]), ("last", 3))
        best = a["training"]["best_epoch"]
        self.assertEqual(b["training"]["best_epoch"], best)
        self.assertEqual(a["training"]["val_final_accuracy"], a["history"][best - 1]["val_acc"][-1])
        self.assertEqual(b["training"]["val_final_accuracy"], b["history"][-1]["val_acc"][-1])
        self.assertEqual(a["training"]["val_accuracy"], a["history"][best - 1]["val_acc"])
        self.assertEqual(b["training"]["val_accuracy"], b["history"][-1]["val_acc"])
        same = all(torch.equal(v, b["state_dict"][k]) for k, v in a["state_dict"].items())
        self.assertEqual(same, best == 3)
        with self.assertRaisesRegex(ValueError, "select 'first'"):
            train(self.root, os.path.join(d, "x.gguf"), select="first", **kw)
        self.assert_train_cli_error(["--select", "first"], "invalid choice: 'first'")

    def test_select_ema(self):
        """--select ema keeps the weights averaged over every step, with the batch-norm statistics that
        validate better, recorded; a run resumed from its resume file ends with the same average and
        statistics; with a decay near 0 the average is the last step's weights; a bad decay is a clear
        error."""
        import shutil
        import torch
        from beenet_train.train import train
        d = self._tmp.name
        kw = dict(seed=0, epochs=2, minutes=0, threads=1, quiet=True, batch_size=32, max_train=200,
                  max_eval=100)
        a = train(self.root, os.path.join(d, "ema.gguf"), select="ema", ema_decay=0.9,
                  resume=os.path.join(d, "ema.resume.pt"), resume_minutes=0, **kw)
        e = a["training"]["ema"]
        steps = int(torch.load(os.path.join(d, "ema.resume.pt"), weights_only=False)["step"]) + 1
        self.assertEqual((a["training"]["select"], e["decay"], e["updates"]), ("ema", 0.9, steps))
        self.assertIn(e["bn"], ("averaged", "recalibrated"))
        self.assertGreater(e["bn_batches"], 0)
        kept = e["val_final_recalibrated_bn" if e["bn"] == "recalibrated" else "val_final_averaged_bn"]
        self.assertEqual(a["training"]["val_final_accuracy"], kept)   # re-measured on the kept weights
        self.assertEqual(a["training"]["val_accuracy"][-1], kept)
        self.assertEqual(kept, max(e["val_final_recalibrated_bn"], e["val_final_averaged_bn"]))   # the better
        conv = "blocks.0.conv.weight"
        self.assertFalse(torch.equal(a["state_dict"][conv], a["final_state_dict"][conv]))   # an average
        shutil.copy(os.path.join(d, "ema.resume.pt"), os.path.join(d, "ema2.resume.pt"))
        b = train(self.root, os.path.join(d, "ema2.gguf"), select="ema", ema_decay=0.9,
                  resume=os.path.join(d, "ema2.resume.pt"), **kw)
        for k, v in a["state_dict"].items():
            self.assertTrue(torch.equal(v, b["state_dict"][k]), k)
        self.assertEqual(a["training"]["ema"], b["training"]["ema"])
        c = train(self.root, os.path.join(d, "near0.gguf"), select="ema", ema_decay=1e-9, resume=None, **kw)
        for name, _ in c["model"].named_parameters():   # the weights after the last step
            self.assertTrue(torch.allclose(c["state_dict"][name], c["final_state_dict"][name], atol=1e-6), name)
        with self.assertRaisesRegex(ValueError, "averaging decay"):
            train(self.root, os.path.join(d, "x.gguf"), select="ema", ema_decay=1.0, resume=None, **kw)
        self.assert_train_cli_error(["--select", "ema", "--ema-decay", "0"], "error: --ema-decay: averaging decay 0")

    def test_evalsets(self):
        import filecmp
        import json
        from beenet_train.data import evalsets as E
        d = self._tmp.name
        outs = [E.build(self.root, os.path.join(d, "ev%d" % i), "test", 0, 0.5, 0.5, log=open(os.devnull, "w"))
                for i in range(2)]
        # byte-identical when rebuilt
        for sub in ("clean", "babble0", "stream"):
            cmp = filecmp.dircmp(os.path.join(outs[0], sub), os.path.join(outs[1], sub))
            self.assertEqual(cmp.diff_files, [], sub)
            self.assertEqual(cmp.left_only + cmp.right_only, [], sub)
        with open(os.path.join(self.root, "voices.json")) as f:
            voices = json.load(f)
        from beenet_train.data.voices import speaker_id
        test_spk = {speaker_id(v) for v, sp in voices.items() if sp == "test"}
        rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(outs[0], "clean", "labels.tsv"))][1:]
        kinds = {r[2] for r in rows}
        self.assertEqual(kinds, {"keyword", "word", "crop", "silence"})
        for fn, label, kind, src in rows:
            if kind in ("keyword", "word"):
                self.assertIn(os.path.basename(src)[:8], test_spk, src)   # held-out voice
                if kind == "keyword":
                    self.assertEqual(src.split("/")[0], label)
        meta = json.load(open(os.path.join(outs[0], "evalset.json")))
        self.assertTrue(all(n in os.listdir(os.path.join(self.root, "_sounds_", "test"))
                            for n in meta["sounds"]))                     # held-out sounds
        # the noisy sets are the clean ones plus noise (same items, lower SNR)
        from beenet_train.data.audio import read_wav
        a = read_wav(os.path.join(outs[0], "clean", rows[1][0]))
        b = read_wav(os.path.join(outs[0], "babble0", rows[1][0]))
        if rows[1][2] != "silence":
            snr = 10 * np.log10(np.mean(a ** 2) / np.mean((b - a) ** 2))
            self.assertAlmostEqual(snr, 0.0, delta=1.0)
        self.assertNotIn("negative_extra_sentences", meta)   # test voices already read the test count
        # keyword stream: the listed times hold speech, keywords in order
        kw = [l.rstrip("\n").split("\t") for l in open(os.path.join(outs[0], "stream", "keywords.tsv"))][1:]
        self.assertGreater(len(kw), 3)
        ends = [float(r[2]) for r in kw]
        self.assertEqual(ends, sorted(ends))
        y = read_wav(os.path.join(outs[0], "stream", "keywords.wav"))
        self.assertGreaterEqual(y.size / 16000.0, 30.0)
        self.assertLessEqual(ends[-1] * 16000, y.size)

    def test_keyword_stream_conditions(self):
        """keyword_stream's snr_db and pauses_s change only what they name, and
        bench/stream_conditions.py measures each condition with the engine."""
        from beenet_train.data import evalsets as E
        mat = E.Material(self.root, "test")
        y, rows = E.keyword_stream(mat, 0.5, 0)
        q, rows_q = E.keyword_stream(mat, 0.5, 0, snr_db=None)
        self.assertEqual(rows, rows_q)                      # same keywords at the same times
        self.assertEqual(y.shape, q.shape)
        d = y - q * np.float32(np.abs(y).max() / max(np.abs(q).max(), 1e-9))
        self.assertGreater(float(np.abs(d).max()), 1e-3)     # the noise is gone
        _, rows_l = E.keyword_stream(mat, 0.5, 0, pauses_s=(1.3, 2.0))
        gaps = [b[1] - a[2] for a, b in zip(rows_l, rows_l[1:])]
        self.assertGreater(min(gaps), 2 * 1.3)               # two long pauses + a sentence between keywords
        model = os.path.join(TRAIN_DIR, "..", "models", "kws12.gguf")
        lib = os.environ.get("BEENET_LIB")
        if not lib or not os.path.isfile(model):
            self.skipTest("BEENET_LIB or models/kws12.gguf missing")
        tool = os.path.join(TRAIN_DIR, "..", "bench", "stream_conditions.py")
        # a split directory with a negative stream, for --negative
        neg, _ = E.negative_stream(mat, 1.0, 0)
        self.assertTrue(np.array_equal(E.noise_blocks(mat, neg.copy(), 0, None, 0x24), neg))
        self.assertFalse(np.array_equal(E.noise_blocks(mat, neg.copy(), 0, 10.0, 0x24), neg))
        split_dir = os.path.join(self._tmp.name, "negonly", "test")
        os.makedirs(os.path.join(split_dir, "stream"), exist_ok=True)
        E.write_wav(os.path.join(split_dir, "stream", "negative.wav"), neg, rng=np.random.default_rng(0))
        out = subprocess.run(["/usr/bin/python3", tool, "--model", model, "--corpus", self.root, "--split", "test",
                              "--minutes", "0.5", "--conditions", "as built,no noise", "--negative", split_dir],
                             env=ENV, check=True, capture_output=True, text=True).stdout
        negs = [l.split("|")[1:-1] for l in out.splitlines()
                if l.startswith("| ") and (" dB |" in l or "(clean)" in l)]
        self.assertEqual([r[0].strip() for r in negs], ["as written (clean)", "20 dB", "10 dB"])
        for r in negs:
            self.assertAlmostEqual(float(r[1]), 1.0 / 60, places=2)
            self.assertTrue(all(float(c) >= 0.0 for c in r[2:]), r)
        out = out.split("false alarms per hour")[0]
        for n in ("as built", "no noise"):
            for th in ("default", "0.5"):
                self.assertIn("%s, at %s: a keyword heard as another (said->heard) " % (n, th), out)
        table = [l.split("|")[1:-1] for l in out.splitlines() if l.startswith("| ") and "%" in l]
        self.assertEqual([r[0].strip() for r in table], ["as built", "no noise"])
        for r in table:
            self.assertEqual(int(r[1]), len(rows))
            shares = [float(c.strip(" %")) for c in (r[2], r[4], r[6], r[7])]
            self.assertTrue(all(0.0 <= s <= 100.0 for s in shares), r)
            self.assertLessEqual(shares[1], shares[2])      # no hit at 0.5 without the class reaching 0.5
            self.assertLessEqual(shares[3], shares[2])
            for c in (r[3], r[5]):      # wrong (of them on a keyword)
                wrong, on_kw = (int(x) for x in c.replace("(", " ").replace(")", " ").split())
                self.assertLessEqual(on_kw, wrong)
        bad = subprocess.run(["/usr/bin/python3", tool, "--model", model, "--corpus", self.root,
                              "--conditions", "loud"], env=ENV, capture_output=True, text=True)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("unknown condition", bad.stderr)
        bad = subprocess.run(["/usr/bin/python3", tool, "--model", model, "--corpus", self.root,
                              "--negative", self.root], env=ENV, capture_output=True, text=True)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("no such file", bad.stderr)

    def test_wrong_detections(self):
        """bench/wrong_detections.py splits the keyword stream's wrong detections into confusions,
        doubles and detections between keywords, and agrees with streams.evaluate_streams."""
        from beenet_train import streams as S
        from beenet_train.data import evalsets as E
        from beenet_train.frontend import Model
        model = os.path.join(TRAIN_DIR, "..", "models", "kws12.gguf")
        if not os.environ.get("BEENET_LIB") or not os.path.isfile(model):
            self.skipTest("BEENET_LIB or models/kws12.gguf missing")
        ev = E.build(self.root, os.path.join(self._tmp.name, "wd"), "test", 0, 0.5, 0.5, log=open(os.devnull, "w"))
        tool = os.path.join(TRAIN_DIR, "..", "bench", "wrong_detections.py")
        out = subprocess.run(["/usr/bin/python3", tool, "--model", model, "--evalset", ev, "--thresholds", "0.5", "0.3"],
                             env=ENV, check=True, capture_output=True, text=True).stdout
        rows = [[c.strip() for c in l.split("|")[1:-1]] for l in out.splitlines() if l.startswith("| 0.")]
        self.assertEqual([r[0] for r in rows], ["0.30", "0.50"])     # ascending
        want = S.evaluate_streams(Model(model), ev, roc_thresholds=(0.3, 0.5))["roc"]
        for r, w in zip(rows, want):
            self.assertAlmostEqual(float(r[1].rstrip(" %")), 100 * w["miss_rate"], places=2)
            self.assertAlmostEqual(float(r[2]), w["false_alarms_per_hour"], places=1)
            self.assertEqual(int(r[3]), w["false_alarms_keyword_stream"])
            self.assertEqual(int(r[3]), int(r[4]) + int(r[5]) + int(r[6]))
        self.assertIn("commonest confusions at 0.30: ", out)
        bad = subprocess.run(["/usr/bin/python3", tool, "--model", model, "--evalset", self.root],
                             env=ENV, capture_output=True, text=True)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("no stream/keywords.wav", bad.stderr)

    def test_window_snr(self):
        """bench/window_snr.py: one row per condition and model, shares that
        can only fall from argmax to 0.5 to 0.9, and a clear error for a
        missing model."""
        model = os.path.join(TRAIN_DIR, "..", "models", "kws12.gguf")
        if not os.environ.get("BEENET_LIB") or not os.path.isfile(model):
            self.skipTest("BEENET_LIB or models/kws12.gguf missing")
        tool = os.path.join(TRAIN_DIR, "..", "bench", "window_snr.py")
        out = subprocess.run(["/usr/bin/python3", tool, "--model", model, "--model", model, "--corpus", self.root,
                              "--split", "test", "--windows", "40", "--snr", "10"],
                             env=ENV, check=True, capture_output=True, text=True).stdout
        table = [l.split("|")[1:-1] for l in out.splitlines() if l.startswith("| ") and "%" in l]
        self.assertEqual([r[0].strip() for r in table], ["clean"] * 2 + ["babble 10 dB"] * 2 + ["sound 10 dB"] * 2)
        for a, b in zip(table[::2], table[1::2]):
            self.assertEqual(a[2:], b[2:])                  # the same model twice: the same figures
        noisy = subprocess.run(["/usr/bin/python3", tool, "--model", model, "--corpus", self.root, "--split", "test",
                                "--noise-split", "train", "--windows", "40", "--snr", "10"],
                               env=ENV, check=True, capture_output=True, text=True).stdout
        self.assertIn("noise of the train split", noisy)
        rows = [l.split("|")[1:-1] for l in noisy.splitlines() if l.startswith("| ") and "%" in l]
        self.assertEqual(rows[0][2:], table[0][2:])         # clean: no noise drawn, the same windows
        self.assertNotEqual(rows[1][2:] + rows[2][2:], table[2][2:] + table[4][2:])
        for r in table:
            right, half, most = (float(c.strip(" %")) for c in r[2:5])
            self.assertTrue(0.0 <= most <= half <= 100.0, r)
            self.assertLessEqual(half, right + 1e-9)        # posterior >= 0.5 is always the argmax
        bad = subprocess.run(["/usr/bin/python3", tool, "--model", model + ".missing", "--corpus", self.root],
                             env=ENV, capture_output=True, text=True)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("no such model file", bad.stderr)

    def test_card_on_validation(self):
        """card --split val measures <evalset>/val and says so (figures for
        decisions taken before the test sets are looked at)."""
        from beenet_train.data import evalsets as E
        model = os.path.join(TRAIN_DIR, "..", "models", "kws12.gguf")
        if not os.environ.get("BEENET_LIB") or not os.path.isfile(model):
            self.skipTest("BEENET_LIB or models/kws12.gguf missing")
        ev = os.path.join(self._tmp.name, "ev-card")
        with open(os.devnull, "w") as quiet:
            for split in ("val", "test"):
                E.build(self.root, ev, split, 0, 0.5, 0.5, log=quiet)
        out = {}
        for split in ("val", "test"):
            card = os.path.join(self._tmp.name, "card-%s.md" % split)
            subprocess.run(["/usr/bin/python3", "-m", "beenet_train", "card", "--model", model, "--data", self.root,
                            "--evalset", ev, "--split", split, "--card", card], env=ENV, check=True,
                           capture_output=True)
            with open(card) as f:
                out[split] = f.read()
        self.assertIn("`%s/val`" % ev, out["val"])
        self.assertIn("Per-window sets (val split", out["val"])
        self.assertIn("Corpus val split (classic card)", out["val"])
        self.assertIn("`%s/test`" % ev, out["test"])
        with open(os.path.join(ev, "val", "clean", "labels.tsv")) as f:
            n_val = len(f.read().splitlines()) - 1
        self.assertIn("| clean | `new` | %d |" % n_val, out["val"])

    def test_evalsets_topup(self):
        """The negative stream's pool is topped up with held-out texts no voice of the corpus read,
        spoken by the split's own voices, byte-identically when rebuilt."""
        import filecmp
        import json
        from beenet_train.data import evalsets as E
        d = self._tmp.name
        outs = [E.build(self.root, os.path.join(d, "top%d" % i), "val", 0, 0.5, 0.2,
                        log=open(os.devnull, "w"), topup={"espeak": 2, "other": 2}) for i in range(2)]
        cmp = filecmp.dircmp(os.path.join(outs[0], "stream"), os.path.join(outs[1], "stream"))
        self.assertEqual(cmp.diff_files, [])
        meta = json.load(open(os.path.join(outs[0], "evalset.json")))
        self.assertGreater(meta["negative_extra_sentences"], 0)
        with open(os.path.join(self.root, "voices.json")) as f:
            val_voices = {v for v, sp in json.load(f).items() if sp == "val"}
        with open(os.path.join(self.root, "_sentences_", "sentences.json")) as f:
            corpus_texts = {m["text"] for m in json.load(f)}
        rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(outs[0], "stream", "negative.tsv"))][1:]
        new = [r for r in rows if r[3] not in corpus_texts]
        self.assertTrue(new, "no topped-up sentence in the stream")
        for _, _, voice, text in rows:
            self.assertIn(voice, val_voices)                              # held-out voices only
        from beenet_train.data import texts as T
        self.assertTrue(all(T.text_split(r[3], 0) == "val" for r in new))  # held-out (val) texts only


if __name__ == "__main__":
    unittest.main()
