"""Real recorded non-speech sounds from Debian packages, split by recording.

The synthetic corpus only has generated noise (white/pink/brown, hum, fan,
eSpeak babble).  This module collects *recorded* sounds that Debian ships
in game and desktop data packages -- music, machines, vehicles, nature,
household and assorted effects -- converts them to 16 kHz mono 16-bit WAV
at a common level and writes them into ``<out>/train``, ``<out>/val`` and
``<out>/test`` so that no recording is in two splits.

    PYTHONPATH=train /usr/bin/python3 -m beenet_train.data.sounds --out DIR [--seed 0] [--stats]

``SOURCES`` is the table of packages, files and licences (one row per
source; a package can have several rows).  Files that contain speech or
other human voice are excluded by name (``Source.exclude``, with the
reason); everything excluded is listed in ``manifest.json``.  See
docs/data.md, section "Recorded non-speech sounds".

Determinism: file lists are sorted, decoding uses ``sox -R`` (Debian's sox
otherwise dithers at random), all randomness comes from generators seeded
by (seed, name), so the same packages and seed give byte-identical output.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import fnmatch
import glob
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import warnings

import numpy as np

from .audio import SAMPLE_RATE, active_region, write_wav

SPLITS = (("train", 0.70), ("val", 0.15), ("test", 0.15))
CATEGORIES = ("music", "machine", "vehicle", "nature", "household", "effect")

TARGET_DBFS = -20.0        # RMS level of every recording (unless peak-limited)
PEAK_LIMIT = 0.97          # never scale a recording's peak above this
MUSIC_MAX_SECONDS = 60.0   # a music track contributes its middle 60 s at most
MIN_SECONDS = 0.1          # shorter (after silence trimming) recordings are dropped
SILENT_DBFS = -60.0        # recordings quieter than this (RMS, before gain) are dropped
SHORT_SECONDS = 1.0        # shorter recordings are concatenated per split and category
CHUNK_SECONDS = 20.0       # ... into files of at most this length
GAP_SECONDS = 0.25         # ... with this much silence between them


class NoSoundsError(RuntimeError):
    """Raised when none of the source packages is installed."""


@dataclasses.dataclass(frozen=True)
class Source:
    """One row of the source table.

    ``include`` are absolute glob patterns (or, with ``container="opensfx"``,
    the path of an OpenTTD ``.cat`` file); ``exclude`` is a tuple of
    (fnmatch pattern on the path, reason); ``categories`` is a tuple of
    (fnmatch pattern on the path, category) overriding ``category`` (first
    match wins).  For a container member the path is ``<cat file>#NN``.
    """
    package: str
    category: str
    licence: str
    content: str
    include: tuple
    exclude: tuple = ()
    categories: tuple = ()
    container: str | None = None
    ignore: tuple = ()

    def category_of(self, path: str) -> str:
        for pat, cat in self.categories:
            if fnmatch.fnmatchcase(path, pat):
                return cat
        return self.category

    def ignored(self, path: str) -> str | None:
        for pat, reason in self.ignore:
            if fnmatch.fnmatchcase(path, pat):
                return reason
        return None

    def excluded(self, path: str) -> str | None:
        for pat, reason in self.exclude:
            if fnmatch.fnmatchcase(path, pat):
                return reason
        return None


_MT = "/usr/share/games/minetest/games/minetest_game/mods"
_TP = "/usr/share/tuxpaint/stamps"
_LC = "/usr/share/games/lincity-ng"
_OPENSFX = "/usr/share/games/openttd/baseset/opensfx/opensfx.cat"
# OpenSFX members (index in opensfx.cat) by category; the names are in the
# .cat file itself (see opensfx_members) and in docs/data.md.
_OPENSFX_CATS = {
    "vehicle": (4, 5, 6, 7, 8, 9, 10, 14, 23, 24, 25, 26, 27, 28, 35, 59, 60, 61, 62, 63, 64,
                65, 69, 70, 71),
    "machine": (3, 11, 12, 13, 33, 39, 40, 44, 51, 56),
    "nature": (36, 37, 38, 52, 54, 55, 57, 66, 67, 68, 72),
    "household": (20,),
    "music": (0, 1),
}
_VOICE = "human voice"

SOURCES: tuple[Source, ...] = (
    Source("openttd-opensfx", "effect", "CC-BY-SA-3.0",
           "OpenTTD base sounds: trains, planes, buses, ships, factories, sawmill, "
           "animals, wind, crashes (73 WAVs inside opensfx.cat)",
           (_OPENSFX,), container="opensfx",
           exclude=((_OPENSFX + "#29", "applause: a cheering crowd (voices)"),
                    (_OPENSFX + "#30", "'Oooh sound': a crowd's voices"),
                    (_OPENSFX + "#34", "empty"), (_OPENSFX + "#50", "empty")),
           categories=tuple((f"{_OPENSFX}#{i:02d}", cat)
                            for cat, idx in _OPENSFX_CATS.items() for i in idx)),
    Source("minetest-data", "effect", "CC-BY-SA-3.0 (doors: CC-BY-3.0)",
           "Minetest game sounds: footsteps, digging, doors, water, lava, fire, "
           "furnace, mine carts",
           (_MT + "/*/sounds/*.ogg",),
           exclude=((_MT + "/default/sounds/player_damage.ogg", _VOICE + " (grunt)"),),
           categories=((_MT + "/env_sounds/*", "nature"), (_MT + "/fire/*", "nature"),
                       (_MT + "/*water*", "nature"), (_MT + "/carts/*", "vehicle"),
                       (_MT + "/*furnace*", "machine"), (_MT + "/doors/*", "household"),
                       (_MT + "/xpanes/*", "household"), (_MT + "/*chest*", "household"))),
    Source("sound-theme-freedesktop", "effect", "CC-BY-SA-3.0, CC-BY-3.0, GPL-2+",
           "freedesktop.org desktop sounds: bells, alarm clock, camera shutter, "
           "phone ringing",
           ("/usr/share/sounds/freedesktop/stereo/*.oga",),
           exclude=(("*/audio-channel-*", "speech ('Front left', ...)"),
                    ("*/audio-test-signal.oga", "ALSA noise test sound, already in "
                     "_background_noise_ as alsa_noise.wav")),
           categories=(("*/phone-*", "household"), ("*/alarm-clock-*", "household"),
                       ("*/camera-shutter.oga", "household"), ("*/screen-capture.oga", "household"))),
    Source("frozen-bubble-data", "effect", "GPL-2",
           "Frozen-Bubble: 3 music tracks and game effects",
           ("/usr/share/games/frozen-bubble/snd/*.ogg",),
           exclude=(("*/applause.ogg", "a cheering crowd (voices)"),
                    ("*/snore.ogg", _VOICE + " (snoring)"),
                    ("*/hurry.ogg", "possibly a voice ('hurry')"),
                    ("*/noh.ogg", "possibly a voice ('noh')"),
                    ("*/lose.ogg", "possibly a voice"),
                    ("*/chatted.ogg", "chat notification")),
           categories=(("*zik*", "music"), ("*/typewriter.ogg", "household"))),
    Source("colobot-common-sounds", "music", "GPL-3+",
           "Colobot: 21 instrumental music tracks",
           ("/usr/share/games/colobot/music/*.ogg",)),
    Source("colobot-common-sounds", "machine", "GPL-3+",
           "Colobot: robot, motor, tool and impact effects",
           ("/usr/share/games/colobot/sounds/*.wav",)),
    Source("extremetuxracer-data", "music", "GPL-2+",
           "Extreme Tux Racer: 10 music tracks",
           ("/usr/share/games/etr/music/*.ogg",)),
    Source("extremetuxracer-data", "nature", "GPL-2+",
           "Extreme Tux Racer: sliding on snow, ice, grass, leaves, mud, rock; tree hit",
           ("/usr/share/games/etr/sounds/*.wav",),
           categories=(("*/pickup*", "effect"),)),
    Source("asterisk-moh-opsound-wav", "music", "CC-BY-SA-3.0",
           "Asterisk music on hold: 5 instrumental tracks (8 kHz)",
           ("/usr/share/asterisk/moh/*.wav",)),
    Source("tuxpaint-stamps-default", "nature", "GPL-2",
           "Tux Paint stamp sounds: animals, household objects, instruments, weather",
           (_TP + "/animals/**/*.ogg", _TP + "/food/**/*.ogg", _TP + "/hobbies/**/*.ogg",
            _TP + "/household/**/*.ogg", _TP + "/military/**/*.ogg",
            _TP + "/naturalforces/**/*.ogg", _TP + "/seasonal/**/*.ogg",
            _TP + "/vehicles/**/*.ogg", _TP + "/sports/**/*.ogg", _TP + "/town/**/*.ogg",
            _TP + "/space/**/*.ogg", _TP + "/plants/**/*.ogg"),
           ignore=(("*_desc*.ogg", "spoken description of the stamp"),),
           exclude=(("*/space/*", "may contain radio speech (Apollo lander)"),
                    ("*/seasonal/hanukkah/*", "spoken dreidel letters"),
                    ("*/santahat.ogg", _VOICE + " ('ho ho ho')"),
                    ("*/halloween/ghost.ogg", _VOICE + " ('boo')"),
                    ("*/apes/*", "vocalisation close to a human voice"),
                    ("*/final-roll-call.ogg", "possibly a voice (roll call)")),
           categories=(("*/household/*", "household"), ("*/food/*", "household"),
                       ("*/hobbies/music/*", "music"), ("*/hobbies/*", "household"),
                       ("*/military/*", "effect"), ("*/seasonal/*", "effect"),
                       ("*/vehicles/*", "vehicle"), ("*/sports/*", "effect"),
                       ("*/town/*", "effect"))),
    Source("tuxpaint-data", "effect", "GPL-2+",
           "Tux Paint tool sounds: brush, eraser, stamp, click, typewriter bell",
           ("/usr/share/tuxpaint/sounds/*.wav",),
           exclude=(("*/areyousure.wav", "speech"), ("*/youcannot.wav", "speech"),
                    ("*/tuxok.wav", "speech"), ("*/giggle.wav", _VOICE + " (giggle)"))),
    Source("crrcsim-data", "vehicle", "GPL-2",
           "CRRCsim model aircraft: electric motor, fan, glider wind",
           ("/usr/share/games/crrcsim/sounds/*.wav",)),
    Source("freeciv-data", "effect", "GPL-2+",
           "Freeciv: cannons, explosions, machine guns, tank treads, splash; one music track",
           ("/usr/share/games/freeciv/stdsounds/*.ogg", "/usr/share/games/freeciv/stdmusic/*.ogg"),
           categories=(("*/stdmusic/*", "music"), ("*/Tread.ogg", "vehicle"),
                       ("*/THover.ogg", "vehicle"), ("*/Splash.ogg", "nature"),
                       ("*/inh2o.ogg", "nature"), ("*/foot3.ogg", "household"))),
    Source("lincity-ng-data", "machine", "GPL-2+ (sound effects also CC-BY-SA-2.0)",
           "LinCity-NG: 4 s city ambiences (industry, mines, power plants, traffic, "
           "trains, rockets, harbour, water, windmills) and 3 music tracks",
           (_LC + "/sounds/*.wav", _LC + "/music/default/*.ogg"),
           exclude=tuple((f"{_LC}/sounds/{n}*", "people: may contain voices")
                         for n in ("School", "University", "Residential", "SportsCroud",
                                   "Market", "Shanty", "Commune", "Health", "Parkland",
                                   "Monument", "FireStation", "Farm"))
           + ((f"{_LC}/sounds/Window*", "GUI click"), (f"{_LC}/sounds/Click*", "GUI click")),
           categories=((_LC + "/music/*", "music"), (_LC + "/sounds/Trafic*", "vehicle"),
                       (_LC + "/sounds/RailTrain*", "vehicle"), (_LC + "/sounds/DirtTrack*", "vehicle"),
                       (_LC + "/sounds/Rocket*", "vehicle"), (_LC + "/sounds/Harbor*", "vehicle"),
                       (_LC + "/sounds/Water*", "nature"), (_LC + "/sounds/Green*", "nature"),
                       (_LC + "/sounds/Fire*", "nature"), (_LC + "/sounds/OrganicFarm*", "nature"))),
)

PACKAGES = tuple(sorted({s.package for s in SOURCES}))


# --------------------------------------------------------------------------
# OpenTTD sound container

def opensfx_members(path: str) -> list[tuple[int, str, bytes]]:
    """Parse an OpenTTD ``.cat`` sound container.

    Layout (OpenTTD's soundloader): a table of little-endian uint32 pairs
    (offset, size), the first offset / 8 being the entry count (bit 31 of
    every offset flags the "new" format and is masked off); at each offset
    one length byte, a NUL-terminated name of that length, then a complete
    RIFF WAV of ``size`` bytes.
    Returns (index, name, RIFF bytes) for every entry.
    """
    with open(path, "rb") as f:
        d = f.read()
    first = struct.unpack_from("<I", d, 0)[0] & 0x7FFFFFFF
    n = first // 8
    out = []
    for i in range(n):
        off, size = struct.unpack_from("<II", d, 8 * i)
        off &= 0x7FFFFFFF
        ln = d[off]
        name = d[off + 1:off + 1 + ln].rstrip(b"\0").decode("utf-8", "replace")
        riff = d[off + 1 + ln:off + 1 + ln + size]
        if riff[:4] != b"RIFF":
            raise ValueError(f"{path}: entry {i} is not a RIFF WAV")
        out.append((i, name, riff))
    return out


# --------------------------------------------------------------------------
# discovery, decoding

def _h(*parts) -> int:
    return int.from_bytes(hashlib.sha1(":".join(map(str, parts)).encode()).digest()[:8], "big")


def _package_installed(pkg: str) -> bool:
    doc = f"/usr/share/doc/{pkg}"
    return os.path.isdir(doc) or os.path.exists(f"/var/lib/dpkg/info/{pkg}.list")


def list_recordings(sources=SOURCES, max_files_per_source: int | None = None):
    """Return (recordings, excluded, missing).

    recordings: sorted list of dicts (source row, path, title, riff bytes for
    container members); excluded: [{package, source, reason}]; missing:
    [{package, reason}] for rows none of whose files exist.
    """
    recs, excluded, missing = [], [], []
    ignored = collections.Counter()
    for src in sources:
        found = []
        if src.container == "opensfx":
            for p in src.include:
                if os.path.exists(p):
                    for i, name, riff in opensfx_members(p):
                        found.append((f"{p}#{i:02d}", name, riff))
        else:
            paths = set()
            for pat in src.include:
                paths.update(glob.glob(pat, recursive=True))
            found = [(p, "", None) for p in sorted(paths) if os.path.isfile(p)]
        if not found:
            why = ("package not installed" if not _package_installed(src.package)
                   else "no matching files")
            missing.append({"package": src.package, "include": list(src.include), "reason": why})
            continue
        kept = []
        for path, title, riff in sorted(found, key=lambda t: t[0]):
            why = src.ignored(path)
            if why:
                ignored[f"{src.package}: {why}"] += 1
                continue
            reason = src.excluded(path)
            if reason:
                excluded.append({"package": src.package, "source": path, "title": title,
                                 "reason": reason})
            else:
                kept.append({"src": src, "path": path, "title": title, "riff": riff})
        if max_files_per_source is not None:
            kept = kept[:max_files_per_source]
        recs.extend(kept)
    for reason, n in sorted(ignored.items()):
        excluded.append({"package": reason.split(":")[0], "source": f"{n} files",
                         "title": "", "reason": reason.split(": ", 1)[1]})
    return recs, excluded, missing


def _sox_duration(path: str) -> float:
    r = subprocess.run(["soxi", "-D", path], capture_output=True, text=True, check=True)
    return float(r.stdout.strip())


def decode(path: str, riff: bytes | None = None, rate: int = SAMPLE_RATE,
           start: float | None = None, length: float | None = None) -> np.ndarray:
    """Decode a file (or RIFF bytes) with ``sox -R`` to float32 mono at ``rate``."""
    inp = ["-t", "wav", "-"] if riff is not None else [path]
    cmd = ["sox", "-R", "-V1", *inp, "-t", "f32", "-r", str(rate), "-c", "1", "-"]
    if start is not None:
        cmd += ["trim", f"{start:.6f}", f"{length:.6f}"]
    r = subprocess.run(cmd, input=riff, capture_output=True, check=True)
    return np.frombuffer(r.stdout, dtype="<f4").astype(np.float32)


def _prepare(rec, rate: int, music_max_seconds: float | None):
    """Decode, trim silence, cut long music; return (audio, reason-if-dropped)."""
    cat = rec["src"].category_of(rec["path"])
    start = length = None
    if cat == "music" and music_max_seconds and rec["riff"] is None:
        dur = _sox_duration(rec["path"])
        if dur > music_max_seconds:
            start, length = (dur - music_max_seconds) / 2, music_max_seconds
    x = decode(rec["path"], rec["riff"], rate, start, length)
    x = np.clip(np.nan_to_num(x), -1.0, 1.0)
    a, b = active_region(x, rate, rel_db=-50.0)
    x = x[a:b]
    if x.size < MIN_SECONDS * rate:
        return None, f"shorter than {MIN_SECONDS} s after trimming silence"
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    if rms <= 0 or 20 * np.log10(rms) < SILENT_DBFS:
        return None, f"near-silent (RMS below {SILENT_DBFS} dBFS)"
    return x, None


def _level(x: np.ndarray, target_dbfs: float) -> tuple[np.ndarray, bool]:
    x = x.astype(np.float64)
    rms = np.sqrt(np.mean(x ** 2))
    peak = np.max(np.abs(x))
    g = 10 ** (target_dbfs / 20) / rms
    limited = g * peak > PEAK_LIMIT
    if limited:
        g = PEAK_LIMIT / peak
    return (x * g).astype(np.float32), bool(limited)


def _slug(s: str) -> str:
    out = "".join(c if c.isalnum() or c in "-." else "_" for c in s)
    while "__" in out:
        out = out.replace("__", "_")
    return out.strip("_")


def _out_name(rec) -> str:
    p = rec["path"]
    if "#" in p:
        idx = p.rsplit("#", 1)[1]
        t = rec["title"].split('"')[1] if rec["title"].count('"') >= 2 else rec["title"]
        stem = f"{idx}_{t[:40]}"
    else:
        parts = p.split("/")
        stem = "_".join(parts[-2:]).rsplit(".", 1)[0]
    return f"{rec['src'].package}__{_slug(stem)}.wav"


# --------------------------------------------------------------------------
# splitting

def assign_splits(items, seed: int, splits=SPLITS) -> dict:
    """Split recordings by category, balancing duration.

    Within each category the recordings are ordered by SHA-1 of
    (seed, package, path); each in turn goes to the split whose share of
    the category's duration so far is furthest below its target fraction
    (train 70 %, val 15 %, test 15 %), so every split gets something of a
    category that has at least three recordings.  Returns {path: split}.
    """
    by_cat = collections.defaultdict(list)
    for it in items:
        by_cat[it["category"]].append(it)
    out = {}
    for cat in sorted(by_cat):
        group = sorted(by_cat[cat], key=lambda it: (_h(seed, it["package"], it["path"]), it["path"]))
        got = {name: 0.0 for name, _ in splits}
        total = 0.0
        for it in group:
            total += it["seconds"]
            best = max(splits, key=lambda s: s[1] * total - got[s[0]])[0]
            got[best] += it["seconds"]
            out[it["path"]] = best
    return out


# --------------------------------------------------------------------------
# driver

def collect_sounds(out_dir: str, seed: int = 0, *, sources=SOURCES,
                   max_files_per_source: int | None = None,
                   music_max_seconds: float | None = MUSIC_MAX_SECONDS,
                   target_dbfs: float = TARGET_DBFS, rate: int = SAMPLE_RATE,
                   force: bool = False, log=sys.stderr) -> list[dict]:
    """Write recorded non-speech sounds to ``out_dir/{train,val,test}/*.wav``.

    Returns the manifest: one dict per source recording, sorted by
    (split, file, offset), with keys ``split``, ``file`` (path relative to
    ``out_dir``), ``offset`` and ``seconds`` (where in ``file`` the
    recording is, in seconds), ``package``, ``source`` (path of the
    original file; ``<file>.cat#NN`` for a member of an OpenTTD container),
    ``title`` (container members only, else ""), ``licence``, ``category``,
    ``rms_dbfs`` (level of the recording as written) and ``peak_limited``.
    Recordings shorter than 1 s are concatenated, with 0.25 s of silence
    between them, into ``<split>/short__<category>_NN.wav`` (at most 20 s).
    ``manifest.json`` in ``out_dir`` holds the same list under "files" plus
    the parameters, the excluded files (with reasons), the dropped files and
    the missing packages.  Missing packages are skipped with a warning;
    :class:`NoSoundsError` is raised when no source is available.
    ``max_files_per_source`` keeps the first N files of each table row
    (tests).  Output is byte-identical for the same packages and arguments.
    """
    if shutil.which("sox") is None:
        raise NoSoundsError("sox is not installed (apt-get install sox)")
    recs, excluded, missing = list_recordings(sources, max_files_per_source)
    for m in missing:
        msg = f"sounds: skipping {m['package']}: {m['reason']}"
        warnings.warn(msg, stacklevel=2)
        if log:
            print(msg, file=log, flush=True)
    if not recs:
        raise NoSoundsError(
            "no recorded-sound package is installed; install some of: "
            + " ".join(PACKAGES) + " (tools/setup-debian.sh does)")
    man_path = os.path.join(out_dir, "manifest.json")
    if os.path.exists(man_path):
        if not force:
            raise FileExistsError(f"{man_path} exists (use force=True / --force to replace)")
        for name, _ in SPLITS:
            shutil.rmtree(os.path.join(out_dir, name), ignore_errors=True)
        os.remove(man_path)

    # decode everything (one sox process at a time: modest CPU)
    items, dropped = [], []
    for k, rec in enumerate(recs):
        x, why = _prepare(rec, rate, music_max_seconds)
        if x is None:
            dropped.append({"package": rec["src"].package, "source": rec["path"], "reason": why})
            continue
        y, limited = _level(x, target_dbfs)
        items.append({"package": rec["src"].package, "path": rec["path"], "title": rec["title"],
                      "licence": rec["src"].licence, "category": rec["src"].category_of(rec["path"]),
                      "audio": y, "seconds": y.size / rate, "peak_limited": limited,
                      "name": _out_name(rec)})
        if log and (k + 1) % 50 == 0:
            print(f"sounds: decoded {k + 1}/{len(recs)}", file=log, flush=True)
    split_of = assign_splits(items, seed)

    files = []
    names_used = set()
    short = collections.defaultdict(list)
    for it in items:
        sp = split_of[it["path"]]
        if it["seconds"] < SHORT_SECONDS:
            short[(sp, it["category"])].append(it)
            continue
        name = it["name"]
        n = 2
        while (sp, name) in names_used:
            name = it["name"][:-4] + f"_{n}.wav"
            n += 1
        names_used.add((sp, name))
        files.append((sp, name, [(0, it)]))
    gap = int(round(GAP_SECONDS * rate))
    for (sp, cat), group in sorted(short.items()):
        group.sort(key=lambda it: (_h(seed, "short", it["package"], it["path"]), it["path"]))
        chunks, cur, cur_len = [], [], 0
        for it in group:
            n = it["audio"].size
            if cur and cur_len + gap + n > CHUNK_SECONDS * rate:
                chunks.append(cur)
                cur, cur_len = [], 0
            off = cur_len + (gap if cur else 0)
            cur.append((off, it))
            cur_len = off + n
        if cur:
            chunks.append(cur)
        for j, ch in enumerate(chunks):
            files.append((sp, f"short__{cat}_{j:02d}.wav", ch))

    manifest = []
    for sp, name, parts in sorted(files, key=lambda f: (f[0], f[1])):
        os.makedirs(os.path.join(out_dir, sp), exist_ok=True)
        end = max(off + it["audio"].size for off, it in parts)
        buf = np.zeros(end, dtype=np.float32)
        for off, it in parts:
            buf[off:off + it["audio"].size] = it["audio"]
            a = it["audio"].astype(np.float64)
            manifest.append({
                "split": sp, "file": f"{sp}/{name}", "offset": round(off / rate, 4),
                "seconds": round(a.size / rate, 4), "package": it["package"],
                "source": it["path"], "title": it["title"], "licence": it["licence"],
                "category": it["category"],
                "rms_dbfs": round(float(10 * np.log10(np.mean(a ** 2))), 2),
                "peak_limited": it["peak_limited"]})
        rng = np.random.default_rng([seed, _h("dither", sp, name) & 0xFFFFFFFF])
        write_wav(os.path.join(out_dir, sp, name), buf, rate, rng=rng)

    meta = {"generator": "beenet_train.data.sounds", "seed": seed, "rate": rate,
            "target_dbfs": target_dbfs, "peak_limit": PEAK_LIMIT,
            "music_max_seconds": music_max_seconds,
            "max_files_per_source": max_files_per_source,
            "splits": dict(SPLITS), "files": manifest, "excluded": excluded,
            "dropped": dropped, "missing_packages": missing}
    os.makedirs(out_dir, exist_ok=True)
    with open(man_path, "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    return manifest


def load_manifest(out_dir: str) -> dict:
    with open(os.path.join(out_dir, "manifest.json")) as f:
        return json.load(f)


def format_stats(meta: dict) -> str:
    """Minutes per split and category, per package, and what was left out."""
    files = meta["files"]
    split_names = [s for s, _ in SPLITS]
    cats = [c for c in CATEGORIES if any(r["category"] == c for r in files)]
    tab = collections.defaultdict(float)
    for r in files:
        tab[(r["split"], r["category"])] += r["seconds"] / 60
        tab[(r["split"], "total")] += r["seconds"] / 60
        tab[("all", r["category"])] += r["seconds"] / 60
        tab[("all", "total")] += r["seconds"] / 60
    lines = ["minutes by split and category"]
    cols = cats + ["total"]
    lines.append(f"{'split':6s}" + "".join(f"{c:>10s}" for c in cols))
    for sp in split_names + ["all"]:
        lines.append(f"{sp:6s}" + "".join(f"{tab[(sp, c)]:10.2f}" for c in cols))
    lines.append("")
    lines.append("minutes by package (recordings)")
    lines.append(f"{'package':26s}" + "".join(f"{s:>13s}" for s in split_names + ["all"]))
    pk = collections.defaultdict(float)
    cnt = collections.Counter()
    for r in files:
        for k in (r["split"], "all"):
            pk[(r["package"], k)] += r["seconds"] / 60
            cnt[(r["package"], k)] += 1
    for p in sorted({r["package"] for r in files}):
        lines.append(f"{p:26s}" + "".join(
            f"{pk[(p, s)]:7.2f} ({cnt[(p, s)]:3d})" for s in split_names + ["all"]))
    lines.append("")
    n_files = len({r["file"] for r in files})
    lines.append(f"{len(files)} recordings in {n_files} files; excluded {len(meta['excluded'])} "
                 f"(voice etc.), dropped {len(meta['dropped'])} (silent/too short), "
                 f"missing packages: {', '.join(sorted({m['package'] for m in meta['missing_packages']})) or 'none'}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m beenet_train.data.sounds", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stats", action="store_true", help="print minutes per split/category/package")
    ap.add_argument("--force", action="store_true", help="replace an existing output")
    ap.add_argument("--max-files-per-source", type=int, default=None)
    ap.add_argument("--music-max-seconds", type=float, default=MUSIC_MAX_SECONDS)
    args = ap.parse_args(argv)
    try:
        collect_sounds(args.out, args.seed, max_files_per_source=args.max_files_per_source,
                       music_max_seconds=args.music_max_seconds, force=args.force)
    except (NoSoundsError, FileExistsError) as e:
        print(f"sounds: error: {e}", file=sys.stderr)
        return 2
    meta = load_manifest(args.out)
    if args.stats:
        print(format_stats(meta))
    else:
        n = len(meta["files"])
        print(f"sounds: {n} recordings, {sum(r['seconds'] for r in meta['files']) / 60:.1f} min "
              f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
