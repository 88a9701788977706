"""Export a trained checkpoint to a beenet GGUF model file (docs/model-format.md)."""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from .gguf_writer import GGUFWriter, T_F32, T_I32, T_STRING, T_U32
from .model import FAMILY_NAMES, BeeNet, build_graph, exit_ops_fractions

# Newest beenet.format_version this exporter knows.  A file gets the lowest version that can
# express its graph (graph_format_version), so version-1 readers still load QuickNet and Bi-Real
# Net models.
FORMAT_VERSION = 4


def graph_format_version(nodes: List[Dict]) -> int:
    """1, 2 when the graph uses a version-2 feature (docs/model-format.md): concat, slice, an
    add with channel_offset, a bconv2d with groups > 1; 3 with a pcen node; 4 with a
    noise_floor node."""
    if any(n["op"] == "noise_floor" for n in nodes):
        return 4
    if any(n["op"] == "pcen" for n in nodes):
        return 3
    for n in nodes:
        if n["op"] in ("concat", "slice") or "channel_offset" in n \
                or (n["op"] == "bconv2d" and n.get("groups", 1) > 1):
            return 2
    return 1

DEFAULT_FRONTEND = {
    "sample_rate": 16000, "window_samples": 16000, "frame_length": 400, "hop_length": 160,
    "fft_size": 512, "n_mels": 64, "n_frames": 98, "fmin": 60.0, "fmax": 7800.0, "log_floor": 1e-6,
}
_U32_FRONTEND = ("sample_rate", "window_samples", "frame_length", "hop_length", "fft_size", "n_mels", "n_frames")
# beenet.detection.* keys (docs/model-format.md): name -> GGUF type
_DETECTION_KEYS = {"threshold": T_F32, "smoothing_ms": T_F32, "refractory_ms": T_F32, "min_windows": T_U32,
                   "interval_ms": T_F32,   # the window interval the others were tuned for
                   "refine_level": T_F32,  # refined windows (beenet_model_refine_level)
                   "class_offsets": T_F32}  # array: per-class logit offsets of the threshold


def _keyword_indices(keywords: Sequence[Union[int, str]], labels: List[str]) -> List[int]:
    """Class indices of `keywords` (indices or labels), checked unique and in range."""
    out = []
    for k in keywords:
        i = labels.index(k) if isinstance(k, str) else int(k)
        if not 0 <= i < len(labels) or i in out:
            raise ValueError("keyword %r: out of range or listed twice" % (k,))
        out.append(i)
    return out


def add_detection_keys(w: GGUFWriter, labels: List[str], keywords: Optional[Sequence[Union[int, str]]] = None,
                       detection: Optional[Dict] = None) -> None:
    """Optional beenet.keywords (class indices or labels; None = every label not
    starting with '_', decided by the engine) and beenet.detection.* defaults
    (dict with any of threshold, smoothing_ms, refractory_ms, min_windows, interval_ms,
    and class_offsets: one logit offset per label, beenet.h "Per-keyword thresholds").
    Ranges are checked by the engine when it loads the file."""
    if keywords is not None:
        w.add_array("beenet.keywords", T_U32, _keyword_indices(keywords, labels))
    for k, v in (detection or {}).items():
        if k not in _DETECTION_KEYS:
            raise ValueError("unknown detection parameter %r (expected one of %s)" % (k, ", ".join(_DETECTION_KEYS)))
        if k == "class_offsets":
            if len(v) != len(labels):
                raise ValueError("class_offsets: %d values for %d labels" % (len(v), len(labels)))
            w.add_array("beenet.detection." + k, T_F32, [float(x) for x in v])
        elif _DETECTION_KEYS[k] == T_U32:
            w.add_u32("beenet.detection." + k, int(v))
        else:
            w.add_f32("beenet.detection." + k, float(v))


