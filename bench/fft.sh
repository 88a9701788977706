#!/bin/sh
# The front-end's FFT backends side by side (docs/performance.md, "FFT backend").
#   bench/fft.sh [BUILDDIR] [MODEL]
# 1. callgrind instructions per streaming window, each backend: (Ir(40) - Ir(20)) / 20 of
#    bench-engine's stream section over 60 s of bench/speech.py speech (stable under load;
#    valgrind runs the avx2 kernels, it does not emulate AVX-512);
# 2. windows per CPU second as bench-engine reports it (thread CPU clock around the stream
#    loop), the two backends alternated 5 times on one pinned core; medians and the ratio.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
model=${2:-$top/models/kws12.gguf}
eng=$build/bench/bench-engine
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$top/bench/speech.py" "$tmp/speech.wav" --seconds 60 >/dev/null
sox -R "$tmp/speech.wav" -t raw -e signed -b 16 "$tmp/speech.s16"
echo "speech: $(md5sum < "$tmp/speech.wav" | cut -c1-32), model $(basename "$model"), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
for f in gst fftw; do
  ir=""
  for n in 20 40; do
    ir="$ir $(BEENET_FFT=$f valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$f.$n" "$eng" "$model" \
        --sections stream -a "$tmp/speech.s16" -n $n 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')"
  done
  set -- $ir
  echo "callgrind $f: $(( ($2 - $1) / 20 )) instructions per streaming window"
done
for i in 1 2 3 4 5; do
  for f in gst fftw; do
    BEENET_FFT=$f taskset -c 1 "$eng" "$model" --sections stream -a "$tmp/speech.s16" -n 2000 \
      | sed -n 's/.* \([0-9.]*\) windows per CPU second.*/\1/p' >> "$tmp/rate.$f"
  done
done
/usr/bin/python3 - "$tmp/rate.gst" "$tmp/rate.fftw" <<'PY'
import statistics, sys
g, f = ([float(x) for x in open(p)] for p in sys.argv[1:3])
print("windows per CPU second, 5 alternated runs: gst %s (median %.0f), fftw %s (median %.0f); "
      "fftw/gst %.2f (median of per-pair ratios)" % (
    " ".join("%.0f" % x for x in g), statistics.median(g), " ".join("%.0f" % x for x in f),
    statistics.median(f), statistics.median(b / a for a, b in zip(g, f))))
PY
