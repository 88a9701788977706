#!/bin/sh
# Runs the scripts of pipelines/ against this build and counts the beenet
# messages.  Needs the system plugins (decodebin, audioconvert,
# audioresample, wavenc, espeak, pulsesrc) and pulseaudio; a part whose
# prerequisites are missing is skipped with a message, and the whole test
# reports SKIP (77) if nothing could run.
#
#   test-pipelines.sh SOURCE_ROOT BUILD_ROOT MODEL_WRITER
set -eu
src=$1
build=$2
model_writer=$3
export BEENET_BUILD_DIR=$build
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
ran=0
failed=0

have() { gst-inspect-1.0 "$1" >/dev/null 2>&1; }

"$model_writer" "$tmp/model.gguf"

count() { grep -c 'beenet, timestamp=' "$1" || true; }

# file.sh: 2.5 s of tone -> windows at 0, 0.5, 1, 1.5 and a padded one at 2 s
if have audiotestsrc && have wavenc && have decodebin; then
  gst-launch-1.0 -q audiotestsrc num-buffers=25 samplesperbuffer=1600 ! \
    audio/x-raw,rate=16000,channels=1 ! wavenc ! \
    filesink location="$tmp/tone.wav"
  "$src/pipelines/file.sh" "$tmp/tone.wav" model="$tmp/model.gguf" \
    >"$tmp/file.log" 2>&1 || { cat "$tmp/file.log"; failed=1; }
  n=$(count "$tmp/file.log")
  echo "file.sh: $n messages"
  [ "$n" -eq 5 ] || { echo "FAIL: expected 5"; failed=1; }
  ran=1
else
  echo "SKIP file.sh: audiotestsrc/wavenc/decodebin missing"
fi

if have espeak; then
  "$src/pipelines/espeak.sh" "yes. no. up. down." model="$tmp/model.gguf" \
    >"$tmp/espeak.log" 2>&1 || { cat "$tmp/espeak.log"; failed=1; }
  n=$(count "$tmp/espeak.log")
  echo "espeak.sh: $n messages"
  [ "$n" -ge 1 ] || { echo "FAIL: expected at least 1"; failed=1; }
  ran=1
else
  echo "SKIP espeak.sh: the espeak element (gstreamer1.0-espeak) is missing"
fi

if have pulsesrc && have pulsesink && command -v pulseaudio >/dev/null && \
    command -v pactl >/dev/null && [ -f "$tmp/tone.wav" ]; then
  # 150 buffers of 10 ms = 1.5 s: windows at 0 and 0.5 s (+ padded at 1 s)
  "$src/pipelines/virtual-mic.sh" "$tmp/tone.wav" 150 \
    model="$tmp/model.gguf" >"$tmp/mic.log" 2>&1 || { cat "$tmp/mic.log"; failed=1; }
  n=$(count "$tmp/mic.log")
  echo "virtual-mic.sh: $n messages"
  [ "$n" -ge 2 ] || { cat "$tmp/mic.log"; echo "FAIL: expected >= 2"; failed=1; }
  ran=1
else
  echo "SKIP virtual-mic.sh: pulseaudio, pactl or pulsesrc/pulsesink missing"
fi

[ $failed -eq 0 ] || exit 1
[ $ran -eq 1 ] || exit 77
exit 0
