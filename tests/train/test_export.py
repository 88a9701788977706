"""GGUF export round trip: the engine loads what the trainer writes.

Run: BEENET_LIB=<builddir>/engine/libbeenet.so PYTHONPATH=train /usr/bin/python3 tests/train/test_export.py
"""
import os
import struct
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "train"))

from beenet_train import frontend as fe  # noqa: E402
from beenet_train.binary import approx_sign, hard_sign, pack_signs, unpack_signs  # noqa: E402
from beenet_train.export import model_to_gguf, run_graph_numpy  # noqa: E402
from beenet_train.gguf_writer import GGUFWriter, T_STRING, T_U32, read_gguf  # noqa: E402
from beenet_train.model import BeeNet, ExitHead, build_graph, exit_ops_fractions  # noqa: E402

LABELS = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
# Small net: 24 and 40 channels exercise partial words (tail bits) in bconv2d/bdense.
SMALL = {"head_relu": True, "stem_channels": 4, "stages": [[24, 2], [40, 1]], "exits": [1, 3], "name": "test-small"}


def random_model(seed=0, config=SMALL):
    torch.manual_seed(seed)
    m = BeeNet(config)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.3, 0.3)
            if hasattr(mod, "binary_weight"):
                mod.weight.uniform_(-1, 1)
        m.feat_mean.uniform_(-8, -2)
        m.feat_inv_std.uniform_(0.2, 0.5)
    return m.eval()


class TestBitPacking(unittest.TestCase):
    def test_known_pattern(self):
        # 40 channels: -1 at channels 0, 5, 31, 33 -> word0 bits 0,5,31; word1 bit 1; tail bits zero.
        s = np.ones(40)
        s[[0, 5, 31, 33]] = -1
        words = pack_signs(s[None], 40)[0]
        self.assertEqual(words.dtype, np.uint32)
        self.assertEqual(list(words), [(1 << 0) | (1 << 5) | (1 << 31), 1 << 1])
        np.testing.assert_array_equal(unpack_signs(words, 40), s)

    def test_all_minus_one_tail_zero(self):
        words = pack_signs(-np.ones((2, 3, 24)), 24)
        self.assertEqual(words.shape, (2, 3, 1))
        self.assertTrue((words == (1 << 24) - 1).all())

    def test_sign_of_zero_is_plus_one(self):
        x = torch.tensor([-1.0, -0.0, 0.0, 1e-30, -1e-30])
        self.assertEqual(hard_sign(x).tolist(), [-1.0, 1.0, 1.0, 1.0, -1.0])

    def test_sign_and_gradient_are_the_reference(self):
        """hard_sign and ApproxSign's gradient, written with in-place arithmetic for speed,
        are bit-identical to torch.where and g * max(2 - 2|x|, 0) (NaN and -0 included),
        and leave the input as it was."""
        torch.manual_seed(0)
        x = torch.cat([torch.randn(4000) * 1.5, torch.tensor([0.0, -0.0, 1.0, -1.0, float("nan")])])
        one = torch.ones(())
        self.assertTrue(torch.equal(hard_sign(x), torch.where(x >= 0, one, -one)))
        g = torch.randn_like(x)
        xr = x.clone().requires_grad_(True)
        approx_sign(xr).backward(g)
        ref = g * torch.clamp(2.0 - 2.0 * x.abs(), min=0.0)
        self.assertTrue(torch.equal(xr.grad.nan_to_num(7.0), ref.nan_to_num(7.0)))
        self.assertTrue(torch.equal(xr.detach().nan_to_num(7.0), x.nan_to_num(7.0)))


