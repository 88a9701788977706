#!/bin/sh
# The microphone path in CI (issue 11): pipelines/virtual-mic.sh starts a
# private PulseAudio daemon (own HOME and XDG_RUNTIME_DIR under a temporary
# directory) with a virtual microphone, plays speech into it in a loop, and
# runs `pulsesrc ! audioconvert ! beenet ! fakesink` on it in real time with
# the build's plugin and the built-in model.  Checks:
#  - the run ends with status 0 and prints no ERROR (the script used to end
#    a good run with ERROR blocks from its player);
#  - windows were classified, and at least one keyword was detected, every
#    detection being one of the keywords spoken.
# The speech is espeak-ng's held-out voice en-us+m7
# (models/kws12-heldout-voices.json), on which beenet-classify --detections
# finds "yes" and "go" in the file itself.
# Skips (77) without pulseaudio, pactl, pgrep, espeak-ng or the pulse plugin.
#
#   test-virtual-mic.sh SOURCE_ROOT BUILD_ROOT
set -eu
src=$1
build=$2
export BEENET_BUILD_DIR=$build

for p in pulseaudio pactl pgrep espeak-ng gst-launch-1.0; do
  command -v $p >/dev/null 2>&1 || { echo "SKIP: $p not found"; exit 77; }
done
for e in pulsesrc pulsesink decodebin; do
  gst-inspect-1.0 $e >/dev/null 2>&1 || { echo "SKIP: no $e element"; exit 77; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
spoken="yes stop go left off"
espeak-ng -v en-us+m7 -g 40 -w "$tmp/speech.wav" \
  "yes. . . . stop. . . . go. . . . left. . . . off."

# 1000 buffers of 10 ms: the 6.5 s sentence plays about 1.5 times
status=0
"$src/pipelines/virtual-mic.sh" "$tmp/speech.wav" 1000 >"$tmp/mic.log" 2>&1 ||
  status=$?
windows=$(grep -c 'beenet, timestamp=' "$tmp/mic.log" || true)
grep -o 'beenet-detection, .*keyword=(string)[a-z_]*' "$tmp/mic.log" |
  sed 's/.*keyword=(string)//' >"$tmp/detections" || true
echo "status $status, $windows windows, detections: $(tr '\n' ' ' <"$tmp/detections")"

failed=0
fail() { echo "FAIL: $*"; failed=1; }
[ "$status" -eq 0 ] || fail "virtual-mic.sh exited with $status"
if grep -q 'ERROR' "$tmp/mic.log"; then
  fail "ERROR in the output:"
  grep -A3 'ERROR' "$tmp/mic.log"
fi
# 10 s of audio, a window every 0.5 s (fewer if the loaded machine dropped
# samples: pulsesrc then warns and skips ahead)
[ "$windows" -ge 10 ] || fail "only $windows windows"
[ -s "$tmp/detections" ] || fail "no keyword detected"
while read -r k; do
  case " $spoken " in *" $k "*) ;; *) fail "detected \"$k\", not spoken" ;; esac
done <"$tmp/detections"
[ $failed -eq 0 ] || { tail -40 "$tmp/mic.log"; exit 1; }
echo "1 passed, 0 failed"
