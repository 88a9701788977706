#!/bin/sh
# Speedup of `beenet-classify --jobs 2` over `--jobs 1` (issue 14) on a
# generated corpus (bench/classify-corpus.py: 48 files x 10 s, 16 kHz),
# timed with hyperfine.  Not a test: it asserts only that both runs print
# the same results.  Prints a markdown table; with --write-docs it also
# replaces the generated block of docs/scale.md ("Batch classification").
#
#   bench/classify-jobs.sh [--write-docs]
#   BUILD_DIR=build RUNS=5 CORPUS=/tmp/beenet-classify-jobs bench/classify-jobs.sh
#
# Needs hyperfine (tools/setup-debian.sh installs it) and /usr/bin/python3.
set -eu

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
RUNS=${RUNS:-5}
CORPUS=${CORPUS:-/tmp/beenet-classify-jobs-corpus}
WRITE_DOCS=0
[ "${1:-}" = "--write-docs" ] && WRITE_DOCS=1
tool=$BUILD_DIR/tools/beenet-classify

[ -x "$tool" ] || { echo "classify-jobs: build first ($tool missing)" >&2; exit 1; }
command -v hyperfine >/dev/null || {
  echo "classify-jobs: needs hyperfine (tools/setup-debian.sh)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -d "$CORPUS" ] || /usr/bin/python3 bench/classify-corpus.py "$CORPUS"

# the same results with 1 and 2 jobs, and how many windows they are
"$tool" --jobs 1 "$CORPUS" > "$tmp/j1.out"
"$tool" --jobs 2 "$CORPUS" > "$tmp/j2.out"
cmp -s "$tmp/j1.out" "$tmp/j2.out" || {
  echo "classify-jobs: --jobs 2 printed other results than --jobs 1" >&2; exit 1; }
windows=$(grep -vc '^#' "$tmp/j1.out")
files=$(ls "$CORPUS" | grep -c '\.wav$')

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
hyperfine --style basic --warmup 1 --runs "$RUNS" \
  --export-json "$tmp/hyperfine.json" \
  "$tool --jobs 1 $CORPUS" "$tool --jobs 2 $CORPUS" >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

/usr/bin/python3 - "$tmp/hyperfine.json" "$windows" "$files" \
  "$(nproc)" "$load_before" "$load_after" "$(hyperfine --version)" \
  "$WRITE_DOCS" <<'PY'
import json, re, sys
path, windows, files, cores, load0, load1, hf, write = sys.argv[1:]
windows, files = int(windows), int(files)
res = json.load(open(path))["results"]
rows = []
for jobs, r in zip((1, 2), res):
    cpu = r["user"] + r["system"]
    rows.append((jobs, r["median"], r["min"], r["max"], cpu))
lines = [
    "| jobs | wall median (s) | wall min-max (s) | CPU user+sys, mean (s) "
    "| windows/s (wall) | windows per CPU-second |",
    "| --- | --- | --- | --- | --- | --- |",
]
for jobs, med, lo, hi, cpu in rows:
    lines.append("| %d | %.3f | %.3f-%.3f | %.3f | %.0f | %.0f |" % (
        jobs, med, lo, hi, cpu, windows / med, windows / cpu))
speedup = rows[0][1] / rows[1][1]
lines += [
    "",
    "Speedup of `--jobs 2` over `--jobs 1` (ratio of the wall medians): "
    "**%.2fx** (ideal on %s cores: 2.00x)." % (speedup, cores),
    "",
    "Corpus: %d files, %d windows (bench/classify-corpus.py, 10 s each, "
    "500 ms interval, built-in model).  %s runs each after a warm-up, %s; "
    "%s processors, load average %s before and %s after (1, 5, 15 min)." % (
        files, windows, len(res[0]["times"]), hf, cores, load0, load1),
]
table = "\n".join(lines)
print(table)
if write == "1":
    doc = "docs/scale.md"
    text = open(doc).read()
    begin, end = "<!-- classify-jobs:begin -->", "<!-- classify-jobs:end -->"
    new = re.sub(re.escape(begin) + ".*?" + re.escape(end),
                 lambda m: begin + "\n" + table + "\n" + end, text,
                 flags=re.S)
    if new == text and begin not in text:
        sys.exit("classify-jobs: no generated block in " + doc)
    open(doc, "w").write(new)
    print("classify-jobs: wrote " + doc, file=sys.stderr)
PY
