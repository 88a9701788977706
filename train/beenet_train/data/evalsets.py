"""Evaluation sets of a corpus v2, from held-out material only.

    PYTHONPATH=train /usr/bin/python3 -m beenet_train.data.evalsets \\
        --corpus data/kws12-v2 --out data/kws12-v2-eval [--split test] [--seed 0]

Everything comes from one split of the corpus (``test`` by default; ``val``
for choosing the detection defaults): its voices (held out by voice), its
sentences (held out by text) and its recorded sounds (``_sounds_/<split>``,
held out by recording).  Written to ``<out>/<split>/``:

* ``clean/``, ``babble10/``, ``babble0/``, ``noise5/``: the per-window sets.
  The same items in each (every keyword clip of the split plus unknown-word
  clips, running-speech crops and ``_silence_`` in the trainer's class
  mix), as 1 s WAVs with ``labels.tsv`` (file, label, kind, source).  The
  noisy sets add babble of 3-8 of the split's voices reading the split's
  sentences at 10 and 0 dB SNR, or a recorded non-speech sound at 5 dB, to
  every item except ``_silence_`` (SNR over the whole 1 s window).
* ``stream/negative.wav``: running speech without any keyword (the split's
  sentences read by its voices, 0.1-0.8 s pauses), at least ``--negative-minutes``
  (60 for test, 120 for val); ``negative.tsv`` lists the sentences and their
  times.  Its pool is topped up (:func:`topup_sentences`): every English
  voice of the split reads as many held-out sentences as a test voice of
  its family does in the corpus, the extra ones synthesized here from the
  split's texts the corpus did not use.  A no-op for ``test``; for ``val``
  it quadruples the distinct running speech (the corpus reads 6 sentences
  per val eSpeak voice against 24 per test voice), so the false alarms per
  hour the detection defaults are tuned on are not counted on the same half
  hour of speech repeated.
* ``stream/keywords.wav``: sentences with the ten keywords said between them
  (0.3-1.0 s pauses either side), mixed with babble (even 30 s blocks) or
  recorded non-speech sound (odd blocks) at 10 dB SNR, at least
  ``--keyword-minutes`` (30 for test); ``keywords.tsv`` gives each keyword's
  label, start and end (seconds, from the trimmed clip).  For ``val``
  120 minutes (about 1,400 distinct keyword clips of the split's 3,400):
  the tuner's bound on wrong detections (``tune-detection
  --max-wrong-per-hour``) needs enough of them to count; the default models up
  to v7 were tuned on ``--keyword-minutes 20``.

Deterministic: fixed seeds, a sorted listing, WAVs written with the seeded
+-1 LSB dither of ``audio.write_wav``; the same command gives byte-identical
files.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import numpy as np

from .audio import CLIP_SAMPLES, SAMPLE_RATE, active_region, read_wav, write_wav

MIX = {"keywords": 0.58, "unknown_words": 0.20, "speech_crops": 0.15, "silence": 0.07}
SETS = {"clean": None, "babble10": ("babble", 10.0), "babble0": ("babble", 0.0),
        "noise5": ("sound", 5.0)}
BLOCK_SECONDS = 30.0
DEFAULT_MINUTES = {"test": (60.0, 30.0), "val": (120.0, 120.0)}
TOPUP_SEED = 0x70F0   # the extra sentences' own seed (not the corpus's voice streams)


def _rms2(x):
    return float(np.dot(x, x)) / max(1, x.size)


class Material:
    """Held-out speech, sentences and sounds of one split of a corpus v2."""

    def __init__(self, corpus: str, split: str):
        from .gsc import load_gsc
        from .task import corpus_task
        self.split = split
        self.task = corpus_task(corpus)
        self.labels = self.task.labels
        exs = load_gsc(corpus, self.labels, unknown_fraction=None, silence_fraction=0.0)[split]
        self.keywords = [e for e in exs if self.labels[e.label_index] in self.task.keywords]
        self.unknown = [e for e in exs if self.labels[e.label_index] == self.task.unknown]
        with open(os.path.join(corpus, "_sentences_", "sentences.json")) as f:
            meta = [m for m in json.load(f) if m["split"] == split]
        if not meta:
            raise ValueError(f"{corpus}: no {split} sentences (not a corpus v2?)")
        self.sentence_meta = meta
        self.sentences = [read_wav(os.path.join(corpus, m["file"])) for m in meta]
        d = os.path.join(corpus, "_sounds_", split)
        names = sorted(n for n in os.listdir(d) if n.endswith(".wav")) if os.path.isdir(d) else []
        if not names:
            raise ValueError(f"{d}: no held-out recorded sounds")
        self.sound_names = names
        self.sounds = [read_wav(os.path.join(d, n)) for n in names]

    def _segment(self, pool, n, rng):
        src = pool[int(rng.integers(len(pool)))]
        if src.size < n:
            src = np.tile(src, int(np.ceil(n / src.size)) + 1)
        off = int(rng.integers(0, src.size - n + 1))
        return src[off:off + n].astype(np.float32)

    def babble(self, n, rng):
        out = np.zeros(n, np.float32)
        for _ in range(int(rng.integers(3, 9))):
            seg = self._segment(self.sentences, n, rng)
            out += seg / np.float32(np.sqrt(_rms2(seg)) + 1e-6)
        return out

    def noise(self, kind, n, rng):
        return self.babble(n, rng) if kind == "babble" else self._segment(self.sounds, n, rng)

    def silence(self, rng):
        return self._segment(self.sounds, CLIP_SAMPLES, rng) * np.float32(rng.uniform(0.0, 1.0))

    def crop(self, rng):
        return self._segment(self.sentences, CLIP_SAMPLES, rng)


def mix_at_snr(x, noise, snr_db):
    ps, pn = _rms2(x), _rms2(noise)
    if ps <= 0 or pn <= 0:
        return x
    return (x + noise * np.float32(np.sqrt(ps / (pn * 10 ** (snr_db / 10))))).astype(np.float32)


def window_items(mat: Material, seed: int):
    """[(label, kind, source, wave)] in the trainer's class mix, shuffled."""
    rng = np.random.default_rng([seed, 0x11])
    total = len(mat.keywords) / MIX["keywords"]
    n_unk = min(len(mat.unknown), int(round(total * MIX["unknown_words"])))
    n_crop = int(round(total * MIX["speech_crops"]))
    n_sil = int(round(total * MIX["silence"]))
    items = [(mat.labels[e.label_index], "keyword", e.path) for e in mat.keywords]
    items += [("_unknown_", "word", mat.unknown[int(i)].path)
              for i in sorted(rng.choice(len(mat.unknown), n_unk, replace=False))]
    items += [("_unknown_", "crop", "")] * n_crop + [("_silence_", "silence", "")] * n_sil
    order = rng.permutation(len(items))
    out = []
    for k, j in enumerate(order):
        label, kind, src = items[int(j)]
        r = np.random.default_rng([seed, 0x12, k])
        if kind in ("keyword", "word"):
            w = read_wav(src)
            src = os.path.relpath(src, os.path.dirname(os.path.dirname(src)))
        elif kind == "crop":
            w = mat.crop(r)
        else:
            w = mat.silence(r)
        out.append((label, kind, src, w))
    return out


