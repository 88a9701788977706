#!/usr/bin/python3
"""recorded-keywords.py check on hand-made logs (no GStreamer, no audio):
the microphone test's decision rule must still fail where it should.

Words at 2i + 0.5 .. 2i + 0.9 s (the synth layout), a window every 0.25 s,
the four that hold half of a word or more classified as the word, so the
player offset found is within 0.2 s of 0.  Cases:
right detections pass; one detection with another word's label at a word's
time passes with MAX_WRONG 1 and fails with 0, also in a window that starts
at the end of the 20 s sequence and holds the next pass's first word (which
is the pass it counts in); two in one pass fail; one in each of two passes pass; a detection away from every
word fails; a
non-keyword detection fails; too few words recognised fails."""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "recorded-keywords.py")
WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]


def window(t, label):
    return ("Got message #1 from element \"beenet0\" (element): beenet, "
            "timestamp=(guint64)%d, label=(string)%s;" % (round(t * 1e9), label))


def detection(t, keyword):
    return ("Got message #2 from element \"beenet0\" (element): beenet-detection, "
            "timestamp=(guint64)%d, keyword=(string)%s;" % (round(t * 1e9), keyword))


def run(tmp, dets, max_wrong=1, words_recognised=10):
    lines = []
    for p in range(2):  # two passes of the 20 s sequence, a window every 0.25 s
        for i, w in enumerate(WORDS):
            for j in range(8):
                t = 20 * p + 2 * i - 0.25 + 0.25 * j
                word = j < 4  # the windows that hold half of the word or more
                label = w if i < words_recognised else "_unknown_"
                lines.append(window(t, label if word else "_silence_"))
    lines += [detection(t, k) for t, k in dets]
    log = os.path.join(tmp, "mic.log")
    with open(log, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = subprocess.run([sys.executable, SCRIPT, "check", log, tmp, "5", str(max_wrong)],
                       capture_output=True, text=True)
    return r.returncode, r.stdout


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "keywords.tsv"), "w") as f:   # one period, as synth writes it
            for i, w in enumerate(WORDS):
                s = 2 * i + 0.5
                f.write("%s\t%.2f\t%.2f\n" % (w, s, s + 0.4))
        cases = [
            ("right detections", [(2.25, "no"), (8.5, "left")], 1, 10, 0),
            ("one wrong label at a word's time", [(2.25, "no"), (18.5, "no")], 1, 10, 0),
            ("one wrong label, none allowed", [(18.5, "no")], 0, 10, 1),
            ("two wrong labels in one pass", [(14.5, "on"), (18.5, "no")], 1, 10, 1),
            ("one wrong label in each pass", [(18.5, "no"), (38.5, "no")], 1, 10, 0),
            ("detection away from every word", [(3.0, "no")], 1, 10, 1),
            # the window at 19.75 s (player offset about -0.1 s) reaches into
            # the next pass and holds its "yes"
            ("wrong label in a window across the sequence's end", [(19.75, "no")], 1, 10, 0),
            ("the same, none allowed", [(19.75, "no")], 0, 10, 1),
            # ... and it counts in the pass of the word it holds, with 38.5 s's
            ("two wrong labels in the pass that window reaches", [(19.75, "no"), (38.5, "no")], 1, 10, 1),
            ("non-keyword detection", [(2.25, "_unknown_")], 1, 10, 1),
            ("too few words recognised", [], 1, 4, 1),
        ]
        for name, dets, max_wrong, recognised, want in cases:
            rc, out = run(tmp, dets, max_wrong, recognised)
            ok = rc == want
            print("%s: %s (exit %d, expected %d)" % ("ok" if ok else "FAIL", name, rc, want))
            if not ok:
                print(out)
                failures += 1
    print("%d passed, %d failed" % (len(cases) - failures, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
