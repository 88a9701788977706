"""Reader for the Multilingual Spoken Words Corpus (MSWC) layout, and its
conversion to the Speech Commands layout every other part reads.

MSWC, one language (``en``, ``de``, ...) unpacked::

    <root>/<lang>/clips/<word>/<file>.opus      one-second clips (Ogg Opus, 48 kHz)
    <root>/<lang>/<lang>_splits.csv             SET,LINK,WORD,VALID,SPEAKER,GENDER

``SET`` is TRAIN, DEV or TEST; ``LINK`` the clip's path under ``clips/``
(``<word>/<file>.opus``); ``VALID`` False marks a clip to leave out;
``SPEAKER`` an anonymised speaker id (the splits are by speaker).

:func:`scan` reads and checks the split file; :func:`convert` decodes the
clips of a task's words into ``<out>/<word>/<speaker>_nohash_<n>.wav`` with
``validation_list.txt``/``testing_list.txt`` (DEV/TEST), generated
``_background_noise_`` (for ``_silence_``) and ``task.json``, so the reader
(:func:`gsc.load_gsc`) and ``python3 -m beenet_train train --data <out>``
use it unchanged::

    PYTHONPATH=train /usr/bin/python3 -m beenet_train.data.mswc --root mswc --lang en \\
        --task kws12 --out data/mswc-en-kws12

Decoding goes through GStreamer (``gst-launch-1.0``, opusdec of
gst-plugins-base).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List, Optional

import numpy as np

from .audio import CLIP_SAMPLES, SAMPLE_RATE, read_wav, write_wav
from .gsc import BACKGROUND_DIR, CorpusError, LIST_FILES
from .task import CORPUS_TASK_FILE, Task, load_task

COLUMNS = ["SET", "LINK", "WORD", "VALID", "SPEAKER", "GENDER"]
SPLIT_OF = {"TRAIN": "train", "DEV": "val", "TEST": "test"}


def splits_file(root: str, lang: str) -> str:
    return os.path.join(root, lang, f"{lang}_splits.csv")


def scan(root: str, lang: str) -> List[Dict[str, str]]:
    """The valid clips of ``<root>/<lang>`` in file order, each a dict of
    split, rel (under clips/), word, speaker and path; CorpusError on a
    malformed split file, a missing clip, a word/folder mismatch or a
    speaker in two splits."""
    path = splits_file(root, lang)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: missing (an MSWC language folder has <lang>_splits.csv)")
    clips: List[Dict[str, str]] = []
    seen, spk_split = set(), {}
    with open(path, newline="", encoding="utf-8") as f:
        rd = csv.reader(f)
        header = next(rd, None)
        if header != COLUMNS:
            raise CorpusError(f"{path}: header {header}, expected {','.join(COLUMNS)}")
        for lineno, row in enumerate(rd, 2):
            if not row:
                continue
            if len(row) != len(COLUMNS):
                raise CorpusError(f"{path}:{lineno}: {len(row)} fields, expected {len(COLUMNS)}")
            d = dict(zip(COLUMNS, row))
            if d["SET"] not in SPLIT_OF:
                raise CorpusError(f"{path}:{lineno}: SET {d['SET']!r} is not TRAIN, DEV or TEST")
            if d["VALID"] not in ("True", "False"):
                raise CorpusError(f"{path}:{lineno}: VALID {d['VALID']!r} is not True or False")
            if d["VALID"] == "False":
                continue
            rel = d["LINK"]
            if rel.split("/", 1)[0] != d["WORD"] or ".." in rel.split("/"):
                raise CorpusError(f"{path}:{lineno}: {rel} is not in the folder of {d['WORD']!r}")
            full = os.path.join(root, lang, "clips", rel)
            if not os.path.isfile(full):
                raise CorpusError(f"{path}:{lineno}: {rel} is listed but does not exist")
            if rel in seen:
                raise CorpusError(f"{path}:{lineno}: duplicate entry {rel}")
            seen.add(rel)
            split = SPLIT_OF[d["SET"]]
            if spk_split.setdefault(d["SPEAKER"], split) != split:
                raise CorpusError(f"{path}:{lineno}: speaker {d['SPEAKER']} is in "
                                  f"{spk_split[d['SPEAKER']]} and {split}")
            clips.append(dict(split=split, rel=rel, word=d["WORD"], speaker=d["SPEAKER"], path=full))
    return clips


def decode(path: str, tmpdir: str) -> np.ndarray:
    """Any file GStreamer decodes (Opus here) as float32 mono at 16 kHz."""
    out = os.path.join(tmpdir, "decoded.wav")
    cmd = ["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!", "decodebin", "!",
           "audioconvert", "!", "audioresample", "!",
           f"audio/x-raw,format=S16LE,rate={SAMPLE_RATE},channels=1", "!", "wavenc", "!",
           "filesink", f"location={out}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not os.path.isfile(out):
        raise CorpusError(f"{path}: GStreamer could not decode it: {r.stderr.strip()[-300:]}")
    return read_wav(out)


def _fit(x: np.ndarray) -> np.ndarray:
    """Centre-crop or zero-pad to exactly one second."""
    if x.size >= CLIP_SAMPLES:
        s = (x.size - CLIP_SAMPLES) // 2
        return x[s:s + CLIP_SAMPLES]
    pad = CLIP_SAMPLES - x.size
    return np.pad(x, (pad // 2, pad - pad // 2))


def convert(root: str, lang: str, out: str, task: Task, seed: int = 0,
            max_unknown_per_word: Optional[int] = None, noise_seconds: int = 60,
            force: bool = False, log=sys.stderr) -> Dict:
    """The clips of the task's keywords and unknown words in ``<root>/<lang>``,
    in the Speech Commands layout under ``out`` (MSWC's speaker split kept:
    DEV is val).  ``_unknown_`` words: those of ``task.unknown_words`` that
    MSWC has, at most ``max_unknown_per_word`` clips each (seeded choice).
    Returns the metadata written to ``corpus.json`` (counts per split and
    word)."""
    from .synth import make_background_noise
    if os.path.exists(out) and os.listdir(out) and not force:
        raise FileExistsError(f"{out} exists and is not empty (use --force)")
    clips = scan(root, lang)
    words = {c["word"] for c in clips}
    missing = [k for k in task.keywords if task.text(k) not in words]
    if missing:
        raise CorpusError(f"{root}/{lang}: no clips of the keywords {', '.join(missing)}")
    folder = {task.text(k): k for k in task.keywords}
    unknown = [w for w in task.unknown_words if w in words and w not in folder]
    rng = np.random.default_rng([seed, 0x35C])
    keep = [c for c in clips if c["word"] in folder]
    for w in unknown:
        cs = [c for c in clips if c["word"] == w]
        if max_unknown_per_word is not None and len(cs) > max_unknown_per_word:
            cs = [cs[int(i)] for i in sorted(rng.choice(len(cs), max_unknown_per_word, replace=False))]
        keep += cs
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    lists: Dict[str, List[str]] = {"val": [], "test": []}
    counts: Dict[str, Dict[str, int]] = {"train": {}, "val": {}, "test": {}}
    n_of: Dict[tuple, int] = {}
    with tempfile.TemporaryDirectory(prefix="beenet-mswc-") as tmp:
        for c in keep:
            w = folder.get(c["word"], c["word"])
            spk = hashlib.sha1(c["speaker"].encode()).hexdigest()[:8]
            n = n_of[(w, spk)] = n_of.get((w, spk), -1) + 1
            rel = f"{w}/{spk}_nohash_{n}.wav"
            os.makedirs(os.path.join(out, w), exist_ok=True)
            write_wav(os.path.join(out, rel), _fit(decode(c["path"], tmp)),
                      rng=np.random.default_rng([seed, len(n_of), n]))
            if c["split"] in lists:
                lists[c["split"]].append(rel)
            counts[c["split"]][w] = counts[c["split"]].get(w, 0) + 1
    for split, name in LIST_FILES.items():
        with open(os.path.join(out, name), "w") as f:
            f.writelines(r + "\n" for r in sorted(lists[split]))
    make_background_noise(os.path.join(out, BACKGROUND_DIR), seed, noise_seconds, [])
    t = Task.from_dict(dict(task.to_dict(), unknown_words=unknown or task.unknown_words,
                            small_unknown_words=None, foreign_voices=False,
                            description=(task.description + f" (MSWC {lang})").strip()))
    t.save(os.path.join(out, CORPUS_TASK_FILE))
    meta = {"format": "google-speech-commands-v2-layout", "generator": "beenet_train.data.mswc",
            "source": os.path.abspath(os.path.join(root, lang)), "task": task.name, "seed": seed,
            "unknown_words": unknown, "counts": counts}
    with open(os.path.join(out, "corpus.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"[mswc] {len(keep)} clips of {len(folder)} keywords and {len(unknown)} unknown words "
          f"-> {out}", file=log, flush=True)
    return meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.data.mswc",
                                 description="MSWC language folder -> Speech Commands layout")
    ap.add_argument("--root", required=True, help="MSWC root (holds <lang>/clips and <lang>/<lang>_splits.csv)")
    ap.add_argument("--lang", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--task", help="task name or file (default kws12)")
    ap.add_argument("--max-unknown-per-word", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args(argv)
    try:
        convert(a.root, a.lang, a.out, load_task(a.task), a.seed, a.max_unknown_per_word, force=a.force)
    except (CorpusError, FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