def write_window_sets(mat: Material, out: str, seed: int, log=sys.stderr):
    items = window_items(mat, seed)
    for name, cond in SETS.items():
        d = os.path.join(out, name)
        os.makedirs(d)
        rows = ["file\tlabel\tkind\tsource\n"]
        for k, (label, kind, src, w) in enumerate(items):
            r = np.random.default_rng([seed, 0x13, k])
            if cond and kind != "silence":
                w = mix_at_snr(w, mat.noise(cond[0], w.size, r), cond[1])
            peak = float(np.abs(w).max())
            if peak > 0.99:
                w = w * np.float32(0.99 / peak)
            fn = "%05d.wav" % k
            write_wav(os.path.join(d, fn), w, rng=r)
            rows.append(f"{fn}\t{label}\t{kind}\t{src}\n")
        with open(os.path.join(d, "labels.tsv"), "w") as f:
            f.writelines(rows)
        print(f"[evalsets] {mat.split}/{name}: {len(items)} windows", file=log, flush=True)
    return len(items)


def _trimmed(path):
    x = read_wav(path)
    s, e = active_region(x, SAMPLE_RATE, rel_db=-40.0, margin_ms=20.0)
    return x[s:e]


def _gap(rng, lo, hi):
    return np.zeros(int(rng.uniform(lo, hi) * SAMPLE_RATE), np.float32)


