"""ctypes binding of libbeenet (engine/beenet.h).

The trainer never re-implements the log-Mel front-end: every feature used for
training, evaluation and parity is computed by the engine's
``beenet_frontend_compute``.  The library is found through the environment
variable ``BEENET_LIB`` or, failing that, in ``<repo>/../build*/engine/`` and
``<repo>/build*/engine/``.
"""
from __future__ import annotations

import ctypes
import glob
import os
from typing import List, Optional, Sequence, Union

import numpy as np

_STATUS_NAMES = ["OK", "INVALID_ARGUMENT", "IO", "FORMAT", "TRUNCATED", "CORRUPT",
                 "UNSUPPORTED", "NOMEM", "NONFINITE"]


class FrontendConfig(ctypes.Structure):
    _fields_ = [
        ("sample_rate", ctypes.c_uint32),
        ("window_samples", ctypes.c_uint32),
        ("frame_length", ctypes.c_uint32),
        ("hop_length", ctypes.c_uint32),
        ("fft_size", ctypes.c_uint32),
        ("n_mels", ctypes.c_uint32),
        ("n_frames", ctypes.c_uint32),
        ("fmin", ctypes.c_float),
        ("fmax", ctypes.c_float),
        ("log_floor", ctypes.c_float),
    ]

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name, _ in self._fields_}


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * 256)]


class Result(ctypes.Structure):
    _fields_ = [
        ("class_index", ctypes.c_uint32),
        ("label", ctypes.c_char_p),
        ("exit_index", ctypes.c_uint32),
        ("num_exits", ctypes.c_uint32),
        ("entropy", ctypes.c_float),
        ("confidence", ctypes.c_float),
        ("probabilities", ctypes.POINTER(ctypes.c_float)),
        ("num_classes", ctypes.c_uint32),
        ("bops_executed", ctypes.c_uint64),
        ("flops_executed", ctypes.c_uint64),
        ("bops_fraction", ctypes.c_double),
        ("flops_fraction", ctypes.c_double),
        ("ops_fraction", ctypes.c_double),
        ("classes_remaining", ctypes.POINTER(ctypes.c_uint32)),
    ]


class PolicyParams(ctypes.Structure):
    """BeenetPolicyParams (engine/beenet.h).  Build it with policy_params()
    (the engine's defaults for the policy, then the given fields)."""
    _fields_ = [
        ("policy", ctypes.c_int),
        ("threshold", ctypes.c_float),
        ("patience", ctypes.c_uint32),
        ("max_exit", ctypes.c_uint32),
        ("exclusion_factors", ctypes.POINTER(ctypes.c_float)),
        ("num_exclusion_factors", ctypes.c_uint32),
        ("keyword_exit", ctypes.c_uint32),
        ("budget", ctypes.c_float),
    ]

    def as_dict(self) -> dict:
        d = {name: getattr(self, name) for name, _ in self._fields_[:4]}
        d["keyword_exit"] = self.keyword_exit
        if policy_name(self.policy) == "eenet":
            d["budget"] = float("%.7g" % self.budget)
        d["policy"] = policy_name(self.policy)
        d["threshold"] = float("%.7g" % self.threshold)  # the float32 as written
        if self.exclusion_factors:
            d["exclusion_factors"] = [float("%.7g" % self.exclusion_factors[i])
                                      for i in range(self.num_exclusion_factors)]
        return d


class DetectorParams(ctypes.Structure):
    """BeenetDetectorParams (engine/beenet.h)."""
    _fields_ = [
        ("threshold", ctypes.c_double),
        ("smoothing_ms", ctypes.c_double),
        ("refractory_ms", ctypes.c_double),
        ("min_windows", ctypes.c_uint32),
    ]

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name, _ in self._fields_}


class Detection(ctypes.Structure):
    """BeenetDetection (engine/beenet.h)."""
    _fields_ = [
        ("class_index", ctypes.c_uint32),
        ("label", ctypes.c_char_p),
        ("score", ctypes.c_float),
        ("time_ns", ctypes.c_int64),
        ("num_windows", ctypes.c_uint32),
    ]


