"""Voice inventory, TTS engines and the by-voice split policy.

A *voice* is synthesizer + voice + variant.  Names are stable strings:

* ``espeak:<lang>[+<variant>]`` e.g. ``espeak:en-us+f4`` -- eSpeak NG,
  driven in-process through ``libespeak-ng.so.1`` (ctypes), so one clip
  costs ~0.5 ms instead of a process spawn.  The part after ``espeak:``
  is exactly what the GStreamer ``espeak`` element accepts in its
  ``voice`` property.
* ``flite:<voice>`` e.g. ``flite:slt`` -- the ``flite`` command.
* ``festival:<voice>`` e.g. ``festival:kal_diphone`` -- ``festival -b``,
  one process per voice synthesising all its clips.

Split policy (see docs/data.md): voices are put into *groups* that must
never straddle splits.  For eSpeak a group is a variant (``+f4`` in every
English accent), so a held-out variant is never heard in training under
any accent.  For flite/festival a group is the underlying recorded
speaker (``kal`` = flite kal + flite kal16 + festival kal_diphone, ``slt``
= flite slt + festival cmu_us_slt_arctic_hts, ...).  Groups are ordered
by a seeded hash and ~10 % go to test, ~10 % to validation, the rest to
train.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

from .audio import read_wav_rate

# English accents of eSpeak NG ("en" is British English: the name
# "en-gb" is not accepted by espeak_SetVoiceByName.  mbrola voices are excluded: they need the
# non-free mbrola binary).  Filtered at run time by what is installed.
ESPEAK_LANGS = ["en-us", "en", "en-gb-scotland", "en-gb-x-rp",
                "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc"]
ESPEAK_LANGS_SMALL = ["en-us", "en"]
ESPEAK_VARIANTS_SMALL = ["", "m1", "f2", "m3", "f4", "klatt", "croak",
                         "whisper", "m7", "f5"]

FLITE_VOICES = ["kal", "kal16", "awb", "rms", "slt"]  # awb_time is limited-domain
FESTIVAL_VOICES = {  # festival voice -> scheme call selecting it
    "kal_diphone": "(voice_kal_diphone)",
    "ked_diphone": "(voice_ked_diphone)",
    "cmu_us_slt_arctic_hts": "(voice_cmu_us_slt_arctic_hts)",
}
# underlying recorded speaker of each non-eSpeak voice (split group)
SPEAKER_GROUP = {
    "flite:kal": "kal", "flite:kal16": "kal", "festival:kal_diphone": "kal",
    "flite:slt": "slt", "festival:cmu_us_slt_arctic_hts": "slt",
    "flite:awb": "awb", "flite:rms": "rms", "festival:ked_diphone": "ked",
}

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Voice:
    name: str      # e.g. "espeak:en-us+f4"
    family: str    # "espeak" | "flite" | "festival"
    arg: str       # engine-specific voice argument, e.g. "en-us+f4"
    group: str     # split group, e.g. "espeak-variant:f4", "speaker:kal"

    @property
    def speaker_id(self) -> str:
        return speaker_id(self.name)


def speaker_id(voice_name: str) -> str:
    """Stable 8-hex-digit speaker id (like GSC's) of a voice name."""
    return hashlib.sha1(voice_name.encode("utf-8")).hexdigest()[:8]


# --------------------------------------------------------------------------
# eSpeak NG through libespeak-ng (in-process)

_SYNTH_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short),
                             ctypes.c_int, ctypes.c_void_p)
_ESPEAK_RATE, _ESPEAK_VOLUME, _ESPEAK_PITCH, _ESPEAK_RANGE = 1, 2, 3, 4
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1


class EspeakError(RuntimeError):
    pass