def load_checkpoint(path: str):
    """(network in eval mode, checkpoint dict) of a trainer checkpoint (.pt).
    OSError when it cannot be read; ValueError, naming the file, when it is
    not a checkpoint of this trainer (a model file, a truncated file, ...)."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except OSError:
        raise
    except Exception as e:   # pickle.UnpicklingError, EOFError, RuntimeError (bad zip), ...
        raise ValueError("%s: not a PyTorch checkpoint (%s)" % (path, e)) from e
    if not isinstance(ck, dict) or "config" not in ck or "state_dict" not in ck:
        raise ValueError("%s: not a beenet_train checkpoint (no config and state_dict)" % path)
    model = BeeNet(ck["config"])
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck


# the description's words for the built-in tasks (kws12's keeps older models' text)
TASK_WORDS = {None: "KWS", "kws12": "KWS", "kws31": "KWS-31", "lid6": "language-identification"}


def graph_to_gguf(nodes: List[Dict], labels: List[str], mean: np.ndarray, inv_std: np.ndarray,
                  name: str = "kws12-quicknet-ee", frontend: Optional[Dict] = None,
                  policy: str = "entropy", threshold: float = 0.5, description: str = "",
                  training: Optional[Dict] = None, keywords: Optional[Sequence[Union[int, str]]] = None,
                  detection: Optional[Dict] = None,
                  exclusion_factors: Optional[Sequence[float]] = None,
                  format_version: Optional[int] = None, keyword_exit: int = 0,
                  task: Optional[str] = None, architecture: Optional[str] = None) -> GGUFWriter:
    """task / architecture: beenet.task / beenet.architecture (what the model
    is for, its network family), written when given.
    exclusion_factors: beenet.class_exclusion.factors, one per exit
    (class-exclusion policy, beenet_train.exclusion); None = no key.
    keyword_exit: beenet.keyword_exit (the policy's keyword_exit), written when > 0.
    format_version: None = the lowest that expresses the graph (graph_format_version)."""
    fe = dict(DEFAULT_FRONTEND)
    if frontend:
        fe.update(frontend)
    w = GGUFWriter()
    w.add_string("general.architecture", "beenet")
    w.add_string("general.name", name)
    if description:
        w.add_string("general.description", description)
    if task:
        w.add_string("beenet.task", task)
    if architecture:
        w.add_string("beenet.architecture", architecture)
    w.add_u32("beenet.format_version", format_version or graph_format_version(nodes))
    w.add_array("beenet.labels", T_STRING, labels)
    for k in _U32_FRONTEND:
        w.add_u32("beenet.frontend." + k, int(fe[k]))
    for k in ("fmin", "fmax", "log_floor"):
        w.add_f32("beenet.frontend." + k, float(fe[k]))
    w.add_string("beenet.policy", policy)
    w.add_f32("beenet.threshold", float(threshold))
    if keyword_exit:
        w.add_u32("beenet.keyword_exit", int(keyword_exit))
    add_detection_keys(w, labels, keywords, detection)
    if exclusion_factors is not None:
        w.add_array("beenet.class_exclusion.factors", T_F32, [float(v) for v in exclusion_factors])
    if (training or {}).get("exit_loss") == "bce":   # per-class scores: the policy compares sigmoids
        w.add_string("beenet.class_exclusion.score", "sigmoid")
    w.add_u32("beenet.node_count", len(nodes))
    w.add_u32("beenet.exit_count", sum(1 for n in nodes if n["op"] == "exit"))
    for i, n in enumerate(nodes):
        p = "beenet.node.%d." % i
        w.add_string(p + "op", n["op"])
        w.add_array(p + "inputs", T_I32, [int(v) for v in n["inputs"]])
        for key in ("kernel", "stride", "padding"):
            if key in n:
                w.add_array(p + key, T_U32, [int(v) for v in n[key]])
        if "groups" in n:
            w.add_u32(p + "groups", int(n["groups"]))
        if "channel_offset" in n:
            w.add_u32(p + "channel_offset", int(n["channel_offset"]))
        if "out_channels" in n:
            w.add_u32(p + "out_channels", int(n["out_channels"]))
        if "rank" in n:
            w.add_u32(p + "rank", int(n["rank"]))
        for key in ("smooth", "eps"):
            if key in n:
                w.add_f32(p + key, float(n[key]))
        if "activation" in n:
            w.add_string(p + "activation", n["activation"])
    for k, v in (training or {}).items():
        key = "beenet.training." + k
        if isinstance(v, bool):
            w.add_bool(key, v)
        elif isinstance(v, int):
            w.add_u32(key, v) if 0 <= v < 2 ** 32 else w.add_u64(key, v)
        elif isinstance(v, float):
            w.add_f32(key, v)
        elif isinstance(v, (list, tuple)) and all(isinstance(x, float) for x in v):
            w.add_array(key, T_F32, list(v))
        else:
            w.add_string(key, v if isinstance(v, str) else json.dumps(v))
    w.add_tensor("frontend.mean", np.asarray(mean, np.float32))
    w.add_tensor("frontend.inv_std", np.asarray(inv_std, np.float32))
    for i, n in enumerate(nodes):
        if "weight" in n:
            w.add_tensor("node.%d.weight" % i, n["weight"])
            w.add_tensor("node.%d.scale" % i, np.asarray(n["scale"], np.float32))
            w.add_tensor("node.%d.bias" % i, np.asarray(n["bias"], np.float32))
    return w


def model_to_gguf(model: BeeNet, labels: List[str], policy="entropy", threshold=0.5,
                  training: Optional[Dict] = None, frontend: Optional[Dict] = None,
                  keywords: Optional[Sequence[Union[int, str]]] = None,
                  detection: Optional[Dict] = None,
                  exclusion_factors: Optional[Sequence[float]] = None,
                  format_version: Optional[int] = None, keyword_exit: int = 0,
                  task: Optional[str] = None) -> GGUFWriter:
    """task: the task's name (beenet.task; None = the training metadata's
    "task", else unstated); beenet.architecture is the model's family.
    keywords / detection: optional beenet.keywords and beenet.detection.*
    keys (add_detection_keys); without them the engine uses its defaults.
    format_version: None = the lowest that expresses the graph."""
    model.eval()
    nodes = build_graph(model)
    fr, tb, tf = exit_ops_fractions(nodes, tuple(model.config["in_shape"]), model.config["num_classes"])
    family = model.config.get("family", "quicknet")
    task = task or (training or {}).get("task")
    what = ("%s network" % TASK_WORDS[task] if task in TASK_WORDS or not task
            else "network for task %s" % task)
    desc = ("BEENet %s-style binary early-exit %s, %d exits; exit OPs fractions %s"
            % (FAMILY_NAMES[family], what, model.num_exits, ", ".join("%.3f" % f for f in fr)))
    return graph_to_gguf(nodes, labels, model.feat_mean.numpy(), model.feat_inv_std.numpy(),
                         name=model.config.get("name", "beenet"), frontend=frontend, policy=policy,
                         threshold=threshold, description=desc, training=training, keywords=keywords,
                         detection=detection, exclusion_factors=exclusion_factors,
                         format_version=format_version, keyword_exit=keyword_exit,
                         task=task, architecture=family)


def export_checkpoint(checkpoint: str, out: str, threshold: Optional[float] = None,
                      policy: Optional[str] = None) -> int:
    model, ck = load_checkpoint(checkpoint)
    th = threshold if threshold is not None else ck.get("threshold", 0.5)
    pol = policy or ck.get("policy", "entropy")
    w = model_to_gguf(model, ck["labels"], pol, th, training=ck.get("training"), frontend=ck.get("frontend"),
                      keywords=ck.get("keywords"), detection=ck.get("detection"),
                      exclusion_factors=ck.get("exclusion_factors"),
                      keyword_exit=int(ck.get("keyword_exit", 0)),
                      task=(ck.get("task") or {}).get("name"))
    d = os.path.dirname(os.path.abspath(out))
    os.makedirs(d, exist_ok=True)
    return w.write(out)


# ---------------------------------------------------------------------------
# Numpy reference interpreter of the graph (development aid / cross-check only;
# the engine is the implementation that ships).

def pcen_numpy(x: np.ndarray, n: Dict) -> np.ndarray:
    """The pcen op (docs/model-format.md) on (T, M) log-Mel values, in float64 with the
    smoother's recursion as the engine runs it."""
    alpha, delta, r, scale, bias = np.asarray(n["weight"], np.float64)
    s, eps = float(n["smooth"]), float(n["eps"])
    e = np.exp(x.astype(np.float64))
    m = np.empty_like(e)
    m[0] = e[0]
    for t in range(1, len(e)):
        m[t] = (1.0 - s) * m[t - 1] + s * e[t]
    y = (e / (eps + m) ** alpha + delta) ** r - delta ** r
    return scale * y + bias


