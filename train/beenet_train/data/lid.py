"""Synthesize the LID-6 corpus (spoken-language identification) in the GSC layout.

Usage (from the repository root)::

    PYTHONPATH=train /usr/bin/python3 -m beenet_train.data.lid --out data/lid6 --seed 0 [--small]
    PYTHONPATH=train /usr/bin/python3 -m beenet_train.data.lid --texts   # sentences per language

The task is ``tasks/lid6.json``: six classes (en, de, fr, es, it, ru), no
``_silence_``/``_unknown_``, no keyword (``kind: classification``).  Every
voice reads running sentences of its language (Debian texts, split by a
seeded hash of the sentence, so no sentence read in training is read in
an evaluation set) and every utterance gives ``CROPS`` random 1-second
crops, as the paper does with VoxForge.  Voices are split by voice
(``voices.assign_splits``: an eSpeak variant in every language is one
group, a recorded speaker is one group).  Noise and reverberation are
added by the trainer's augmenter, as for KWS, from the corpus'
``_background_noise_`` and ``_sounds_``.

Layout (``gsc.load_gsc`` reads it with the task's labels)::

    <out>/<lang>/<speakerid>_nohash_<n>.wav   16 kHz mono S16, exactly 1 s
    <out>/validation_list.txt, testing_list.txt, voices.json, corpus.json, task.json
    <out>/_background_noise_/*.wav, <out>/_sounds_/<split>/*.wav

See docs/data.md ("LID-6") for the voices, texts and packages.
"""
from __future__ import annotations

import argparse
import glob
import gzip
import hashlib
import json
import os
import re
import sys
import time

import numpy as np

from .audio import CLIP_SAMPLES, SAMPLE_RATE, write_wav
from .task import load_task
from . import synth as S
from . import texts as T
from . import voices as V

TASK = "lid6"
FORTUNES = T.FORTUNES_DIR
FAQ_FR = "/usr/share/doc/debian/FAQ/debian-faq.fr.txt.gz"
# language: (Debian package, text files).  English: the prose files of
# corpus v2 (texts.FORTUNE_FILES).
TEXT_SOURCES = {
    "en": ("fortunes", [os.path.join(FORTUNES, n) for n in T.FORTUNE_FILES]),
    "de": ("fortunes-de", sorted(set(glob.glob(os.path.join(FORTUNES, "de", "*")))
                                 - set(glob.glob(os.path.join(FORTUNES, "de", "*.*")))
                                 - {os.path.join(FORTUNES, "de", "asciiart")})),
    "fr": ("debian-faq-fr", [FAQ_FR]),
    "es": ("fortunes-es", sorted(glob.glob(os.path.join(FORTUNES, "es", "*.fortunes")))),
    "it": ("fortunes-it", sorted(set(glob.glob(os.path.join(FORTUNES, "it", "*")))
                                 - {os.path.join(FORTUNES, "it", "banner")})),
    "ru": ("fortunes-ru", sorted(glob.glob(os.path.join(FORTUNES, "ru", "*")))),
}
PACKAGES = ["espeak-ng", "flite", "festival", "fortunes", "fortunes-de", "fortunes-es",
            "fortunes-it", "fortunes-ru", "debian-faq-fr", "festvox-italp16k",
            "festvox-itapc16k", "festvox-ru"]
# eSpeak NG languages (accents) per class; every variant of each
ESPEAK_LANGS = {"en": V.ESPEAK_LANGS, "de": ["de"], "fr": ["fr", "fr-be", "fr-ch"],
                "es": ["es", "es-419"], "it": ["it"], "ru": ["ru", "ru-lv"]}
ESPEAK_LANGS_SMALL = {"en": ["en-us"], "de": ["de"], "fr": ["fr"], "es": ["es"], "it": ["it"],
                      "ru": ["ru"]}
SMALL_RECORDED = ["flite:slt", "festival:lp_diphone"]
# sentences per language and eSpeak variant (shared by the language's
# accents) and per language for its recorded voices (shared by them), by split
ESPEAK_SENTENCES = {"train": 6, "val": 6, "test": 12}
RECORDED_SENTENCES = {"train": 240, "val": 120, "test": 240}
SMALL_ESPEAK_SENTENCES = {"train": 1, "val": 1, "test": 1}
SMALL_RECORDED_SENTENCES = {"train": 3, "val": 3, "test": 3}
CROPS = 3              # random 1 s crops per utterance
SMALL_CROPS = 2
MIN_ACTIVE = 0.4       # a crop needs this share of 10 ms frames within 30 dB of the utterance's peak
CROP_TRIES = 8