class Espeak:
    """Minimal synchronous binding of libespeak-ng (one per process)."""

    def __init__(self):
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise EspeakError(f"cannot load libespeak-ng ({e}); "
                              "install the espeak-ng package") from None
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        self.rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 200, None, 0)
        if self.rate <= 0:
            raise EspeakError("espeak_Initialize failed")
        self._lib = lib
        self._chunks: list[np.ndarray] = []

        def _cb(wav, n, _events):
            if n > 0 and wav:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._cb = _SYNTH_CB(_cb)  # keep a reference
        lib.espeak_SetSynthCallback(self._cb)
        self._voice = None

    def has_voice(self, name: str) -> bool:
        return self._lib.espeak_SetVoiceByName(name.encode()) == 0

    def set_voice(self, name: str) -> None:
        if name != self._voice:
            if self._lib.espeak_SetVoiceByName(name.encode()) != 0:
                raise EspeakError(f"espeak-ng has no voice '{name}'")
            self._voice = name

    def synth(self, text: str, rate: int = 175, pitch: int = 50,
              pitch_range: int = 50, volume: int = 100) -> tuple[np.ndarray, int]:
        lib = self._lib
        lib.espeak_SetParameter(_ESPEAK_RATE, int(rate), 0)
        lib.espeak_SetParameter(_ESPEAK_PITCH, int(pitch), 0)
        lib.espeak_SetParameter(_ESPEAK_RANGE, int(pitch_range), 0)
        lib.espeak_SetParameter(_ESPEAK_VOLUME, int(volume), 0)
        self._chunks = []
        b = text.encode("utf-8") + b"\0"
        r = lib.espeak_Synth(b, len(b), 0, _POS_CHARACTER, 0, 0, None, None)
        if r != 0:
            raise EspeakError(f"espeak_Synth failed ({r}) for {text!r}")
        if not self._chunks:
            return np.zeros(0, np.float32), self.rate
        return (np.concatenate(self._chunks).astype(np.float32) / 32768.0), self.rate


