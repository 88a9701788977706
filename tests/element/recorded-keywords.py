#!/usr/bin/python3
"""Keywords said by the held-out recorded voice, for the microphone test.

The corpus' "recorded" voices are flite's and festival's (built from human
recordings); the recorded speaker of the test split is slt (flite:slt and
festival:cmu_us_slt_arctic_hts, docs/data.md "Split policy").  CI has no
corpus, so the words are synthesised here with `flite -voice slt` (the
corpus' own command, without its random duration stretch) and laid out
with `sox -R` (no dither, byte-identical on every run).

    recorded-keywords.py synth OUTDIR
        OUTDIR/keywords.wav: the ten keywords, each 0.5 s into a 2 s slot,
        the 20 s sequence twice (40 s, 16 kHz mono S16);
        OUTDIR/keywords.tsv: label, start, end (s) of each word's clip
    recorded-keywords.py measure BEENET_CLASSIFY [OPTION...]
        the 20 s sequence shifted by 0, 0.05, ... 0.45 s (the window grid's
        phase, which a microphone does not fix) through
        `beenet-classify --detections OPTION...`: per phase and in total,
        the words detected at their own time and the wrong detections
    recorded-keywords.py check MIC_LOG OUTDIR MIN_WORDS MAX_WRONG
        the beenet and beenet-detection messages of a `gst-launch-1.0 -m`
        log (the virtual microphone playing OUTDIR/keywords.wav): the
        player's start offset (unknown; modulo the 20 s period) is the one
        that puts most keyword windows and detections at their words' time;
        fails (exit 1) if a detection is not a keyword or not at the time
        of a spoken word, if more than MAX_WRONG detections in one pass of
        the sequence are at a word's time with another word's label (the
        model's own confusions, which `measure` counts), or if fewer than
        MIN_WORDS of the ten words have a window at their time classified
        as the word

A detection at t (its window [t, t + 1 s]) is "at its own time" when the
window overlaps at least half of that word's clip.
"""
import os
import re
import subprocess
import sys
import tempfile

VOICE = "slt"  # flite:slt, the recorded speaker of the test split
WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
SLOT = 2.0     # s per word
LEAD = 0.5     # s of silence before each word in its slot
PERIOD = SLOT * len(WORDS)
WINDOW = 1.0   # the shipped model's window (s)


