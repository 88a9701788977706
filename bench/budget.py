"""Measure the budget controller and the energy gate on long streams.

  python3 bench/budget.py [--classify build/tools/beenet-classify]
      [--labels STREAM.tsv] STREAM.wav

Runs beenet-classify (the engine's BeenetBudget and energy gate, the same
code as the element) on a 16 kHz WAV stream and prints the tables of
docs/policies.md:

 1. budgets 0.4 / 0.5 / 0.6 / 0.8 held for the whole stream: mean cost
    (ops-fraction) over the stream, over the stream after its first minute,
    and the largest deviation of a one-minute mean from the budget;
 2. budget steps 1.0 -> 0.4 (at 1/3 of the stream) -> 0.6 (at 2/3): the
    mean cost of each 10 s block after each step, and the settling time
    (start of the first 30 s span, in 10 s steps, whose mean cost is within
    +-5 % of the budget);
 3. energy gates: mean cost and share of gated windows;
 4. with --labels (a TSV with columns label, start, end: e.g. the kws12-v2
    eval stream's keywords.tsv), the window accuracy of a fixed threshold
    and of a budget of the same mean cost: windows that wholly contain a
    labelled keyword must report it, windows that overlap no keyword must
    not report a keyword;
 5. with --labels, --only policies: entropy, class exclusion and EENet
    each under the budget controller at budgets 0.4 / 0.5 / 0.6 on the
    same stream (--model: a file with class-exclusion factors and an EENet
    scheduler, docs/policies.md), the same window accuracy.

No figure depends on the machine's speed (costs are operation counts).
"""
from __future__ import annotations

import argparse
import array
import os
import random
import re
import subprocess
import sys
import tempfile
import wave

RATE = 16000


GAIN = []  # --gain: ["--budget-gain", G] for every run
MODEL = []  # --model: ["--model", FILE] for every run
INTERVAL = []  # --interval: ["--interval", MS] for every run (element: interval=NS)
ELEMENT = []  # --element: [GST_PLUGIN_PATH]: run the element instead of the tool

MESSAGE = re.compile(r"beenet, .*?running-time=\(guint64\)(\d+).*?label=\(string\)([^,]+),"
                     r".*?exit=\(uint\)(\d+).*?ops-fraction=\(double\)([-0-9.e]+)")


def classify_element(wav, *opts):
    """The same rows from the beenet element's messages (gst-launch-1.0 -m);
    opts: --budget B, --energy-gate=G (as the tool's) become properties."""
    props, it = [], iter(opts)
    for o in it:
        if o == "--budget":
            props.append("budget=" + next(it))
        elif o.startswith("--energy-gate="):
            props.append("energy-gate=" + o.split("=", 1)[1])
        else:
            raise ValueError("--element does not support " + o)
    if INTERVAL:
        props.append("interval=%d" % round(float(INTERVAL[1]) * 1e6))
    cmd = ["gst-launch-1.0", "-m", "filesrc", "location=" + wav, "!", "wavparse", "!", "audioconvert", "!",
           "beenet", *props, "!", "fakesink"]
    env = dict(os.environ, GST_PLUGIN_PATH=ELEMENT[0])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return [(int(m.group(1)) / 1e9, m.group(2), int(m.group(3)), float(m.group(4)))
            for m in MESSAGE.finditer(out)]


def classify(tool, wav, *opts):
    """Per-window rows (start s, label, exit, ops-fraction) of beenet-classify."""
    if ELEMENT:
        return classify_element(wav, *opts)
    out = subprocess.run([tool, *MODEL, *GAIN, *INTERVAL, *opts, wav], check=True, capture_output=True,
                         text=True).stdout
    rows = []
    for line in out.splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        rows.append((float(f[1]), f[3], int(f[6].split("/")[0]), float(f[7])))
    return rows


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def blocks(rows, t0, t1, width):
    """Mean cost of consecutive blocks [t, t + width) of windows in [t0, t1)."""
    out, t = [], t0
    while t + width <= t1 + 1e-9:
        out.append(mean([c for s, _, _, c in rows if t <= s < t + width]))
        t += width
    return out


def held_budgets(tool, wav, duration):
    print("## Budget held for the whole stream\n")
    print("| budget | mean cost | mean cost after the first minute | largest deviation of a 1-min mean (after the first) |")
    print("| --- | --- | --- | --- |")
    for b in (0.4, 0.5, 0.6, 0.8):
        rows = classify(tool, wav, "--budget", str(b))
        minutes = blocks(rows, 0.0, duration, 60.0)
        worst = max(minutes[1:], key=lambda m: abs(m - b))
        print("| %.1f | %.4f | %.4f | %+.1f %% |" % (
            b, mean([r[3] for r in rows]), mean([r[3] for r in rows if r[0] >= 60.0]),
            100 * (worst - b) / b))
    print()


