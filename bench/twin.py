"""Benchmark models made from a trained checkpoint (run with Debian's /usr/bin/python3).

  python3 bench/twin.py --checkpoint models/kws12.pt --out DIR

writes into DIR:

  twin-full.onnx        float32 twin of the whole network (every exit), for ONNX Runtime
  twin-exit<k>.onnx     the twin cut after exit k (outputs exits 1..k; k < last exit)
  sign-twin-full.onnx   the same with the binarisation kept (computes the engine's function)
  exit<k>.gguf          the beenet model cut after exit k (for per-exit latency of
                        the engine: its last exit always stops, so running it is
                        exactly the work of a window that leaves at exit k)
  twin.json             shapes, names, parameter counts, export notes

The float twin is the same network as a plain float32 network: every binary
layer replaced by an ordinary float32 layer of the same shape (a binary 3x3
conv becomes Conv2d(C, C, 3x3), the binary dense layer of each exit head a
float Gemm), the trained stem, transitions, BatchNorms and head affines
kept.  Its weights are the +-1.0 signs (any float values cost the same).
This is what a float model of this architecture costs in ONNX Runtime, and
the reference of the issue's speed target.

The sign twin additionally binarises the inputs of those layers in float
(sign(x): GreaterOrEqual + Where), so it computes the *same function* as the
engine (up to float rounding): bench-onnx checks its logits against the
engine's.  It costs a little more than the plain twin (the elementwise
sign ops).  The BatchNorms fold into the convs in ONNX Runtime's graph
optimiser in both.

Input: (1, n_frames, n_mels) = (1, 98, 64) un-normalised log-Mel features,
the same array the engine's beenet_session_run_all_exits takes; the
per-Mel normalisation is part of both graphs.  Output "logits":
(1, exits, classes), laid out like run_all_exits' logits.

torch.onnx.export of Debian's torch (1.13) is the TorchScript exporter and
serialises with torch's own C++ code: it needs neither the `onnx` nor the
`onnxscript` Python package.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))

from beenet_train.export import graph_to_gguf, load_checkpoint  # noqa: E402
from beenet_train.model import BeeNet, build_graph  # noqa: E402


def sign_f(x: torch.Tensor) -> torch.Tensor:
    """+1 for x >= 0 else -1 (the engine's convention), in float."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


class TwinBlock(nn.Module):
    def __init__(self, block, binarise):
        super().__init__()
        self.act = sign_f if binarise else (lambda x: x)
        c = block.conv
        self.conv = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(c.binary_weight())
        self.bn = copy.deepcopy(block.bn)

    def forward(self, x):
        return x + self.bn(self.conv(self.act(x)))


class TwinHead(nn.Module):
    def __init__(self, head, binarise):
        super().__init__()
        self.act = sign_f if binarise and not head.dense else (lambda x: x)
        self.relu = head.relu
        if self.relu:
            self.bn_pre = copy.deepcopy(head.bn_pre)
        self.bn_in = copy.deepcopy(head.bn_in)
        fc = head.fc
        self.fc = nn.Linear(fc.in_features, fc.out_features, bias=True)
        with torch.no_grad():
            # fc(sign(x)) * scale + bias == Linear with weights sign(W) * scale
            w = fc.weight.detach() if head.dense else fc.binary_weight()
            self.fc.weight.copy_(w * head.scale.detach()[:, None])
            self.fc.bias.copy_(head.bias.detach())

    def forward(self, x):
        if self.relu:
            x = F.relu(self.bn_pre(x))
        x = x.mean(dim=(2, 3))
        return self.fc(self.act(self.bn_in(x)))


class FloatTwin(nn.Module):
    def __init__(self, model: BeeNet, max_exit: int = None, binarise: bool = False):
        super().__init__()
        self.stem = copy.deepcopy(model.stem)
        self.transitions = copy.deepcopy(model.transitions)
        self.blocks = nn.ModuleList(TwinBlock(b, binarise) for b in model.blocks)
        self.heads = nn.ModuleList(TwinHead(h, binarise) for h in model.heads)
        self.plan = list(model.plan)
        self.max_exit = max_exit or model.num_exits
        self.register_buffer("feat_mean", model.feat_mean.clone())
        self.register_buffer("feat_inv_std", model.feat_inv_std.clone())

    def forward(self, feats):
        x = ((feats - self.feat_mean) * self.feat_inv_std).unsqueeze(1)
        # the trained model's own walk over the plan (stem, transitions,
        # blocks, heads), on the twin's float modules
        return torch.stack(BeeNet.forward(self, x, self.max_exit), dim=1)


def export_onnx(twin: FloatTwin, shape, path: str) -> None:
    twin.eval()
    x = torch.zeros((1,) + tuple(shape))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(twin, (x,), path, input_names=["features"], output_names=["logits"],
                          opset_version=13, do_constant_folding=True)


def truncated_gguf(model: BeeNet, ck, k: int, path: str) -> int:
    """The beenet graph of `model` cut right after its k-th exit node."""
    nodes = build_graph(model)
    seen = 0
    for i, n in enumerate(nodes):
        if n["op"] == "exit":
            seen += 1
            if seen == k:
                nodes = nodes[: i + 1]
                break
    w = graph_to_gguf(nodes, ck["labels"], model.feat_mean.numpy(), model.feat_inv_std.numpy(),
                      name="%s-exit%d" % (model.config.get("name", "beenet"), k), frontend=ck.get("frontend"),
                      policy=ck.get("policy", "entropy"), threshold=ck.get("threshold", 0.5),
                      description="benchmark: %s cut after exit %d" % (model.config.get("name"), k))
    return w.write(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    model, ck = load_checkpoint(a.checkpoint)
    shape = tuple(model.config["in_shape"])
    E = model.num_exits

    full = FloatTwin(model).eval()
    signed = FloatTwin(model, binarise=True).eval()
    # The sign twin must compute what the binary model computes (same signs).
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        feats = torch.randn((4,) + shape, generator=g) * 3.0 - 8.0
        ref = torch.stack(model(model.normalise(feats)), dim=1)
        got = signed(feats)
    agree = float((ref.argmax(-1) == got.argmax(-1)).float().mean())
    maxdiff = float((ref - got).abs().max())

    export_onnx(full, shape, os.path.join(a.out, "twin-full.onnx"))
    export_onnx(signed, shape, os.path.join(a.out, "sign-twin-full.onnx"))
    for k in range(1, E + 1):
        if k < E:
            export_onnx(FloatTwin(model, k), shape, os.path.join(a.out, "twin-exit%d.onnx" % k))
        truncated_gguf(model, ck, k, os.path.join(a.out, "exit%d.gguf" % k))

    params = sum(p.numel() for p in full.parameters())
    info = {
        "checkpoint": a.checkpoint, "input_shape": [1] + list(shape), "num_exits": E,
        "num_classes": model.config["num_classes"], "twin_parameters": params,
        "twin_float_bytes": 4 * params, "torch": torch.__version__, "opset": 13,
        "torch_vs_sign_twin_max_abs_diff": maxdiff, "torch_vs_sign_twin_argmax_agreement": agree,
    }
    with open(os.path.join(a.out, "twin.json"), "w") as f:
        json.dump(info, f, indent=1)
    print("twin: %d exits, %d float parameters, max |torch - sign twin| = %.3g, argmax agreement %.3f"
          % (E, params, maxdiff, agree))


if __name__ == "__main__":
    main()
