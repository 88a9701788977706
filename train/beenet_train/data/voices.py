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
import re
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
@dataclass(frozen=True)
class FestivalVoice:
    select: str              # scheme call selecting the voice
    lang: str = "en"         # language of its letter-to-sound rules
    encoding: str = "latin-1"  # text encoding festival expects for it
    raise_f0: bool = False   # pseudo-speaker: F0 raised, formants shifted up
    words_only: bool = False  # its letter-to-sound rules fail on any punctuation that
    #                           is not glued to the end of a word: say words_only(text)


FESTIVAL_VOICES = {  # "voice[+variant]" -> how to drive it
    "kal_diphone": FestivalVoice("(voice_kal_diphone)"),
    "ked_diphone": FestivalVoice("(voice_ked_diphone)"),
    "cmu_us_slt_arctic_hts": FestivalVoice("(voice_cmu_us_slt_arctic_hts)"),
    # The English recorded voices in training are all adult men (kal, ked,
    # rms); "+high" re-voices two of them with a raised F0 target (festival's
    # linear-regression intonation model) and a higher tape speed (formants
    # up ~8-20 %), a cheap vocal-tract/pitch perturbation of a real speaker.
    "kal_diphone+high": FestivalVoice("(voice_kal_diphone)", raise_f0=True),
    "ked_diphone+high": FestivalVoice("(voice_ked_diphone)", raise_f0=True),
    # Recorded non-English speakers (4 women, 1 boy, 4 men) reading the words
    # respelled for their own letter-to-sound rules (FOREIGN_SPELLINGS):
    # accented speech from real voices.  Training only (see assign_splits).
    "lp_diphone": FestivalVoice("(voice_lp_diphone)", "it"),
    "pc_diphone": FestivalVoice("(voice_pc_diphone)", "it"),
    "suo_fi_lj_diphone": FestivalVoice("(voice_suo_fi_lj_diphone)", "fi"),
    "hy_fi_mv_diphone": FestivalVoice("(voice_hy_fi_mv_diphone)", "fi"),
    "czech_dita": FestivalVoice("(voice_czech_dita)", "cs", "iso-8859-2"),
    "czech_krb": FestivalVoice("(voice_czech_krb)", "cs", "iso-8859-2"),
    "czech_machac": FestivalVoice("(voice_czech_machac)", "cs", "iso-8859-2"),
    "czech_ph": FestivalVoice("(voice_czech_ph)", "cs", "iso-8859-2"),
    "upc_ca_ona_hts": FestivalVoice("(voice_upc_ca_ona_hts)", "ca"),
    # Russian recorded speaker (festvox-ru): LID-6 only (data/lid.py), it has
    # no respellings, so the keyword corpora leave it out (inventory)
    # (its "russian_downcase" rules stop festival on a quote, a dash or "..."
    # standing alone or before a word: words_only)
    "msu_ru_nsh_clunits": FestivalVoice("(voice_msu_ru_nsh_clunits)", "ru", "utf-8", words_only=True),
}
# Debian packages of the non-English voices (tools/setup-debian.sh installs them)
FOREIGN_VOICE_PACKAGES = ["festvox-italp16k", "festvox-itapc16k", "festvox-suopuhe-lj",
                          "festvox-suopuhe-mv", "festvox-czech-dita", "festvox-czech-krb",
                          "festvox-czech-machac", "festvox-czech-ph", "festvox-ca-ona-hts"]

