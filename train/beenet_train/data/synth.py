"""Synthesize a keyword corpus (KWS-12, or any task file) in the Google Speech Commands v2 layout.

Usage (from the repository root)::

    PYTHONPATH=train /usr/bin/python3 -m beenet_train.data.synth \\
        --out data/kws12-synth --seed 0 [--small] [--jobs 2] [--task kws12|FILE.json]
    PYTHONPATH=train /usr/bin/python3 -m beenet_train.data.synth --stats data/kws12-synth

Output layout (identical to GSC v2, so ``gsc.load_gsc`` reads both)::

    <out>/<word>/<speakerid>_nohash_<n>.wav   16 kHz mono S16, exactly 1 s
    <out>/validation_list.txt                 relative paths of val clips
    <out>/testing_list.txt                    relative paths of test clips
    <out>/_background_noise_/*.wav            long noise recordings
    <out>/voices.json                         {voice name: split}
    <out>/corpus.json                         parameters, voice metadata, counts
    <out>/task.json                           the task (labels, keywords, unknown words)

See docs/data.md for the voices, the split policy and the counts.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import multiprocessing as mp
import multiprocessing.connection
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from .audio import CLIP_SAMPLES, SAMPLE_RATE, active_region, resample, write_wav
from .gsc import format_stats, corpus_stats
from .task import CORPUS_TASK_FILE, Task, TaskError, load_task
from . import texts as T
from . import voices as V

# KWS-12's unknown words (tasks/kws12.json): the 25 other GSC v2 words and
# 10 near-misses of the keywords; 5 of them in the --small corpus
UNKNOWN_WORDS = load_task("kws12").unknown_for(small=False)
SMALL_UNKNOWN_WORDS = load_task("kws12").unknown_for(small=True)

# per-clip prosody ranges
ESPEAK_RATE = (110, 230)      # words per minute (espeak default 175)
ESPEAK_PITCH = (15, 85)       # 0..100 (default 50)
ESPEAK_RANGE = (20, 90)       # pitch range 0..100 (default 50)
STRETCH = (0.8, 1.3)          # flite/festival duration stretch
TAPE = (0.9, 1.1)             # flite/festival speed+pitch factor (resampling)
HIGH_TAPE = (1.08, 1.2)       # the same for "+high" pseudo-speakers (formants up)
HIGH_F0 = (165.0, 225.0)      # "+high": festival F0 target mean (Hz) before tape speed
HIGH_F0_STD = (18.0, 35.0)    # "+high": F0 target standard deviation (Hz)
PEAK_DB = (-18.0, -1.0)       # clip peak level, dBFS
PUNCT = (["", ".", "!", "?"], [0.35, 0.35, 0.2, 0.1])  # changes intonation

SENTENCE_DIR = "_sentences_"   # running speech, whole sentences (not a word folder)
SENTENCE_MAX_SECONDS = 12
SOUNDS_DIR = "_sounds_"        # recorded non-speech sounds, <split>/*.wav (data.sounds)
# corpus v2 defaults (docs/data.md): extra words from the 3000-word vocabulary
# and running sentences per voice, by family and split
VOCAB_WORDS = {"espeak": 40, "other": 400}
SENTENCES = {("espeak", "train"): 6, ("espeak", "val"): 6, ("espeak", "test"): 24,
             ("other", "train"): 80, ("other", "val"): 80, ("other", "test"): 160}
SMALL_VOCAB_WORDS = {"espeak": 0, "other": 0}
SMALL_SENTENCES = {k: 1 for k in SENTENCES}

NOISE_SECONDS = 60
BABBLE_TEXT = (
    "The weather service said a cold front will bring clouds and steady rain to the "
    "valley by Thursday afternoon. Many farmers were hoping for a little more water "
    "this season, as the wells have been very low since early spring. A local baker "
    "told reporters that business was steady and that tourists still visited the old "
    "market square every weekend. The city council will meet again next month to "
    "discuss the new library, the bus routes and a plan for the public gardens. "
    "Children at the village school painted a mural with birds, fish and ships that "
    "now decorates the wall near the harbour, where fishermen sell their catch each "
    "morning before the sun is high.")


def _family_reps(family: str, reps: int, unknown_reps: int, other_mult: int):
    if family == "espeak":
        return reps, unknown_reps
    return reps * other_mult, unknown_reps * other_mult


def _place(y: np.ndarray, rng: np.random.Generator):
    """Trim silence, random placement in a 1 s window, random peak level."""
    s, e = active_region(y, SAMPLE_RATE, rel_db=-40.0, margin_ms=20.0)
    if e <= s:
        return None, "empty"
    y = y[s:e]
    if y.size > CLIP_SAMPLES:
        return y, "long"
    out = np.zeros(CLIP_SAMPLES, np.float32)
    off = int(rng.integers(0, CLIP_SAMPLES - y.size + 1))
    out[off:off + y.size] = y
    peak = float(np.abs(out).max())
    if peak <= 0:
        return None, "empty"
    out *= (10 ** (rng.uniform(*PEAK_DB) / 20)) / peak
    return out, "ok"


def _center_crop(y: np.ndarray) -> np.ndarray:
    s = (y.size - CLIP_SAMPLES) // 2
    return y[s:s + CLIP_SAMPLES]


def _prosody(voice: V.Voice, rng: np.random.Generator) -> dict:
    """Per-utterance synthesis parameters (the draws and their order are part
    of the corpus' reproducibility)."""
    if voice.family == "espeak":
        return dict(rate=int(rng.integers(ESPEAK_RATE[0], ESPEAK_RATE[1] + 1)),
                    pitch=int(rng.integers(ESPEAK_PITCH[0], ESPEAK_PITCH[1] + 1)),
                    pitch_range=int(rng.integers(ESPEAK_RANGE[0], ESPEAK_RANGE[1] + 1)))
    if voice.family == "festival" and V.FESTIVAL_VOICES[voice.arg].raise_f0:
        return dict(stretch=float(rng.uniform(*STRETCH)), tape=float(rng.uniform(*HIGH_TAPE)),
                    f0=(float(rng.uniform(*HIGH_F0)), float(rng.uniform(*HIGH_F0_STD))))
    return dict(stretch=float(rng.uniform(*STRETCH)), tape=float(rng.uniform(*TAPE)))


def _place_sentence(y: np.ndarray, rng: np.random.Generator):
    """Trim a sentence's silence (100 ms margin), cap its length, random peak level."""
    s, e = active_region(y, SAMPLE_RATE, rel_db=-40.0, margin_ms=100.0)
    if e - s < CLIP_SAMPLES // 2:
        return None, "empty"
    y = np.array(y[s:min(e, s + SENTENCE_MAX_SECONDS * SAMPLE_RATE)], np.float32)
    y *= (10 ** (rng.uniform(*PEAK_DB) / 20)) / float(np.abs(y).max())
    return y, "ok"


def _espeak_guarded(es, text: str, params: dict):
    """Synthesize a sentence in a forked child: libespeak-ng 1.51 segfaults on
    a few (voice, text, prosody) combinations (e.g. en-us-nyc+Demonic reading
    "Emerson's Law of Contrariness: ..."), which must cost one sentence, not
    the corpus.  Returns (samples, rate), or None when the child died."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: synthesize, send, exit without cleanup
        try:
            os.close(r)
            x, sr = es.synth(text, rate=params["rate"], pitch=params["pitch"],
                             pitch_range=params["pitch_range"])
            data = np.asarray(x, np.float32).tobytes()
            os.write(w, int(sr).to_bytes(4, "little") + len(data).to_bytes(8, "little"))
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        finally:
            os._exit(0)
    os.close(w)
    chunks = []
    with os.fdopen(r, "rb") as f:
        while True:
            b = f.read(1 << 16)
            if not b:
                break
            chunks.append(b)
    _, status = os.waitpid(pid, 0)
    buf = b"".join(chunks)
    if status != 0 or len(buf) < 12:
        return None
    sr = int.from_bytes(buf[:4], "little")
    n = int.from_bytes(buf[4:12], "little")
    if len(buf) != 12 + n:
        return None
    return np.frombuffer(buf[12:], np.float32).copy(), sr


_ENGINE: dict = {}  # per-process eSpeak binding (inherited by forked children)


def synth_voice(voice: V.Voice, plan: list[tuple[str, int]], seed: int,
                out_root: str | None, sentences: tuple = (), texts: dict | None = None,
                guard_words: bool = False) -> dict:
    """Synthesize every (word, reps) of ``plan`` for one voice.

    Deterministic given (seed, voice) when each call starts from the same
    eSpeak state, which :func:`synth_isolated` guarantees.  Writes
    ``<out_root>/<word>/<speaker>_nohash_<i>.wav`` unless out_root is None,
    in which case the clips are returned in ``result["clips"]`` (for tests).
    ``sentences`` (texts) are read as running speech and written whole to
    ``<out_root>/_sentences_/<speaker>_<k>.wav`` (``result["sentences"]``).
    ``texts``: {word folder: what to say} where that is not the folder's
    name (a phrase: ``lights_on`` -> ``lights on``).
    ``guard_words``: synthesize every eSpeak word in its own forked process
    too, as sentences always are (:func:`_espeak_guarded`), so a word that
    crashes libespeak-ng costs that word, not the voice; the retry of a
    voice whose worker died (:func:`synth_isolated`).  eSpeak's state then
    no longer carries from word to word, so the clips differ from an
    unguarded run's, but still depend only on (seed, voice).
    """
    rng = np.random.default_rng([seed, int(voice.speaker_id, 16)])
    spk = voice.speaker_id
    punct, pw = PUNCT
    jobs = []  # (word, i, text, params, clip_seed)
    for word, reps in plan:
        for i in range(reps):
            text = V.text_for(voice, (texts or {}).get(word, word)) + punct[int(rng.choice(len(punct), p=pw))]
            params = _prosody(voice, rng)
            clip_seed = int(rng.integers(0, 2**63 - 1))
            jobs.append((word, i, text, params, clip_seed))
    # running sentences: drawn after the words so a voice's word clips do not
    # depend on how many sentences it reads
    for k, text in enumerate(sentences):
        jobs.append((SENTENCE_DIR, k, text, _prosody(voice, rng), int(rng.integers(0, 2**63 - 1))))

    res = {"voice": voice.name, "counts": {}, "failed": [], "long": 0, "clips": {}, "files": [],
           "sentences": []}
    if guard_words and out_root is not None:   # a retry: no file of the dead attempt stays
        for word, i, *_ in jobs:
            rel = f"{word}/{spk}_{i}.wav" if word == SENTENCE_DIR else f"{word}/{spk}_nohash_{i}.wav"
            if os.path.exists(os.path.join(out_root, rel)):
                os.remove(os.path.join(out_root, rel))
    tmp = tempfile.mkdtemp(prefix="beenet-synth-")
    try:
        raw = {}
        if voice.family == "festival":
            outs = V.festival_synth_batch(
                voice.arg, [(t, p["stretch"]) + ((p["f0"],) if "f0" in p else ())
                            for (_, _, t, p, _) in jobs], tmp)
            raw = {k: outs[k] for k in range(len(jobs))}
        for k, (word, i, text, params, clip_seed) in enumerate(jobs):
            crng = np.random.default_rng(clip_seed)
            if voice.family == "espeak":
                es = _ENGINE.get("espeak")
                if es is None:
                    es = _ENGINE["espeak"] = V.Espeak()
                es.set_voice(voice.arg)
                rate = params["rate"]
                if word == SENTENCE_DIR:
                    got = _espeak_guarded(es, text, params)
                    clip, status = (None, "crashed") if got is None else \
                        _place_sentence(resample(got[0], got[1], SAMPLE_RATE), crng)
                for _attempt in range(5 if word != SENTENCE_DIR else 0):
                    if guard_words:
                        got = _espeak_guarded(es, text, dict(params, rate=rate))
                        if got is None:
                            clip, status = None, "crashed"
                            break
                        x, sr = got
                    else:
                        x, sr = es.synth(text, rate=rate, pitch=params["pitch"],
                                         pitch_range=params["pitch_range"])
                    y = resample(x, sr, SAMPLE_RATE)
                    clip, status = _place(y, crng)
                    if status != "long":
                        break
                    rate = int(rate * 1.25) + 1  # too long: say it faster
            else:
                if voice.family == "flite":
                    x, sr = V.flite_synth(voice.arg, text, params["stretch"], tmp)
                else:
                    x, sr = raw[k]
                # tape-speed: treat as sampled at sr*tape, resample to 16 kHz
                y = resample(x, int(round(sr * params["tape"])), SAMPLE_RATE)
                place = _place_sentence if word == SENTENCE_DIR else _place
                clip, status = place(y, crng)
            if status == "long":
                res["long"] += 1
                clip, status = _place(_center_crop(clip), crng)
            if clip is None:
                res["failed"].append(f"{word}#{i}")
                continue
            if out_root is None:
                res["clips"][(word, i)] = clip
            else:
                rel = (f"{word}/{spk}_{i}.wav" if word == SENTENCE_DIR
                       else f"{word}/{spk}_nohash_{i}.wav")
                write_wav(os.path.join(out_root, rel), clip, rng=crng)
                res["files"].append(rel)
            if word == SENTENCE_DIR:
                res["sentences"].append({"file": rel if out_root else None, "voice": voice.name,
                                         "text": text, "seconds": round(clip.size / SAMPLE_RATE, 3)})
                continue
            res["counts"][word] = res["counts"].get(word, 0) + 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return res


def _child(conn, task, fn):
    try:
        conn.send(("ok", fn(*task)))
    except BaseException as e:  # report, never hang the parent
        conn.send(("error", f"{task[0].name}: {type(e).__name__}: {e}"))
    finally:
        conn.close()


def synth_isolated(tasks, jobs: int = 2, fn=None, retry=None):
    """Run ``synth_voice(*task)`` (or ``fn(*task)``) for each task, each in
    a fresh process.

    libespeak-ng keeps global synthesis state (pitch-flutter phase, libc
    ``rand()``) that carries over from one utterance to the next, so the
    same call twice in one process is not reproducible.  Every voice is
    therefore synthesised in its own child forked from this process, which
    initialises eSpeak once and never synthesises while children run, so
    every child starts from the same state: the corpus depends only on
    (seed, voice), not on scheduling or ``jobs``.  At most ``jobs`` (<= 2)
    children run at once.  Yields results as they complete.

    A child that dies (libespeak-ng segfaults on a few word and voice
    combinations) is run once more with ``retry(*task)`` when given; that
    result gets ``retried`` (why) so the corpus metadata lists the voice.
    A Python exception, or a second death, stops the build."""
    ctx = mp.get_context("fork")
    fn = fn or synth_voice
    jobs = max(1, min(2, jobs))
    pending = [(t, fn, None) for t in tasks][::-1]
    if "espeak" not in _ENGINE and any(t[0].family == "espeak" for t, _, _ in pending):
        _ENGINE["espeak"] = V.Espeak()  # load the voice data once, before forking
    running = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                task, f, why = pending.pop()
                r, w = ctx.Pipe(duplex=False)
                p = ctx.Process(target=_child, args=(w, task, f), daemon=True)
                p.start()
                w.close()
                running[r] = (p, task, why)
            for r in mp.connection.wait(list(running)):
                p, task, why = running.pop(r)
                try:
                    status, res = r.recv()
                except EOFError:
                    status, res = "died", f"{task[0].name}: worker died (exit code {p.exitcode})"
                r.close()
                p.join()
                if status == "died" and retry is not None and why is None:
                    pending.append((task, retry, f"worker died (exit code {p.exitcode})"))
                    continue
                if status != "ok":
                    raise RuntimeError(f"synthesis failed: {res}")
                if why is not None:
                    res["retried"] = why
                yield res
    finally:
        for p, _, _ in running.values():
            p.terminate()
            p.join()


# --------------------------------------------------------------------------
# background noise

def _coloured(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectral density ~ 1/f**exponent (0 white, 1 pink, 2 brown)."""
    X = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(X.size, dtype=np.float64)
    f[0] = 1.0
    X *= f ** (-exponent / 2)
    X[0] = 0
    y = np.fft.irfft(X, n)
    return y / (np.sqrt(np.mean(y ** 2)) + 1e-12)


def _norm_rms(y: np.ndarray, dbfs: float = -20.0) -> np.ndarray:
    y = y / (np.sqrt(np.mean(y.astype(np.float64) ** 2)) + 1e-12) * 10 ** (dbfs / 20)
    peak = np.abs(y).max()
    if peak > 0.99:
        y *= 0.99 / peak
    return y.astype(np.float32)


def make_background_noise(out_dir: str, seed: int, seconds: int,
                          babble_voices: list[V.Voice]) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.default_rng([seed, 0xB6])
    n = seconds * SAMPLE_RATE
    files = {}
    files["white_noise.wav"] = _coloured(n, 0.0, rng)
    files["pink_noise.wav"] = _coloured(n, 1.0, rng)
    files["brown_noise.wav"] = _coloured(n, 2.0, rng)
    # mains hum with harmonics over a little pink noise
    t = np.arange(n) / SAMPLE_RATE
    f0 = 50.0 if rng.random() < 0.5 else 60.0
    hum = sum((0.6 ** k) * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 6.28))
              for k in range(8))
    files["hum_noise.wav"] = hum / np.sqrt(np.mean(hum ** 2)) + 0.1 * _coloured(n, 1.0, rng)
    # fan-like: brown noise with a slow amplitude wobble plus a blade tone
    wob = 1 + 0.2 * np.sin(2 * np.pi * 0.3 * t)
    files["fan_noise.wav"] = wob * _coloured(n, 1.6, rng) + 0.05 * np.sin(2 * np.pi * 120 * t)
    # babble: several (train-split) eSpeak voices talking at once, no keywords
    if babble_voices:
        es = V.Espeak()
        mix = np.zeros(n)
        pick = rng.choice(len(babble_voices), size=min(8, len(babble_voices)), replace=False)
        for j in pick:
            es.set_voice(babble_voices[int(j)].arg)
            x, sr = es.synth(BABBLE_TEXT, rate=int(rng.integers(140, 200)),
                             pitch=int(rng.integers(20, 80)))
            y = resample(x, sr, SAMPLE_RATE)
            y = y / (np.sqrt(np.mean(y.astype(np.float64) ** 2)) + 1e-12)
            reps = int(np.ceil(n / y.size)) + 1
            y = np.tile(y, reps)
            off = int(rng.integers(0, y.size - n))
            mix += y[off:off + n]
        files["babble_noise.wav"] = mix
    written = []
    for name, y in files.items():
        write_wav(os.path.join(out_dir, name), _norm_rms(y), rng=rng)
        written.append(name)
    # real recorded noise shipped by Debian packages (converted with sox)
    real = ["/usr/share/sounds/alsa/Noise.wav"]
    if shutil.which("sox"):
        for src in real:
            if os.path.exists(src):
                name = "alsa_" + os.path.basename(src).lower()
                subprocess.run(["sox", "-D", src, "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
                                os.path.join(out_dir, name)], check=True, capture_output=True)
                written.append(name)
    return written


