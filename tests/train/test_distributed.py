#!/usr/bin/python3
"""The trainer under torch.distributed (gloo, 2 local processes) on a tiny
generated corpus and a small network, a few steps (docs/scale.md):

* both ranks end with identical parameters;
* with the same global batch and seed, and SyncBatchNorm, the 2-process
  run ends with the parameters of a 1-process run (float tolerance);
* the loss falls;
* the resume file written by rank 0 (mid-epoch) resumes on 1 process and,
  through torchrun and the command line, on 2 processes, and ends where
  the uninterrupted 2-process run ended.

Processes are started with MASTER_ADDR/MASTER_PORT/RANK/WORLD_SIZE set (the
env:// rendezvous) and once with torchrun as the docs show it.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

import numpy as np

TRAIN_DIR = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))
sys.path.insert(0, TRAIN_DIR)
PY = "/usr/bin/python3"
TINY_NET = {"stem_channels": 4, "stages": [[16, 1], [32, 1]], "exits": [1, 2]}
# global batch 8; 48 training clips + 10 % silence -> 6 steps an epoch
KW = dict(seed=0, epochs=3, minutes=0, threads=1, quiet=True, batch_size=8, lr=2e-3,
          config=TINY_NET, resume_minutes=0)
TIMEOUT = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_corpus(root: str, n_speakers: int = 6) -> None:
    """A GSC-layout corpus: 10 keywords + 1 unknown word, ``n_speakers``
    speakers (the last two for val and test), one 1 s clip each: a
    word-specific two-tone chirp with a speaker-specific pitch, in a little
    noise."""
    from beenet_train.data.audio import write_wav
    from beenet_train.data.gsc import KWS12_KEYWORDS
    words = list(KWS12_KEYWORDS) + ["bed"]
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000.0
    speakers = ["%08x" % (0x1000 + i) for i in range(n_speakers)]
    lists = {"val": [], "test": []}
    for wi, w in enumerate(words):
        os.makedirs(os.path.join(root, w))
        for si, spk in enumerate(speakers):
            f0 = (300.0 + 60.0 * wi) * (1.0 + 0.05 * (si % 6))
            env = np.exp(-((t - 0.5) / 0.15) ** 2)
            x = 0.3 * env * (np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(2 * np.pi * (2.5 * f0 + 200 * t) * t))
            x += 0.01 * rng.standard_normal(t.size)
            rel = "%s/%s_nohash_0.wav" % (w, spk)
            write_wav(os.path.join(root, rel), x.astype(np.float32), rng=rng)
            if si == n_speakers - 2:
                lists["val"].append(rel)
            elif si == n_speakers - 1:
                lists["test"].append(rel)
    for split, name in (("val", "validation_list.txt"), ("test", "testing_list.txt")):
        with open(os.path.join(root, name), "w") as f:
            f.write("".join(r + "\n" for r in sorted(lists[split])))
    os.makedirs(os.path.join(root, "_background_noise_"))
    write_wav(os.path.join(root, "_background_noise_", "white_noise.wav"),
              (0.05 * rng.standard_normal(3 * 16000)).astype(np.float32), rng=rng)


def open_tiny_corpus(cls) -> str:
    """For setUpClass: cls._tmp (a temporary directory, cleaned up by the
    caller's tearDownClass), cls.d (its path) and cls.data (make_corpus in it)."""
    cls._tmp = tempfile.TemporaryDirectory()
    cls.d = cls._tmp.name
    cls.data = os.path.join(cls.d, "corpus")
    make_corpus(cls.data)
    return cls.d


def worker(args: dict) -> None:
    """One rank (RANK/WORLD_SIZE in the environment): train, save what it ends with."""
    import torch
    from beenet_train.train import train
    kw = dict(KW, **args["kw"])
    ck = train(args["data"], args.get("out"), resume=args.get("resume"), **kw)
    rank = int(os.environ.get("RANK", "0"))
    res = {"final": ck["final_state_dict"]}
    if "state_dict" in ck:
        res.update(best=ck["state_dict"], history=ck["history"], training=ck["training"])
    torch.save(res, args["save"] % rank)


def run_ranks(n: int, args: dict, tmp: str) -> None:
    """Start n worker processes with the env:// variables and wait for them."""
    port = free_port()
    procs = []
    for r in range(n):
        env = dict(os.environ, PYTHONPATH=TRAIN_DIR, RANK=str(r), WORLD_SIZE=str(n), LOCAL_RANK=str(r),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        if n == 1:
            for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
                env.pop(k)
        log = open(os.path.join(tmp, "rank%d-%d.log" % (r, port)), "w")
        procs.append((subprocess.Popen([PY, os.path.abspath(__file__), "--worker", json.dumps(args)],
                                       env=env, stdout=log, stderr=subprocess.STDOUT), log))
    for p, log in procs:
        try:
            rc = p.wait(timeout=TIMEOUT)
        finally:
            log.close()
        if rc != 0:
            for q, _ in procs:
                q.kill()
                q.wait()
            with open(log.name) as f:
                raise AssertionError("rank exited with %d:\n%s" % (rc, f.read()[-4000:]))


class TestDistributed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import torch
        d = open_tiny_corpus(cls)
        # 1 process
        run_ranks(1, {"data": cls.data, "out": os.path.join(d, "one.gguf"), "kw": {},
                      "save": os.path.join(d, "one-%d.pt")}, d)
        # 2 processes, SyncBatchNorm; rank 0 writes the resume file at every step
        run_ranks(2, {"data": cls.data, "out": os.path.join(d, "two.gguf"), "kw": {"sync_bn": True},
                      "resume": os.path.join(d, "two.resume.pt"), "save": os.path.join(d, "two-%d.pt")}, d)
        cls.one = torch.load(os.path.join(d, "one-0.pt"))
        cls.two = [torch.load(os.path.join(d, "two-%d.pt" % r)) for r in range(2)]

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def assertClose(self, a, b, what, atol=2e-4):
        import torch
        self.assertEqual(sorted(a), sorted(b))
        for k in a:
            if a[k].dtype.is_floating_point:
                diff = float((a[k] - b[k]).abs().max()) if a[k].numel() else 0.0
                self.assertTrue(torch.allclose(a[k], b[k], rtol=1e-4, atol=atol), "%s: %s differs by %g"
                                % (what, k, diff))
            else:
                self.assertTrue(torch.equal(a[k], b[k]), "%s: %s" % (what, k))

    def params(self, state):
        from beenet_train.model import BeeNet
        names = {n for n, _ in BeeNet(TINY_NET).named_parameters()}
        return {k: v for k, v in state.items() if k in names}

    def test_ranks_hold_identical_parameters(self):
        import torch
        a, b = self.params(self.two[0]["final"]), self.params(self.two[1]["final"])
        self.assertTrue(a)
        for k in a:
            self.assertTrue(torch.equal(a[k], b[k]), k)
        self.assertClose(self.two[0]["final"], self.two[1]["final"], "rank 0 vs rank 1 buffers")

    def test_same_as_one_process(self):
        """Same losses to 1e-3 and the same parameters within Adam's float
        tolerance: a parameter whose gradient is near zero moves by about
        lr a step whatever the gradient's size, so float-level differences
        (summation order in the all-reduce) can move it by a few lr over
        the 18 steps; the mean difference stays at float level."""
        import torch
        l1 = [h["loss"] for h in self.one["history"]]
        l2 = [h["loss"] for h in self.two[0]["history"]]
        np.testing.assert_allclose(l1, l2, rtol=1e-3)
        a, b = self.params(self.one["final"]), self.params(self.two[0]["final"])
        diffs = torch.cat([(a[k] - b[k]).abs().flatten() for k in a])
        self.assertLess(float(diffs.max()), 10 * KW["lr"], "largest parameter difference")
        self.assertLess(float(diffs.mean()), 1e-4, "mean parameter difference")
        self.assertEqual(self.two[0]["training"]["processes"], 2)
        self.assertTrue(self.two[0]["training"]["sync_bn"])
        # DDP all-reduced every float32 parameter's gradient once per step
        from beenet_train.model import BeeNet
        n = sum(p.numel() for p in BeeNet(TINY_NET).parameters())
        self.assertEqual(self.two[0]["training"]["allreduce_bytes_per_step"], 4 * n)

    def test_loss_falls(self):
        for run in (self.one, self.two[0]):
            loss = [h["loss"] for h in run["history"]]
            self.assertEqual(len(loss), KW["epochs"])
            self.assertLess(loss[-1], loss[0], loss)

    def test_resume_on_one_and_two_processes(self):
        import torch
        d = self.d
        saved = torch.load(os.path.join(d, "two.resume.pt"))
        self.assertEqual(saved["epoch"], KW["epochs"] - 1)   # saved before the last step: mid-epoch
        self.assertGreater(saved["b"], 0)
        # on 1 process (env unset), through the train() API
        shutil.copy(os.path.join(d, "two.resume.pt"), os.path.join(d, "r1.resume.pt"))
        run_ranks(1, {"data": self.data, "out": os.path.join(d, "r1.gguf"), "kw": {},
                      "resume": os.path.join(d, "r1.resume.pt"), "save": os.path.join(d, "r1-%d.pt")}, d)
        r1 = torch.load(os.path.join(d, "r1-0.pt"))
        self.assertClose(self.two[0]["final"], r1["final"], "resumed on 1 process")
        self.assertClose(self.two[0]["best"], r1["best"], "resumed on 1 process (best epoch)")
        # on 2 processes: torchrun as docs/scale.md gives it, the command line, rank 0's files
        shutil.copy(os.path.join(d, "two.resume.pt"), os.path.join(d, "r2.resume.pt"))
        cmd = ["torchrun", "--redirects", "1", "--tee", "1", "--log_dir", os.path.join(d, "torchrun-logs"),
               "--nnodes", "1", "--nproc_per_node", "2", "--rdzv_backend", "c10d",
               "--rdzv_endpoint", "127.0.0.1:%d" % free_port(),
               "-m", "beenet_train", "train", "--data", self.data, "--out", os.path.join(d, "r2.gguf"),
               "--resume", os.path.join(d, "r2.resume.pt"), "--sync-bn", "--seed", "0", "--epochs",
               str(KW["epochs"]), "--minutes", "0", "--threads", "1", "--batch-size", str(KW["batch_size"]),
               "--config", json.dumps(TINY_NET)]
        if not shutil.which("torchrun"):
            self.skipTest("torchrun not installed")
        r = subprocess.run(cmd, env=dict(os.environ, PYTHONPATH=TRAIN_DIR), capture_output=True, text=True,
                           timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        self.assertIn("resumed from", r.stdout + r.stderr)
        self.assertIn("2 processes (gloo)", r.stdout + r.stderr)
        ck = torch.load(os.path.join(d, "r2.pt"))
        self.assertClose(self.two[0]["best"], ck["state_dict"], "resumed on 2 processes (best epoch)")
        self.assertEqual(ck["training"]["processes"], 2)
        self.assertTrue(os.path.getsize(os.path.join(d, "r2.gguf")) > 0)

    def test_global_batch_must_divide(self):
        from beenet_train import distributed as D
        self.assertEqual(D.local_batch(128, D.Dist(rank=1, world=4)), 32)
        self.assertEqual(D.rank_positions(8, D.Dist(rank=1, world=2)), [1, 3, 5, 7])
        with self.assertRaises(ValueError):
            D.local_batch(10, D.Dist(rank=0, world=4))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(json.loads(sys.argv[2]))
    else:
        unittest.main(verbosity=2)
