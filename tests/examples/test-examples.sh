#!/bin/sh
# Runs the examples of examples/ (README "From C", "From Python") against
# this build's plugin and checks their output lines, their exit status on
# errors (a missing file, a URI, a PulseAudio device that does not exist:
# an error message and status 1, never a silent wait), and that the
# README's snippets are exact excerpts of them (check-readme.py).
#
#   test-examples.sh SOURCE_ROOT BUILD_ROOT BEENET_LISTEN
set -eu
src=$1
build=$2
c_listen=$3
export GST_PLUGIN_PATH="$build/gst"
export GST_REGISTRY="$build/registry-examples.bin"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=0
fail() { echo "FAIL: $*"; failed=1; }

/usr/bin/python3 "$src/tests/examples/check-readme.py" "$src" || fail "README snippets"

# 2.5 s of tone at 16 kHz: at the default model's interval (250 ms) windows
# at 0, 0.25, ..., 1.5 and padded ones at 1.75 and 2 s
gst-launch-1.0 -q audiotestsrc num-buffers=25 samplesperbuffer=1600 ! \
  audio/x-raw,rate=16000,channels=1 ! wavenc ! filesink location="$tmp/tone.wav"

# check_run NAME CMD...: a whole file, a live threshold change at 1 s
check_run() {
  name=$1; shift
  rc=0
  timeout 120 "$@" --retune-after 1 "$tmp/tone.wav" >"$tmp/out" 2>"$tmp/err" || rc=$?
  cat "$tmp/out"
  [ "$rc" -eq 0 ] || { cat "$tmp/err"; fail "$name: exit status $rc"; }
  n=$(grep -cE '^window [0-9]+\.[0-9]{3} s: [_a-z]+ exit [1-5]/5 entropy [0-9]+\.[0-9]{3}$' "$tmp/out" || true)
  [ "$n" -eq 9 ] || fail "$name: $n window lines, expected 9"
  for t in 0.000 0.250 0.500 0.750 1.000 1.250 1.500 1.750 2.000; do
    grep -q "^window $t s: " "$tmp/out" || fail "$name: no window at $t s"
  done
  grep -qx 'threshold 0.25 from 1.000 s' "$tmp/out" || fail "$name: no threshold line"
  [ "$(tail -n 1 "$tmp/out")" = "end of stream" ] || fail "$name: no end of stream"
  rc=0
  timeout 120 "$@" "file://$tmp/tone.wav" >"$tmp/out" 2>"$tmp/err" || rc=$?
  [ "$rc" -eq 0 ] && grep -q '^window 2.000 s: ' "$tmp/out" || \
    { cat "$tmp/err"; fail "$name: URI input (status $rc)"; }
}

# check_error NAME WHAT CMD...: status 1 and an error line, within the timeout
check_error() {
  name=$1; what=$2; shift 2
  rc=0
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [ "$rc" -eq 1 ] && grep -q '^error from ' "$tmp/err"; then
    echo "$name, $what: $(head -n 1 "$tmp/err")"
  else
    cat "$tmp/out" "$tmp/err"; fail "$name, $what: status $rc (124 = hung)"
  fi
}

check_examples() {
  name=$1; shift
  check_run "$name" "$@"
  check_error "$name" "missing file" "$@" "$tmp/no-such-file.wav"
  if gst-inspect-1.0 pulsesrc >/dev/null 2>&1; then
    check_error "$name" "bad device" "$@" --mic --device no-such-device-beenet
  else
    echo "SKIP $name, bad device: no pulsesrc"
  fi
}

# README: "cc beenet-listen.c $(pkg-config --cflags --libs gstreamer-1.0)"
# shellcheck disable=SC2046
${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$tmp/beenet-listen" \
  "$src/examples/c/beenet-listen.c" $(pkg-config --cflags --libs gstreamer-1.0) \
  && echo "beenet-listen.c builds on its own with pkg-config gstreamer-1.0" \
  || fail "beenet-listen.c does not build on its own"

check_examples beenet-listen "$c_listen"
if /usr/bin/python3 -c 'import gi; gi.require_version("Gst", "1.0")' 2>/dev/null; then
  check_examples beenet_listen.py /usr/bin/python3 "$src/examples/python/beenet_listen.py"
else
  echo "SKIP beenet_listen.py: python3-gi / gir1.2-gstreamer-1.0 missing"
fi
exit $failed