# --------------------------------------------------------------------------
# driver

def build_plan(small: bool, task: Task | None = None):
    """(keyword folders, unknown words) of a task (default KWS-12)."""
    task = task or load_task("kws12")
    return list(task.keywords), task.unknown_for(small)


def task_voices(task: Task, small: bool) -> list:
    """The voices of a task: the non-English recorded voices only where the
    task has respellings for them (KWS-12)."""
    if task.language != "en":
        raise TaskError(f"task {task.name}: language {task.language!r}: only English voices exist")
    return [v for v in V.inventory(small=small) if v.lang == "en" or task.foreign_voices]


def shard_args(shard: int | None, num_shards: int | None) -> tuple[int, int]:
    """(shard, count): the arguments, else RANK/WORLD_SIZE (torchrun, env://),
    else (0, 1)."""
    if num_shards is None:
        num_shards = int(os.environ.get("WORLD_SIZE", "1"))
        if shard is None:
            shard = int(os.environ.get("RANK", "0"))
    shard = 0 if shard is None else shard
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} of {num_shards}: need 0 <= shard < num_shards")
    return shard, num_shards


SHARDS_DIR = ".shards"   # per-shard results until the last shard writes the lists
RESUME_DIR = ".resume"   # in <out>.partial: the build's key and each finished voice's result
UNFINISHED = 3           # exit status of a build stopped by --max-voices (rerun to continue)