# Every corpus word respelled so Czech, Finnish, Italian and Catalan
# letter-to-sound rules say something close to its General American
# pronunciation, as a speaker of that language would read it.
# word: (cs, fi, it, ca)
_RESPELL = {
    "yes": ("jes", "jes", "ies", "ies"), "no": ("nou", "nou", "nou", "nou"),
    "up": ("ap", "ap", "ap", "ap"), "down": ("daun", "daun", "daun", "daun"),
    "left": ("left", "left", "left", "left"), "right": ("rajt", "rait", "rait", "rait"),
    "on": ("on", "on", "on", "on"), "off": ("of", "of", "of", "of"),
    "stop": ("stop", "stop", "stop", "stop"), "go": ("gou", "gou", "gou", "gou"),
    "backward": ("bekvord", "bekvord", "becuord", "becuord"), "bed": ("bed",) * 4,
    "bird": ("berd",) * 4, "cat": ("ket", "ket", "chet", "quet"), "dog": ("dog",) * 4,
    "eight": ("ejt", "eit", "eit", "eit"), "five": ("fajv", "faiv", "faiv", "faiv"),
    "follow": ("folou",) * 4, "forward": ("forvord", "forvord", "foruord", "foruord"),
    "four": ("for",) * 4, "happy": ("hepi",) * 4, "house": ("haus",) * 4,
    "learn": ("lern",) * 4, "marvin": ("marvin",) * 4,
    "nine": ("najn", "nain", "nain", "nain"), "one": ("uan",) * 4, "seven": ("seven",) * 4,
    "sheila": ("\u0161ejla", "seila", "sceila", "xeila"), "six": ("siks", "siks", "sics", "sics"),
    "three": ("tri",) * 4, "tree": ("trii", "trii", "tri", "tri"), "two": ("tu",) * 4,
    "visual": ("vi\u017eual", "visual", "visual", "visual"), "wow": ("uau",) * 4,
    "zero": ("ziro", "siiro", "ziro", "ziro"), "yet": ("jet", "jet", "iet", "iet"),
    "note": ("nout",) * 4, "cup": ("kap", "kap", "cap", "cap"), "town": ("taun",) * 4,
    "light": ("lajt", "lait", "lait", "lait"), "ride": ("rajd", "raid", "raid", "raid"),
    "in": ("in",) * 4, "of": ("av",) * 4, "top": ("top",) * 4, "goat": ("gout",) * 4,
}
FOREIGN_SPELLINGS = {lang: {w: sp[i] for w, sp in _RESPELL.items()}
                     for i, lang in enumerate(("cs", "fi", "it", "ca"))}

# underlying recorded speaker of each non-eSpeak voice (split group)
SPEAKER_GROUP = {
    "flite:kal": "kal", "flite:kal16": "kal", "festival:kal_diphone": "kal",
    "flite:slt": "slt", "festival:cmu_us_slt_arctic_hts": "slt",
    "flite:awb": "awb", "flite:rms": "rms", "festival:ked_diphone": "ked",
}
SPEAKER_GROUP.update({f"festival:{v}": v for v, fv in FESTIVAL_VOICES.items() if fv.lang != "en"})


def text_for(voice: "Voice", word: str) -> str:
    """What ``voice`` is asked to say for ``word``: the word itself, or its
    respelling for a non-English voice."""
    if voice.lang == "en":
        return word
    try:
        return FOREIGN_SPELLINGS[voice.lang][word]
    except KeyError:
        raise KeyError(f"no {voice.lang} respelling of {word!r} for {voice.name}") from None


SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Voice:
    name: str      # e.g. "espeak:en-us+f4"
    family: str    # "espeak" | "flite" | "festival"
    arg: str       # engine-specific voice argument, e.g. "en-us+f4"
    group: str     # split group, e.g. "espeak-variant:f4", "speaker:kal"
    lang: str = "en"  # language of the voice's reading rules (non-"en": training only)

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
    """Minimal synchronous binding of libespeak-ng, one per process:
    ``Espeak()`` always returns the same object.  libespeak-ng has one
    global synthesis callback; a second binding re-initialised the library
    and installed its own callback, and once that binding was garbage
    collected the library called freed memory (a child forked after a
    second ``synthesize`` in one process segfaulted in every run)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            inst = super().__new__(cls)
            inst._load()
            cls._instance = inst
        return cls._instance

    def _load(self):
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


def words_only(text: str) -> str:
    """The words of ``text`` (hyphenated ones kept whole, a comma glued to a
    word kept for the phrasing) separated by single spaces, then the
    sentence's final ``.``, ``?`` or ``!``: what a festival voice whose
    tokenizer knows no other punctuation can say."""
    words = re.findall(r"\w+(?:-\w+)*,?", text)
    last = text.rstrip(" \"'»)")[-1:]
    return " ".join(words) + (last if last in ("?", "!") else ".")


def festival_synth_batch(voice: str, items: list[tuple],
                         tmpdir: str) -> list[tuple[np.ndarray, int]]:
    """Synthesize [(text, duration_stretch[, (f0_mean, f0_std)])] with one
    festival process.  The optional F0 pair sets the target of festival's
    linear-regression intonation model (diphone voices) for that clip."""
    fv = FESTIVAL_VOICES[voice]
    lines = [fv.select]
    outs = []
    for i, item in enumerate(items):
        text, stretch = item[0], item[1]
        f0 = item[2] if len(item) > 2 else None
        out = os.path.join(tmpdir, f"fest_{i}.wav")
        outs.append(out)
        t = words_only(text) if fv.words_only else text.replace("\\", " ").replace('"', " ")
        if f0 is not None:
            lines.append("(set! int_lr_params '((target_f0_mean %.1f) (target_f0_std %.1f) "
                         "(model_f0_mean 170) (model_f0_std 34)))" % (f0[0], f0[1]))
        lines.append(f"(Parameter.set 'Duration_Stretch {stretch:.3f})")
        lines.append(f'(set! u (Utterance Text "{t}"))')
        lines.append("(utt.synth u)")
        lines.append(f'(utt.save.wave u "{out}" \'riff)')
    script = os.path.join(tmpdir, "synth.scm")
    with open(script, "w", encoding=fv.encoding) as f:
        f.write("\n".join(lines) + "\n")
    subprocess.run(["festival", "-b", script], check=True, capture_output=True)
    return [read_wav_rate(o) for o in outs]


def festival_voices_available() -> list[str]:
    """Entries of FESTIVAL_VOICES whose festival voice is installed."""
    if shutil.which("festival") is None:
        return []
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "l.scm")
        with open(script, "w") as f:
            f.write("(print (voice.list))\n")
        r = subprocess.run(["festival", "-b", script], capture_output=True, text=True)
    have = r.stdout.replace("(", " ").replace(")", " ").split()
    return [v for v in FESTIVAL_VOICES if v.partition("+")[0] in have]


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
    fe = [v for v in fe if FESTIVAL_VOICES[v].lang == "en" or FESTIVAL_VOICES[v].lang in FOREIGN_SPELLINGS]
    for v in fe:
        # a "+variant" of a recorded voice is the same speaker: same group
        base = v.partition("+")[0]
        voices.append(Voice(f"festival:{v}", "festival", v,
                            "speaker:" + SPEAKER_GROUP[f"festival:{base}"], FESTIVAL_VOICES[v].lang))
    return sorted(voices, key=lambda v: v.name)


def _is_standard_variant(var: str) -> bool:
    return var == "default" or (len(var) == 2 and var[0] in "mf" and var[1].isdigit())


def _h(seed: int, s: str) -> str:
    return hashlib.sha1(f"{seed}:{s}".encode()).hexdigest()


def assign_splits(voices: list[Voice], seed: int,
                  val_frac: float = 0.1, test_frac: float = 0.1,
                  foreign_train_only: bool = True) -> dict[str, str]:
    """Deterministic by-voice split: {voice name: "train"|"val"|"test"}.

    Voices whose ``lang`` is not English (recorded non-English speakers
    reading respelled words) all go to train: they add real voices to
    learn from, while validation and test measure English speakers only,
    so the held-out figures stay comparable whatever such voices are
    installed (``foreign_train_only=False``: they are split like the
    English ones, as LID-6 needs, where every voice reads its own
    language).  Three strata of the English voices are split
    independently: the standard eSpeak variant groups (no variant, m1..m8,
    f1..f5), the other ("named") eSpeak variant groups, and the
    recorded-speaker groups of flite/festival.  In each stratum groups are
    ordered by sha1(seed:group); the first round(test_frac*n) (at least 1
    when n >= 3) go to test, the next round(val_frac*n) (at least 1 when
    n >= 3) to val.  In the flite/festival stratum the first test group is
    the first (in hash order) whose voices span both families when such a
    group exists, so both synthesizers appear in train *and* test.
    """
    strata: dict[str, dict[str, list[Voice]]] = {}
    out: dict[str, str] = {}
    for v in voices:
        if v.lang != "en" and foreign_train_only:
            out[v.name] = "train"
            continue
        if v.family == "espeak":
            var = v.group.split(":", 1)[1]
            st = "espeak-standard" if _is_standard_variant(var) else "espeak-named"
        else:
            st = "other"
        strata.setdefault(st, {}).setdefault(v.group, []).append(v)
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
