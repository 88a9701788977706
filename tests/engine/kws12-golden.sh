#!/bin/sh
# Regenerate tests/engine/data/kws12-golden.txt: build the engine at the
# last commit that read only beenet format version 1 (REF, default
# 0464f7d) in a temporary directory, compile tests/engine/test-kws12-golden.c
# of this tree against it and write the logits of models/kws12.gguf with the
# portable kernels.
#   tests/engine/kws12-golden.sh [REF]
set -eu
ref=${1:-0464f7d}
top=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git -C "$top" archive "$ref" | tar -x -C "$tmp"
meson setup "$tmp/build" "$tmp" -Dtests=disabled -Dpython-tests=disabled >/dev/null
meson compile -C "$tmp/build" beenet:shared_library >/dev/null
cc -std=c11 -O2 -D_GNU_SOURCE -I"$tmp/engine" "$top/tests/engine/test-kws12-golden.c" \
  -L"$tmp/build/engine" -lbeenet -lm -o "$tmp/golden"
LD_LIBRARY_PATH="$tmp/build/engine" BEENET_KERNELS=portable BEENET_FFT=gst "$tmp/golden" --write "$top/models/kws12.gguf" \
  "$top/tests/engine/data/kws12-golden.txt"
echo "wrote tests/engine/data/kws12-golden.txt from the engine at $ref"