class BudgetParams(ctypes.Structure):
    """BeenetBudgetParams (engine/beenet.h)."""
    _fields_ = [
        ("target", ctypes.c_double),
        ("gain", ctypes.c_double),
        ("smoothing", ctypes.c_double),
        ("num_classes", ctypes.c_uint32),
        ("num_exits", ctypes.c_uint32),
    ]


class BudgetState(ctypes.Structure):
    """BeenetBudgetState (engine/beenet.h)."""
    _fields_ = [
        ("target", ctypes.c_double),
        ("active", ctypes.c_int),
        ("average_cost", ctypes.c_double),
        ("threshold", ctypes.c_float),
        ("max_exit", ctypes.c_double),
        ("windows", ctypes.c_uint64),
    ]

    def as_dict(self) -> dict:
        d = {name: getattr(self, name) for name, _ in self._fields_}
        d["active"] = bool(d["active"])
        return d


class BeenetError(RuntimeError):
    def __init__(self, code: int, message: str):
        name = _STATUS_NAMES[code] if 0 <= code < len(_STATUS_NAMES) else str(code)
        super().__init__("%s: %s" % (name, message))
        self.code = code
        self.status = name


def find_library() -> str:
    env = os.environ.get("BEENET_LIB")
    if env:
        # the build dir holds libbeenet.so.0 (SONAME link) and .so.0.x.y;
        # the unversioned .so link appears only on install
        if not os.path.exists(env) and os.path.exists(env + ".0"):
            return env + ".0"
        return env
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cands = sorted(glob.glob(os.path.join(repo, "build*", "engine", "libbeenet.so.0")))
    cands += sorted(glob.glob(os.path.join(os.path.dirname(repo), "build*", "engine", "libbeenet.so.0")))
    cands = [c for c in cands if os.path.exists(c)]
    if not cands:
        raise FileNotFoundError("libbeenet.so not found: set BEENET_LIB=<builddir>/engine/libbeenet.so")
    cands.sort(key=os.path.getmtime, reverse=True)
    return cands[0]


_lib = None