_SENT_SPLIT = re.compile(r"(?<=[.!?…])\s+(?=[\"'«¿¡]?[^\W\d_])")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_PUNCT_OK = set(" ,;:.!?'\"-«»¿¡’…")


def _script_ok(s: str, lang: str) -> bool:
    """Only letters of the language's script (Cyrillic for ru, Latin otherwise)."""
    for ch in s:
        if ch.isalpha():
            cyr = "\u0400" <= ch <= "\u04ff"
            if cyr != (lang == "ru") or (not cyr and ord(ch) > 0x24f):
                return False
        elif ch not in _PUNCT_OK:
            return False
    return True


def clean_sentence(s: str, lang: str) -> str | None:
    s = re.sub(r"\s+", " ", s).strip().strip("\"'«» ").strip()
    if not s or s[-1] not in ".!?…" or not _script_ok(s, lang):
        return None
    words = _WORD.findall(s)
    if not 4 <= len(words) <= 20 or any(len(w) > 16 for w in words):
        return None
    if sum(w.isupper() and len(w) > 1 for w in words) > 1:
        return None
    return s


def _paragraphs(path: str):
    """Fortune entries (``%`` separated, attribution cut) or, for a plain
    text, paragraphs (blank-line separated)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read()
    sep = "\n%\n" if "\n%\n" in text else "\n\n"
    for entry in text.split(sep):
        lines = []
        for line in entry.split("\n"):
            t = line.strip()
            if t.startswith("--") or t.startswith("- ") or t == "%":
                break
            lines.append(t)
        yield " ".join(lines)


def language_sentences(lang: str) -> list[str]:
    """Every usable sentence of a language's texts, deduplicated, sorted."""
    pkg, paths = TEXT_SOURCES[lang]
    paths = [p for p in paths if os.path.isfile(p)]
    if not paths:
        raise T.TextSourceError(f"{lang}: no texts; install the Debian package {pkg!r}")
    out = set()
    for p in paths:
        for para in _paragraphs(p):
            for s in _SENT_SPLIT.split(para):
                c = clean_sentence(s, lang)
                if c:
                    out.add(c)
    return sorted(out)


def text_split(text: str, seed: int) -> str:
    """train / val / test by a seeded hash of the normalised text (any script)."""
    key = " ".join(_WORD.findall(text.lower()))
    h = int.from_bytes(hashlib.sha1(f"{seed}:{key}".encode()).digest()[:8], "big") / 2.0 ** 64
    acc = 0.0
    for name, frac in T.SPLIT_FRACTIONS:
        acc += frac
        if h < acc:
            return name
    return "train"


def sentences(seed: int) -> dict[str, dict[str, list[str]]]:
    """{lang: {split: [sentence, ...]}}."""
    out = {}
    for lang in TEXT_SOURCES:
        d = {"train": [], "val": [], "test": []}
        for s in language_sentences(lang):
            d[text_split(s, seed)].append(s)
        out[lang] = d
    return out


# --------------------------------------------------------------------------
# voices

def lid_voices(small: bool = False, variants: list[str] | None = None) -> list[V.Voice]:
    """eSpeak NG (every variant of every accent of the six languages) and the
    installed flite/festival voices of the six languages, sorted by name;
    ``Voice.lang`` is the class.  ``variants``: only these eSpeak variants
    ("" = none; for tests)."""
    es = V.Espeak()
    langs = ESPEAK_LANGS_SMALL if small else ESPEAK_LANGS
    if variants is None:
        variants = V.ESPEAK_VARIANTS_SMALL if small else [""] + V.espeak_variants()
    out = []
    for lang, accents in langs.items():
        for acc in accents:
            if not es.has_voice(acc):
                continue
            for var in variants:
                arg = f"{acc}+{var}" if var else acc
                if var and not es.has_voice(arg):
                    continue
                out.append(V.Voice(f"espeak:{arg}", "espeak", arg,
                                   f"espeak-variant:{var or 'default'}", lang))
    for v in V.flite_voices_available():
        out.append(V.Voice(f"flite:{v}", "flite", v, "speaker:" + V.SPEAKER_GROUP[f"flite:{v}"]))
    for v in V.festival_voices_available():
        fv = V.FESTIVAL_VOICES[v]
        if fv.lang in TEXT_SOURCES:
            base = v.partition("+")[0]
            out.append(V.Voice(f"festival:{v}", "festival", v,
                               "speaker:" + V.SPEAKER_GROUP[f"festival:{base}"], fv.lang))
    if small:
        out = [v for v in out if v.family == "espeak" or v.name in SMALL_RECORDED]
    return sorted(out, key=lambda v: v.name)