def synthesize(out: str, seed: int = 0, small: bool = False, jobs: int = 2,
               reps: int | None = None, unknown_reps: int | None = None,
               other_mult: int | None = None, force: bool = False,
               log=sys.stderr, shard: int = 0, num_shards: int = 1, task: Task | None = None,
               vocab_words: dict | None = None, sentences: dict | None = None,
               max_voices: int | None = None) -> dict | None:
    """Synthesize the corpus, or with ``num_shards`` > 1 the disjoint part
    ``shard`` of it: every num_shards-th voice (in the slow-voices-first
    order), shard 0 also the voice-independent files (background noise,
    recorded sounds, voices.json).  Shards write into ``out`` directly;
    the shard that completes the set (all ``.shards/*.json`` present)
    writes the lists and corpus.json from them (:func:`finish_shards`), so
    the union of the shards is byte-for-byte the unsharded corpus (only
    the run time in corpus.json differs, as between runs).  Returns the
    corpus metadata, or None for a shard that did not complete the set.
    ``task``: labels and words (default KWS-12, tasks/kws12.json);
    ``vocab_words`` / ``sentences``: per-voice counts overriding
    VOCAB_WORDS / SENTENCES (or their --small values).

    Unsharded builds are resumable (:func:`start_partial`, :func:`run_voices`):
    rerunning the same command after an interruption continues it;
    ``max_voices`` stops after that many more voices (returns None: rerun to
    continue), to spread a long build over several sessions."""
    t0 = time.time()
    reps = reps if reps is not None else (2 if small else 4)
    unknown_reps = unknown_reps if unknown_reps is not None else 1
    other_mult = other_mult if other_mult is not None else (1 if small else 5)
    jobs = max(1, min(2, jobs))
    final = out.rstrip("/")
    sharded = num_shards > 1
    if sharded:
        if os.path.exists(os.path.join(final, "corpus.json")) and not force:
            raise FileExistsError(f"{final} holds a finished corpus (use --force)")
        out = final
        os.makedirs(out, exist_ok=True)
    task = task or load_task("kws12")
    vocab_n = dict(vocab_words or (SMALL_VOCAB_WORDS if small else VOCAB_WORDS))
    sent_n = dict(sentences or (SMALL_SENTENCES if small else SENTENCES))
    params = {"seed": seed, "small": small, "reps": reps, "unknown_reps": unknown_reps,
              "other_mult": other_mult, "task": task.to_dict(), "vocab_words": vocab_n,
              "sentences": [[a, b, n] for (a, b), n in sent_n.items()]}
    voices = task_voices(task, small)
    if not sharded:
        out = start_partial(final, force, build_key("synth", params, [v.name for v in voices]), log)

    keywords, unknown = build_plan(small, task)
    words = keywords + unknown
    for w in words:
        os.makedirs(os.path.join(out, w), exist_ok=True)
    split = V.assign_splits(voices, seed)
    print(f"[synth] {len(voices)} voices, {len(words)} words "
          f"({len(keywords)} keywords x {reps} reps, {len(unknown)} unknown x {unknown_reps}; "
          f"flite/festival x{other_mult}), {jobs} processes"
          + (f", shard {shard} of {num_shards}" if sharded else ""), file=log, flush=True)

    # every shard makes the noise: its babble leaves libespeak-ng's global
    # state as the voices' forked children must find it; shard 0 keeps it
    babble = [v for v in voices if v.family == "espeak" and split[v.name] == "train"]
    with tempfile.TemporaryDirectory(prefix="beenet-noise-") as tmp_noise:
        noise_dir = os.path.join(out if shard == 0 else tmp_noise, "_background_noise_")
        noise = make_background_noise(noise_dir, seed, 5 if small else NOISE_SECONDS, babble)
    if shard == 0:
        print(f"[synth] background noise: {', '.join(noise)}", file=log, flush=True)
    else:
        noise = []

    tasks = []
    excluded = task.excluded_words()
    vocab = [w for w in T.unknown_vocabulary(excluded=excluded) if w not in set(unknown)] \
        if any(vocab_n.values()) else []
    text_pool = T.sentences(seed, excluded=excluded, phrases=task.keyword_phrases())
    texts = {k: task.text(k) for k in keywords if task.text(k) != k}
    for v in voices:
        kr, ur = _family_reps(v.family, reps, unknown_reps, other_mult)
        plan = [(w, kr) for w in keywords] + [(w, ur) for w in unknown]
        sents: tuple = ()
        if v.lang == "en":   # foreign voices only have respellings of the 45 words
            fam = "espeak" if v.family == "espeak" else "other"
            vrng = np.random.default_rng([seed, int(v.speaker_id, 16), 0x5E17])
            if vocab_n[fam]:
                pick = vrng.choice(len(vocab), size=vocab_n[fam], replace=False)
                plan += [(vocab[int(j)], 1) for j in sorted(pick)]
            pool = text_pool[split[v.name]]
            k = sent_n[(fam, split[v.name])]
            sents = tuple(pool[int(j)] for j in vrng.choice(len(pool), size=k, replace=False))
        tasks.append((v, plan, seed, out, sents, texts))
    for w in {w for _, plan, _, _, _, _ in tasks for w, _ in plan}:
        os.makedirs(os.path.join(out, w), exist_ok=True)
    os.makedirs(os.path.join(out, SENTENCE_DIR), exist_ok=True)
    # slow (process-spawning) voices first so the pool ends evenly
    order = {"festival": 0, "flite": 1, "espeak": 2}
    tasks.sort(key=lambda t: (order[t[0].family], t[0].name))
    tasks = tasks[shard::num_shards]   # a voice's files depend only on (seed, voice)
    total = sum(sum(r for _, r in t[1]) + len(t[4]) for t in tasks)

    done = 0
    results = []
    last = 0.0
    for r in run_voices(tasks, out, jobs, max_voices=max_voices,
                        retry=functools.partial(synth_voice, guard_words=True)):
        results.append({k: r[k] for k in ("voice", "counts", "failed", "long", "files", "sentences",
                                          "retried") if k in r})
        done += sum(r["counts"].values()) + len(r["failed"]) + len(r["sentences"])
        now = time.time()
        if now - last > 2.0 or done == total:
            el = now - t0
            eta = el / max(done, 1) * (total - done)
            print(f"[synth] {done}/{total} clips ({100.0 * done / max(total, 1):.1f} %), "
                  f"{el:.0f} s elapsed, ETA {eta:.0f} s", file=log, flush=True)
            last = now

    if len(results) < len(tasks):
        print(f"[synth] stopped after {len(results)} of {len(tasks)} voices (--max-voices): "
              f"rerun the same command to continue", file=log, flush=True)
        return None
    n_sounds = write_shared_files(out, seed, small, voices, split, task, log) if shard == 0 else 0
    part = {"shard": shard, "num_shards": num_shards, "params": params, "results": results,
            "background_noise": noise, "recorded_sounds": n_sounds, "seconds": time.time() - t0}
    if sharded:
        d = os.path.join(out, SHARDS_DIR)
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"{shard}-of-{num_shards}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(part, f)
        os.replace(path + ".tmp", path)
        print(f"[synth] shard {shard} of {num_shards} done: {done} clips, {time.time() - t0:.0f} s",
              file=log, flush=True)
        try:
            return finish_shards(out, num_shards, log)
        except FileNotFoundError:   # other shards still running (or finished it just now)
            return None
    meta = write_metadata(out, [part], log)
    replace_dir(out, final)
    return meta


