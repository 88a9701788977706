"""Run every benchmark interleaved and write docs/performance.md.

Normally started by bench/run.sh, which installs the tools, builds the
project and bench-onnx first:

  /usr/bin/python3 bench/report.py --build build --cache DIR --bench-onnx PATH \\
      [--out docs/performance.md] [--reps N] [--command 'bench/run.sh']

Every figure in the output file comes from this run.  Interleaving: each
repetition runs every competitor once, in turn (A B C A B C ...), so a
change of machine speed during the run hits all of them alike; the figures
are medians over the repetitions and ratios are taken repetition by
repetition before the median.  Single-thread runs are pinned to one CPU
with taskset.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KEYWORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"]
KWS_THRESHOLD = "1e-20"
ADDENDUM_MARK = "<!-- addendum: not from the run above -->"


def element_default_threshold() -> str:
    """The element's early-exit threshold default, as written in its header."""
    with open(os.path.join(ROOT, "elements", "gstbeenet.h")) as f:
        m = re.search(r"#define GST_BEENET_DEFAULT_THRESHOLD\s+([0-9.]+)", f.read())
    return m.group(1) if m else "?"


def model_interval_ms(build: str, model: str) -> str:
    """The window interval the element takes from the model
    (beenet.detection.interval_ms), as `beenet-classify --describe` prints it."""
    try:
        out = subprocess.run([os.path.join(build, "tools", "beenet-classify"), "--describe",
                              "--model", model], capture_output=True, text=True, timeout=60).stdout
    except OSError:
        return "?"
    m = re.search(r"a window every ([0-9.]+) ms", out)
    return m.group(1) if m else "?"


def log(msg):
    print("report: " + msg, file=sys.stderr, flush=True)


def run(cmd, env=None, timeout=600):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(map(shlex.quote, cmd)), r.returncode,
                                                      r.stdout[-3000:], r.stderr[-3000:]))
    return r.stdout


def grab(pattern, text, what):
    m = re.search(pattern, text, re.M)
    if not m:
        raise RuntimeError("could not find %s in:\n%s" % (what, text))
    return m


def med(v):
    return statistics.median(v)


def spread(v):
    return "%.4g–%.4g" % (min(v), max(v))


def annotate(path):
    """{function: Ir} from callgrind_annotate (every function, no threshold)."""
    out = run(["callgrind_annotate", "--auto=no", "--threshold=100", path])
    funcs = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)(?:\s+\[.*\])?\s*$", line)
        if m and "PROGRAM TOTALS" not in m.group(2):
            name = m.group(2)
            # file:function -> function (file path without the build prefix)
            name = re.sub(r"^(?:\S*?/)?build[^/]*/\.\./|^\./", "", name)
            funcs[name] = funcs.get(name, 0) + int(m.group(1).replace(",", ""))
    # Intrinsics inlined from the compiler's headers (avx2intrin.h:bdot_avx2)
    # count for the function they were inlined into.
    for name in [k for k in funcs if re.match(r"^/usr/lib/gcc/.*/include/[^/:]+:", k)]:
        fn = name.split(":", 1)[1]
        owner = [k for k in funcs if k.endswith(":" + fn) and not k.startswith("/usr/lib/gcc/")]
        if len(owner) == 1:
            funcs[owner[0]] += funcs.pop(name)
    return funcs


# ---------------------------------------------------------------------------
# parsers

# Each returns (wall ms, CPU ms) per window.
def engine_net_ms(out):
    m = grab(r"network, all exits \(features given\): [\d.]+ windows/s \(([\d.]+) ms/window, ([\d.]+) ms CPU",
             out, "network time")
    return float(m.group(1)), float(m.group(2))


def engine_fe_ms(out):
    m = grab(r"front-end only: [\d.]+ windows/s \(([\d.]+) ms/window, ([\d.]+) ms CPU", out, "front-end time")
    return float(m.group(1)), float(m.group(2))


def engine_th_ms(out, th="0"):
    m = grab(r"^\s+%s\s+[\d.]+\s+([\d.]+)\s+([\d.]+)\s" % re.escape(th), out, "threshold %s row" % th)
    return float(m.group(1)), float(m.group(2))


def onnx_ms(out):
    m = grab(r"\(([\d.]+) ms/window, ([\d.]+) ms CPU/window\)", out, "onnx time")
    return float(m.group(1)), float(m.group(2))


# ---------------------------------------------------------------------------