def topup_sentences(corpus: str, split: str, per_voice: dict | None = None, jobs: int = 2,
                    log=sys.stderr) -> tuple[list, list]:
    """Extra held-out running speech for the negative stream: (metas, audio).

    Every English voice of ``split`` (voices.json) is topped up to
    ``per_voice[family]`` sentences ({"espeak": n, "other": n}; default:
    what a test voice reads, corpus.json ``sentences_per_voice``), reading
    texts of the split (:func:`texts.sentences`, keyword-free) that no voice
    of the corpus read, synthesized like the corpus's
    (:func:`synth.synth_voice` in forked children, so byte-identical when
    rebuilt).  Voices not installed here are skipped (and named)."""
    from . import texts as T
    from .synth import SENTENCE_DIR, synth_isolated, task_voices
    from .task import corpus_task
    with open(os.path.join(corpus, "corpus.json")) as f:
        info = json.load(f)
    with open(os.path.join(corpus, "voices.json")) as f:
        split_of = json.load(f)
    with open(os.path.join(corpus, SENTENCE_DIR, "sentences.json")) as f:
        meta = json.load(f)
    if per_voice is None:
        spv = info.get("sentences_per_voice", {})
        per_voice = {fam: int(spv.get(f"{fam}/test", 0)) for fam in ("espeak", "other")}
    have: dict = {}
    for m in meta:
        have[m["voice"]] = have.get(m["voice"], 0) + 1
    task = corpus_task(corpus)
    seed = int(info.get("seed", 0))
    used = {m["text"] for m in meta}
    pool = [t for t in T.sentences(seed, excluded=task.excluded_words(),
                                   phrases=task.keyword_phrases())[split] if t not in used]
    installed = {v.name: v for v in task_voices(task, bool(info.get("small", False)))}
    missing = sorted(n for n, sp in split_of.items() if sp == split and n not in installed)
    if missing:
        print(f"[evalsets] top-up: {len(missing)} {split} voices not installed here, skipped: "
              + ", ".join(missing), file=log, flush=True)
    tasks = []
    for name in sorted(n for n, sp in split_of.items() if sp == split and n in installed):
        v = installed[name]
        k = per_voice["espeak" if v.family == "espeak" else "other"] - have.get(name, 0)
        if v.lang != "en" or k <= 0 or not pool:
            continue
        r = np.random.default_rng([TOPUP_SEED, seed, int(v.speaker_id, 16)])
        sents = tuple(pool[int(j)] for j in r.choice(len(pool), size=min(k, len(pool)), replace=False))
        tasks.append((v, [], seed + TOPUP_SEED, None, sents, None))
    metas, audio = [], []
    for res in sorted(synth_isolated(tasks, jobs=jobs), key=lambda r: r["voice"]):
        clips = res["clips"]
        for (_, k), m in zip(sorted(clips), res["sentences"]):
            metas.append({"voice": m["voice"], "text": m["text"], "extra": True})
            audio.append(clips[(SENTENCE_DIR, k)])
    if tasks:
        print(f"[evalsets] {split}/stream: {len(audio)} extra sentences "
              f"({sum(a.size for a in audio) / SAMPLE_RATE / 60:.1f} min) from {len(tasks)} voices",
              file=log, flush=True)
    return metas, audio


def negative_stream(mat: Material, minutes: float, seed: int, extra=((), ())):
    rng = np.random.default_rng([seed, 0x21])
    metas, sents = list(mat.sentence_meta) + list(extra[0]), list(mat.sentences) + list(extra[1])
    parts, rows, t = [], [], 0
    need = int(minutes * 60 * SAMPLE_RATE)
    while t < need:
        for j in rng.permutation(len(sents)):
            g = _gap(rng, 0.1, 0.8)
            s = sents[int(j)]
            parts += [g, s]
            rows.append((round((t + g.size) / SAMPLE_RATE, 4), round((t + g.size + s.size) / SAMPLE_RATE, 4),
                         metas[int(j)]["voice"], metas[int(j)]["text"]))
            t += g.size + s.size
            if t >= need:
                break
    y = np.concatenate(parts)
    # a noise floor at -60 dBFS RMS: a real microphone is never digitally silent
    y += np.float32(1e-3) * rng.standard_normal(y.size).astype(np.float32)
    return y, rows


KEYWORD_STREAM_SNR_DB = 10.0
KEYWORD_STREAM_PAUSES_S = (0.3, 1.0)


def keyword_stream(mat: Material, minutes: float, seed: int, snr_db: float | None = KEYWORD_STREAM_SNR_DB,
                   pauses_s=KEYWORD_STREAM_PAUSES_S):
    """The keyword stream: sentences with a keyword between them, pauses of
    ``pauses_s`` (low, high) seconds either side of the keyword, babble and
    sound blocks at ``snr_db`` (None: no noise).  The evaluation sets use
    the defaults; ``bench/stream_conditions.py`` varies them to see which
    condition costs detections."""
    rng = np.random.default_rng([seed, 0x22])
    kws = [mat.keywords[int(i)] for i in rng.permutation(len(mat.keywords))]
    parts, rows, t, k = [], [], 0, 0
    need = int(minutes * 60 * SAMPLE_RATE)
    while t < need:
        s = mat.sentences[int(rng.integers(len(mat.sentences)))]
        g1, g2 = _gap(rng, *pauses_s), _gap(rng, *pauses_s)
        e = kws[k % len(kws)]
        k += 1
        w = _trimmed(e.path)
        # the keyword at the level of the sentence it follows (RMS over active speech)
        w = w * np.float32(np.sqrt(_rms2(s) / max(_rms2(w), 1e-12)))
        start = t + s.size + g1.size
        rows.append((mat.labels[e.label_index], round(start / SAMPLE_RATE, 4),
                     round((start + w.size) / SAMPLE_RATE, 4), os.path.basename(e.path)))
        parts += [s, g1, w, g2]
        t += s.size + g1.size + w.size + g2.size
    return noise_blocks(mat, np.concatenate(parts), seed, snr_db, 0x23), rows


