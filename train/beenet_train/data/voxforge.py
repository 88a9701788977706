"""Reader for VoxForge-style per-speaker folders (spoken-language
identification), and its conversion to the Speech Commands layout.

    <root>/<lang>/<session>/wav/*.wav        (or flac/*.flac)
    <root>/<lang>/<session>/etc/README       optional: "User Name:<speaker>"

A session folder is named ``<user>-<date>-<id>`` as VoxForge's are; the
speaker is ``User Name`` of ``etc/README`` when given, else the part of
the folder name before the first ``-``, so several sessions of one person
are one speaker.  Speakers are split (per language) by a seeded hash: the
first 10 % of the ordered speakers go to test, the next 10 % to
validation (at least one each for 3 or more speakers), the rest to train,
so no speaker is in two splits.

:func:`convert` cuts seeded random 1 s crops of every recording (the
paper's LID input) into ``<out>/<lang>/<speaker>_nohash_<n>.wav`` with the
split lists and a ``task.json`` whose labels are the languages (no
``_silence_``/``_unknown_`` class)::

    PYTHONPATH=train /usr/bin/python3 -m beenet_train.data.voxforge --root voxforge \\
        --langs en,de,fr,es,it,ru --out data/voxforge-lid6
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from typing import Dict, List, Optional

import numpy as np

from .audio import CLIP_SAMPLES, SAMPLE_RATE, read_wav, write_wav
from .gsc import CorpusError, LIST_FILES, SPLITS
from .task import CORPUS_TASK_FILE, Task

AUDIO_DIRS = {"wav": ".wav", "flac": ".flac"}
SPLIT_FRACTIONS = (("test", 0.1), ("val", 0.1))
_LANG_RE = re.compile(r"^[a-z]{2,3}$")


def session_speaker(session_dir: str) -> str:
    readme = os.path.join(session_dir, "etc", "README")
    if os.path.isfile(readme):
        with open(readme, encoding="utf-8", errors="replace") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k.strip().lower() == "user name" and v.strip():
                    return v.strip()
    return os.path.basename(os.path.normpath(session_dir)).split("-", 1)[0]


def assign_speakers(speakers: List[str], seed: int) -> Dict[str, str]:
    """{speaker: split} by the order of SHA-1(seed:speaker)."""
    order = sorted(set(speakers), key=lambda s: hashlib.sha1(f"{seed}:{s}".encode()).hexdigest())
    out, i = {}, 0
    for name, frac in SPLIT_FRACTIONS:
        k = int(round(frac * len(order)))
        if len(order) >= 3:
            k = max(1, k)
        for s in order[i:i + k]:
            out[s] = name
        i += k
    for s in order[i:]:
        out[s] = "train"
    return out


def scan(root: str, langs: Optional[List[str]] = None, seed: int = 0) -> List[Dict[str, str]]:
    """Every recording of the languages (default: every ``<root>/<lang>``
    folder), each a dict of lang, speaker, split, session and path, sorted."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: corpus directory does not exist")
    found = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and _LANG_RE.match(d))
    langs = list(langs) if langs else found
    absent = [l for l in langs if l not in found]
    if absent:
        raise CorpusError(f"{root}: no folder for the languages {', '.join(absent)}")
    recs = []
    for lang in langs:
        ldir = os.path.join(root, lang)
        per_lang = []
        for session in sorted(os.listdir(ldir)):
            sdir = os.path.join(ldir, session)
            if not os.path.isdir(sdir):
                continue
            spk = session_speaker(sdir)
            for sub, ext in AUDIO_DIRS.items():
                adir = os.path.join(sdir, sub)
                if os.path.isdir(adir):
                    per_lang += [dict(lang=lang, speaker=spk, session=session, path=os.path.join(adir, f))
                                 for f in sorted(os.listdir(adir)) if f.lower().endswith(ext)]
        if not per_lang:
            raise CorpusError(f"{ldir}: no recordings (<session>/wav/*.wav or <session>/flac/*.flac)")
        split = assign_speakers([r["speaker"] for r in per_lang], seed)
        for r in per_lang:
            r["split"] = split[r["speaker"]]
        recs += per_lang
    return recs


def _load(path: str, tmp: str) -> np.ndarray:
    if path.lower().endswith(".wav"):
        return read_wav(path, resample_to=SAMPLE_RATE)
    from .mswc import decode
    return decode(path, tmp)


def convert(root: str, out: str, langs: Optional[List[str]] = None, crops_per_file: int = 3,
            seed: int = 0, force: bool = False, log=sys.stderr) -> Dict:
    """Seeded 1 s crops of every recording (recordings shorter than 1 s are
    zero-padded) in the Speech Commands layout; returns the metadata written
    to ``corpus.json`` (speakers and crops per split and language)."""
    if os.path.exists(out) and os.listdir(out) and not force:
        raise FileExistsError(f"{out} exists and is not empty (use --force)")
    recs = scan(root, langs, seed)
    langs = sorted({r["lang"] for r in recs}, key=lambda l: (langs or []).index(l) if langs else l)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    lists: Dict[str, List[str]] = {"val": [], "test": []}
    counts = {s: {l: 0 for l in langs} for s in SPLITS}
    speakers = {s: {l: set() for l in langs} for s in SPLITS}
    n_of: Dict[tuple, int] = {}
    with tempfile.TemporaryDirectory(prefix="beenet-voxforge-") as tmp:
        for k, r in enumerate(recs):
            x = _load(r["path"], tmp)
            rng = np.random.default_rng([seed, k])
            if x.size < CLIP_SAMPLES:
                x = np.pad(x, (0, CLIP_SAMPLES - x.size))
            spk = hashlib.sha1(f"{r['lang']}:{r['speaker']}".encode()).hexdigest()[:8]
            os.makedirs(os.path.join(out, r["lang"]), exist_ok=True)
            for _ in range(crops_per_file):
                off = int(rng.integers(0, x.size - CLIP_SAMPLES + 1))
                n = n_of[(r["lang"], spk)] = n_of.get((r["lang"], spk), -1) + 1
                rel = f"{r['lang']}/{spk}_nohash_{n}.wav"
                write_wav(os.path.join(out, rel), x[off:off + CLIP_SAMPLES], rng=rng)
                if r["split"] in lists:
                    lists[r["split"]].append(rel)
                counts[r["split"]][r["lang"]] += 1
            speakers[r["split"]][r["lang"]].add(r["speaker"])
    for split, name in LIST_FILES.items():
        with open(os.path.join(out, name), "w") as f:
            f.writelines(p + "\n" for p in sorted(lists[split]))
    Task(name="lid%d" % len(langs), labels=langs, silence=None, unknown=None, language="multi",
         unknown_words=[], description="spoken language identification (VoxForge)").save(
        os.path.join(out, CORPUS_TASK_FILE))
    meta = {"format": "google-speech-commands-v2-layout", "generator": "beenet_train.data.voxforge",
            "source": os.path.abspath(root), "seed": seed, "crops_per_file": crops_per_file,
            "crops": counts, "speakers": {s: {l: sorted(v) for l, v in d.items()} for s, d in speakers.items()}}
    with open(os.path.join(out, "corpus.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"[voxforge] {len(recs)} recordings of {len(langs)} languages -> {out}", file=log, flush=True)
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.data.voxforge",
                                 description="VoxForge-style folders -> Speech Commands layout (LID)")
    ap.add_argument("--root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--langs", help="comma-separated language folders (default: all)")
    ap.add_argument("--crops-per-file", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    try:
        convert(a.root, a.out, a.langs.split(",") if a.langs else None, a.crops_per_file, a.seed, a.force)
    except (CorpusError, FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