def lib():
    global _lib
    if _lib is not None:
        return _lib
    L = ctypes.CDLL(find_library())
    P = ctypes.c_void_p
    E = ctypes.POINTER(_Error)
    fp = ctypes.POINTER(ctypes.c_float)
    sig = {
        "beenet_status_name": (ctypes.c_char_p, [ctypes.c_int]),
        "beenet_version": (ctypes.c_char_p, []),
        "beenet_frontend_config_default": (None, [ctypes.POINTER(FrontendConfig)]),
        "beenet_frontend_new": (ctypes.c_int, [ctypes.POINTER(FrontendConfig), ctypes.POINTER(P), E]),
        "beenet_frontend_free": (None, [P]),
        "beenet_frontend_compute": (ctypes.c_int, [P, fp, ctypes.c_size_t, fp, E]),
    }
    optional = {
        "beenet_kernel_name": (ctypes.c_char_p, []),
        "beenet_fft_backend_name": (ctypes.c_char_p, []),
        "beenet_model_load_file": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(P), E]),
        "beenet_model_load_memory": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(P), E]),
        "beenet_model_unref": (None, [P]),
        "beenet_model_name": (ctypes.c_char_p, [P]),
        "beenet_model_task": (ctypes.c_char_p, [P]),
        "beenet_model_interval_ms": (ctypes.c_double, [P]),
        "beenet_model_refine_level": (ctypes.c_double, [P]),
        "beenet_model_architecture": (ctypes.c_char_p, [P]),
        "beenet_model_num_classes": (ctypes.c_size_t, [P]),
        "beenet_model_label": (ctypes.c_char_p, [P, ctypes.c_size_t]),
        "beenet_model_num_exits": (ctypes.c_size_t, [P]),
        "beenet_model_frontend_config": (None, [P, ctypes.POINTER(FrontendConfig)]),
        "beenet_model_default_policy": (ctypes.c_int, [P]),
        "beenet_model_default_threshold": (ctypes.c_float, [P]),
        "beenet_model_default_params": (PolicyParams, [P]),
        "beenet_model_exclusion_factors": (ctypes.c_size_t, [P, fp, ctypes.c_size_t]),
        "beenet_model_exclusion_score": (ctypes.c_char_p, [P]),
        "beenet_model_eenet_budgets": (ctypes.c_size_t, [P, fp, ctypes.c_size_t]),
        "beenet_model_check_params": (ctypes.c_int, [P, ctypes.POINTER(PolicyParams), E]),
        "beenet_policy_count": (ctypes.c_size_t, []),
        "beenet_policy_name": (ctypes.c_char_p, [ctypes.c_int]),
        "beenet_policy_description": (ctypes.c_char_p, [ctypes.c_int]),
        "beenet_policy_uses_threshold": (ctypes.c_int, [ctypes.c_int]),
        "beenet_policy_from_name": (ctypes.c_int, [ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), E]),
        "beenet_policy_default_params": (PolicyParams, [ctypes.c_int]),
        "beenet_policy_params_validate": (ctypes.c_int, [ctypes.POINTER(PolicyParams), E]),
        "beenet_model_total_bops": (ctypes.c_uint64, [P]),
        "beenet_model_total_flops": (ctypes.c_uint64, [P]),
        "beenet_model_describe": (ctypes.c_void_p, [P]),
        "beenet_session_new": (ctypes.c_int, [P, ctypes.POINTER(P), E]),
        "beenet_session_free": (None, [P]),
        "beenet_session_classify": (ctypes.c_int, [P, fp, ctypes.c_size_t, ctypes.c_int, ctypes.c_float,
                                                   ctypes.POINTER(Result), E]),
        "beenet_session_classify_features": (ctypes.c_int, [P, fp, ctypes.c_int, ctypes.c_float,
                                                            ctypes.POINTER(Result), E]),
        "beenet_session_classify_params": (ctypes.c_int, [P, fp, ctypes.c_size_t, ctypes.POINTER(PolicyParams),
                                                          ctypes.POINTER(Result), E]),
        "beenet_session_classify_features_params": (ctypes.c_int, [P, fp, ctypes.POINTER(PolicyParams),
                                                                   ctypes.POINTER(Result), E]),
        "beenet_session_run_all_exits": (ctypes.c_int, [P, fp, fp, E]),
        "beenet_model_is_keyword": (ctypes.c_int, [P, ctypes.c_size_t]),
        "beenet_model_detection_class_offset": (ctypes.c_double, [P, ctypes.c_size_t]),
        "beenet_detector_class_threshold": (ctypes.c_double, [P, ctypes.c_size_t]),
        "beenet_detector_params_default": (None, [P, ctypes.POINTER(DetectorParams)]),
        "beenet_detector_params_validate": (ctypes.c_int, [ctypes.POINTER(DetectorParams), E]),
        "beenet_detector_new": (ctypes.c_int, [P, ctypes.POINTER(DetectorParams), ctypes.POINTER(P), E]),
        "beenet_detector_free": (None, [P]),
        "beenet_detector_set_params": (ctypes.c_int, [P, ctypes.POINTER(DetectorParams), E]),
        "beenet_detector_get_params": (None, [P, ctypes.POINTER(DetectorParams)]),
        "beenet_detector_reset": (None, [P]),
        "beenet_detector_push": (ctypes.c_int, [P, ctypes.c_int64, fp, ctypes.c_uint32, ctypes.POINTER(Detection),
                                                ctypes.POINTER(ctypes.c_int), E]),
        "beenet_budget_params_default": (None, [P, ctypes.POINTER(BudgetParams)]),
        "beenet_budget_new": (ctypes.c_int, [ctypes.POINTER(BudgetParams), ctypes.POINTER(P), E]),
        "beenet_budget_free": (None, [P]),
        "beenet_budget_set_target": (ctypes.c_int, [P, ctypes.c_double, E]),
        "beenet_budget_reset": (None, [P]),
        "beenet_budget_apply": (None, [P, ctypes.POINTER(PolicyParams)]),
        "beenet_budget_update": (ctypes.c_double, [P, ctypes.c_double]),
        "beenet_budget_get_state": (None, [P, ctypes.POINTER(BudgetState)]),
    }
    for name, (res, args) in list(sig.items()) + list(optional.items()):
        try:
            fn = getattr(L, name)
        except AttributeError:
            if name in sig:
                raise
            continue
        fn.restype = res
        fn.argtypes = args
    _lib = L
    return L