def splits(voices: list[V.Voice], seed: int) -> dict[str, str]:
    """By voice: every voice (also the non-English recorded ones) is split."""
    return V.assign_splits(voices, seed, foreign_train_only=False)


def sentence_counts(voices: list[V.Voice], split: dict, small: bool) -> dict[str, int]:
    """Sentences per voice: a language's eSpeak accents share
    ESPEAK_SENTENCES per variant, its recorded voices of a split share
    RECORDED_SENTENCES, so the six classes get similar amounts of speech."""
    es_n = SMALL_ESPEAK_SENTENCES if small else ESPEAK_SENTENCES
    rec_n = SMALL_RECORDED_SENTENCES if small else RECORDED_SENTENCES
    accents, recorded = {}, {}
    for v in voices:
        if v.family == "espeak":
            accents.setdefault(v.lang, set()).add(v.arg.partition("+")[0])
        else:
            recorded[(v.lang, split[v.name])] = recorded.get((v.lang, split[v.name]), 0) + 1
    out = {}
    for v in voices:
        s = split[v.name]
        if v.family == "espeak":
            out[v.name] = -(-es_n[s] // len(accents[v.lang]))
        else:
            out[v.name] = -(-rec_n[s] // recorded[(v.lang, s)])
    return out


# --------------------------------------------------------------------------
# synthesis

def random_crops(y: np.ndarray, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` 1 s crops of an utterance at random offsets (a crop must be at
    least MIN_ACTIVE speech; a shorter utterance is placed at a random offset),
    each peak-normalised to a random level."""
    frame = SAMPLE_RATE // 100
    nf = y.size // frame
    e = (y[:nf * frame].reshape(nf, frame).astype(np.float64) ** 2).mean(1) + 1e-12
    active = 10 * np.log10(e) > 10 * np.log10(e.max()) - 30.0
    out = []
    for _ in range(n):
        if y.size <= CLIP_SAMPLES:
            c = np.zeros(CLIP_SAMPLES, np.float32)
            off = int(rng.integers(0, CLIP_SAMPLES - y.size + 1))
            c[off:off + y.size] = y
        else:
            for _t in range(CROP_TRIES):
                off = int(rng.integers(0, y.size - CLIP_SAMPLES + 1))
                f0 = off // frame
                if active[f0:f0 + CLIP_SAMPLES // frame].mean() >= MIN_ACTIVE:
                    break
            c = np.array(y[off:off + CLIP_SAMPLES], np.float32)
        peak = float(np.abs(c).max())
        if peak <= 0:
            continue
        c *= (10 ** (rng.uniform(*S.PEAK_DB) / 20)) / peak
        out.append(c)
    return out


def lid_voice(voice: V.Voice, texts: tuple, seed: int, out_root: str, crops: int) -> dict:
    """One voice: read ``texts`` (synth.synth_voice's sentence path: the
    same prosody draws, trimming and eSpeak crash guard), cut ``crops``
    random crops from each, write ``<lang>/<speaker>_nohash_<i>.wav``."""
    r = S.synth_voice(voice, [], seed, None, sentences=texts)
    rng = np.random.default_rng([seed, int(voice.speaker_id, 16), 0x11D])
    files, i = [], 0
    for k in range(len(texts)):
        y = r["clips"].get((S.SENTENCE_DIR, k))
        if y is None:
            continue
        for c in random_crops(y, crops, rng):
            rel = f"{voice.lang}/{voice.speaker_id}_nohash_{i}.wav"
            write_wav(os.path.join(out_root, rel), c, rng=rng)
            files.append(rel)
            i += 1
    return {"voice": voice.name, "files": files, "failed": r["failed"],
            "seconds": round(sum(m["seconds"] for m in r["sentences"]), 3)}


def synthesize(out: str, seed: int = 0, small: bool = False, jobs: int = 2, force: bool = False,
               log=sys.stderr, variants: list[str] | None = None, sounds: bool = True,
               max_voices: int | None = None) -> dict | None:
    """The LID-6 corpus in ``out`` (built in ``<out>.partial``, renamed at the
    end; resumable as synth.synthesize is, ``max_voices`` as there: None is
    returned when it stopped the build).  ``variants`` (eSpeak variants) and
    ``sounds=False`` (no recorded sounds) make a still smaller corpus for
    tests."""
    t0 = time.time()
    final = out.rstrip("/")
    task = load_task(TASK)
    voices = lid_voices(small, variants)
    crops = SMALL_CROPS if small else CROPS
    out = S.start_partial(final, force, S.build_key("lid", seed, small, crops, sounds, task.to_dict(),
                                                    [v.name for v in voices]), log)
    split = splits(voices, seed)
    n_sent = sentence_counts(voices, split, small)
    pools = sentences(seed)
    for lang in task.labels:
        os.makedirs(os.path.join(out, lang), exist_ok=True)
    print(f"[lid] {len(voices)} voices, {sum(n_sent.values())} sentences x {crops} crops, "
          f"{jobs} processes", file=log, flush=True)
    noise = S.make_background_noise(os.path.join(out, "_background_noise_"), seed,
                                    5 if small else S.NOISE_SECONDS, [])
    work = []
    for v in voices:
        vrng = np.random.default_rng([seed, int(v.speaker_id, 16), 0x5E17])
        pool = pools[v.lang][split[v.name]]
        pick = vrng.choice(len(pool), size=min(n_sent[v.name], len(pool)), replace=False)
        work.append((v, tuple(pool[int(j)] for j in pick), seed, out, crops))
    order = {"festival": 0, "flite": 1, "espeak": 2}
    work.sort(key=lambda t: (order[t[0].family], t[0].name))
    results, last = [], 0.0
    for r in S.run_voices(work, out, jobs, fn=lid_voice, max_voices=max_voices):
        results.append(r)
        if time.time() - last > 5.0 or len(results) == len(work):
            print(f"[lid] {len(results)}/{len(work)} voices, {time.time() - t0:.0f} s",
                  file=log, flush=True)
            last = time.time()
    if len(results) < len(work):
        print(f"[lid] stopped after {len(results)} of {len(work)} voices (--max-voices): "
              f"rerun the same command to continue", file=log, flush=True)
        return None
    n_sounds = S.write_shared_files(out, seed, small, voices, split, task, log, tag="lid", sounds=sounds)
    lists = {"val": [], "test": []}
    for r in results:
        if split[r["voice"]] in lists:
            lists[split[r["voice"]]].extend(r["files"])
    for name, key in (("validation_list.txt", "val"), ("testing_list.txt", "test")):
        with open(os.path.join(out, name), "w") as f:
            f.write("".join(p + "\n" for p in sorted(lists[key])))
    clips = {s: {l: 0 for l in task.labels} for s in ("train", "val", "test")}
    for r in results:
        v = next(x for x in voices if x.name == r["voice"])
        clips[split[v.name]][v.lang] += len(r["files"])
    meta = {"format": "google-speech-commands-v2-layout", "generator": "beenet_train.data.lid",
            "seed": seed, "small": small, "task": task.name, "labels": task.labels,
            "crops_per_sentence": crops, "background_noise": noise, "recorded_sounds": n_sounds,
            "voices": {v.name: {"family": v.family, "arg": v.arg, "group": v.group, "lang": v.lang,
                                "speaker": v.speaker_id, "split": split[v.name],
                                "sentences": n_sent[v.name]} for v in voices},
            "clips": clips, "failed": sorted((r["voice"], f) for r in results for f in r["failed"]),
            "speech_seconds": round(sum(r["seconds"] for r in results), 1),
            "seconds": round(time.time() - t0, 1)}
    with open(os.path.join(out, "corpus.json"), "w") as f:
        json.dump(meta, f, indent=1)
    S.replace_dir(out, final)
    print(f"[lid] done: {sum(sum(c.values()) for c in clips.values())} clips, "
          f"{len(meta['failed'])} failed, {meta['seconds']:.0f} s", file=log, flush=True)
    return meta


def text_stats(seed: int = 0) -> str:
    rows = ["lang  package          train    val   test"]
    for lang, d in sentences(seed).items():
        rows.append(f"{lang:4s}  {TEXT_SOURCES[lang][0]:14s} {len(d['train']):7d} {len(d['val']):6d} "
                    f"{len(d['test']):6d}")
    return "\n".join(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.data.lid",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="output corpus directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true",
                    help="tiny corpus (one accent per language x 10 eSpeak variants, flite slt, "
                         "festival lp_diphone) for tests")
    ap.add_argument("--jobs", type=int, default=2, help="processes (max 2)")
    ap.add_argument("--force", action="store_true", help="overwrite a non-empty --out")
    ap.add_argument("--texts", action="store_true", help="print the sentences per language and split")
    S.add_max_voices(ap)
    a = ap.parse_args(argv)
    if a.texts:
        print(text_stats(a.seed))
        return 0
    if not a.out:
        ap.error("--out is required (or --texts)")
    try:
        if synthesize(a.out, a.seed, a.small, a.jobs, a.force, max_voices=a.max_voices) is None:
            return S.UNFINISHED
    except (FileExistsError, ValueError, V.EspeakError, RuntimeError, T.TextSourceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