def run_graph_numpy(nodes: List[Dict], x: np.ndarray) -> List[np.ndarray]:
    """x: normalised (H, W) features.  Returns the logits of every exit."""
    from .binary import unpack_signs
    acts = [x.astype(np.float32)[:, :, None]]
    outs = []
    for n in nodes:
        op = n["op"]
        a = acts[n["inputs"][0]]
        H, W, C = a.shape
        if op in ("conv2d", "bconv2d"):
            kh, kw = n["kernel"]
            sh, sw = n["stride"]
            ph, pw = n["padding"]
            Co = n["out_channels"]
            g = n.get("groups", 1)
            if op == "bconv2d":
                a = np.where(a >= 0, 1.0, -1.0).astype(np.float32)
                wt = unpack_signs(n["weight"], C // g)
            else:
                wt = n["weight"]
            ap = np.zeros((H + 2 * ph, W + 2 * pw, C), np.float32)
            ap[ph:ph + H, pw:pw + W] = a
            Ho = (H + 2 * ph - kh) // sh + 1
            Wo = (W + 2 * pw - kw) // sw + 1
            cin_g, cout_g = C // g, Co // g
            acc = np.zeros((Ho, Wo, Co), np.float64)
            for y in range(kh):
                for xx in range(kw):
                    patch = ap[y:y + sh * (Ho - 1) + 1:sh, xx:xx + sw * (Wo - 1) + 1:sw]  # (Ho,Wo,C)
                    for gi in range(g):
                        acc[:, :, gi * cout_g:(gi + 1) * cout_g] += patch[:, :, gi * cin_g:(gi + 1) * cin_g] @ \
                            wt[gi * cout_g:(gi + 1) * cout_g, y, xx, :].T.astype(np.float64)
            out = n["scale"] * acc + n["bias"]
        elif op == "add":
            out = a.copy()
            b = acts[n["inputs"][1]]
            o = n.get("channel_offset", 0)
            out[:, :, o:o + b.shape[2]] += b
        elif op == "concat":
            out = np.concatenate([acts[i] for i in n["inputs"]], axis=2)
        elif op == "slice":
            o = n["channel_offset"]
            out = a[:, :, o:o + n["out_channels"]]
        elif op == "avgpool2d":
            kh, kw = n["kernel"]
            sh, sw = n["stride"]
            ph, pw = n["padding"]
            Ho = (H + 2 * ph - kh) // sh + 1
            Wo = (W + 2 * pw - kw) // sw + 1
            out = np.zeros((Ho, Wo, C), np.float32)
            for ho in range(Ho):
                for wo in range(Wo):
                    y0, x0 = max(ho * sh - ph, 0), max(wo * sw - pw, 0)
                    y1, x1 = min(ho * sh - ph + kh, H), min(wo * sw - pw + kw, W)
                    out[ho, wo] = a[y0:y1, x0:x1].mean(axis=(0, 1))   # in-bounds taps only
        elif op == "maxpool2d":
            kh, kw = n["kernel"]
            sh, sw = n["stride"]
            ph, pw = n["padding"]
            ap = np.full((H + 2 * ph, W + 2 * pw, C), -np.inf, np.float32)
            ap[ph:ph + H, pw:pw + W] = a
            Ho = (H + 2 * ph - kh) // sh + 1
            Wo = (W + 2 * pw - kw) // sw + 1
            out = np.full((Ho, Wo, C), -np.inf, np.float32)
            for y in range(kh):
                for xx in range(kw):
                    out = np.maximum(out, ap[y:y + sh * (Ho - 1) + 1:sh, xx:xx + sw * (Wo - 1) + 1:sw])
        elif op == "pcen":
            out = pcen_numpy(a[:, :, 0], n)[:, :, None]
        elif op == "noise_floor":
            out = a - np.sort(a, axis=0)[n["rank"]][None]
        elif op == "global_avgpool":
            out = a.mean(axis=(0, 1), keepdims=True)
        elif op == "bdense":
            v = np.where(a.reshape(-1) >= 0, 1.0, -1.0)
            wt = unpack_signs(n["weight"], v.shape[0])
            out = (n["scale"] * (wt @ v) + n["bias"]).reshape(1, 1, -1)
        elif op == "dense":
            out = (n["scale"] * (n["weight"] @ a.reshape(-1)) + n["bias"]).reshape(1, 1, -1)
        elif op == "exit":
            outs.append(a.reshape(-1).astype(np.float32))
            e = np.exp(a - a.max())
            out = e / e.sum()
        else:
            raise ValueError(op)
        if n.get("activation") == "relu":
            out = np.maximum(out, 0)
        acts.append(np.asarray(out, np.float32))
    return outs