def start_partial(final: str, force: bool, key: str | None = None, log=None) -> str:
    """An empty ``<final>.partial`` to build a corpus in: :func:`replace_dir`
    swaps it in at the end, so readers never see a half-written corpus (and
    ``force`` replaces an old one atomically).  Raises FileExistsError when
    ``final`` holds files and ``force`` is not set.

    ``key`` (:func:`build_key`: everything the build's files depend on)
    makes the build resumable: a ``<final>.partial`` left by an interrupted
    build with the same key is kept and continued (:func:`run_voices`
    skips its finished voices); one with another key, or none, is
    started again."""
    if os.path.exists(final) and os.listdir(final) and not force:
        raise FileExistsError(f"{final} exists and is not empty (use --force)")
    out = final + ".partial"
    key_path = os.path.join(out, RESUME_DIR, "key")
    if key is not None and os.path.isfile(key_path):
        with open(key_path) as f:
            if f.read() == key:
                if log:
                    print(f"continuing the interrupted build in {out}", file=log, flush=True)
                return out
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    if key is not None:
        os.makedirs(os.path.join(out, RESUME_DIR))
        with open(key_path, "w") as f:
            f.write(key)
    return out


def build_key(*parts) -> str:
    """SHA-256 of everything a build depends on (JSON of ``parts``)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def run_voices(tasks: list, out: str, jobs: int = 2, fn=None, max_voices: int | None = None,
               retry=None):
    """:func:`synth_isolated` over ``tasks`` (one voice each; ``task[0]`` is
    the voice), yielding every voice's result.  When ``out`` was made by
    :func:`start_partial` with a key, each finished voice's result is
    journaled in ``<out>/.resume`` and a rerun yields the journaled results
    instead of synthesizing those voices again: a voice's files depend
    only on (seed, voice), so a continued build is byte-identical to an
    uninterrupted one.  ``max_voices``: synthesize at most this many voices
    now (the caller sees fewer results than tasks and stops).  ``retry``:
    see :func:`synth_isolated`."""
    journal = os.path.join(out, RESUME_DIR)
    if not os.path.isdir(journal):
        yield from synth_isolated(tasks, jobs, fn, retry)
        return
    index = {t[0].name: i for i, t in enumerate(tasks)}
    todo = []
    for i, t in enumerate(tasks):
        path = os.path.join(journal, "%06d.pkl" % i)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                yield pickle.load(f)
        else:
            todo.append(t)
    if max_voices is not None:
        todo = todo[:max(0, max_voices)]
    for r in synth_isolated(todo, jobs, fn, retry):
        path = os.path.join(journal, "%06d.pkl" % index[r["voice"]])
        with open(path + ".tmp", "wb") as f:
            pickle.dump(r, f)
        os.replace(path + ".tmp", path)
        yield r


def write_shared_files(out: str, seed: int, small: bool, voices: list, split: dict, task: Task,
                       log=sys.stderr, tag: str = "synth", sounds: bool = True) -> int:
    """The files of a corpus that no voice makes: the recorded sounds in
    SOUNDS_DIR (--small: a few files per package, enough for every split; a
    warning when there are none, ``sounds=False`` leaves them out),
    voices.json (each voice's split) and the corpus's task file.  Returns
    the number of recorded sounds."""
    from . import sounds as SN
    n_sounds = 0
    try:
        if not sounds:
            raise SN.NoSoundsError("left out (sounds=False)")
        n_sounds = len(SN.collect_sounds(os.path.join(out, SOUNDS_DIR), seed, log=log,
                                         max_files_per_source=4 if small else None))
    except SN.NoSoundsError as e:
        print(f"[{tag}] warning: no recorded sounds: {e}", file=log, flush=True)
    with open(os.path.join(out, "voices.json"), "w") as f:
        json.dump({v.name: split[v.name] for v in voices}, f, indent=1, sort_keys=True)
    task.save(os.path.join(out, CORPUS_TASK_FILE))
    return n_sounds


def replace_dir(out: str, final: str) -> None:
    """Put the finished corpus `out` in place of `final` (an older one is
    moved aside first and removed after, so `final` is never half-written;
    the resume journal is dropped)."""
    shutil.rmtree(os.path.join(out, RESUME_DIR), ignore_errors=True)
    if os.path.exists(final):
        trash = f"{final}.old-{os.getpid()}"
        os.rename(final, trash)
        os.rename(out, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(out, final)


def finish_shards(out: str, num_shards: int, log=sys.stderr) -> dict:
    """Write the lists and corpus.json of a corpus made by ``num_shards``
    shards in ``out`` and remove their ``.shards`` results.  Raises
    FileNotFoundError while a shard's result is missing."""
    d = os.path.join(out, SHARDS_DIR)
    parts = []
    for i in range(num_shards):
        with open(os.path.join(d, f"{i}-of-{num_shards}.json")) as f:
            parts.append(json.load(f))
    meta = write_metadata(out, parts, log)
    shutil.rmtree(d, ignore_errors=True)
    return meta


def _write_atomic(path: str, text: str) -> None:
    """Whole file or nothing (two shards may finish the same corpus at once)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_metadata(out: str, parts: list[dict], log=sys.stderr) -> dict:
    """validation_list.txt, testing_list.txt, sentences.json and corpus.json
    from the per-voice results of one run or of every shard."""
    p = parts[0]["params"]
    seed, small = p["seed"], p["small"]
    task = Task.from_dict(p["task"], "shard parameters")
    keywords, unknown = build_plan(small, task)
    voices = task_voices(task, small)
    split = V.assign_splits(voices, seed)
    results = [r for part in parts for r in part["results"]]
    noise = [n for part in parts for n in part["background_noise"]]
    n_sounds = sum(part["recorded_sounds"] for part in parts)
    done = sum(sum(r["counts"].values()) + len(r["failed"]) + len(r["sentences"]) for r in results)
    failed = sorted((r["voice"], f) for r in results for f in r["failed"])
    n_long = sum(r["long"] for r in results)
    retried = {r["voice"]: r["retried"] for r in results if r.get("retried")}
    # lists, like GSC: relative paths, sorted
    by_split = {"val": [], "test": []}
    for r in results:
        s = split[r["voice"]]
        if s in by_split:
            by_split[s].extend(r["files"])
    _write_atomic(os.path.join(out, "validation_list.txt"), "".join(p + "\n" for p in sorted(by_split["val"])))
    _write_atomic(os.path.join(out, "testing_list.txt"), "".join(p + "\n" for p in sorted(by_split["test"])))
    sent_meta = sorted((dict(m, split=split[m["voice"]]) for r in results for m in r["sentences"]),
                       key=lambda m: m["file"])
    _write_atomic(os.path.join(out, SENTENCE_DIR, "sentences.json"), json.dumps(sent_meta, indent=0))
    elapsed = max(part["seconds"] for part in parts)
    vocab_n = p["vocab_words"]
    sent_n = {(a, b): n for a, b, n in p["sentences"]}
    meta = {
        "format": "google-speech-commands-v2-layout",
        "generator": "beenet_train.data.synth",
        "seed": seed, "small": small, "task": task.name, "labels": task.labels,
        "keywords": keywords, "unknown_words": unknown,
        "reps": p["reps"], "unknown_reps": p["unknown_reps"], "other_reps_multiplier": p["other_mult"],
        "prosody": {"espeak_rate": ESPEAK_RATE, "espeak_pitch": ESPEAK_PITCH,
                    "espeak_range": ESPEAK_RANGE, "stretch": STRETCH, "tape": TAPE,
                    "high_tape": HIGH_TAPE, "high_f0": HIGH_F0, "high_f0_std": HIGH_F0_STD,
                    "peak_dbfs": PEAK_DB, "punctuation": PUNCT},
        "background_noise": noise,
        "voices": {v.name: {"family": v.family, "arg": v.arg, "group": v.group, "lang": v.lang,
                            "speaker": v.speaker_id, "split": split[v.name]}
                   for v in voices},
        "vocabulary_words_per_voice": vocab_n, "sentences_per_voice":
            {f"{a}/{b}": n for (a, b), n in sent_n.items()},
        "sentences": len(sent_meta),
        "sentence_seconds": {sp: round(sum(m["seconds"] for m in sent_meta if m["split"] == sp), 1)
                             for sp in ("train", "val", "test")},
        "recorded_sounds": n_sounds,
        "clips": done - len(failed) - len(sent_meta), "failed": failed, "too_long_retries": n_long,
        "retried_voices": retried,
        "seconds": round(elapsed, 1),
    }
    _write_atomic(os.path.join(out, "corpus.json"), json.dumps(meta, indent=1))
    print(f"[synth] done: {done - len(failed)} clips, {len(failed)} failed, "
          f"{n_long} too-long retries, {len(retried)} voices retried word by word, "
          f"{elapsed:.0f} s", file=log, flush=True)
    return meta


def add_max_voices(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--max-voices", type=int, metavar="N",
                    help="synthesize at most N more voices, then stop with exit status %d; the "
                         "same command continues the build (an interrupted build continues too)"
                         % UNFINISHED)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.data.synth",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="output corpus directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--small", action="store_true",
                    help="tiny corpus (20 eSpeak voices, 2 flite, 1 festival) for tests")
    ap.add_argument("--jobs", type=int, default=2, help="processes (max 2)")
    ap.add_argument("--reps", type=int, default=None,
                    help="repetitions of each keyword per eSpeak voice (default 4; small 2)")
    ap.add_argument("--unknown-reps", type=int, default=None,
                    help="repetitions of each unknown word per eSpeak voice (default 1)")
    ap.add_argument("--other-reps-multiplier", type=int, default=None,
                    help="reps multiplier for flite/festival voices (default 5; small 1)")
    ap.add_argument("--task", help="task name (tasks/NAME.json) or task file (default kws12)")
    ap.add_argument("--force", action="store_true", help="overwrite a non-empty --out")
    ap.add_argument("--shard", type=int, help="make only this part (0-based) of the corpus "
                    "(default: $RANK, or the whole corpus)")
    ap.add_argument("--num-shards", type=int, help="number of parts (default: $WORLD_SIZE, or 1); "
                    "run every shard with the same --out, or copy them into one directory and run "
                    "--finish-shards")
    ap.add_argument("--finish-shards", type=int, metavar="N",
                    help="write the lists and corpus.json of the N shards copied into --out")
    ap.add_argument("--stats", metavar="ROOT",
                    help="print the per-split/per-word and KWS-12 label counts of a corpus")
    add_max_voices(ap)
    a = ap.parse_args(argv)
    if a.stats:
        print(format_stats(corpus_stats(a.stats)))
        return 0
    if not a.out:
        ap.error("--out is required (or --stats ROOT)")
    try:
        if a.finish_shards:
            finish_shards(a.out, a.finish_shards)
            return 0
        shard, num_shards = shard_args(a.shard, a.num_shards)
        if a.max_voices is not None and num_shards > 1:
            ap.error("--max-voices is for unsharded builds")
        meta = synthesize(a.out, a.seed, a.small, a.jobs, a.reps, a.unknown_reps,
                          a.other_reps_multiplier, a.force, shard=shard, num_shards=num_shards,
                          task=load_task(a.task), max_voices=a.max_voices)
        if meta is None and num_shards == 1:
            return UNFINISHED
    except (FileExistsError, FileNotFoundError, ValueError, V.EspeakError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
