"""Table 2 of the study (beenet_train.table2) and the single-exit models it trains:

* model.single_exit_config (train --single-exit K) builds, for every family,
  the joint network's layers up to exit k with that exit alone: the same
  graph structure up to the exit, the same OPs;
* the driver on a tiny generated corpus and network (2 exits, 2 epochs a
  run): the joint run and one run per exit, all with the same budget; the
  single-exit files load in the engine with one exit whose cost is the joint
  network's cost up to that exit; the table holds the measured E_s and E_m;
* resumable: a rerun reuses every finished run's JSON (nothing retrained); a
  run whose results are gone continues from its resume file; --report-only
  writes the table of the finished runs without training the others.

Run: BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train:tests/train /usr/bin/python3 tests/train/test_table2.py
"""
import json
import os
import sys
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "train"))
sys.path.insert(0, HERE)

from beenet_train import frontend as fe  # noqa: E402
from beenet_train import table2  # noqa: E402
from beenet_train.model import BeeNet, build_graph, graph_shapes_and_ops, single_exit_config  # noqa: E402

TINY = {"stem_channels": 4, "stages": [[16, 1], [32, 1]], "exits": [1, 2]}
STRUCTURE = ("op", "inputs", "kernel", "stride", "padding", "groups", "out_channels", "activation",
             "channel_offset")


def small_configs():
    from test_parity import SMALL_CONFIG
    from test_parity_birealnet import BIREAL_SMALL_CONFIG
    from test_parity_densenet import DENSE_SMALL_CONFIG
    from test_parity_meliusnet import MELIUS_SMALL_CONFIG
    return [SMALL_CONFIG, BIREAL_SMALL_CONFIG, DENSE_SMALL_CONFIG, MELIUS_SMALL_CONFIG]


def structure_and_costs(nodes):
    _, costs = graph_shapes_and_ops(nodes, (98, 64), 12)
    return [{k: n[k] for k in STRUCTURE if k in n} for n in nodes], [f + b / 64.0 for b, f in costs]


def exit_path(nodes, k):
    """The nodes the k-th exit depends on (itself included; not the other exits' heads), in
    order, with their inputs renumbered as in a graph of these nodes alone."""
    x = [i for i, n in enumerate(nodes) if n["op"] == "exit"][k - 1]
    keep, todo = set(), [x]
    while todo:
        i = todo.pop()
        if i not in keep:
            keep.add(i)
            todo += [a - 1 for a in nodes[i]["inputs"] if a > 0]   # node i writes activation i + 1
    order = sorted(keep)
    act = {0: 0}
    act.update({i + 1: j + 1 for j, i in enumerate(order)})
    return [dict(nodes[i], inputs=[act[a] for a in nodes[i]["inputs"]]) for i in order], order


class TestSingleExitConfig(unittest.TestCase):
    def test_every_family_is_the_joint_path_to_the_exit(self):
        for cfg in small_configs():
            joint = build_graph(BeeNet(cfg).eval())
            _, jcost = structure_and_costs(joint)
            n_exits = sum(n["op"] == "exit" for n in joint)
            for k in range(1, n_exits + 1):
                sc = single_exit_config(cfg, k)
                self.assertEqual(sc["single_exit"], [k, n_exits])
                single, scost = structure_and_costs(build_graph(BeeNet(sc).eval()))
                path, order = exit_path(joint, k)
                self.assertEqual(single, structure_and_costs(path)[0], (cfg["name"], k))
                self.assertAlmostEqual(sum(scost), sum(jcost[i] for i in order), delta=1e-6 * sum(jcost))
                # the checkpoint's config rebuilds the same network
                self.assertEqual(structure_and_costs(build_graph(BeeNet(dict(sc)).eval()))[0], single)

    def test_bad_exit(self):
        with self.assertRaises(ValueError):
            single_exit_config(TINY, 3)
        with self.assertRaises(ValueError):
            single_exit_config(TINY, 0)