def noise_blocks(mat: Material, y: np.ndarray, seed: int, snr_db: float | None, salt: int) -> np.ndarray:
    """``y`` (changed in place) in 30-s blocks alternately mixed with the
    split's babble and a recorded sound at ``snr_db`` (None: no noise; the
    noise is drawn either way, from generators seeded with (seed, salt,
    block)), then scaled down if it would clip."""
    block = int(BLOCK_SECONDS * SAMPLE_RATE)
    for b, off in enumerate(range(0, y.size, block)):
        seg = y[off:off + block]
        r = np.random.default_rng([seed, salt, b])
        noise = mat.noise("babble" if b % 2 == 0 else "sound", seg.size, r)
        if snr_db is not None:
            y[off:off + block] = mix_at_snr(seg, noise, snr_db)
    peak = float(np.abs(y).max())
    if peak > 0.99:
        y *= np.float32(0.99 / peak)
    return y


def write_streams(mat: Material, out: str, seed: int, neg_min: float, kw_min: float, log=sys.stderr,
                  extra=((), ())):
    d = os.path.join(out, "stream")
    os.makedirs(d)
    y, rows = negative_stream(mat, neg_min, seed, extra)
    write_wav(os.path.join(d, "negative.wav"), y, rng=np.random.default_rng([seed, 0x31]))
    with open(os.path.join(d, "negative.tsv"), "w") as f:
        f.write("start\tend\tvoice\ttext\n")
        f.writelines(f"{a}\t{b}\t{v}\t{t}\n" for a, b, v, t in rows)
    print(f"[evalsets] {mat.split}/stream/negative.wav: {y.size / SAMPLE_RATE / 60:.1f} min, "
          f"{len(rows)} sentences, {len(set((v, t) for _, _, v, t in rows))} distinct", file=log, flush=True)
    y, rows = keyword_stream(mat, kw_min, seed)
    write_wav(os.path.join(d, "keywords.wav"), y, rng=np.random.default_rng([seed, 0x32]))
    with open(os.path.join(d, "keywords.tsv"), "w") as f:
        f.write("label\tstart\tend\tsource\n")
        f.writelines(f"{a}\t{b}\t{c}\t{s}\n" for a, b, c, s in rows)
    print(f"[evalsets] {mat.split}/stream/keywords.wav: {y.size / SAMPLE_RATE / 60:.1f} min, "
          f"{len(rows)} keywords", file=log, flush=True)


def build(corpus: str, out: str, split: str = "test", seed: int = 0, negative_minutes=None,
          keyword_minutes=None, force: bool = False, log=sys.stderr, topup: dict | None = None) -> str:
    """``topup``: per-voice sentence counts for :func:`topup_sentences`
    (default: the test split's)."""
    neg, kw = DEFAULT_MINUTES.get(split, (20.0, 10.0))
    neg = negative_minutes if negative_minutes is not None else neg
    kw = keyword_minutes if keyword_minutes is not None else kw
    final = os.path.join(out, split)
    if os.path.exists(final) and not force:
        raise FileExistsError(f"{final} exists (use --force)")
    tmp = final + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    mat = Material(corpus, split)
    n = write_window_sets(mat, tmp, seed, log)
    extra = topup_sentences(corpus, split, topup, log=log)
    write_streams(mat, tmp, seed, neg, kw, log, extra)
    with open(os.path.join(tmp, "evalset.json"), "w") as f:
        json.dump({"corpus": os.path.basename(os.path.normpath(corpus)), "split": split, "seed": seed,
                   "windows": n, "sets": {k: list(v) if v else None for k, v in SETS.items()},
                   "mix": MIX, "negative_minutes": neg, "keyword_minutes": kw,
                   **({"negative_extra_sentences": len(extra[1])} if extra[1] else {}),
                   "sounds": mat.sound_names}, f, indent=1)
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    return final


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.data.evalsets",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--split", default="test", choices=["test", "val"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--negative-minutes", type=float)
    ap.add_argument("--keyword-minutes", type=float)
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--no-topup", action="store_true",
                    help="no extra sentences in the negative stream (with --split val --negative-minutes 60: "
                         "the validation set the models before 2026-12-03 were tuned on)")
    a = ap.parse_args(argv)
    try:
        build(a.corpus, a.out, a.split, a.seed, a.negative_minutes, a.keyword_minutes, a.force,
              topup={"espeak": 0, "other": 0} if a.no_topup else None)
    except (FileExistsError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
