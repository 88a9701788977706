#!/bin/sh
# A/B of the binary kernels: bench-kernels of an older revision against this
# tree's, alternated on one pinned CPU, each revision's % of its own peak in
# the same minutes (docs/performance.md, addendum).
#
#   bench/ab-kernels.sh REV [RUNS] [MODEL]     e.g. bench/ab-kernels.sh 879efaa 3
#
# Both sides use this tree's bench/bench-kernels.c (its timing: the clock
# read once per >= 1 ms batch), so only the engine differs.  Revisions
# before the tile plan name the avx512 tile member `bconv_tile`; the copy is
# adapted to that.  Prints, per run and side, the % of peak of every binary
# conv layer for the avx512 set (then avx512-px, the set without its tile
# kernel).  Needs build/ configured; the old side builds in a worktree
# under ${TMPDIR:-/tmp}.
set -eu
cd "$(dirname "$0")/.."
REV=${1:?usage: bench/ab-kernels.sh REV [RUNS] [MODEL]}
RUNS=${2:-3}
MODEL=${3:-models/kws12.gguf}
WT=${TMPDIR:-/tmp}/beenet-ab-$(git rev-parse --short "$REV")
[ -d "$WT" ] || git worktree add -f --detach "$WT" "$REV" >/dev/null
cp bench/bench-kernels.c "$WT/bench/bench-kernels.c"
grep -q 'bconv_tiles' "$WT/engine/kernels.h" || sed -i 's/bconv_tiles/bconv_tile/' "$WT/bench/bench-kernels.c"
[ -f "$WT/build/build.ninja" ] || meson setup "$WT/build" "$WT" >/dev/null
ninja -C "$WT/build" bench/bench-kernels >/dev/null
ninja -C build bench/bench-kernels >/dev/null
CPU=$(($(nproc) - 1))
pcts() {
  taskset -c "$CPU" "$1" "$MODEL" -s 0.3 | awk '/^bconv2d/ {
      n = 0; for (i = 1; i <= NF; i++) if ($i ~ /%$/) { n++; if (n == 3 || n == 4) printf "%s ", $i }
      printf "| " }'
}
i=1
while [ "$i" -le "$RUNS" ]; do
  echo "run $i  $REV: $(pcts "$WT/build/bench/bench-kernels")"
  echo "run $i  HEAD: $(pcts build/bench/bench-kernels)"
  i=$((i + 1))
done