class Bench:
    def __init__(self, a):
        self.a = a
        self.engine = os.path.join(a.build, "bench", "bench-engine")
        self.onnx = a.bench_onnx
        self.cache = a.cache
        self.work = os.path.join(a.cache, "run")
        os.makedirs(self.work, exist_ok=True)
        ncpu = os.cpu_count() or 1
        self.pin = ["taskset", "-c", str(ncpu - 1)] if shutil.which("taskset") else []
        self.pin_all = ["taskset", "-c", "0-%d" % (ncpu - 1)] if self.pin else []
        self.notes = []
        self.res = {}
        self.load_start = open("/proc/loadavg").read().split()[:3]

    def p(self, name):
        return os.path.join(self.work, name)

    # -- inputs --------------------------------------------------------------
    def prepare(self):
        a = self.a
        log("float twin, per-exit models")
        self.twin_dir = self.p("models")
        run([sys.executable, os.path.join(HERE, "twin.py"), "--checkpoint", a.checkpoint, "--out", self.twin_dir])
        with open(os.path.join(self.twin_dir, "twin.json")) as f:
            self.twin = json.load(f)
        self.E = self.twin["num_exits"]
        log("speech recording")
        self.wav = self.p("speech.wav")
        run([sys.executable, os.path.join(HERE, "speech.py"), self.wav, "--seconds", str(a.seconds)])
        self.s16 = self.p("speech.s16")
        run(["sox", "-R", self.wav, "-t", "raw", "-e", "signed", "-b", "16", self.s16])
        self.wav_md5 = run(["md5sum", self.wav]).split()[0]
        # Features and the engine's logits of real speech windows, shared by both runtimes.
        self.feat = self.p("features.f32")
        self.logits = self.p("logits.f32")
        out = run(self.pin + [self.engine, a.model, "-a", self.s16, "--inputs", "64", "--sections", "stream",
                              "-n", "1", "--dump-features", self.feat, "--dump-logits", self.logits])
        self.engine_head = out
        m = grab(r"memory: model (\d+) bytes, session (\d+) bytes", out, "memory line")
        self.res["heap_model"], self.res["heap_session"] = int(m.group(1)), int(m.group(2))
        self.res["heap_detector"] = int(grab(r"detector (\d+) bytes", out, "detector bytes").group(1))
        km = grab(r"kernels: (\S+), (?:fft: (\S+), )?engine (\S+)", out, "kernels")
        self.res["kernels"] = km.group(1, 3)
        self.res["fft"] = km.group(2) or "gst"
        self.res["exit_ops"] = [(int(x[0]), float(x[1])) for x in
                                re.findall(r"exit (\d+) at node \d+: .* \(([\d.]+)% of total\)", out)]
        chk = run([self.onnx, os.path.join(self.twin_dir, "sign-twin-full.onnx"), self.feat, "-n", "1",
                   "--expect", self.logits])
        self.res["onnx_check"] = grab(r"check: (.*)", chk, "onnx check").group(1)
        self.res["ort_version"] = grab(r"onnxruntime (\S+),", chk, "ort version").group(1)

    # -- 1+2: ORT float twin vs engine, full depth ---------------------------
    def ort_vs_engine(self):
        a = self.a
        full = os.path.join(self.twin_dir, "twin-full.onnx")
        signed = os.path.join(self.twin_dir, "sign-twin-full.onnx")
        n = str(a.windows)
        o1, o2, os1, b = [], [], [], []
        for r in range(a.reps):
            log("ORT vs beenet, repetition %d/%d" % (r + 1, a.reps))
            o1.append(onnx_ms(run(self.pin + [self.onnx, full, self.feat, "-n", n, "-j", "1"])))
            b.append(engine_net_ms(run(self.pin + [self.engine, a.model, "-a", self.s16, "--sections", "net",
                                                   "-n", n])))
            os1.append(onnx_ms(run(self.pin + [self.onnx, signed, self.feat, "-n", n, "-j", "1"])))
            o2.append(onnx_ms(run(self.pin_all + [self.onnx, full, self.feat, "-n", n, "-j", "2"])))
        # (wall, cpu) lists
        self.res["ort1"], self.res["ort2"], self.res["beenet_full"] = o1, o2, b
        self.res["ort1_sign"] = os1

    # -- per-exit latency (Table 1 analog) -----------------------------------
    def per_exit(self):
        a = self.a
        n = str(a.windows)
        rows = {k: {"fe_net": [], "net": [], "ort": [], "fe": []} for k in range(1, self.E + 1)}
        # CPU ms per window (single-threaded, pinned)
        for r in range(a.exit_reps):
            log("per-exit latency, repetition %d/%d" % (r + 1, a.exit_reps))
            for k in range(1, self.E + 1):
                gguf = os.path.join(self.twin_dir, "exit%d.gguf" % k)
                onnx = os.path.join(self.twin_dir, "twin-full.onnx" if k == self.E else "twin-exit%d.onnx" % k)
                out = run(self.pin + [self.engine, gguf, "-a", self.s16, "--sections", "fe,net,th", "-t", "0",
                                      "-n", n])
                rows[k]["fe"].append(engine_fe_ms(out)[1])
                rows[k]["net"].append(engine_net_ms(out)[1])
                rows[k]["fe_net"].append(engine_th_ms(out, "0")[1])
                rows[k]["ort"].append(onnx_ms(run(self.pin + [self.onnx, onnx, self.feat, "-n", n, "-j", "1"]))[1])
        self.res["per_exit"] = rows

    # -- 4: streaming windows/s ----------------------------------------------
    def stream(self):
        a = self.a
        nwin = int(a.seconds * 2) - 1   # windows every 500 ms in the recording
        w, c = [], []
        for r in range(a.reps):
            out = run(self.pin + [self.engine, a.model, "-a", self.s16, "--sections", "stream", "-n", str(nwin)])
            m = grab(r"stream: ([\d.]+) windows/s wall, ([\d.]+) windows per CPU second \(([\d.]+) ms CPU/window\), "
                     r"mean ops ([\d.]+), (\d+) detections, exits (\S+)", out, "stream line")
            w.append(float(m.group(1))), c.append(float(m.group(2)))
            fr = grab(r"BeenetStream (\d+) bytes, ([\d.]+) frames computed \+ ([\d.]+) reused", out, "stream frames")
            self.res["stream_detail"] = {"mean_ops": float(m.group(4)), "detections": int(m.group(5)),
                                         "exits": m.group(6), "windows": nwin,
                                         "threshold": grab(r"threshold (\S+) \(the model's\)", out, "th").group(1),
                                         "stream_bytes": int(fr.group(1)), "frames_computed": float(fr.group(2)),
                                         "frames_reused": float(fr.group(3))}
        self.res["stream_wall"], self.res["stream_cpu"] = w, c

    # -- 3: element vs pocketsphinx ------------------------------------------
    def elements(self):
        a = self.a
        env = dict(os.environ)
        env["GST_PLUGIN_PATH"] = os.path.abspath(os.path.join(a.build, "gst"))
        env["GST_REGISTRY"] = self.p("gst-registry.bin")
        kws = self.p("keyphrases.txt")
        with open(kws, "w") as f:
            f.write("".join("%s /%s/\n" % (k, KWS_THRESHOLD) for k in KEYWORDS))
        have_ps = subprocess.run(["gst-inspect-1.0", "pocketsphinx"], capture_output=True, env=env).returncode == 0
        self.res["have_pocketsphinx"] = have_ps
        if not have_ps:
            self.notes.append("The pocketsphinx GStreamer element was not found (Debian package "
                              "gstreamer1.0-pocketsphinx): its rows are missing.")
        head = ["gst-launch-1.0", "-q", "filesrc", "location=" + self.wav, "!", "decodebin", "!", "audioconvert",
                "!", "audioresample", "!"]
        pipes = {"identity": ["identity"], "beenet": ["beenet"]}
        if have_ps:
            pipes["pocketsphinx"] = ["pocketsphinx", "kws=" + kws]
        self.pipelines = {k: " ".join(head + v + ["!", "fakesink"]) for k, v in pipes.items()}
        tfile = self.p("time.txt")
        meas = {k: {"cpu": [], "rss": [], "wall": []} for k in pipes}

        def once(name):
            run(self.pin + ["/usr/bin/time", "-f", "%U %S %M %e", "-o", tfile] + head + pipes[name]
                + ["!", "fakesink"], env=env, timeout=1800)
            u, s, m, e = open(tfile).read().split()[-4:]
            return float(u) + float(s), int(m), float(e)

        # Warm-up (plugin registry, page cache); pocketsphinx is long enough without one.
        once("identity")
        once("beenet")
        for r in range(a.element_reps):
            for name in pipes:
                log("element %s, repetition %d/%d" % (name, r + 1, a.element_reps))
                cpu, rss, wall = once(name)
                meas[name]["cpu"].append(cpu), meas[name]["rss"].append(rss), meas[name]["wall"].append(wall)
        self.res["elements"] = meas

    # -- 5: kernel efficiency against the popcount peak ---------------------------
    def kernels(self):
        """bench-kernels a.reps times (each run alternates every binary layer
        with its set's peak loop): % of the peak per binary layer and set."""
        exe = os.path.join(self.a.build, "bench", "bench-kernels")
        self.kernels_cmd = self.pin + [exe, os.path.relpath(self.a.model, ROOT), "-s", "0.3"]
        runs = []
        for r in range(self.a.reps):
            log("bench-kernels, repetition %d/%d" % (r + 1, self.a.reps))
            out = run(self.pin + [exe, self.a.model, "-s", "0.3"])
            peaks = re.findall(r"^  (\S+)\s+([\d.]+) Gbit-MAC/s$", out, re.M)
            skipped = re.findall(r"^  (\S+)\s+SKIPPED \((.*)\)$", out, re.M)
            layers = {}
            for line in out.splitlines():
                if not line.startswith(("bconv2d", "bdense")):
                    continue
                cells = re.findall(r"([\d.]+) us\s+([\d.]+) Gb/s\s+([\d.]+)%", line)
                name = " ".join(line[:line.index(re.search(r"[\d.]+ us", line).group(0))].split())
                layers[name] = {peaks[i][0]: (float(c[0]), float(c[1]), float(c[2])) for i, c in enumerate(cells)}
            runs.append({"peaks": {k: float(v) for k, v in peaks}, "skipped": skipped, "layers": layers})
        self.res["kernel_runs"] = runs

    # -- callgrind ------------------------------------------------------------
    def callgrind(self):
        if not shutil.which("valgrind"):
            self.notes.append("valgrind not found: no instruction counts.")
            return
        out = {}
        for sec in ("net", "fe", "stream"):
            ir = []
            for n in (20, 40):
                cg = self.p("callgrind.%s.%d" % (sec, n))
                extra = ["-a", self.s16] if sec == "stream" else []
                # The stream section at a fixed model and input: windows 0..n-1 of the recording.
                r = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg, self.engine,
                                    self.a.model, "--sections", sec, "-n", str(n)] + extra,
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise RuntimeError(r.stderr[-2000:])
                ir.append(int(grab(r"Collected : (\d+)", r.stderr, "callgrind total").group(1)))
                # valgrind does not emulate AVX-512: the set it runs is not the native one.
                km = re.search(r"kernels: ([^,\s]+),", r.stdout)
                if km:
                    self.res["callgrind_kernels"] = km.group(1)
            out[sec] = (ir[1] - ir[0]) / 20.0
            if sec in ("net", "stream") and shutil.which("callgrind_annotate"):
                f20 = annotate(self.p("callgrind.%s.20" % sec))
                f40 = annotate(self.p("callgrind.%s.40" % sec))
                per = {k: (v - f20.get(k, 0)) / 20.0 for k, v in f40.items()}
                self.res["callgrind_%s_funcs" % sec] = sorted(((v, k) for k, v in per.items() if v > 0),
                                                              reverse=True)
        self.res["callgrind"] = out

    # -- machine ----------------------------------------------------------------
    def machine(self):
        cpu = "unknown"
        flags = set()
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name") and cpu == "unknown":
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
        except OSError:
            pass
        want = ["sse4_2", "popcnt", "avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "avx512bw", "avx512vl",
                "avx512_vpopcntdq", "avx512_vnni", "avx_vnni"]
        mem = 0
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
        def ver(cmd):
            try:
                return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
            except (OSError, IndexError):
                return "?"
        def deb(pkg):
            return ver(["dpkg-query", "-W", "-f", "${Version}", pkg]) or "not installed"
        self.res["machine"] = {
            "cpu": cpu, "cpus": os.cpu_count(), "mem_mib": mem,
            "flags": " ".join(f for f in want if f in flags),
            "kernel": platform.release(), "cc": ver(["cc", "--version"]),
            "gst": ver(["gst-launch-1.0", "--version"]).replace("gst-launch-1.0 version ", ""),
            "pocketsphinx": deb("gstreamer1.0-pocketsphinx"), "torch": self.twin.get("torch"),
            "valgrind": ver(["valgrind", "--version"]),
            "load": open("/proc/loadavg").read().split()[:3],
            "commit": ver(["git", "-C", ROOT, "describe", "--always", "--dirty"]),
        }

    # -- output ---------------------------------------------------------------
    def write_kernels(self, w):
        runs = self.res.get("kernel_runs")
        if not runs:
            return
        sets = [k for k in runs[0]["peaks"]]
        w("## Binary kernels against the popcount peak")
        w("")
        w("`%s`, %d runs: per kernel set, a register-blocked loop of exactly that set's XNOR/popcount "
          "instruction sequence on registers gives the peak (bit-MACs per second, 1 bit-MAC = one "
          "XNOR/popcount bit), and every binary layer shape of the model is timed through the real driver "
          "and micro-kernels on random data, alternating with the peak loop in 10 short runs (thread CPU "
          "time, best of each), so each %% of peak compares runs made under the same load. Bit-MACs are the "
          "in-bounds taps' (padded taps are skipped, not computed). `avx512-px` and `avx512-1px` are the "
          "avx512 set without its tile-plan micro-kernel (`bconv_tiles`) and without `bdot_px` too, the "
          "kernels it replaced ([bench/README.md](../bench/README.md))."
          % (" ".join(self.kernels_cmd), len(runs)))
        w("")
        w("| set | peak Gbit-MAC/s (median, range) |")
        w("|---|---|")
        for k in sets:
            v = [r["peaks"][k] for r in runs]
            w("| `%s` | %.1f (%s) |" % (k, med(v), spread(v)))
        for k, why in runs[0]["skipped"]:
            w("| `%s` | skipped: %s |" % (k, why))
        w("")
        w("Each cell: median µs per call, then median % of the set's peak (range over the runs).")
        w("")
        w("| layer (`%s`) | %s |" % (os.path.relpath(self.a.model, ROOT), " | ".join("`%s`" % k for k in sets)))
        w("|---|%s" % ("---|" * len(sets)))
        for name in runs[0]["layers"]:
            cells = []
            for k in sets:
                v = [r["layers"][name][k] for r in runs if k in r["layers"].get(name, {})]
                cells.append("%.2f µs, **%.1f %%** (%s)" % (med([x[0] for x in v]), med([x[2] for x in v]),
                                                            spread([x[2] for x in v])) if v else "—")
            w("| `%s` | %s |" % (name, " | ".join(cells)))
        w("")
        conv = [n for n in runs[0]["layers"] if n.startswith("bconv2d")]
        for k, target in (("avx512", 70.0), ("avx2", 60.0)):
            if k not in sets or not conv:
                continue
            got = {n: med([r["layers"][n][k][2] for r in runs]) for n in conv}
            worst = min(got, key=got.get)
            w("**Target (issue 8): binary convolution ≥ %.0f %% of the `%s` peak.** Measured (medians): %s; %s."
              % (target, k, ", ".join("`%s` %.1f %%" % (n, v) for n, v in got.items()),
                 "met on every binary conv" if got[worst] >= target else
                 "missed on `%s` by a factor %.2f" % (worst, target / got[worst])))
            w("")
        w("The `bdense` exits (12 outputs: one block of 16 lanes a call, times above) are too small to fill the "
          "vector units (one block, no pixels to share the weights), and are under 1 % of the network's bit-MACs.")
        w("")

    def write(self, path, started, elapsed):
        R = self.res
        a = self.a
        M = R["machine"]
        L = []
        w = L.append
        w("# Performance")
        w("")
        w("Generated by `%s` on %s (%.1f minutes, commit `%s`). **Every figure on this page comes from that one "
          "run (except the addendum at the end, which names its own commands); do not edit it by hand, re-run "
          "the command.** How the benchmarks work and how to read them: "
          "[bench/README.md](../bench/README.md)." % (a.command, started, elapsed / 60.0, M["commit"]))
        w("")
        w("Wall-clock figures are from a shared, noisy machine: they are medians over interleaved repetitions "
          "(each repetition runs every competitor once, in turn), with the range (min–max) beside them; ratios are "
          "taken repetition by repetition, then the median. Single-threaded runs are pinned to one CPU (`%s`). "
          "The callgrind instruction counts at the end are the stable figure to compare builds with."
          % " ".join(self.pin))
        w("")
        w("## Machine")
        w("")
        w("| | |")
        w("|---|---|")
        w("| CPU | %s, %d logical CPUs, %d MiB |" % (M["cpu"], M["cpus"], M["mem_mib"]))
        w("| relevant CPU flags | %s |" % (M["flags"] or "none of the listed"))
        w("| beenet kernels | `%s` (engine %s), front-end FFT `%s` |" % (R["kernels"] + (R.get("fft", "gst"),)))
        w("| kernel, compiler | Linux %s, %s |" % (M["kernel"], M["cc"]))
        w("| GStreamer | %s |" % M["gst"])
        w("| ONNX Runtime | %s (npm `onnxruntime-node`, CPU execution provider) |" % R["ort_version"])
        w("| pocketsphinx | Debian `gstreamer1.0-pocketsphinx` %s |" % M["pocketsphinx"])
        w("| torch (twin export) | %s |" % M["torch"])
        w("| load average (1, 5, 15 min) at the start / at the end | %s / %s |"
          % (" ".join(self.load_start), " ".join(M["load"])))
        w("")

        # ORT vs beenet
        def col(v, i):
            return [x[i] for x in v]
        bw, bc = col(R["beenet_full"], 0), col(R["beenet_full"], 1)
        o1w, o1c = col(R["ort1"], 0), col(R["ort1"], 1)
        o2w, o2c = col(R["ort2"], 0), col(R["ort2"], 1)
        osw, osc = col(R["ort1_sign"], 0), col(R["ort1_sign"], 1)
        rsc = [o / x for o, x in zip(osc, bc)]
        rsw = [o / x for o, x in zip(osw, bw)]
        r1c = [o / x for o, x in zip(o1c, bc)]
        r1w = [o / x for o, x in zip(o1w, bw)]
        r2w = [o / x for o, x in zip(o2w, bw)]
        tgt1 = med(r1c)
        self.res["ratio1_cpu"], self.res["ratio1_wall"], self.res["ratio2_wall"] = r1c, r1w, r2w
        w("## Float twin under ONNX Runtime vs the beenet engine (full depth)")
        w("")
        w("Same network, same input: %d real log-Mel windows (1 × 98 × 64, from the speech recording below) "
          "cycled through, **network only** in both (the front-end is excluded from both; the per-Mel "
          "normalisation is included in both), every exit computed (no early exit: "
          "`beenet_session_run_all_exits`; the twins output all %d exits' logits too). The **float twin** is "
          "`models/kws12.pt` rebuilt as a plain float32 network: each binary conv / dense layer replaced by an "
          "ordinary one of the same shape, the trained float layers kept; it is the reference of the issue's "
          "target. The **sign twin** also binarises those layers' inputs in float (sign(x)), so it computes "
          "the same function as the engine: %s. Both are exported with `torch.onnx.export` and run with ONNX "
          "Runtime's C API at full graph optimisation (BatchNorm folded into the convs). %d windows per process "
          "(ORT after 20 warm-up windows), %d repetitions."
          % (64, self.E, R["onnx_check"], a.windows, a.reps))
        w("")
        w("CPU ms is the process's CPU time per window (`CLOCK_PROCESS_CPUTIME_ID`), the steadier figure on a "
          "shared machine for a single-threaded loop; wall ms also counts time spent waiting for the CPU. With "
          "2 threads only wall time is a latency (its CPU time is the sum over the threads).")
        w("")
        w("| runtime | CPU ms / window (median, range) | wall ms / window (median, range) | ORT / beenet, CPU "
          "| ORT / beenet, wall |")
        w("|---|---|---|---|---|")
        w("| beenet engine, 1 thread (`%s` kernels) | %.3f (%s) | %.3f (%s) | 1 | 1 |" % (
            R["kernels"][0], med(bc), spread(bc), med(bw), spread(bw)))
        w("| ONNX Runtime float twin, 1 thread | %.3f (%s) | %.3f (%s) | **%.2f** | %.2f |" % (
            med(o1c), spread(o1c), med(o1w), spread(o1w), tgt1, med(r1w)))
        w("| ONNX Runtime sign twin, 1 thread | %.3f (%s) | %.3f (%s) | %.2f | %.2f |" % (
            med(osc), spread(osc), med(osw), spread(osw), med(rsc), med(rsw)))
        w("| ONNX Runtime float twin, 2 threads (not pinned) | (%.3f summed) | %.3f (%s) | — | %.2f |" % (
            med(o2c), med(o2w), spread(o2w), med(r2w)))
        w("")
        w("The 2-thread row competes with whatever else runs on the machine's other CPU (see the load average "
          "above); when that CPU is busy, 2 threads can be slower than 1.")
        w("")
        w("Twin size: %d float32 parameters (%.1f MiB); the beenet model file is %d bytes."
          % (self.twin["twin_parameters"], self.twin["twin_float_bytes"] / 2 ** 20, os.path.getsize(a.model)))
        w("")
        w("**Target (issue 8): beenet ≥ 5× faster than ONNX Runtime single-threaded (stretch 10×).** Measured "
          "(CPU time): ORT / beenet = %.2f, i.e. beenet is %s; %s; %s. By wall time the ratio is %.2f; against "
          "the sign twin %.2f (CPU)."
          % (tgt1, ("%.2f× faster" % tgt1) if tgt1 >= 1 else ("%.2f× slower" % (1 / tgt1)),
             "target met" if tgt1 >= 5.0 else "target missed by a factor %.2f" % (5.0 / tgt1),
             "stretch goal met" if tgt1 >= 10.0 else "the stretch goal is a factor %.2f away" % (10.0 / tgt1),
             med(r1w), med(rsc)))
        w("")

        # per exit
        w("## Per-exit latency of the shipped model (BEENet Table 1 analog)")
        w("")
        w("Time of a window that leaves at exit *k*: the model cut right after exit *k* (`bench/twin.py` writes "
          "these cut models from the checkpoint; their last exit always stops), run on the speech windows. "
          "\"front-end + network\" is `beenet_session_classify` (audio in, the way the element calls it); "
          "\"network\" is features in. ONNX Runtime runs the (plain) float twin cut at the same exit, network only, "
          "1 thread. CPU ms per window, medians of %d interleaved repetitions of %d windows."
          % (a.exit_reps, a.windows))
        w("")
        w("| exit | cumulative OPs | beenet front-end + network CPU ms | beenet network CPU ms | ORT twin network CPU ms "
          "(1 thread) | ORT / beenet (network) |")
        w("|---|---|---|---|---|---|")
        ops = dict(R["exit_ops"])
        fe_all = []
        for k in range(1, self.E + 1):
            r = R["per_exit"][k]
            fe_all += r["fe"]
            ratios = [o / n for o, n in zip(r["ort"], r["net"])]
            w("| %d | %.1f%% | %.3f | %.3f | %.3f | %.2f |" % (k, ops.get(k, float("nan")), med(r["fe_net"]),
                                                           med(r["net"]), med(r["ort"]), med(ratios)))
        w("")
        w("The front-end alone (log-Mel of one 1-s window) takes %.3f ms CPU (median over all the runs above). "
          "Where ORT / beenet < 1 the float twin is faster than the engine up to that exit: the early part of "
          "the network is dominated by the float stem and transition convs (see the callgrind breakdown below)."
          % med(fe_all))
        w("")

        # element vs pocketsphinx
        if "elements" in R:
            E = R["elements"]
            secs = float(a.seconds)
            base = med(E["identity"]["cpu"])
            base_rss = med(E["identity"]["rss"])
            w("## The `beenet` element vs pocketsphinx")
            w("")
            w("CPU time (user + system, `/usr/bin/time`) and peak resident memory of a whole `gst-launch-1.0` "
              "over the same %g-s speech recording (espeak-ng sentences with the ten keywords mixed in, "
              "`bench/speech.py`, md5 `%s`), each minus the same pipeline with `identity` in the element's place. "
              "Pipelines (pinned to one CPU, %d interleaved repetitions, medians):"
              % (secs, self.wav_md5, a.element_reps))
            w("")
            w("```")
            for k, v in self.pipelines.items():
                w(v.replace(self.work + "/", ""))
            w("```")
            w("")
            w("`beenet` runs with its defaults (built-in model = `models/kws12.gguf`, a window every %s ms "
              "(the model's `beenet.detection.interval_ms`), "
              "entropy threshold %s (`GST_BEENET_DEFAULT_THRESHOLD`), keyword detector on). pocketsphinx "
              "(5prealpha, Debian's en-us acoustic model) runs in keyword-spotting mode: `kws=` a keyphrase list "
              "of the ten keywords, each with threshold %s (the element's other properties at their defaults)."
              % (model_interval_ms(self.a.build, os.path.join(ROOT, "models", "kws12.gguf")),
                 element_default_threshold(), KWS_THRESHOLD))
            w("")
            w("| element | CPU s (median, whole pipeline) | CPU s minus identity | CPU s per audio s | "
              "peak RSS MiB | RSS minus identity MiB |")
            w("|---|---|---|---|---|---|")
            for name in E:
                c = med(E[name]["cpu"])
                rss = med(E[name]["rss"])
                w("| %s | %.2f (%s) | %s | %s | %.1f | %s |" % (
                    "`%s`" % name, c, spread(E[name]["cpu"]),
                    "—" if name == "identity" else "%.2f" % (c - base),
                    "—" if name == "identity" else "%.5f" % ((c - base) / secs),
                    rss / 1024.0, "—" if name == "identity" else "%.1f" % ((rss - base_rss) / 1024.0)))
            w("")
            if "pocketsphinx" in E:
                pb = [p - i for p, i in zip(E["pocketsphinx"]["cpu"], E["identity"]["cpu"])]
                bb = [x - i for x, i in zip(E["beenet"]["cpu"], E["identity"]["cpu"])]
                rr = [p / max(x, 1e-3) for p, x in zip(pb, bb)]
                rmem = (med(E["pocketsphinx"]["rss"]) - base_rss) / max(med(E["beenet"]["rss"]) - base_rss, 1)
                r = med(rr)
                w("**Target (issue 8): the element uses ≥ 50× less CPU than pocketsphinx.** Measured: %.1f× less "
                  "CPU (median of per-repetition ratios), %s; %.1f× less extra "
                  "memory. The identity baseline's CPU is small, so the \"minus identity\" figures are close "
                  "to the raw ones." % (r, "target met" if r >= 50.0 else "target missed by a factor %.2f"
                                        % (50.0 / r if r > 0 else float("inf")), rmem))
                w("")

        self.write_kernels(w)

        # streaming
        sd = R["stream_detail"]
        w("## Windows per second per core, memory per session")
        w("")
        w("`bench-engine models/kws12.gguf --sections stream`: the %d windows of the speech recording in order "
          "(one every 500 ms, as the element takes them), audio pushed into a `BeenetStream` and each window "
          "classified from it (`beenet_session_classify_stream_params`, as the element: each 10-ms log-Mel frame "
          "computed once, %.1f computed + %.1f reused per window), early exit at the model's policy and "
          "threshold (entropy %s, the element's default too; energy gate off, its default) + the keyword "
          "detector — the element's per-window work without GStreamer. Pinned to one CPU, %d repetitions."
          % (sd["windows"], sd["frames_computed"], sd["frames_reused"], sd["threshold"], a.reps))
        w("")
        w("| figure | value |")
        w("|---|---|")
        cpu_w = med(R["stream_cpu"])
        w("| windows per CPU second (one core) | **%.0f** (range %s) |" % (cpu_w, spread(R["stream_cpu"])))
        w("| windows per wall second | %.0f |" % med(R["stream_wall"]))
        w("| real-time streams per core at one window every 500 ms | %.0f |" % (cpu_w / 2.0))
        w("| mean executed OPs fraction, exits 1/2/3/4/5 | %.3f, %s |" % (sd["mean_ops"], sd["exits"]))
        w("| heap per session (`beenet_session_new`: activations, front-end, scratch) | %.1f KiB |"
          % (R["heap_session"] / 1024.0))
        w("| heap per keyword detector | %.1f KiB |" % (R["heap_detector"] / 1024.0))
        w("| heap per `BeenetStream` (1 s of samples, 4 phase rings of 98 frames) | %.1f KiB |"
          % (sd["stream_bytes"] / 1024.0))
        w("| heap of the model (shared by all sessions) | %.1f KiB |" % (R["heap_model"] / 1024.0))
        w("")
        w("**Target (issue 8): ≥ 5,000 windows per second per core at the default threshold in streaming use.** "
          "Measured: %.0f windows per CPU second, %s." % (cpu_w, ("met, %.2f× the target" % (cpu_w / 5000.0))
                                                          if cpu_w >= 5000 else
                                                          ("missed by a factor %.2f" % (5000.0 / cpu_w))))
        w("")
        w("Heap figures are glibc `mallinfo2` differences around each constructor in `bench-engine`.")
        w("")

        # callgrind
        if "callgrind" in R:
            cg = R["callgrind"]
            w("## Instructions per window (callgrind)")
            w("")
            w("Deterministic (to a few instructions) for a given build, kernel set and input: the regression figure to compare kernel "
              "changes with. `valgrind --tool=callgrind ./build/bench/bench-engine models/kws12.gguf --sections S "
              "-n N` for N = 20 and 40; Ir per window = (Ir(40) − Ir(20)) / 20, so loading and set-up cancel "
              "out. Kernels as dispatched under valgrind (`%s` here)." % R.get("callgrind_kernels", R["kernels"][0]))
            w("")
            w("| section | Ir / window |")
            w("|---|---|")
            w("| `net`: network, every exit, features given | %s |" % format(int(cg["net"]), ","))
            w("| `fe`: front-end (log-Mel of one window) | %s |" % format(int(cg["fe"]), ","))
            w("| `stream`: speech windows 20–39 in order through a `BeenetStream`, early exit at the model's "
              "threshold, detector | %s |" % format(int(cg["stream"]), ","))
            w("")
            heads = {
                "net": "Where the full-depth network's instructions go (per window, same differencing, functions "
                       "with at least 0.5% (self cost); `beenet_conv2d` is the float conv2d driver of the stem "
                       "and the transitions, `bdot_*` the binary conv micro-kernels, `fgemv_*`/`fdw_*` the "
                       "float ones):",
                "stream": "Where a streaming window's instructions go (the `stream` row: front-end frames, "
                          "network to its exit, detector; functions with at least 0.5%, self cost; `???` "
                          "entries are inside libgstfft, GStreamer's FFT, and ORC's generated code):",
            }
            for sec in ("net", "stream"):
                funcs = R.get("callgrind_%s_funcs" % sec)
                if not funcs:
                    continue
                total = cg[sec]
                w(heads[sec])
                w("")
                w("| function | Ir / window | share |")
                w("|---|---|---|")
                for v, k in funcs:
                    if v >= 0.005 * total:
                        w("| `%s` | %s | %.1f%% |" % (k, format(int(v), ","), 100.0 * v / total))
                w("")
        if self.notes:
            w("## Notes")
            w("")
            for n in self.notes:
                w("- " + n)
            w("")
        # The section from ADDENDUM_MARK on is written by hand from the separate
        # commands it lists (not this run): keep it.
        if os.path.exists(path):
            with open(path) as f:
                old = f.read()
            if ADDENDUM_MARK in old:
                L.append(old[old.index(ADDENDUM_MARK):].rstrip("\n"))
                L.append("")
        with open(path, "w") as f:
            f.write("\n".join(L))
        with open(self.p("results.json"), "w") as f:
            json.dump(R, f, indent=1, default=str)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--cache", required=True)
    p.add_argument("--bench-onnx", required=True)
    p.add_argument("--model", default=os.path.join(ROOT, "models", "kws12.gguf"))
    p.add_argument("--checkpoint", default=os.path.join(ROOT, "models", "kws12.pt"))
    p.add_argument("--out", default=os.path.join(ROOT, "docs", "performance.md"))
    p.add_argument("--seconds", type=float, default=600.0, help="length of the speech recording")
    p.add_argument("--windows", type=int, default=300, help="windows per timing process")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--exit-reps", type=int, default=5)
    p.add_argument("--element-reps", type=int, default=3)
    p.add_argument("--command", default="bench/run.sh")
    a = p.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    t0 = time.time()
    b = Bench(a)
    b.prepare()
    b.machine()
    b.callgrind()
    b.ort_vs_engine()
    b.per_exit()
    b.stream()
    b.kernels()
    b.elements()
    b.machine()
    b.write(a.out, started, time.time() - t0)
    log("wrote %s in %.1f minutes" % (a.out, (time.time() - t0) / 60.0))


if __name__ == "__main__":
    main()
