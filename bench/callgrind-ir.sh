#!/bin/sh
# Print the instructions executed (callgrind Ir) per window of the
# full-depth network, for a CI log or a before/after kernel comparison.
# Cheap (two short valgrind runs, ~10 s) and never fails the caller: without
# valgrind or the bench-engine binary it says so and exits 0.
#
#   bench/callgrind-ir.sh [BUILD_DIR] [MODEL.gguf]
#
# Ir/window = (Ir(-n 40) - Ir(-n 20)) / 20 of `bench-engine --sections net`,
# so loading and set-up cancel out.  Deterministic for a given build, kernel
# set and model.
cd "$(dirname "$0")/.." || exit 0
build=${1:-build}
model=${2:-models/kws12.gguf}
engine=$build/bench/bench-engine
if ! command -v valgrind >/dev/null 2>&1 || [ ! -x "$engine" ] || [ ! -f "$model" ]; then
  echo "callgrind-ir: skipped (needs valgrind, $engine and $model)"
  exit 0
fi
ir() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$engine" "$model" \
      --sections net -n "$1" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
a=$(ir 20) b=$(ir 40)
if [ -n "$a" ] && [ -n "$b" ]; then
  kernels=$("$engine" "$model" --sections none -n 1 2>/dev/null | sed -n 's/^kernels: \([^,]*\),.*/\1/p')
  echo "callgrind-ir: $(( (b - a) / 20 )) instructions per window, full-depth network of $model ($kernels kernels under valgrind)"
else
  echo "callgrind-ir: valgrind run failed; no figure"
fi
exit 0