def fft_backend() -> str:
    """The FFT backend new front-ends of this library use ("fftw", "gst";
    BEENET_FFT honoured), "gst" for a library older than the choice."""
    L = lib()
    if not hasattr(L, "beenet_fft_backend_name"):
        return "gst"
    name = L.beenet_fft_backend_name()   # NULL: BEENET_FFT names none of this build's
    return name.decode() if name else "none"


def _check(status: int, err: _Error) -> None:
    if status != 0:
        raise BeenetError(status, err.message.decode("utf-8", "replace"))


def _fptr(a: np.ndarray):
    return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


# ---------------------------------------------------------------------------
# Exit policies: names, descriptions and defaults all come from the engine's
# policy table (beenet_policy_*); nothing here lists them.

def policy_names() -> List[str]:
    """The engine's policy names, index = BeenetPolicy value."""
    L = lib()
    return [L.beenet_policy_name(i).decode() for i in range(L.beenet_policy_count())]


def policy_description(policy: Union[int, str]) -> str:
    return lib().beenet_policy_description(policy_id(policy)).decode()


def policy_uses_threshold(policy: Union[int, str]) -> bool:
    return bool(lib().beenet_policy_uses_threshold(policy_id(policy)))


def policy_id(policy: Union[int, str]) -> int:
    """BeenetPolicy value of a name (beenet_policy_from_name: BeenetError with
    the valid names for an unknown one); an int is checked and returned."""
    if isinstance(policy, str):
        out, err = ctypes.c_int(), _Error()
        _check(lib().beenet_policy_from_name(policy.encode(), ctypes.byref(out), ctypes.byref(err)), err)
        return out.value
    if lib().beenet_policy_name(int(policy)) is None:
        raise BeenetError(1, "unknown exit policy %d" % int(policy))
    return int(policy)


def policy_name(policy: Union[int, str]) -> str:
    return lib().beenet_policy_name(policy_id(policy)).decode()


def policy_params(policy: Union[int, str, PolicyParams] = "entropy", threshold: Optional[float] = None,
                  patience: Optional[int] = None, max_exit: Optional[int] = None,
                  exclusion_factors: Optional[Sequence[float]] = None,
                  keyword_exit: Optional[int] = None, budget: Optional[float] = None) -> PolicyParams:
    """beenet_policy_default_params(policy) (or a copy of the given params) with
    the given fields replaced, checked by beenet_policy_params_validate
    (BeenetError, INVALID_ARGUMENT, naming the bad field).  exclusion_factors
    (class-exclusion, one per exit) are kept alive by the returned struct;
    budget is the eenet scheduler's budget."""
    if isinstance(policy, PolicyParams):
        p = PolicyParams.from_buffer_copy(policy)
        p._factors = getattr(policy, "_factors", None)
    else:
        p = lib().beenet_policy_default_params(policy_id(policy))
    if exclusion_factors is not None:
        p._factors = (ctypes.c_float * len(exclusion_factors))(*[float(v) for v in exclusion_factors])
        p.exclusion_factors = ctypes.cast(p._factors, ctypes.POINTER(ctypes.c_float))
        p.num_exclusion_factors = len(exclusion_factors)
    if budget is not None:
        p.budget = budget
    for name, v in (("threshold", threshold), ("patience", patience), ("max_exit", max_exit),
                    ("keyword_exit", keyword_exit)):
        if v is not None:
            if name != "threshold" and v < 0:
                raise BeenetError(1, "%s must be >= 0 (got %d)" % (name, v))
            setattr(p, name, v)
    err = _Error()
    _check(lib().beenet_policy_params_validate(ctypes.byref(p), ctypes.byref(err)), err)
    return p