def espeak_variants() -> list[str]:
    """Variant file names listed by ``espeak-ng --voices=variant``."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakError("espeak-ng not found; install the espeak-ng package")
    out = subprocess.run([exe, "--voices=variant"], check=True,
                         capture_output=True, text=True).stdout
    names = []
    for line in out.splitlines()[1:]:
        for tok in line.split():
            if tok.startswith("!v/"):
                names.append(tok[3:])
    return sorted(set(names))


# --------------------------------------------------------------------------
# flite / festival (subprocesses)

def flite_synth(voice: str, text: str, stretch: float, tmpdir: str) -> tuple[np.ndarray, int]:
    out = os.path.join(tmpdir, "flite.wav")
    subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch:.3f}",
                    "-t", text, "-o", out], check=True, capture_output=True)
    return read_wav_rate(out)


def festival_synth_batch(voice: str, items: list[tuple[str, float]],
                         tmpdir: str) -> list[tuple[np.ndarray, int]]:
    """Synthesize [(text, duration_stretch)] with one festival process."""
    sel = FESTIVAL_VOICES[voice]
    lines = [sel]
    outs = []
    for i, (text, stretch) in enumerate(items):
        out = os.path.join(tmpdir, f"fest_{i}.wav")
        outs.append(out)
        t = text.replace("\\", " ").replace('"', " ")
        lines.append(f"(Parameter.set 'Duration_Stretch {stretch:.3f})")
        lines.append(f'(set! u (Utterance Text "{t}"))')
        lines.append("(utt.synth u)")
        lines.append(f'(utt.save.wave u "{out}" \'riff)')
    script = os.path.join(tmpdir, "synth.scm")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(["festival", "-b", script], check=True, capture_output=True)
    return [read_wav_rate(o) for o in outs]


def festival_voices_available() -> list[str]:
    if shutil.which("festival") is None:
        return []
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "l.scm")
        with open(script, "w") as f:
            f.write("(print (voice.list))\n")
        r = subprocess.run(["festival", "-b", script], capture_output=True, text=True)
    have = r.stdout.replace("(", " ").replace(")", " ").split()
    return [v for v in FESTIVAL_VOICES if v in have]


def flite_voices_available() -> list[str]:
    if shutil.which("flite") is None:
        return []
    r = subprocess.run(["flite", "-lv"], capture_output=True, text=True)
    have = r.stdout.split()
    return [v for v in FLITE_VOICES if v in have]


# --------------------------------------------------------------------------
# inventory and split

def inventory(small: bool = False) -> list[Voice]:
    """All voices to synthesize, sorted by name."""
    voices: list[Voice] = []
    es = Espeak()
    langs = [l for l in (ESPEAK_LANGS_SMALL if small else ESPEAK_LANGS) if es.has_voice(l)]
    variants = ESPEAK_VARIANTS_SMALL if small else [""] + espeak_variants()
    for lang in langs:
        for var in variants:
            arg = f"{lang}+{var}" if var else lang
            if var and not es.has_voice(arg):
                continue
            voices.append(Voice(f"espeak:{arg}", "espeak", arg,
                                f"espeak-variant:{var or 'default'}"))
    fl = flite_voices_available()
    fe = festival_voices_available()
    if small:
        fl = [v for v in fl if v in ("kal", "slt", "awb")]
        fe = [v for v in fe if v == "kal_diphone"]
    for v in fl:
        voices.append(Voice(f"flite:{v}", "flite", v, "speaker:" + SPEAKER_GROUP[f"flite:{v}"]))
    for v in fe:
        voices.append(Voice(f"festival:{v}", "festival", v,
                            "speaker:" + SPEAKER_GROUP[f"festival:{v}"]))
    return sorted(voices, key=lambda v: v.name)


def _is_standard_variant(var: str) -> bool:
    return var == "default" or (len(var) == 2 and var[0] in "mf" and var[1].isdigit())


def _h(seed: int, s: str) -> str:
    return hashlib.sha1(f"{seed}:{s}".encode()).hexdigest()


def assign_splits(voices: list[Voice], seed: int,
                  val_frac: float = 0.1, test_frac: float = 0.1) -> dict[str, str]:
    """Deterministic by-voice split: {voice name: "train"|"val"|"test"}.

    Three strata are split independently: the standard eSpeak variant
    groups (no variant, m1..m8, f1..f5), the other ("named") eSpeak
    variant groups, and the recorded-speaker groups of flite/festival.  In each stratum groups are
    ordered by sha1(seed:group); the first round(test_frac*n) (at least 1
    when n >= 3) go to test, the next round(val_frac*n) (at least 1 when
    n >= 3) to val.  In the flite/festival stratum the first test group is
    the first (in hash order) whose voices span both families when such a
    group exists, so both synthesizers appear in train *and* test.
    """
    strata: dict[str, dict[str, list[Voice]]] = {}
    for v in voices:
        if v.family == "espeak":
            var = v.group.split(":", 1)[1]
            st = "espeak-standard" if _is_standard_variant(var) else "espeak-named"
        else:
            st = "other"
        strata.setdefault(st, {}).setdefault(v.group, []).append(v)
    out: dict[str, str] = {}
    for st, groups in sorted(strata.items()):
        order = sorted(groups, key=lambda g: _h(seed, g))
        n = len(order)
        n_test = max(1 if n >= 3 else 0, int(round(test_frac * n)))
        n_val = max(1 if n >= 3 else 0, int(round(val_frac * n)))
        if st == "other":
            multi = [g for g in order if len({v.family for v in groups[g]}) > 1]
            if multi:
                order.remove(multi[0])
                order.insert(0, multi[0])
        for i, g in enumerate(order):
            split = "test" if i < n_test else ("val" if i < n_test + n_val else "train")
            for v in groups[g]:
                out[v.name] = split
    return out


_PREFERRED_LANGS = ["en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029",
                    "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd"]


def heldout_espeak_voices(root: str) -> list[str]:
    """eSpeak voice names (e.g. ``"en-us+f4"``) of the corpus' test split.

    Read from ``<root>/voices.json``.  These voices (and every accent of
    their variant) were never used for training, so they are suitable for
    an end-to-end test through the GStreamer ``espeak`` element's
    ``voice`` property.  Ordered most-standard first: en-us, en-gb, ...,
    plain ``m<N>``/``f<N>`` variants before exotic ones.
    """
    path = os.path.join(root, "voices.json")
    try:
        with open(path) as f:
            table = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; not a corpus made by "
                                "beenet_train.data.synth") from None
    names = [k[len("espeak:"):] for k, s in table.items()
             if s == "test" and k.startswith("espeak:")]

    def key(n: str):
        lang, _, var = n.partition("+")
        li = _PREFERRED_LANGS.index(lang) if lang in _PREFERRED_LANGS else 99
        return (0 if _is_standard_variant(var or "default") else 1, li, var)

    return sorted(names, key=key)