class TestWriter(unittest.TestCase):
    def test_round_trip(self):
        w = GGUFWriter()
        w.add_string("general.architecture", "beenet")
        w.add_u32("a.u32", 7)
        w.add_f32("a.f32", 0.25)
        w.add_array("a.labels", T_STRING, ["x", "yy", "zzz"])
        w.add_array("a.arr", T_U32, [3, 1])
        t1 = np.arange(6, dtype=np.float32).reshape(2, 3)
        t2 = np.array([[0xFFFFFFFF, 1]], dtype=np.uint32)
        w.add_tensor("t1", t1)
        w.add_tensor("t2", t2)
        data = w.to_bytes()
        self.assertEqual(data[:4], b"GGUF")
        self.assertEqual(struct.unpack_from("<I", data, 4)[0], 3)
        kv, tensors = read_gguf(data)
        self.assertEqual(kv["a.u32"], 7)
        self.assertEqual(kv["a.f32"], 0.25)
        self.assertEqual(kv["a.labels"], ["x", "yy", "zzz"])
        self.assertEqual(kv["a.arr"], [3, 1])
        np.testing.assert_array_equal(tensors["t1"], t1)
        np.testing.assert_array_equal(tensors["t2"].view(np.uint32), t2)
        with self.assertRaises(ValueError):
            w.add_u32("a.u32", 1)

    def test_model_layout(self):
        m = random_model()
        nodes = build_graph(m)
        kv, tensors = read_gguf(model_to_gguf(m, LABELS, threshold=0.3).to_bytes())
        self.assertEqual(kv["beenet.node_count"], len(nodes))
        self.assertEqual(kv["beenet.exit_count"], 2)
        self.assertEqual(kv["beenet.labels"], LABELS)
        # first binary conv: weight ne = [ceil(24/32), kw, kh, Cout] -> numpy (24, 3, 3, 1)
        i = [k for k, n in enumerate(nodes) if n["op"] == "bconv2d"][0]
        self.assertEqual(tensors["node.%d.weight" % i].shape, (24, 3, 3, 1))
        w = hard_sign(m.blocks[0].conv.weight.detach()).numpy()      # (Cout, Cin, kh, kw)
        words = tensors["node.%d.weight" % i].view(np.uint32)
        got = unpack_signs(words, 24)                                 # (Cout, kh, kw, Cin)
        np.testing.assert_array_equal(got.transpose(0, 3, 1, 2), w)
        self.assertTrue(((words >> 24) == 0).all())
        # stem conv2d: ne = [Cin/groups, kw, kh, Cout]
        np.testing.assert_array_equal(tensors["node.0.weight"].shape, (4, 3, 3, 1))

    def test_numpy_reference_matches_torch(self):
        m = random_model(1)
        nodes = build_graph(m)
        x = torch.randn(2, 1, 98, 64)
        with torch.no_grad():
            outs = m(x)
        for i in range(2):
            ref = run_graph_numpy(nodes, x[i, 0].numpy())
            for a, b in zip(ref, outs):
                np.testing.assert_allclose(a, b[i].numpy(), rtol=1e-4, atol=1e-4)


def assert_exits_match_torch(m, nodes, em, in_hw, n=3):
    """Every exit's logits from the engine (em) and the numpy reference (nodes) are torch's (m)
    for n random log-Mel-like inputs of in_hw."""
    s = em.session()
    x = torch.randn(n, *in_hw) * 2.0 - 5.0
    with torch.no_grad():
        ref = torch.stack(m(m.normalise(x))).numpy()       # (exits, N, K)
    for i in range(n):
        np.testing.assert_allclose(s.run_all_exits(x[i].numpy()), ref[:, i], rtol=1e-4, atol=1e-4)
        npy = run_graph_numpy(nodes, m.normalise(x[i:i + 1])[0, 0].numpy())
        np.testing.assert_allclose(np.stack(npy), ref[:, i], rtol=1e-4, atol=1e-4)


class TestDenseExit(unittest.TestCase):
    """``dense_exits``: the named exits get a full-precision classifier (op ``dense``), the
    others stay binary; the engine and the numpy reference give torch's logits."""

    def test_engine_and_numpy_match_torch(self):
        m = random_model(8, dict(SMALL, dense_exits=[2]))
        with torch.no_grad():
            m.heads[1].fc.weight.normal_(0.0, 0.5)
            m.heads[1].scale.uniform_(0.5, 1.5)
            m.heads[1].bias.uniform_(-0.5, 0.5)
        nodes = build_graph(m)
        ops = [n["op"] for n in nodes]
        self.assertEqual((ops.count("bdense"), ops.count("dense")), (1, 1))
        self.assertLess(ops.index("bdense"), ops.index("dense"))          # exit 1 binary, exit 2 dense
        dense = nodes[ops.index("dense")]
        self.assertEqual(dense["weight"].shape, (12, 40))                  # (classes, channels), float
        data = model_to_gguf(m, LABELS).to_bytes()
        kv, tensors = read_gguf(data)
        self.assertEqual(kv["beenet.format_version"], 1)                   # dense is a version-1 op
        em = fe.Model(data=data)
        fr, tb, tf = exit_ops_fractions(nodes)
        self.assertEqual((em.total_bops, em.total_flops), (tb, tf))
        assert_exits_match_torch(m, nodes, em, (98, 64))

    def test_bad_dense_exits_rejected(self):
        for bad in ([3], [0], ["2"], [1.0]):      # SMALL has exits 1 and 2
            with self.assertRaisesRegex(ValueError, r"dense_exits: .* not an exit number 1\.\.2"):
                BeeNet(dict(SMALL, dense_exits=bad))
        self.assertTrue(BeeNet(dict(BIREAL_SMALL, dense_exits=[2])).heads[1].dense)   # every family takes it


