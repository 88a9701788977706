#!/bin/sh
# Quick start: install dependencies, build, then run the main job - a spoken
# keyword sequence through the beenet element on the embedded default model,
# printing one readable line per window (label, exit, entropy) and per
# detected keyword, with examples/c/beenet-listen.c (README "From C").
set -eu
cd "$(dirname "$0")/.."
tools/setup-debian.sh
if [ -f build/build.ninja ]; then meson setup --reconfigure build >/dev/null; else meson setup build; fi
meson compile -C build

wav=${1:-build/speech.wav}
if [ $# -eq 0 ]; then
  # "yes", "stop" and "go", one second apart, from a synthesiser.
  espeak-ng -v en-us -g 40 -w "$wav" "yes. . . . stop. . . . go."
fi
echo "quickstart: classifying $wav"
GST_PLUGIN_PATH=$PWD/build/gst build/examples/beenet-listen --threshold 0.5 "$wav"