class TestDriver(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from test_distributed import open_tiny_corpus
        d = open_tiny_corpus(cls)
        cls.out = os.path.join(d, "runs")
        cls.md = os.path.join(d, "results.md")
        cls.args = ["--data", cls.data, "--out", cls.out, "--epochs", "2", "--families", "quicknet",
                    "--config", json.dumps(TINY), "--batch-size", "8", "--threads", "1", "--resume-minutes", "0",
                    "--quiet", "--write", cls.md]
        table2.main(cls.args)
        cls.runs = {n: cls.load(n) for n in ("joint", "exit1", "exit2")}

    @classmethod
    def load(cls, name):
        with open(os.path.join(cls.out, "quicknet-%s.json" % name)) as f:
            return json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_same_budget_and_layout(self):
        for name, r in self.runs.items():
            self.assertEqual(r["epochs"], 2, name)
            self.assertEqual(r["clips"], self.runs["joint"]["clips"])
        self.assertEqual(self.runs["joint"]["num_exits"], 2)
        self.assertEqual([self.runs[n]["num_exits"] for n in ("exit1", "exit2")], [1, 1])
        self.assertEqual([self.runs[n]["single_exit"] for n in ("joint", "exit1", "exit2")], [None, 1, 2])

    def test_single_exit_models_in_the_engine(self):
        from beenet_train.evaluate import nodes_from_gguf
        jpath = os.path.join(self.out, "quicknet-joint.gguf")
        joint = fe.Model(jpath)
        jnodes = nodes_from_gguf(jpath)
        feats = np.random.default_rng(0).normal(-6.0, 2.5, (3, 98, 64)).astype(np.float32)
        for k in (1, 2):
            path = os.path.join(self.out, "quicknet-exit%d.gguf" % k)
            m = fe.Model(path)
            self.assertEqual(m.num_exits, 1)
            self.assertEqual(m.labels, joint.labels)
            # the engine's cost of the file: the joint network's path to exit k
            sub, _ = exit_path(jnodes, k)
            self.assertEqual(structure_and_costs(nodes_from_gguf(path))[0], structure_and_costs(sub)[0])
            self.assertAlmostEqual(m.total_ops, sum(structure_and_costs(sub)[1]), delta=1e-6 * m.total_ops)
            s = m.session()
            for f in feats:
                r = s.classify_features(f, "entropy", threshold=0.0)
                self.assertEqual(r["exit_index"], 1)
                self.assertEqual(r["class_index"], int(s.run_all_exits(f)[0].argmax()))

    def test_table(self):
        with open(self.md) as f:
            text = f.read()
        self.assertEqual(text.count(table2.BEGIN), 1)
        self.assertIn("python3 -m beenet_train.table2 --data", text)
        joint = self.runs["joint"]
        for k in (1, 2):
            es, em = self.runs["exit%d" % k]["accuracy"][0], joint["accuracy"][k - 1]
            self.assertIn("| %d | %.3f | %.2f %% | %.2f %% | %+.2f |" % (
                k, self.runs["exit%d" % k]["total_ops"] / 1e6, 100 * es, 100 * em, 100 * (es - em)), text)
        self.assertIn("Budget 2 epochs a run", text)

    def test_report_only(self):
        """--report-only trains nothing and shows an unfinished run as such."""
        res = os.path.join(self.out, "quicknet-exit2.json")
        os.rename(res, res + ".aside")
        try:
            md = os.path.join(os.path.dirname(self.md), "partial.md")
            before = sorted(os.listdir(self.out))
            table2.main([a if a != self.md else md for a in self.args] + ["--report-only"])
            self.assertEqual(sorted(os.listdir(self.out)), before)
            with open(md) as f:
                text = f.read()
            self.assertIn("| 2 |  | not run yet | %.2f %% |  |" % (100 * self.runs["joint"]["accuracy"][1]), text)
            self.assertIn("2 of 3 runs finished", text)
            self.assertNotIn("--report-only", text)
        finally:
            os.rename(res + ".aside", res)

    def test_batch_cache(self):
        """The runs share their batches through <out>/batches (the joint run makes them, the
        single-exit runs read them back) and a run that makes its own ends with the same weights;
        the key follows the data settings and the corpus' files."""
        import torch
        from beenet_train import bcache
        from beenet_train.frontend import Frontend
        from beenet_train.corpus import Corpus
        from beenet_train.train import train
        root = os.path.join(self.out, "batches")
        keys = os.listdir(root)
        self.assertEqual(len(keys), 1)
        files = sorted(n for n in os.listdir(os.path.join(root, keys[0])) if n.endswith(".npz"))
        self.assertEqual({n.split("-")[0] for n in files}, {"e0", "e1"})   # 2 epochs
        self.assertEqual(len(files) % 2, 0)
        own = train(self.data, os.path.join(os.path.dirname(self.out), "own-exit1.gguf"), seed=0, epochs=2,
                    threads=1, batch_size=8, config=dict(TINY, family="quicknet"), single_exit=1, quiet=True)
        self.assertNotIn("batch_cache", own["training"])
        shared = torch.load(os.path.join(self.out, "quicknet-exit1.pt"), weights_only=False)
        self.assertIn("batch_cache", shared["training"])
        self.assertEqual(sorted(own["state_dict"]), sorted(shared["state_dict"]))
        for k, v in own["state_dict"].items():
            self.assertTrue(torch.equal(v, shared["state_dict"][k]), k)
        corpus, fe = Corpus(self.data), Frontend()
        k0, _ = bcache.batch_key(corpus, fe, {"seed": 0})
        self.assertEqual(k0, bcache.batch_key(corpus, fe, {"seed": 0})[0])
        self.assertNotEqual(k0, bcache.batch_key(corpus, fe, {"seed": 1})[0])
        clip = corpus.splits["train"][0].path
        st = os.stat(clip)
        os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
        try:
            self.assertNotEqual(k0, bcache.batch_key(corpus, fe, {"seed": 0})[0])
        finally:
            os.utime(clip, ns=(st.st_atime_ns, st.st_mtime_ns))

    def test_rerun_reuses_and_resumes(self):
        import torch
        stamps = {n: os.path.getmtime(os.path.join(self.out, "quicknet-%s.json" % n)) for n in self.runs}
        # exit2: results gone, resume file kept and marked (10 minutes already spent) so that
        # continuing from it shows in the run's metadata
        for ext in (".json", ".gguf", ".pt"):
            os.remove(os.path.join(self.out, "quicknet-exit2" + ext))
        rp = os.path.join(self.out, "quicknet-exit2.resume.pt")
        st = torch.load(rp, weights_only=False)
        self.assertEqual(st["epoch"], 1)          # saved in the last epoch, before its last step
        st["spent"] = 600.0
        torch.save(st, rp)
        table2.main(self.args)
        for n in ("joint", "exit1"):
            self.assertEqual(os.path.getmtime(os.path.join(self.out, "quicknet-%s.json" % n)), stamps[n], n)
        again = self.load("exit2")
        self.assertEqual(again["resumed_after_minutes"], 10.0)
        self.assertEqual(again["epochs"], 2)
        self.assertEqual(again["accuracy"], self.runs["exit2"]["accuracy"])
        self.assertEqual(self.runs["exit2"]["resumed_after_minutes"], 0.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