class TestTimeMaxHead(unittest.TestCase):
    """``head_pool: time_max``: each exit pools over frequency, then takes the maximum over
    time (avgpool2d [1, W] + maxpool2d [H, 1] in the file, version 1); the engine and the numpy
    reference give torch's logits, and the head really is a maximum over time."""

    def test_engine_and_numpy_match_torch(self):
        for cfg in (dict(SMALL, head_pool="time_max"), dict(SMALL, head_pool="time_max", dense_exits=[2]),
                    dict(BIREAL_SMALL, head_pool="time_max")):
            m = random_model(9, cfg)
            nodes = build_graph(m)
            ops = [n["op"] for n in nodes]
            self.assertNotIn("global_avgpool", ops)
            heads = [(a, b) for a, b in zip(nodes, nodes[1:]) if a["op"] == "avgpool2d" and
                     b["op"] == "maxpool2d" and a["kernel"][0] == 1 and b["kernel"][1] == 1]
            self.assertEqual(len(heads), ops.count("exit"))                # one pair per exit
            hw = tuple(cfg.get("in_shape", (98, 64)))
            data = model_to_gguf(m, LABELS, frontend={"n_frames": hw[0], "n_mels": hw[1]}).to_bytes()
            if "family" not in cfg:
                self.assertEqual(read_gguf(data)[0]["beenet.format_version"], 1)
            em = fe.Model(data=data)
            fr, tb, tf = exit_ops_fractions(nodes, hw)
            self.assertEqual((em.total_bops, em.total_flops), (tb, tf))
            assert_exits_match_torch(m, nodes, em, hw)

    def test_pools_the_maximum_over_time(self):
        h = ExitHead(3, 2, relu=False, pool="time_max").eval()
        x = torch.zeros(1, 3, 4, 2)
        x[0, :, 2, :] = torch.tensor([1.0, 2.0, 3.0])[:, None]     # one time step lit, both bins
        x[0, :, 0, 0] = 4.0                                          # half of one time step
        with torch.no_grad():
            h.bn_in.running_mean.zero_()
            h.bn_in.running_var.fill_(1.0 - h.bn_in.eps)
            captured = {}
            h.bn_in.register_forward_hook(lambda mod, inp, out: captured.setdefault("x", inp[0]))
            h(x)
        # per channel: time step 0 averages to 2 (4 and 0), time step 2 to 1 / 2 / 3; the maximum is
        # 2 / 2 / 3, where the whole map's mean would be 0.75 / 1.0 / 1.25
        np.testing.assert_allclose(captured["x"].numpy(), [[2.0, 2.0, 3.0]])

    def test_unknown_pool_rejected(self):
        with self.assertRaisesRegex(ValueError, r"head_pool 'max': not one of avg, time_max"):
            BeeNet(dict(SMALL, head_pool="max"))


# Bi-Real Net with odd feature sizes (19 x 14 -> stem 5 x 3): the downsampling shortcut pools
# with padding on odd sides; 24 and 40 channels exercise tail bits.
BIREAL_SMALL = {"family": "birealnet", "name": "test-bireal", "in_shape": [19, 14],
                "stages": [[24, 2], [40, 2]], "exits": [2, 4]}


class TestExitLoss(unittest.TestCase):
    """--exit-loss bce: the loss of each exit, and the file says how its exits
    score classes (beenet.class_exclusion.score sigmoid)."""

    def test_losses(self):
        import torch.nn.functional as F
        from beenet_train.losses import exit_losses
        g = torch.Generator().manual_seed(0)
        outs = [torch.randn(5, 4, generator=g) for _ in range(3)]
        y = torch.tensor([0, 3, 1, 1, 2])
        soft = exit_losses(outs, y)
        for o, v in zip(outs, soft):
            self.assertAlmostEqual(float(v), float(F.cross_entropy(o, y)), places=6)
        bce = exit_losses(outs, y, "bce")
        self.assertAlmostEqual(float(bce[-1]), float(soft[-1]), places=6)   # the last exit keeps softmax
        # by hand: mean over clips and classes of -(3 t ln s + (1 - t) ln(1 - s)), s = sigmoid
        o = outs[0].double()
        t = F.one_hot(y, 4).double()
        s = torch.sigmoid(o)
        want = -(3.0 * t * torch.log(s) + (1 - t) * torch.log(1 - s)).mean()
        self.assertAlmostEqual(float(bce[0]), float(want), places=5)
        with self.assertRaises(ValueError):
            exit_losses(outs, y, "hinge")

    def test_score_key(self):
        m = random_model()
        kv, _ = read_gguf(model_to_gguf(m, LABELS, training={"exit_loss": "bce"}).to_bytes())
        self.assertEqual(kv["beenet.class_exclusion.score"], "sigmoid")
        self.assertEqual(kv["beenet.training.exit_loss"], "bce")
        data = model_to_gguf(m, LABELS, training={"seed": 0}).to_bytes()
        self.assertNotIn("beenet.class_exclusion.score", read_gguf(data)[0])
        self.assertEqual(fe.Model(data=data).exclusion_score, "softmax")


class TestCardText(unittest.TestCase):
    def test_intended_use_follows_the_task(self):
        from beenet_train.evaluate import intended_use
        self.assertTrue(intended_use(None, LABELS).startswith("Twelve-class keyword spotting"))
        self.assertEqual(intended_use("kws12", LABELS), intended_use(None, LABELS))
        lid = intended_use("lid6", ["en", "de", "fr", "es", "it", "ru"])
        self.assertTrue(lid.startswith("LID-6: spoken-language identification"), lid)
        self.assertIn("6 classes", lid)
        self.assertNotIn("Twelve", intended_use("kws31", ["x"] * 33))
        self.assertIn("Task `mine` (2 classes: `a`, `b`)", intended_use("mine", ["a", "b"]))