def settling(block_means, budget, tol=0.05, span=3):
    """Start (in blocks) of the first run of `span` blocks whose mean is
    within tol of the budget."""
    for i in range(len(block_means) - span + 1):
        if abs(mean(block_means[i:i + span]) - budget) <= tol * budget:
            return i
    return None


def steps(tool, wav, duration):
    t1, t2 = round(duration / 3), round(2 * duration / 3)
    rows = classify(tool, wav, "--budget-at", "%d:0.4" % t1, "--budget-at", "%d:0.6" % t2)
    print("## Budget steps 1.0 -> 0.4 (at %d s) -> 0.6 (at %d s)\n" % (t1, t2))
    print("| step | 10 s blocks after the step (mean cost) | mean cost of the step after 60 s | first 30 s within 5 % starts |")
    print("| --- | --- | --- | --- |")
    for b, s0, s1 in ((1.0, 0, t1), (0.4, t1, t2), (0.6, t2, duration)):
        bm = blocks(rows, s0, s1, 10.0)
        rest = mean([c for s, _, _, c in rows if s0 + 60 <= s < s1])
        st = settling(bm, b) if b < 1.0 else None
        print("| %.1f at %d s | %s | %.4f | %s |" % (
            b, s0, " ".join("%.3f" % m for m in bm[:6]), rest,
            "-" if b >= 1.0 else ("%d s" % (10 * st) if st is not None else "not settled")))
    print()


def gates(tool, wav, labels=None):
    lab = load_labels(labels) if labels else None
    print("## Energy gate\n")
    print("| energy gate (dBFS) | mean cost | gated windows |%s" % (
        " keyword windows right | background windows reporting a keyword |" if lab else ""))
    print("| --- | --- | --- |%s" % (" --- | --- |" if lab else ""))
    for g in ("off", "-50", "-45", "-40", "-35", "-30"):
        rows = classify(tool, wav, *([] if g == "off" else ["--energy-gate=" + g]))
        gated = sum(1 for r in rows if r[2] == 0)
        line = "| %s | %.4f | %.1f %% (%d of %d) |" % (g, mean([r[3] for r in rows]),
                                                     100.0 * gated / len(rows), gated, len(rows))
        if lab:
            ok, n, bad, bn = accuracy(rows, lab)
            line += " %.2f %% (%d/%d) | %.2f %% (%d/%d) |" % (100.0 * ok / n, ok, n,
                                                            100.0 * bad / bn, bad, bn)
        print(line)
    print()


def load_labels(path):
    out = []
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        il, is_, ie = header.index("label"), header.index("start"), header.index("end")
        for line in f:
            x = line.rstrip("\n").split("\t")
            out.append((x[il], float(x[is_]), float(x[ie])))
    return out


def accuracy(rows, labels):
    """(keyword windows right, their number, background windows wrongly
    reporting a keyword, their number)."""
    kw_ok = kw_n = bg_bad = bg_n = 0
    for s, label, _, _ in rows:
        inside = [k for k, a, e in labels if a >= s and e <= s + 1.0]
        overlap = any(a < s + 1.0 and e > s for _, a, e in labels)
        if inside:
            kw_n += 1
            kw_ok += label == inside[0]
        elif not overlap:
            bg_n += 1
            bg_bad += not label.startswith("_")
    return kw_ok, kw_n, bg_bad, bg_n


def accuracy_table(tool, wav, labels):
    lab = load_labels(labels)
    print("## Accuracy at equal cost (fixed threshold vs budget)\n")
    print("| setting | mean cost | keyword windows right | background windows reporting a keyword |")
    print("| --- | --- | --- | --- |")
    for t in ("0.25", "0.75", "1.5"):
        rows = classify(tool, wav, "--threshold", t)
        cost = mean([r[3] for r in rows])
        for name, r in (("threshold " + t, rows),
                        ("budget %.4f" % cost, classify(tool, wav, "--budget", "%.4f" % cost))):
            ok, n, bad, bn = accuracy(r, lab)
            print("| %s | %.4f | %.2f %% (%d/%d) | %.2f %% (%d/%d) |" % (
                name, mean([x[3] for x in r]), 100.0 * ok / n, ok, n, 100.0 * bad / bn, bad, bn))
    print()


POLICIES = ("entropy", "class-exclusion", "eenet")


