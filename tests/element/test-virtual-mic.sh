#!/bin/sh
# The microphone path in CI (issue 11): pipelines/virtual-mic.sh starts a
# private PulseAudio daemon (own HOME and XDG_RUNTIME_DIR under a temporary
# directory) with a virtual microphone, plays speech into it, and runs
# `pulsesrc ! audioconvert ! beenet ! fakesink` on it in real time with the
# build's plugin, the built-in model and the element's defaults.
# The speech is held-out *recorded* speech: the ten keywords said by slt,
# the recorded speaker of the test split (flite:slt; docs/data.md "Split
# policy"), synthesised here with flite and laid out with `sox -R`
# (recorded-keywords.py synth: a word every 2 s, 0.5 s into its slot).
# Checks:
#  - the run ends with status 0 and prints no ERROR (the script used to end
#    a good run with ERROR blocks from its player); windows were classified;
#  - (recorded-keywords.py check) the player's start offset is unknown: the
#    one that puts most keyword windows at their words' times (modulo the
#    20 s sequence, so a window that starts at the sequence's end holds the
#    next pass's first word) is used; every keyword detected must be at the
#    time of a spoken word (the window that fired overlaps half of that word
#    or more), at most 1 of them with another word's label, and at least 5 of
#    the 10 words must have a window at their time classified as the word.
# Why these bounds (`recorded-keywords.py measure build/tools/beenet-classify`,
# the words on file at 10 window phases, the shipped model v9 and its
# defaults): 56 of 100 words detected at their own time (v8: 46), and at
# 2 of the 10 (v8: 4)
# phases slt's "go" is also detected as "no" (one wrong label per phase at
# most: the model's commonest confusion, docs/training.md "The held-out
# recorded voice"), so a microphone run lands on such a phase about 2 times
# in 10; its windows classify at least 8 of the 10 words in every phase.
# Detections of the right word are not required (this voice is the model's
# weakest, docs/models.md); 5 words leaves room for the microphone path
# (PulseAudio's resampling, samples dropped on a loaded machine).
# The decision rule itself is tested on hand-made logs by
# test-recorded-keywords-check.py.
# Skips (77) when the capture dropped audio (see below: the times no
# longer match), and without pulseaudio, pactl, pgrep, flite (slt voice), sox,
# /usr/bin/python3 or the pulse plugin.
#
#   test-virtual-mic.sh SOURCE_ROOT BUILD_ROOT
set -eu
src=$1
build=$2
here=$(cd "$(dirname "$0")" && pwd)
export BEENET_BUILD_DIR=$build

for p in pulseaudio pactl pgrep flite sox /usr/bin/python3 gst-launch-1.0; do
  command -v $p >/dev/null 2>&1 || { echo "SKIP: $p not found"; exit 77; }
done
flite -lv | grep -qw slt || { echo "SKIP: flite has no slt voice"; exit 77; }
for e in pulsesrc pulsesink decodebin; do
  gst-inspect-1.0 $e >/dev/null 2>&1 || { echo "SKIP: no $e element"; exit 77; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
/usr/bin/python3 "$here/recorded-keywords.py" synth "$tmp"

# 2200 buffers of 10 ms: 22 s, every word of the 20 s sequence at least
# once (the 40 s file plays once: no restart gap inside the capture)
status=0
"$src/pipelines/virtual-mic.sh" "$tmp/keywords.wav" 2200 >"$tmp/mic.log" 2>&1 ||
  status=$?
windows=$(grep -c 'beenet, timestamp=' "$tmp/mic.log" || true)
echo "status $status, $windows windows"

failed=0
fail() { echo "FAIL: $*"; failed=1; }
[ "$status" -eq 0 ] || fail "virtual-mic.sh exited with $status"
if grep -q 'ERROR' "$tmp/mic.log"; then
  fail "ERROR in the output:"
  grep -A3 'ERROR' "$tmp/mic.log"
fi
# 22 s of audio, a window every 0.5 s (fewer if the loaded machine dropped
# samples: pulsesrc then warns and skips ahead)
[ "$windows" -ge 30 ] || fail "only $windows windows"
# A machine too loaded to record in real time drops audio (pulsesrc:
# "Can't record audio fast enough"); the element then restarts its windows
# at each gap and the capture's timeline no longer maps onto the player's
# by one offset (a CI run on 2026-12-02, with benchmarks running beside
# it, dropped 0.3 s of audio, and a detection of "up" then fell outside
# the slots of the offset that the other windows gave).  The run's status, errors and window count are still checked
# above; words and detections are not, and the test reports SKIP.
dropped=$(grep -c "Can't record audio fast enough" "$tmp/mic.log" || true)
[ $failed -eq 0 ] || { tail -40 "$tmp/mic.log"; exit 1; }
if [ "$dropped" -ne 0 ]; then
  echo "SKIP: pulsesrc dropped audio $dropped times (machine too loaded):" \
    "words and detections cannot be matched to the player's times"
  exit 77
fi
/usr/bin/python3 "$here/recorded-keywords.py" check "$tmp/mic.log" "$tmp" 5 1 \
  || { tail -40 "$tmp/mic.log"; exit 1; }
echo "1 passed, 0 failed"
