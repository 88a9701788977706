#!/bin/sh
# One command for the whole study page, docs/results.md (issue 9): Table 1
# (bench/families.py), Figures 2-5 and the models catalogue
# (beenet_train.study) and Table 2 (beenet_train.table2), each rewriting
# its own marked block of the page and its PNGs.
#
#   bench/study.sh
#
# Needs a build (meson setup build && meson compile -C build) and the three
# corpora (docs/data.md: data/kws12-v2, data/kws31-v2, data/lid6).
# Environment: BUILD_DIR (default build), TABLE2_EPOCHS (default 2, the
# published budget), TABLE2_OUT (default runs/table2). Table 2 trains 24
# networks (about 6 hours on a 2-core machine at 2 epochs); it is
# resumable, so rerunning this script continues where it stopped and only
# rewrites the table once its runs exist. TABLE2=report writes the table
# from the finished runs without training (--report-only); TABLE2=skip
# leaves it alone.
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
export BEENET_LIB="$PWD/$BUILD_DIR/engine/libbeenet.so" PYTHONPATH=train
PY=/usr/bin/python3
[ -f "$BEENET_LIB" ] || { echo "study.sh: no $BEENET_LIB; build first" >&2; exit 1; }

# Table 1: sizes, operations and per-exit latency of the four families.
$PY bench/families.py --reps 3 --windows 50 --callgrind-windows 2 --write docs/results.md

# Figures 2-5 and the catalogue, from the engine's exit logits of all 12 models.
$PY -m beenet_train.study --cache "$BUILD_DIR/study-cache" --write docs/results.md \
    --json "$BUILD_DIR/study.json" --catalogue-md models/README.md

# Table 2: exits trained alone against the jointly trained network, KWS-12.
case "${TABLE2:-train}" in
  skip) ;;
  report) $PY -m beenet_train.table2 --data data/kws12-v2 --out "${TABLE2_OUT:-runs/table2}" \
              --epochs "${TABLE2_EPOCHS:-2}" --threads 2 --write docs/results.md --report-only ;;
  *) $PY -m beenet_train.table2 --data data/kws12-v2 --out "${TABLE2_OUT:-runs/table2}" \
         --epochs "${TABLE2_EPOCHS:-2}" --threads 2 --write docs/results.md ;;
esac