def policies_table(tool, wav, labels, budgets=(0.4, 0.5, 0.6)):
    """Every policy under the budget controller on the same stream."""
    lab = load_labels(labels)
    print("## Policies under the budget controller\n")
    print("| budget | policy | mean cost | keyword windows right | background windows reporting a keyword |")
    print("| --- | --- | --- | --- | --- |")
    for b in budgets:
        for pol in POLICIES:
            try:
                # class exclusion starts from margin scale 1 (the factors as searched), the
                # controller moves it; the others start from the model's recommendation
                start = ["--threshold", "1"] if pol == "class-exclusion" else []
                r = classify(tool, wav, "--policy", pol, *start, "--budget", "%g" % b)
            except subprocess.CalledProcessError as e:   # e.g. a model without that policy's parameters
                print("| %g | %s | refused: %s | | |" % (b, pol, " ".join((e.stderr or "").split()[-30:])))
                continue
            ok, n, bad, bn = accuracy(r, lab)
            print("| %g | %s | %.4f | %.2f %% (%d/%d) | %.2f %% (%d/%d) |" % (
                b, pol, mean([x[3] for x in r]), 100.0 * ok / n, ok, n, 100.0 * bad / bn, bad, bn))
    print()


def with_pauses(wav, out, pause_s, noise_db, every_s=10.0):
    """Copy of a 16-bit mono WAV with pause_s seconds of white noise at
    noise_db dBFS rms (fixed seed) after every every_s seconds of it."""
    with wave.open(wav) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1 and w.getframerate() == RATE
        x = array.array("h", w.readframes(w.getnframes()))
    rng = random.Random(1234)
    amp = 32768.0 * 10 ** (noise_db / 20.0) * 3 ** 0.5  # uniform noise: rms = amp / sqrt(3)
    y = array.array("h")
    step, n_pause = int(every_s * RATE), int(pause_s * RATE)
    for i in range(0, len(x), step):
        y.extend(x[i:i + step])
        y.extend(int(round(rng.uniform(-amp, amp))) for _ in range(n_pause))
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(y.tobytes())


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("wav")
    p.add_argument("--classify", default="build/tools/beenet-classify")
    p.add_argument("--labels", help="TSV with label, start, end columns (keyword windows)")
    p.add_argument("--only", choices=("held", "steps", "gates", "accuracy", "policies"))
    p.add_argument("--model", help="model file for every run (default: the tool's built-in model)")
    p.add_argument("--element", metavar="PLUGIN_DIR", nargs="?", const="build/gst",
                   help="run the beenet element (gst-launch-1.0, plugin from PLUGIN_DIR, default build/gst) "
                   "instead of beenet-classify; budgets held and gates only")
    p.add_argument("--interval", type=float, metavar="MS",
                   help="window interval in ms for every run (default: the model's own, as the tool's "
                   "and the element's)")
    p.add_argument("--gain", type=float, help="budget controller gain (default: the engine's, 1)")
    p.add_argument("--pauses", type=float, metavar="S",
                   help="insert S s of -60 dBFS white noise after every 10 s of the stream first "
                   "(16-bit mono WAV; a stream with pauses for the energy gate)")
    a = p.parse_args(argv)
    if a.interval:
        INTERVAL[:] = ["--interval", "%g" % a.interval]
    if a.model:
        MODEL[:] = ["--model", a.model]
    if a.gain:
        GAIN[:] = ["--budget-gain", str(a.gain)]
    if a.element:
        if a.gain or a.labels or a.model or a.only in ("steps", "accuracy", "policies"):
            p.error("--element runs the held budgets and the gates only")
        ELEMENT[:] = [os.path.abspath(a.element)]
        a.only = a.only or "element"
    if a.pauses:
        fd, tmp = tempfile.mkstemp(suffix=".wav")
        os.close(fd)
        try:
            with_pauses(a.wav, tmp, a.pauses, -60.0)
            print("Stream with pauses: %s + %.0f s of -60 dBFS noise after every 10 s\n" % (
                a.wav, a.pauses))
            a.wav, a.pauses = tmp, None
            return main_on(a)
        finally:
            os.unlink(tmp)
    return main_on(a)


def main_on(a):
    rows = classify(a.classify, a.wav)
    step = rows[1][0] - rows[0][0] if len(rows) > 1 else 0.0   # the interval in force
    duration = rows[-1][0] + step if rows else 0.0
    print("Stream: %s, %.0f s, %d windows at %.0f ms; budget off: mean cost %.4f\n" % (
        a.wav, duration, len(rows), 1000 * step, mean([r[3] for r in rows])))
    if a.only in (None, "held", "element"):
        held_budgets(a.classify, a.wav, duration)
    if a.only in (None, "steps"):
        steps(a.classify, a.wav, duration)
    if a.only in (None, "gates", "element"):
        gates(a.classify, a.wav, a.labels)
    if a.labels and a.only in (None, "accuracy"):
        accuracy_table(a.classify, a.wav, a.labels)
    if a.only == "policies":
        if not a.labels:
            raise SystemExit("--only policies needs --labels")
        policies_table(a.classify, a.wav, a.labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