def default_config() -> FrontendConfig:
    cfg = FrontendConfig()
    lib().beenet_frontend_config_default(ctypes.byref(cfg))
    return cfg


class _Handle:
    """Owner of one engine handle; `_free` names the engine call releasing it."""

    _free = ""
    _h = None  # set per instance before the engine call fills it

    def close(self) -> None:
        if self._h:
            getattr(lib(), self._free)(self._h)
            self._h = ctypes.c_void_p()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Frontend(_Handle):
    """The engine's log-Mel front-end.  compute(wave) -> (n_frames, n_mels) float32."""

    def __init__(self, config: Optional[FrontendConfig] = None):
        L = lib()
        self.config = config if config is not None else default_config()
        self._h = ctypes.c_void_p()
        err = _Error()
        _check(L.beenet_frontend_new(ctypes.byref(self.config), ctypes.byref(self._h), ctypes.byref(err)), err)
        self.n_frames = int(self.config.n_frames)
        self.n_mels = int(self.config.n_mels)
        self.window_samples = int(self.config.window_samples)
        self._err = _Error()

    _free = "beenet_frontend_free"

    def fit(self, wave: np.ndarray) -> np.ndarray:
        """Zero-pad or cut to exactly window_samples (float32, contiguous)."""
        w = np.asarray(wave, dtype=np.float32).reshape(-1)
        n = self.window_samples
        if w.shape[0] < n:
            w = np.concatenate([w, np.zeros(n - w.shape[0], np.float32)])
        return np.ascontiguousarray(w[:n])

    def compute(self, wave: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        w = self.fit(wave)
        if out is None:
            out = np.empty((self.n_frames, self.n_mels), np.float32)
        _check(lib().beenet_frontend_compute(self._h, _fptr(w), w.shape[0], _fptr(out),
                                             ctypes.byref(self._err)), self._err)
        return out

    def compute_batch(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        out = np.empty((len(waves), self.n_frames, self.n_mels), np.float32)
        for i, w in enumerate(waves):
            self.compute(w, out[i])
        return out


class Model(_Handle):
    """A loaded engine model (beenet_model_load_file / _memory)."""

    def __init__(self, path: Optional[str] = None, data: Optional[bytes] = None):
        L = lib()
        self._h = ctypes.c_void_p()
        err = _Error()
        if path is not None:
            st = L.beenet_model_load_file(os.fsencode(path), ctypes.byref(self._h), ctypes.byref(err))
        else:
            st = L.beenet_model_load_memory(data, len(data), ctypes.byref(self._h), ctypes.byref(err))
        _check(st, err)
        self.num_classes = int(L.beenet_model_num_classes(self._h))
        self.num_exits = int(L.beenet_model_num_exits(self._h))
        self.labels = [L.beenet_model_label(self._h, i).decode() for i in range(self.num_classes)]
        self.name = L.beenet_model_name(self._h).decode()
        # beenet.task / beenet.architecture: None when the file does not say
        # the window interval the detection defaults were tuned for (ms)
        self.interval_ms = float(L.beenet_model_interval_ms(self._h))
        # refined windows: one more half an interval after a window whose
        # likeliest keyword is above this (REFINE_OFF = 1: never)
        self.refine_level = float(L.beenet_model_refine_level(self._h))
        self.task, self.architecture = (None if v is None else v.decode() for v in (
            L.beenet_model_task(self._h), L.beenet_model_architecture(self._h)))
        self.frontend_config = FrontendConfig()
        L.beenet_model_frontend_config(self._h, ctypes.byref(self.frontend_config))
        self.default_policy = int(L.beenet_model_default_policy(self._h))
        self.default_policy_name = policy_name(self.default_policy)
        self.default_threshold = float(L.beenet_model_default_threshold(self._h))
        self.total_bops = int(L.beenet_model_total_bops(self._h))
        self.total_flops = int(L.beenet_model_total_flops(self._h))
        # beenet.keywords (or every label not starting with '_') and the
        # beenet.detection.* defaults (built-in values when absent)
        self.keywords = [i for i in range(self.num_classes) if L.beenet_model_is_keyword(self._h, i)]
        p = DetectorParams()
        L.beenet_detector_params_default(self._h, ctypes.byref(p))
        self.detection_defaults = p.as_dict()
        # per-class logit offsets of the detection threshold (0 where the file has none)
        self.detection_class_offsets = [float(L.beenet_model_detection_class_offset(self._h, i))
                                        for i in range(self.num_classes)]

    @property
    def exclusion_factors(self) -> Optional[List[float]]:
        """beenet.class_exclusion.factors, or None when the file has none."""
        n = int(lib().beenet_model_exclusion_factors(self._h, None, 0))
        if n == 0:
            return None
        out = np.empty(n, np.float32)
        lib().beenet_model_exclusion_factors(self._h, _fptr(out), n)
        return [float(v) for v in out]

    @property
    def exclusion_score(self) -> str:
        """What the class-exclusion margins compare: "softmax" (logits) or
        "sigmoid" (exits trained with per-class BCE; beenet.class_exclusion.score)."""
        return lib().beenet_model_exclusion_score(self._h).decode()

    @property
    def eenet_budgets(self) -> Optional[List[float]]:
        """beenet.eenet.budgets (the EENet scheduler's), or None when the file
        has no scheduler."""
        n = int(lib().beenet_model_eenet_budgets(self._h, None, 0))
        if n == 0:
            return None
        out = np.empty(n, np.float32)
        lib().beenet_model_eenet_budgets(self._h, _fptr(out), n)
        return [float(v) for v in out]

    def check_params(self, params: PolicyParams) -> None:
        """beenet_model_check_params: BeenetError when this model cannot run
        params (e.g. class-exclusion without factors: UNSUPPORTED)."""
        err = _Error()
        _check(lib().beenet_model_check_params(self._h, ctypes.byref(params), ctypes.byref(err)), err)

    def default_params(self) -> PolicyParams:
        """beenet_model_default_params: the model's policy and threshold."""
        return lib().beenet_model_default_params(self._h)

    def is_keyword(self, i: int) -> bool:
        return i in self.keywords

    @property
    def total_ops(self) -> float:
        return self.total_flops + self.total_bops / 64.0

    def describe(self) -> str:
        L = lib()
        p = L.beenet_model_describe(self._h)
        if not p:
            return ""
        s = ctypes.string_at(p).decode("utf-8", "replace")
        ctypes.CDLL(None).free(ctypes.c_void_p(p))
        return s

    _free = "beenet_model_unref"

    def session(self) -> "Session":
        return Session(self)

    def detector(self, **params) -> "Detector":
        return Detector(self, **params)


class Session(_Handle):
    def __init__(self, model: Model):
        self.model = model
        self._h = ctypes.c_void_p()
        err = _Error()
        _check(lib().beenet_session_new(model._h, ctypes.byref(self._h), ctypes.byref(err)), err)
        self._err = _Error()
        cfg = model.frontend_config
        self._nfeat = int(cfg.n_frames) * int(cfg.n_mels)

    _free = "beenet_session_free"

    def _features(self, features: np.ndarray) -> np.ndarray:
        f = np.ascontiguousarray(features, dtype=np.float32)
        if f.size != self._nfeat:
            raise ValueError("features must have n_frames*n_mels = %d values" % self._nfeat)
        return f

    def run_all_exits(self, features: np.ndarray) -> np.ndarray:
        """(num_exits, num_classes) logits of every exit."""
        f = self._features(features)
        out = np.empty((self.model.num_exits, self.model.num_classes), np.float32)
        _check(lib().beenet_session_run_all_exits(self._h, _fptr(f), _fptr(out), ctypes.byref(self._err)),
               self._err)
        return out

    def _result(self, r: Result) -> dict:
        probs = np.ctypeslib.as_array(r.probabilities, shape=(r.num_classes,)).copy()
        return {
            "class_index": r.class_index, "label": r.label.decode(), "exit_index": r.exit_index,
            "num_exits": r.num_exits, "entropy": r.entropy, "confidence": r.confidence,
            "probabilities": probs, "bops_executed": r.bops_executed, "flops_executed": r.flops_executed,
            "bops_fraction": r.bops_fraction, "flops_fraction": r.flops_fraction,
            "ops_fraction": r.ops_fraction,
            "classes_remaining": [int(r.classes_remaining[e]) for e in range(r.num_exits)],
        }

    def classify_features(self, features: np.ndarray, policy: Union[int, str, PolicyParams] = "entropy",
                          threshold: Optional[float] = None, patience: Optional[int] = None,
                          max_exit: Optional[int] = None) -> dict:
        """beenet_session_classify_features_params.  policy: a name, a
        BeenetPolicy value or a PolicyParams; the other arguments override
        its fields (default: the policy's engine defaults)."""
        f = self._features(features)
        p = policy_params(policy, threshold, patience, max_exit)
        r = Result()
        _check(lib().beenet_session_classify_features_params(self._h, _fptr(f), ctypes.byref(p), ctypes.byref(r),
                                                             ctypes.byref(self._err)), self._err)
        return self._result(r)

    def classify(self, wave: np.ndarray, policy: Union[int, str, PolicyParams] = "entropy",
                 threshold: Optional[float] = None, patience: Optional[int] = None,
                 max_exit: Optional[int] = None) -> dict:
        """beenet_session_classify_params (audio in); arguments as classify_features."""
        w = np.ascontiguousarray(wave, dtype=np.float32).reshape(-1)
        p = policy_params(policy, threshold, patience, max_exit)
        r = Result()
        _check(lib().beenet_session_classify_params(self._h, _fptr(w), w.shape[0], ctypes.byref(p),
                                                    ctypes.byref(r), ctypes.byref(self._err)), self._err)
        return self._result(r)


class Detector(_Handle):
    """The engine's keyword detector (beenet_detector_*): smoothing, threshold,
    re-arming and refractory period over a stream of windows, exactly as the
    element and beenet-classify apply them.

    Parameters not given (threshold, smoothing_ms, refractory_ms, min_windows)
    are the model's defaults.  push(time_ns, probabilities) returns a dict
    (class_index, label, score, time_ns, num_windows) when a keyword fires,
    else None; run(times_ns, probabilities) returns the list of detections of
    a whole sequence (after a reset)."""

    _free = "beenet_detector_free"

    def __init__(self, model: Model, threshold: Optional[float] = None, smoothing_ms: Optional[float] = None,
                 refractory_ms: Optional[float] = None, min_windows: Optional[int] = None):
        self.model = model
        self._h = ctypes.c_void_p()
        p = self._params(threshold, smoothing_ms, refractory_ms, min_windows, base=model.detection_defaults)
        err = _Error()
        _check(lib().beenet_detector_new(model._h, ctypes.byref(p), ctypes.byref(self._h), ctypes.byref(err)), err)
        self._err = _Error()
        self._det = Detection()
        self._fired = ctypes.c_int()

    @staticmethod
    def _params(threshold, smoothing_ms, refractory_ms, min_windows, base: dict) -> DetectorParams:
        given = {"threshold": threshold, "smoothing_ms": smoothing_ms, "refractory_ms": refractory_ms,
                 "min_windows": min_windows}
        p = DetectorParams(**base)
        for k, v in given.items():
            if v is not None:
                setattr(p, k, v)
        return p

    @property
    def params(self) -> dict:
        p = DetectorParams()
        lib().beenet_detector_get_params(self._h, ctypes.byref(p))
        return p.as_dict()

    def class_threshold(self, i: int) -> float:
        """The threshold class i fires at now (the model's class offset applied; 0 for non-keywords)."""
        return float(lib().beenet_detector_class_threshold(self._h, i))

    def set_params(self, threshold: Optional[float] = None, smoothing_ms: Optional[float] = None,
                   refractory_ms: Optional[float] = None, min_windows: Optional[int] = None) -> None:
        """Live change of the given parameters (the others are kept)."""
        p = self._params(threshold, smoothing_ms, refractory_ms, min_windows, base=self.params)
        _check(lib().beenet_detector_set_params(self._h, ctypes.byref(p), ctypes.byref(self._err)), self._err)

    def reset(self) -> None:
        lib().beenet_detector_reset(self._h)

    def push(self, time_ns: int, probabilities: np.ndarray) -> Optional[dict]:
        p = np.ascontiguousarray(probabilities, dtype=np.float32).reshape(-1)
        _check(lib().beenet_detector_push(self._h, int(time_ns), _fptr(p), p.shape[0], ctypes.byref(self._det),
                                          ctypes.byref(self._fired), ctypes.byref(self._err)), self._err)
        if not self._fired.value:
            return None
        d = self._det
        return {"class_index": d.class_index, "label": d.label.decode(), "score": d.score, "time_ns": d.time_ns,
                "num_windows": d.num_windows}

    def run(self, times_ns: Sequence[int], probabilities: np.ndarray) -> List[dict]:
        """Reset, push every window (probabilities: (n, num_classes)), return the detections."""
        self.reset()
        probs = np.asarray(probabilities, dtype=np.float32)
        return [d for d in (self.push(t, probs[i]) for i, t in enumerate(times_ns)) if d is not None]


class Budget(_Handle):
    """The engine's budget controller (beenet_budget_*, docs/engine.md "Budget
    controller"), as the element's `budget` property and beenet-classify
    --budget run it: for each window, params = apply(user_params), classify
    with them, then update(result ops_fraction).  model (or None: 12
    classes, 5 exits) sets the parameter ranges; target 1 = off."""

    _free = "beenet_budget_free"

    def __init__(self, model: Optional["Model"] = None, target: float = 1.0, gain: Optional[float] = None,
                 smoothing: Optional[float] = None):
        L = lib()
        p = BudgetParams()
        L.beenet_budget_params_default(model._h if model is not None else None, ctypes.byref(p))
        p.target = target
        if gain is not None:
            p.gain = gain
        if smoothing is not None:
            p.smoothing = smoothing
        self._h = ctypes.c_void_p()
        err = _Error()
        _check(L.beenet_budget_new(ctypes.byref(p), ctypes.byref(self._h), ctypes.byref(err)), err)
        self._err = _Error()

    def set_target(self, target: float) -> None:
        _check(lib().beenet_budget_set_target(self._h, float(target), ctypes.byref(self._err)), self._err)

    def reset(self) -> None:
        lib().beenet_budget_reset(self._h)

    def apply(self, params: PolicyParams) -> PolicyParams:
        """A copy of params with the controlled threshold (patience: max_exit)."""
        p = PolicyParams.from_buffer_copy(params)
        lib().beenet_budget_apply(self._h, ctypes.byref(p))
        return p

    def update(self, ops_fraction: float) -> float:
        return float(lib().beenet_budget_update(self._h, float(ops_fraction)))

    @property
    def state(self) -> dict:
        st = BudgetState()
        lib().beenet_budget_get_state(self._h, ctypes.byref(st))
        return st.as_dict()