def run(cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def clip_seconds(path):
    out = subprocess.run(["soxi", "-D", path], check=True,
                         capture_output=True, text=True).stdout
    return float(out)


def synth(outdir, repeats=2):
    """Write keywords.wav (the sequence `repeats` times) and keywords.tsv
    (one period); return the .tsv rows [(label, start, end)]."""
    rows, slots = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i, w in enumerate(WORDS):
            raw = os.path.join(tmp, w + ".wav")
            run(["flite", "-voice", VOICE, "-t", w, "-o", raw])
            start = i * SLOT + LEAD
            rows.append((w, start, start + clip_seconds(raw)))
            slot = os.path.join(tmp, "slot-%d.wav" % i)
            run(["sox", "-R", raw, "-r", "16000", "-c", "1", "-b", "16", slot,
                 "pad", str(LEAD), str(SLOT - LEAD), "trim", "0", str(SLOT)])
            slots.append(slot)
        run(["sox", "-R"] + slots * repeats +
            [os.path.join(outdir, "keywords.wav")])
    with open(os.path.join(outdir, "keywords.tsv"), "w") as f:
        for w, s, e in rows:
            f.write("%s\t%.3f\t%.3f\n" % (w, s, e))
    return rows


def own_time(t, start, end):
    """The window [t, t + 1] overlaps at least half of [start, end]."""
    overlap = min(t + WINDOW, end) - max(t, start)
    return overlap >= 0.5 * (end - start)


def score(detections, rows):
    """(words detected at their own time, wrong detections)."""
    hit, wrong = set(), 0
    for t, k in detections:
        ok = [w for w, s, e in rows if w == k and own_time(t, s, e)]
        if ok:
            hit.add(k)
        else:
            wrong += 1
    return hit, wrong


def classify_rows(classify, args, wav, shift):
    """beenet-classify's rows as (time - shift, label)."""
    out = subprocess.run([classify] + args + [wav], check=True,
                         capture_output=True, text=True).stdout
    return [(float(f[1]) - shift, f[label_col]) for f, label_col in
            ((line.split("\t"), 2 if "--detections" in args else 3)
             for line in out.splitlines()[1:])]


def measure(classify, options):
    phases = [0.05 * i for i in range(10)]
    total_hit = total_wrong = 0
    min_windows = len(WORDS)
    with tempfile.TemporaryDirectory() as tmp:
        rows = synth(tmp, repeats=1)
        for ph in phases:
            wav = os.path.join(tmp, "phase.wav")
            run(["sox", "-R", os.path.join(tmp, "keywords.wav"), wav,
                 "pad", "%.2f" % ph, "0"])
            dets = classify_rows(classify, ["--detections"] + options, wav, ph)
            hit, wrong = score(dets, rows)
            total_hit += len(hit)
            total_wrong += wrong
            windows = window_hits(classify_rows(classify, options, wav, ph),
                                  rows)
            min_windows = min(min_windows, len(windows))
            print("phase %.2f s: %d/10 words detected (%s), %d wrong: %s; "
                  "%d/10 words with a window classified as the word" % (
                      ph, len(hit), " ".join(sorted(hit)), wrong,
                      " ".join("%s@%.2f" % (k, t) for t, k in dets),
                      len(windows)))
    print("total (%s): %d of %d words detected at their own time, "
          "%d wrong detections; at least %d of 10 words with a window "
          "classified as the word in every phase" % (
              " ".join(options) or "defaults", total_hit,
              10 * len(phases), total_wrong, min_windows))


def at_a_word(t, rows):
    """The window at t is at the time of some spoken word, whatever its label."""
    return any(own_time(t, s, e) for w, s, e in rows)


def window_hits(windows, rows):
    """Words with a window at their own time classified as the word."""
    return score(windows, rows)[0]


DETECTION = re.compile(r"beenet-detection, timestamp=\(guint64\)(\d+).*?"
                       r"keyword=\(string\)([A-Za-z_]+)")
WINDOW_MSG = re.compile(r"beenet, timestamp=\(guint64\)(\d+).*?"
                        r"label=\(string\)([A-Za-z_]+)")


def in_sequence(t, c):
    """Capture time t as times of the player's sequence (start offset c):
    t - c modulo the period, and the same a period earlier, so that a window
    that starts before the sequence's end and reaches into its next pass
    (e.g. the first window of a capture that began just before the player)
    is seen at the words it holds."""
    x = (t - c) % PERIOD
    return (x, x - PERIOD)


def fitting(items, rows, c):
    """The (time, label) items at their own time with start offset c."""
    return [(t, k) for t, k in items
            if any(score([(x, k)], rows)[0] for x in in_sequence(t, c))]


def best_offset(windows, dets, rows):
    """The player's start offset (10 ms steps over a period) that puts the
    most keyword windows and detections at their own time; among those,
    the middle one (the fit is a band of offsets)."""
    scored = [(len(fitting(windows, rows, c)) + len(fitting(dets, rows, c)),
               c) for c in (step / 100 for step in range(int(PERIOD * 100)))]
    top = max(n for n, c in scored)
    band = [c for n, c in scored if n == top]
    return band[len(band) // 2]


def check(log, outdir, min_words, max_wrong):
    with open(os.path.join(outdir, "keywords.tsv")) as f:
        rows = [(w, float(s), float(e)) for w, s, e in
                (line.split("\t") for line in f.read().splitlines())]
    with open(log, errors="replace") as f:
        text = f.read()
    dets = [(int(m.group(1)) / 1e9, m.group(2))
            for m in DETECTION.finditer(text)]
    windows = [(int(m.group(1)) / 1e9, m.group(2))
               for m in WINDOW_MSG.finditer(text)]
    keyword_windows = [(t, k) for t, k in windows if k in WORDS]
    print("%d windows, detections: %s" % (len(windows), " ".join(
        "%s@%.2f" % (k, t) for t, k in dets) or "none"))
    failed = 0
    for t, k in dets:
        if k not in WORDS:
            print("FAIL: detected \"%s\" at %.2f s, not spoken" % (k, t))
            failed = 1
    dets = [(t, k) for t, k in dets if k in WORDS]
    c = best_offset(keyword_windows, dets, rows)
    wrong = []
    for t, k in sorted(set(dets) - set(fitting(dets, rows, c))):
        held = [n for n, x in enumerate(in_sequence(t, c)) if at_a_word(x, rows)]
        if held:   # the pass of the word the window holds (the next one after a wrap)
            wrong.append((int((t - c) // PERIOD) + held[0], "%s@%.2f" % (k, t)))
            continue
        print("FAIL: \"%s\" detected at %.2f s, not at the time of a spoken "
              "word (player offset %.2f s)" % (k, t, c))
        failed = 1
    if wrong:
        print("%d detection(s) at a word's time with another word's label: %s"
              " (at most %d in each pass of the %g s sequence)" % (
                  len(wrong), " ".join(w for p, w in wrong), max_wrong, PERIOD))
    passes = [p for p, w in wrong]
    if any(passes.count(p) > max_wrong for p in passes):
        print("FAIL: more than %d wrong labels in one pass" % max_wrong)
        failed = 1
    words = window_hits([(x, k) for t, k in windows for x in in_sequence(t, c)],
                        rows)
    print("player offset %.2f s: %d of 10 words with a window classified as "
          "the word at its time (%s); %d of %d keyword windows at their "
          "word's time; %d detections, %d of them the word said at their "
          "time" % (c, len(words), " ".join(sorted(words)),
                    len(fitting(keyword_windows, rows, c)),
                    len(keyword_windows), len(dets),
                    len(fitting(dets, rows, c))))
    if len(words) < min_words:
        print("FAIL: fewer than %d words recognised" % min_words)
        failed = 1
    return failed


def main(argv):
    if len(argv) >= 3 and argv[1] == "synth":
        synth(argv[2])
        return 0
    if len(argv) >= 3 and argv[1] == "measure":
        measure(argv[2], argv[3:])
        return 0
    if len(argv) == 6 and argv[1] == "check":
        return check(argv[2], argv[3], int(argv[4]), int(argv[5]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
