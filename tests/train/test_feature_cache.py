#!/usr/bin/python3
"""The feature cache (train/beenet_train/fcache.py, docs/scale.md "Feature
cache") on the tiny generated corpus of test_distributed:

* a build is deterministic (two builds are byte-identical) and sharded:
  the shards are disjoint and their union is the whole cache, equal entry
  by entry to one unsharded build and to the front-end run on the clip;
* a stale cache is detected (a changed clip, another front-end
  configuration, a missing shard) and rebuilt;
* without augmentation a cached batch is the on-the-fly batch, bit for bit;
* the feature-domain steps (frame shift, gain, log-add of noise) match the
  front-end run on the shifted / scaled / noisy waveform;
* 2 gloo processes train with --feature-cache (each builds its shard), end
  with identical parameters, and the loss falls.
"""
import json
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_distributed as T  # noqa: E402

from beenet_train import fcache  # noqa: E402


def shard_files(root):
    return sorted(n for n in os.listdir(root) if n.startswith("shard-"))


class TestFeatureCache(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from beenet_train.frontend import Frontend
        from beenet_train.corpus import Corpus
        cls._tmp = tempfile.TemporaryDirectory()
        cls.d = cls._tmp.name
        cls.data = os.path.join(cls.d, "corpus")
        T.make_corpus(cls.data)
        cls.corpus = Corpus(cls.data)
        cls.fe = Frontend()
        cls.plan = fcache.Plan(cls.corpus, cls.fe)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def build(self, name, count):
        root = os.path.join(self.d, name)
        for s in range(count):
            fcache.build_shard(root, self.plan, s, count)
        fcache._write_json(os.path.join(root, "manifest.json"), fcache.manifest(self.plan, count))
        return root

    def test_shards_union_is_the_whole(self):
        one = fcache.FeatureCache(self.build("one", 1), self.plan)
        two = fcache.FeatureCache(self.build("two", 2), self.plan)
        n = len(self.plan.names)
        self.assertGreater(len(self.plan.clip_index), 40)
        self.assertGreater(len(self.plan.pools), 3)           # noise file + 3 coloured noises
        self.assertEqual([len(f) for f in two.feats], [(n + 1) // 2, n // 2])   # disjoint, complete
        for i in range(n):
            np.testing.assert_array_equal(one.features(i), two.features(i), self.plan.names[i])
            np.testing.assert_array_equal(one.meta_of(i), two.meta_of(i), self.plan.names[i])
        # a clip's cached features are the front-end's on the clip as the trainer reads it
        for ex in self.corpus.splits["train"][:5]:
            i = self.plan.clip_index[ex.path]
            np.testing.assert_array_equal(two.features(i), self.fe.compute(self.corpus.wave(ex)))

    def test_build_is_deterministic(self):
        a, b = self.build("det-a", 2), self.build("det-b", 2)
        self.assertEqual(shard_files(a), shard_files(b))
        for name in shard_files(a) + ["manifest.json"]:
            with open(os.path.join(a, name), "rb") as fa, open(os.path.join(b, name), "rb") as fb:
                self.assertEqual(fa.read(), fb.read(), name)

    def test_stale_cache_is_detected_and_rebuilt(self):
        from beenet_train.data.audio import write_wav
        from beenet_train.frontend import Frontend, default_config
        from beenet_train.corpus import Corpus
        data = os.path.join(self.d, "stale-corpus")
        shutil.copytree(self.data, data)
        root = os.path.join(self.d, "stale-cache")
        corpus = Corpus(data)
        plan = fcache.Plan(corpus, self.fe)
        self.assertEqual(fcache.status(root, plan), "missing")
        fcache.prepare(root, corpus, self.fe)
        self.assertEqual(fcache.status(root, fcache.Plan(Corpus(data), self.fe)), "current")
        # another front-end configuration
        cfg = default_config()
        cfg.n_mels = 32
        self.assertEqual(fcache.status(root, fcache.Plan(corpus, Frontend(cfg))), "stale")
        # a missing shard
        os.remove(fcache.shard_base(root, 0, 1) + ".json")
        self.assertEqual(fcache.status(root, plan), "stale")
        fcache.prepare(root, corpus, self.fe)
        self.assertEqual(fcache.status(root, plan), "current")
        # a clip rewritten: the key changes, the cache is rebuilt with the new clip
        ex = corpus.splits["train"][0]
        write_wav(ex.path, (0.2 * np.sin(np.arange(16000) * 0.3)).astype(np.float32))
        st = os.stat(ex.path)
        os.utime(ex.path, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
        corpus2 = Corpus(data)
        self.assertEqual(fcache.status(root, fcache.Plan(corpus2, self.fe)), "stale")
        cache = fcache.prepare(root, corpus2, self.fe)
        self.assertNotEqual(cache.plan.key, plan.key)
        np.testing.assert_array_equal(cache.features(cache.plan.clip_index[ex.path]),
                                      self.fe.compute(corpus2.wave(ex)))
        with open(os.path.join(root, "manifest.json")) as f:
            self.assertEqual(json.load(f)["key"], cache.plan.key)

    def test_unaugmented_batch_is_the_on_the_fly_batch(self):
        from beenet_train.batches import DEFAULT_FEATURE_AUG, prepare_batch
        from beenet_train.corpus import train_items
        cache = fcache.FeatureCache(self.build("batch", 2), self.plan)
        cached = fcache.CachedExamples(cache, self.corpus, 0.25)
        items = train_items(self.corpus, 0, 0)
        fa = dict(DEFAULT_FEATURE_AUG)
        for b in range(3):
            a = prepare_batch(self.corpus, self.fe, items, 16, False, fa, 0, 0, b)
            c = prepare_batch(self.corpus, self.fe, items, 16, False, fa, 0, 0, b, cached=cached)
            np.testing.assert_array_equal(a[0], c[0])
            np.testing.assert_array_equal(a[1], c[1])
        # augmented: deterministic per example, finite, differs from the clean features
        x = prepare_batch(self.corpus, self.fe, items, 16, True, fa, 0, 0, 1, cached=cached)[0]
        y = prepare_batch(self.corpus, self.fe, items, 16, True, fa, 0, 0, 1, cached=cached)[0]
        np.testing.assert_array_equal(x, y)
        self.assertTrue(np.isfinite(x).all())
        self.assertFalse(np.array_equal(x, prepare_batch(self.corpus, self.fe, items, 16, False, fa, 0, 0, 1)[0]))

    def test_feature_domain_steps(self):
        from beenet_train.data.augment import Augmenter
        fe = self.fe
        hop = int(fe.config.hop_length)
        floor = float(np.log(np.float32(fe.config.log_floor)))
        w = self.corpus.wave(self.corpus.splits["train"][3])
        f = fe.compute(w)
        # time shift by whole frames = frame shift (away from the window's edges)
        for k in (7, -5):
            g = fe.compute(Augmenter.shift(w, k * hop))
            s = fcache.frame_shift(f, k, floor)
            inner = slice(abs(k) + 3, f.shape[0] - abs(k) - 3)
            np.testing.assert_allclose(s[inner], g[inner], atol=2e-3)
        # gain: a constant in the log domain
        g = fe.compute(w * np.float32(0.5))
        above = g > floor + 1.0
        np.testing.assert_allclose((f + 2 * np.log(0.5))[above], g[above], atol=2e-3)
        # noise: log-add of the noise's features approximates the noisy clip's
        noise = (0.05 * np.random.default_rng(1).standard_normal(w.size)).astype(np.float32)
        true = fe.compute(w + noise)
        mixed = fcache.log_add(f, fe.compute(noise), 1.0, floor)
        err, err_clean = np.abs(mixed - true).mean(), np.abs(f - true).mean()
        self.assertLess(err, 0.25)
        self.assertLess(err, 0.2 * err_clean)


class TestFeatureCacheDistributed(unittest.TestCase):
    """2 gloo processes train with --feature-cache on the tiny corpus."""

    def test_two_processes_with_the_cache(self):
        import torch
        with tempfile.TemporaryDirectory() as d:
            data, cache = os.path.join(d, "corpus"), os.path.join(d, "cache")
            T.make_corpus(data)
            T.run_ranks(2, {"data": data, "out": os.path.join(d, "two.gguf"),
                            "kw": {"feature_cache": cache, "sync_bn": True, "epochs": 3},
                            "save": os.path.join(d, "two-%d.pt")}, d)
            two = [torch.load(os.path.join(d, "two-%d.pt" % r)) for r in range(2)]
            for k, v in two[0]["final"].items():
                self.assertTrue(torch.equal(v, two[1]["final"][k]), k)
            info = two[0]["training"]["feature_cache"]
            self.assertEqual(info["shards"], 2)
            self.assertEqual(shard_files(cache), sorted(
                "shard-%05d-of-00002%s" % (s, e) for s in range(2) for e in (".json", ".meta.npy", ".npy")))
            with open(os.path.join(cache, "manifest.json")) as f:
                m = json.load(f)
            self.assertEqual((m["key"], m["shards"]), (info["key"], 2))
            loss = [h["loss"] for h in two[0]["history"]]
            self.assertEqual(len(loss), 3)
            self.assertLess(loss[-1], loss[0], loss)


if __name__ == "__main__":
    unittest.main(verbosity=2)