class TestBiRealExport(unittest.TestCase):
    def test_engine_and_numpy_match_torch(self):
        m = random_model(3, BIREAL_SMALL)
        nodes = build_graph(m)
        fr, tb, tf = exit_ops_fractions(nodes, (19, 14))
        data = model_to_gguf(m, LABELS, frontend={"n_frames": 19, "n_mels": 14}).to_bytes()
        kv, _ = read_gguf(data)
        self.assertEqual(kv["beenet.format_version"], 1)     # Bi-Real Net needs no version-2 op
        em = fe.Model(data=data)
        self.assertEqual((em.total_bops, em.total_flops), (tb, tf))
        ops = [n["op"] for n in nodes]
        self.assertEqual(ops.count("bconv2d"), 4)
        self.assertEqual(ops.count("avgpool2d"), 1)
        pool = nodes[ops.index("avgpool2d")]
        self.assertEqual(pool["padding"], [1, 1])               # 5 x 3: both sides odd
        s = em.session()
        x = torch.randn(3, 19, 14)
        with torch.no_grad():
            ref = torch.stack(m(m.normalise(x))).numpy()       # (exits, N, K)
        for i in range(3):
            got = s.run_all_exits(x[i].numpy())
            np.testing.assert_allclose(got, ref[:, i], rtol=1e-4, atol=1e-4)
            npy = run_graph_numpy(nodes, m.normalise(x[i:i + 1])[0, 0].numpy())
            np.testing.assert_allclose(np.stack(npy), ref[:, i], rtol=1e-4, atol=1e-4)

    def test_version_2_graph(self):
        # A grouped bconv2d makes the exporter write version 2; the engine and the numpy
        # reference agree on it.
        m = random_model(4)
        nodes = build_graph(m)
        i = next(k for k, n in enumerate(nodes) if n["op"] == "bconv2d")
        n = nodes[i]
        cin = n["out_channels"]
        w = np.where(np.random.default_rng(0).random((cin, 3, 3, cin // 2)) < 0.5, -1.0, 1.0)
        n["groups"], n["weight"] = 2, pack_signs(w, cin // 2)
        from beenet_train.export import graph_format_version, graph_to_gguf
        self.assertEqual(graph_format_version(nodes), 2)
        data = graph_to_gguf(nodes, LABELS, m.feat_mean.numpy(), m.feat_inv_std.numpy()).to_bytes()
        self.assertEqual(read_gguf(data)[0]["beenet.format_version"], 2)
        em = fe.Model(data=data)
        x = np.random.default_rng(1).normal(-5.0, 2.0, size=(98, 64)).astype(np.float32)
        got = em.session().run_all_exits(x)
        xn = (x - m.feat_mean.numpy()) * m.feat_inv_std.numpy()
        np.testing.assert_allclose(got, np.stack(run_graph_numpy(nodes, xn)), rtol=1e-4, atol=1e-4)


# BinaryDenseNet and MeliusNet with odd feature sizes (27 x 22 -> stem 7 x 5 -> 3 x 2 -> 1 x 1) and
# channel counts that are no multiple of 32 (tail bits in every bconv2d after a concat).
DENSE_SMALL = {"family": "densenet", "name": "test-dense", "in_shape": [27, 22], "stem_channels": 20,
               "stages": [[12, 2], [24, 2], [8, 1]], "transitions": [36, 28], "exits": [2, 3, 5]}
MELIUS_SMALL = {"family": "meliusnet", "name": "test-melius", "in_shape": [27, 22], "stem": [6, 12],
                "stem_groups": [2, 4], "stem_channels": 20, "stages": [[12, 2], [24, 1], [8, 1]],
                "transitions": [36, 28], "exits": [1, 2, 4]}


class TestDenseFamiliesExport(unittest.TestCase):
    def check_family(self, seed, config, n_concat, offsets):
        m = random_model(seed, config)
        nodes = build_graph(m)
        in_hw = tuple(config["in_shape"])
        fr, tb, tf = exit_ops_fractions(nodes, in_hw)
        data = model_to_gguf(m, LABELS, frontend={"n_frames": in_hw[0], "n_mels": in_hw[1]}).to_bytes()
        kv, _ = read_gguf(data)
        self.assertEqual(kv["beenet.format_version"], 2)       # concat / channel-offset add need v2
        ops = [n["op"] for n in nodes]
        self.assertEqual(ops.count("concat"), n_concat)
        self.assertEqual([n["channel_offset"] for n in nodes if "channel_offset" in n], offsets)
        em = fe.Model(data=data)
        self.assertEqual((em.total_bops, em.total_flops), (tb, tf))
        self.assertEqual(em.num_exits, len(config["exits"]))
        assert_exits_match_torch(m, nodes, em, in_hw)
        return nodes

    def test_densenet_engine_and_numpy_match_torch(self):
        nodes = self.check_family(5, DENSE_SMALL, 5, [])
        # each concat appends its bconv2d's output to the running map it read
        for i, n in enumerate(nodes):
            if n["op"] == "concat":
                conv = nodes[n["inputs"][1] - 1]
                self.assertEqual(conv["op"], "bconv2d")
                self.assertEqual(conv["inputs"][0], n["inputs"][0])

    def test_meliusnet_engine_and_numpy_match_torch(self):
        # each improvement layer adds onto the channels its unit's dense layer appended: the newest
        # 12 of 32 and of 44, 24 of 60 and 8 of 36
        nodes = self.check_family(6, MELIUS_SMALL, 4, [20, 32, 36, 28])
        groups = [n["groups"] for n in nodes[:4] if n["op"] == "conv2d"]
        self.assertEqual(groups, [1, 2, 4])                      # grouped stem convs


PCEN_SMALL = dict(SMALL, pcen=True, in_shape=[27, 22], name="test-pcen")


class TestPcenExport(unittest.TestCase):
    """A network with the trainable PCEN front (model.PCEN, op ``pcen``, format version 3)."""

    def model(self, seed=7):
        m = random_model(seed, PCEN_SMALL)
        with torch.no_grad():   # per-channel parameters away from their shared initial values
            m.pcen.log_alpha.add_(torch.empty(22).uniform_(-0.5, 0.0))
            m.pcen.log_delta.add_(torch.empty(22).uniform_(-0.5, 0.5))
            m.pcen.log_r.add_(torch.empty(22).uniform_(-0.3, 0.3))
            m.feat_mean.zero_()      # as train.py leaves a PCEN network: PCEN reads log-Mel values
            m.feat_inv_std.fill_(1.0)
        return m

    def test_engine_and_numpy_match_torch(self):
        m = self.model()
        nodes = build_graph(m)
        self.assertEqual([n["op"] for n in nodes[:2]], ["pcen", "conv2d"])
        self.assertEqual(nodes[0]["weight"].shape, (5, 22))
        fr, tb, tf = exit_ops_fractions(nodes, (27, 22))
        data = model_to_gguf(m, LABELS, frontend={"n_frames": 27, "n_mels": 22}).to_bytes()
        kv, _ = read_gguf(data)
        self.assertEqual(kv["beenet.format_version"], 3)
        self.assertAlmostEqual(kv["beenet.node.0.smooth"], 0.025, places=6)
        em = fe.Model(data=data)
        self.assertEqual((em.total_bops, em.total_flops), (tb, tf))
        s = em.session()
        x = torch.randn(3, 27, 22) * 3.0 - 6.0     # log-Mel values (identity normalisation)
        with torch.no_grad():
            ref = torch.stack(m(m.normalise(x))).numpy()
            pre = m.pcen(m.normalise(x)).numpy()
        from beenet_train.export import pcen_numpy
        for i in range(3):
            np.testing.assert_allclose(pcen_numpy(x[i].numpy(), nodes[0]), pre[i, 0], rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(s.run_all_exits(x[i].numpy()), ref[:, i], rtol=1e-4, atol=1e-4)
            npy = run_graph_numpy(nodes, x[i].numpy())
            np.testing.assert_allclose(np.stack(npy), ref[:, i], rtol=1e-4, atol=1e-4)

    def bad(self, edit, message):
        from beenet_train.export import graph_to_gguf
        m = self.model()
        nodes = build_graph(m)
        edit(nodes[0])
        data = graph_to_gguf(nodes, LABELS, m.feat_mean.numpy(), m.feat_inv_std.numpy(),
                             frontend={"n_frames": 27, "n_mels": 22}).to_bytes()
        with self.assertRaises(fe.BeenetError) as cm:
            fe.Model(data=data)
        self.assertEqual(cm.exception.status, "CORRUPT")
        self.assertIn(message, str(cm.exception))

    def test_bad_parameters_rejected(self):
        def weight(row, ch, v):
            def edit(n):
                n["weight"] = n["weight"].copy()
                n["weight"][row, ch] = v
            return edit
        self.bad(weight(1, 3, 0.0), "node 0 (pcen): delta of channel 3 is 0, outside (0, 1e+06]")
        self.bad(weight(2, 0, -0.5), "r of channel 0 is -0.5")
        self.bad(weight(0, 21, 4.5), "alpha of channel 21 is 4.5, outside [0, 4]")
        self.bad(weight(4, 5, float("inf")), "tensor 'node.0.weight' contains NaN or infinity")
        self.bad(lambda n: n.update(smooth=0.0), "key 'beenet.node.0.smooth' = 0 out of range")
        self.bad(lambda n: n.update(eps=2.0), "key 'beenet.node.0.eps' = 2 out of range")

    def test_needs_one_channel(self):
        # a pcen node reading a multi-channel activation is refused at load
        from beenet_train.export import graph_to_gguf
        m = self.model()
        nodes = build_graph(m)
        pc = nodes.pop(0)
        for n in nodes:
            n["inputs"] = [v - 1 if v > 0 else v for v in n["inputs"]]
        pc["inputs"] = [1]
        nodes.insert(1, pc)
        nodes[2]["inputs"] = [2]
        data = graph_to_gguf(nodes, LABELS, m.feat_mean.numpy(), m.feat_inv_std.numpy(),
                             frontend={"n_frames": 27, "n_mels": 22}).to_bytes()
        with self.assertRaises(fe.BeenetError) as cm:
            fe.Model(data=data)
        self.assertIn("(pcen): input has", str(cm.exception))

    def test_version_2_file_refuses_pcen(self):
        m = self.model()
        data = model_to_gguf(m, LABELS, frontend={"n_frames": 27, "n_mels": 22}, format_version=2).to_bytes()
        with self.assertRaises(fe.BeenetError) as cm:
            fe.Model(data=data)
        self.assertEqual(cm.exception.status, "UNSUPPORTED")
        self.assertIn("op 'pcen' needs format version 3 (the file is version 2)", str(cm.exception))


FLOOR_SMALL = dict(SMALL, noise_floor_rank=5, in_shape=[27, 22], name="test-floor")


class TestNoiseFloorExport(unittest.TestCase):
    """A network with the fixed noise floor in front (model.NoiseFloor, op ``noise_floor``, format
    version 4)."""

    def test_engine_and_numpy_match_torch(self):
        m = random_model(8, FLOOR_SMALL)
        nodes = build_graph(m)
        self.assertEqual([n["op"] for n in nodes[:2]], ["noise_floor", "conv2d"])
        fr, tb, tf = exit_ops_fractions(nodes, (27, 22))
        data = model_to_gguf(m, LABELS, frontend={"n_frames": 27, "n_mels": 22}).to_bytes()
        kv, _ = read_gguf(data)
        self.assertEqual((kv["beenet.format_version"], kv["beenet.node.0.rank"]), (4, 5))
        em = fe.Model(data=data)
        self.assertEqual((em.total_bops, em.total_flops), (tb, tf))
        s = em.session()
        x = torch.randn(3, 27, 22) * 3.0 - 6.0
        x[0, :, 4] = -5.0                          # a constant channel: all ties, floor = the value
        with torch.no_grad():
            ref = torch.stack(m(m.normalise(x))).numpy()
            pre = m.floor(m.normalise(x))[:, 0].numpy()
        self.assertTrue((pre >= 0).all() and (pre[0, :, 4] == 0).all())
        # exactly 5 frames of each channel lie under their floor (distinct values)
        self.assertTrue(((pre[1:] == 0).sum(axis=1) >= 6).all())
        for i in range(3):
            np.testing.assert_allclose(s.run_all_exits(x[i].numpy()), ref[:, i], rtol=1e-4, atol=1e-4)
            npy = run_graph_numpy(nodes, ((x[i] - m.feat_mean) * m.feat_inv_std).numpy())
            np.testing.assert_allclose(np.stack(npy), ref[:, i], rtol=1e-4, atol=1e-4)

    def load_error(self, data):
        with self.assertRaises(fe.BeenetError) as cm:
            fe.Model(data=data)
        return cm.exception

    def test_rank_outside_the_window_rejected(self):
        from beenet_train.export import graph_to_gguf
        m = random_model(8, FLOOR_SMALL)
        nodes = build_graph(m)
        nodes[0]["rank"] = 27
        e = self.load_error(graph_to_gguf(nodes, LABELS, m.feat_mean.numpy(), m.feat_inv_std.numpy(),
                                          frontend={"n_frames": 27, "n_mels": 22}).to_bytes())
        self.assertEqual(e.status, "CORRUPT")
        self.assertIn("node 0 (noise_floor): rank 27 is not below the 27 frames", str(e))
        with self.assertRaises(ValueError):
            BeeNet(dict(FLOOR_SMALL, noise_floor_rank=27))

    def test_version_3_file_refuses_noise_floor(self):
        m = random_model(8, FLOOR_SMALL)
        e = self.load_error(model_to_gguf(m, LABELS, frontend={"n_frames": 27, "n_mels": 22},
                                          format_version=3).to_bytes())
        self.assertEqual(e.status, "UNSUPPORTED")
        self.assertIn("op 'noise_floor' needs format version 4 (the file is version 3)", str(e))


class TestEngineLoads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = random_model(2)
        cls.data = model_to_gguf(cls.model, LABELS, threshold=0.3).to_bytes()

    def test_load_file_and_metadata(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "m.gguf")
            with open(path, "wb") as f:
                f.write(self.data)
            em = fe.Model(path)
        self.assertEqual(em.labels, LABELS)
        self.assertEqual(em.num_exits, 2)
        self.assertEqual(em.name, "test-small")
        self.assertAlmostEqual(em.default_threshold, 0.3, places=6)
        self.assertEqual(em.default_policy_name, "entropy")
        fr, tb, tf = exit_ops_fractions(build_graph(self.model))
        self.assertEqual(em.total_bops, tb)
        self.assertEqual(em.total_flops, tf)

    def test_logits_match_torch(self):
        em = fe.Model(data=self.data)
        s = em.session()
        rng = np.random.default_rng(0)
        agree = 0
        n = 8
        for _ in range(n):
            feats = rng.normal(-5.0, 2.0, size=(98, 64)).astype(np.float32)
            got = s.run_all_exits(feats)
            with torch.no_grad():
                ref = torch.stack(self.model(self.model.normalise(torch.from_numpy(feats[None]))))[:, 0].numpy()
            self.assertEqual(got.shape, ref.shape)
            agree += int((got.argmax(-1) == ref.argmax(-1)).all())
            np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)
        self.assertEqual(agree, n)
        # early exit via the engine with a huge threshold stops at exit 1 and reports its ops fraction
        fr, _, _ = exit_ops_fractions(build_graph(self.model))
        r = s.classify_features(feats, "entropy", 100.0)
        self.assertEqual(r["exit_index"], 1)
        self.assertAlmostEqual(r["ops_fraction"], fr[0], places=5)
        r = s.classify_features(feats, "entropy", 0.0)
        self.assertEqual(r["exit_index"], 2)
        self.assertAlmostEqual(r["ops_fraction"], 1.0, places=6)

    def test_truncated_rejected(self):
        n = len(self.data)
        cuts = sorted(set([4, 20, 100, n // 3, n // 2, n - 1000, n - 33, n - 1]))
        for cut in cuts:
            with self.assertRaises(fe.BeenetError, msg="cut at %d" % cut) as cm:
                fe.Model(data=self.data[:cut])
            self.assertIn(cm.exception.status, ("TRUNCATED", "FORMAT", "CORRUPT"), "cut at %d" % cut)
        with self.assertRaises(fe.BeenetError) as cm:
            fe.Model(data=self.data[:n - 1])
        self.assertEqual(cm.exception.status, "TRUNCATED")

    def test_nonzero_tail_bit_rejected(self):
        m = self.model
        nodes = build_graph(m)
        i = [k for k, nd in enumerate(nodes) if nd["op"] == "bconv2d"][0]
        nodes[i]["weight"] = nodes[i]["weight"].copy()
        nodes[i]["weight"][0, 0, 0, 0] |= np.uint32(1 << 30)    # channel 30 >= Cin = 24
        from beenet_train.export import graph_to_gguf
        bad = graph_to_gguf(nodes, LABELS, m.feat_mean.numpy(), m.feat_inv_std.numpy()).to_bytes()
        with self.assertRaises(fe.BeenetError) as cm:
            fe.Model(data=bad)
        self.assertEqual(cm.exception.status, "CORRUPT")

    def test_newer_format_version_rejected(self):
        m = self.model
        from beenet_train import export
        data = model_to_gguf(m, LABELS, format_version=export.FORMAT_VERSION + 1).to_bytes()
        with self.assertRaises(fe.BeenetError) as cm:
            fe.Model(data=data)
        self.assertEqual(cm.exception.status, "UNSUPPORTED")


class TestDetection(unittest.TestCase):
    """beenet.keywords / beenet.detection.* written by the exporter and read by the
    engine; the engine's detector through the ctypes binding."""

    @classmethod
    def setUpClass(cls):
        cls.model = random_model(3)
        cls.plain = fe.Model(data=model_to_gguf(cls.model, LABELS).to_bytes())

    def test_task_and_architecture(self):
        """beenet.task / beenet.architecture: written by the exporter, read by the engine."""
        self.assertIsNone(self.plain.task)                  # no task given, no training metadata
        self.assertEqual(self.plain.architecture, "quicknet")
        data = model_to_gguf(self.model, LABELS, task="lid6").to_bytes()
        kv, _ = read_gguf(data)
        self.assertEqual((kv["beenet.task"], kv["beenet.architecture"]), ("lid6", "quicknet"))
        self.assertIn("language-identification network", kv["general.description"])
        m = fe.Model(data=data)
        self.assertEqual((m.task, m.architecture), ("lid6", "quicknet"))
        # older checkpoints: the task from the training metadata
        m = fe.Model(data=model_to_gguf(self.model, LABELS, training={"task": "kws31"}).to_bytes())
        self.assertEqual(m.task, "kws31")

    def test_defaults_without_keys(self):
        self.assertEqual(self.plain.keywords, list(range(2, 12)))      # not _silence_ / _unknown_
        self.assertFalse(self.plain.is_keyword(0))
        self.assertTrue(self.plain.is_keyword(2))
        self.assertEqual(self.plain.detection_defaults,
                         {"threshold": 0.7, "smoothing_ms": 500.0, "refractory_ms": 1000.0, "min_windows": 1})

    def test_keys_round_trip(self):
        det = {"threshold": 0.8, "smoothing_ms": 250, "refractory_ms": 1500.5, "min_windows": 2,
               "interval_ms": 250}
        data = model_to_gguf(self.model, LABELS, keywords=["yes", 3, "go"], detection=det).to_bytes()
        kv, _ = read_gguf(data)
        self.assertEqual(kv["beenet.keywords"], [2, 3, 11])
        self.assertEqual(kv["beenet.detection.min_windows"], 2)
        em = fe.Model(data=data)
        self.assertEqual(em.keywords, [2, 3, 11])
        d = em.detection_defaults
        self.assertAlmostEqual(d["threshold"], 0.8, places=6)
        self.assertEqual((d["smoothing_ms"], d["refractory_ms"], d["min_windows"]), (250.0, 1500.5, 2))
        self.assertEqual(em.interval_ms, 250.0)                 # the interval they were tuned for
        self.assertEqual(self.plain.interval_ms, 500.0)         # unstated: the engine's default
        self.assertEqual(fe.Model(data=model_to_gguf(self.model, LABELS, keywords=[]).to_bytes()).keywords, [])
        self.assertEqual(self.plain.detection_class_offsets, [0.0] * 12)

    def test_class_offsets_round_trip(self):
        off = [0.0] * 12
        off[2], off[3] = 1.0986123, -0.5
        em = fe.Model(data=model_to_gguf(self.model, LABELS, detection={"threshold": 0.5,
                                                                        "class_offsets": off}).to_bytes())
        self.assertAlmostEqual(em.detection_class_offsets[2], 1.0986123, places=6)
        self.assertEqual(em.detection_class_offsets[3], -0.5)
        d = em.detector()
        self.assertAlmostEqual(d.class_threshold(2), 0.75, places=6)     # sigmoid(logit(0.5) + ln 3)
        self.assertAlmostEqual(d.class_threshold(4), 0.5, places=7)      # no offset: the threshold itself
        self.assertEqual(d.class_threshold(0), 0.0)                       # _silence_ is no keyword
        with self.assertRaises(ValueError):
            model_to_gguf(self.model, LABELS, detection={"class_offsets": off[:11]})

    def test_bad_keys(self):
        with self.assertRaises(ValueError):
            model_to_gguf(self.model, LABELS, keywords=["yes", 2])           # twice
        with self.assertRaises(ValueError):
            model_to_gguf(self.model, LABELS, keywords=[12])
        with self.assertRaises(ValueError):
            model_to_gguf(self.model, LABELS, detection={"smoothing": 100})
        data = model_to_gguf(self.model, LABELS, detection={"threshold": 0.0}).to_bytes()
        with self.assertRaises(fe.BeenetError) as cm:
            fe.Model(data=data)
        self.assertEqual(cm.exception.status, "CORRUPT")
        self.assertIn("beenet.detection.threshold", str(cm.exception))

    def test_detector_synthetic(self):
        ms = 1000000
        det = fe.Detector(self.plain, threshold=0.75, smoothing_ms=1000, refractory_ms=0)
        self.assertEqual(det.params["min_windows"], 1)
        self.assertEqual(det.params["threshold"], 0.75)

        def post(c, v):
            p = np.zeros(12, np.float32)
            p[c] = v
            p[0] = 1.0 - v
            return p
        # "yes" (class 2) at 0.5, 0.75, 1.0: means 0.5, 0.625, 0.75 -> fires at 1 s with 3 windows
        self.assertIsNone(det.push(0, post(2, 0.5)))
        self.assertIsNone(det.push(500 * ms, post(2, 0.75)))
        d = det.push(1000 * ms, post(2, 1.0))
        self.assertEqual(d, {"class_index": 2, "label": "yes", "score": 0.75, "time_ns": 1000 * ms,
                             "num_windows": 3})
        # stays above: disarmed; _silence_ never fires
        self.assertIsNone(det.push(1500 * ms, post(2, 1.0)))
        self.assertIsNone(det.push(2000 * ms, post(0, 1.0)))
        with self.assertRaises(fe.BeenetError) as cm:
            det.push(2000 * ms, post(2, 1.0))                                  # time not increasing
        self.assertEqual(cm.exception.status, "INVALID_ARGUMENT")
        bad = post(2, 1.0)
        bad[5] = np.nan
        with self.assertRaises(fe.BeenetError) as cm:
            det.push(2500 * ms, bad)
        self.assertEqual(cm.exception.status, "NONFINITE")
        with self.assertRaises(fe.BeenetError):
            det.push(2500 * ms, np.zeros(11, np.float32))                     # num_classes mismatch
        with self.assertRaises(fe.BeenetError):
            det.set_params(threshold=1.5)
        # run(): reset + a sequence; smoothing 0 and a 1 s refractory
        det.set_params(smoothing_ms=0, refractory_ms=1000)
        seq = [post(2, 0.9), post(0, 1.0), post(3, 0.9), post(3, 0.9), post(0, 1.0), post(2, 0.8)]
        got = det.run([i * 500 * ms for i in range(len(seq))], np.stack(seq))
        self.assertEqual([(g["label"], g["time_ns"]) for g in got], [("yes", 0), ("no", 1000 * ms),
                                                                        ("yes", 2500 * ms)])
        self.assertAlmostEqual(got[0]["score"], 0.9, places=6)



class TestThreads(unittest.TestCase):
    def test_default_threads_leave_a_core_to_the_batch_worker(self):
        """train.default_threads: the cores this process may use, less one, at least 1."""
        from unittest import mock
        from beenet_train.train import default_threads
        for cores, want in ((1, 1), (2, 1), (8, 7)):
            with mock.patch("os.sched_getaffinity", return_value=set(range(cores))):
                self.assertEqual(default_threads(), want)

if __name__ == "__main__":
    unittest.main(verbosity=2)
