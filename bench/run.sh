#!/bin/sh
# One command for every benchmark: installs what they need, builds, runs
# them interleaved and writes docs/performance.md (bench/README.md).
#
#   bench/run.sh [report.py options, e.g. --reps 3]
#
# Environment: BUILD_DIR (default build), BEENET_BENCH_CACHE (default
# ~/.cache/gst-beenet-bench: npm packages, generated models and audio; kept
# out of the repository).
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
CACHE=${BEENET_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gst-beenet-bench}
ORT_VERSION=1.30.0
# onnxruntime-node ships libonnxruntime.so but not the C headers; this
# package (ONNX Runtime for Unity) ships the official onnxruntime_c_api.h of
# C API version 29 in its iOS framework, which libonnxruntime 1.30 serves.
ORT_HEADERS_PKG=com.github.asus4.onnxruntime@0.4.9
mkdir -p "$CACHE"

# 1. Debian packages (the project's own list, then the benchmarks' extras).
if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
tools/setup-debian.sh
missing=""
for p in gstreamer1.0-pocketsphinx pocketsphinx-en-us valgrind time util-linux espeak-ng sox; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# npm may come with another nodejs package (e.g. one that bundles npm and
# conflicts with Debian's npm): ask apt only when the command is missing.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
  echo "bench: installing:$missing"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi

# 2. ONNX Runtime from npm, into the cache.
ORT_LIB_DIR=$CACHE/npm/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
if [ ! -e "$ORT_LIB_DIR/libonnxruntime.so.1" ]; then
  echo "bench: npm install onnxruntime-node@$ORT_VERSION into $CACHE/npm"
  mkdir -p "$CACHE/npm"
  (cd "$CACHE/npm" && npm install --no-audit --no-fund --ignore-scripts --no-save \
      "onnxruntime-node@$ORT_VERSION")
fi
ORT_INC=$CACHE/ort-include
if [ ! -e "$ORT_INC/onnxruntime_c_api.h" ]; then
  echo "bench: C headers of ONNX Runtime from npm $ORT_HEADERS_PKG"
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$ORT_HEADERS_PKG" >/dev/null)
  mkdir -p "$ORT_INC"
  tar xzf "$tmp"/*.tgz -C "$ORT_INC" --strip-components=7 --wildcards \
      'package/Plugins/iOS~/onnxruntime.xcframework/ios-arm64_x86_64-simulator/onnxruntime.framework/Headers/*.h'
  rm -rf "$tmp"
fi

# 3. Build the project (bench-engine needs the test suite's builders) and
#    bench-onnx against the npm library.
if [ -f "$BUILD_DIR/build.ninja" ]; then :; else meson setup "$BUILD_DIR"; fi
meson compile -C "$BUILD_DIR"
[ -x "$BUILD_DIR/bench/bench-engine" ] || {
  echo "bench: $BUILD_DIR/bench/bench-engine was not built (tests disabled?)" >&2; exit 1; }
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -I"$ORT_INC" bench/bench-onnx.c \
    -o "$BUILD_DIR/bench/bench-onnx" "$ORT_LIB_DIR/libonnxruntime.so.1" \
    -Wl,-rpath,"$ORT_LIB_DIR" -lm

# 4. Run everything and write the page.
exec /usr/bin/python3 bench/report.py --build "$BUILD_DIR" --cache "$CACHE" \
    --bench-onnx "$BUILD_DIR/bench/bench-onnx" --command "bench/run.sh${*:+ $*}" "$@"
