#!/bin/sh
# Runs a gst-launch-1.0 pipeline that fails during preroll RUNS times and
# counts the runs that do not exit (killed by `timeout`): the "hang" of
# issue 12 (docs/reliability.md).
#
#   tools/launch-error-loop.sh [-d MS] RUNS beenet|capsfilter|resample [BUILDDIR]
#
#   beenet      filesrc ! wavparse ! beenet ! fakesink       (48 kHz float
#               stereo WAV: beenet refuses the caps)
#   capsfilter  the same with a capsfilter refusing them in beenet's place
#   resample    ... ! audioconvert ! audioresample ! beenet ! ... (no error)
#   -d MS       LD_PRELOAD a shim that sleeps MS ms before gst-launch's
#               g_main_loop_run (needs cc): makes the race deterministic.
#
# Prints "MODE: RUNS runs, H hung".  Every run is wrapped in `timeout 15`.
set -eu
delay=0
if [ "${1:-}" = "-d" ]; then delay=$2; shift 2; fi
runs=${1:?usage: $0 [-d MS] RUNS MODE [BUILDDIR]}
mode=${2:?usage: $0 [-d MS] RUNS MODE [BUILDDIR]}
build=$(cd "${3:-build}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gst-launch-1.0 -q audiotestsrc num-buffers=100 ! \
  audio/x-raw,rate=48000,channels=2,format=F32LE ! wavenc ! \
  filesink location="$tmp/x.wav"

preload=
if [ "$delay" -gt 0 ]; then
  cat > "$tmp/delay.c" <<EOC
#define _GNU_SOURCE
#include <dlfcn.h>
#include <unistd.h>
void g_main_loop_run (void *loop)
{
  void (*run) (void *) = (void (*) (void *)) dlsym (RTLD_NEXT,
      "g_main_loop_run");
  usleep ($delay * 1000);
  run (loop);
}
EOC
  cc -shared -fPIC -o "$tmp/delay.so" "$tmp/delay.c" -ldl
  preload="$tmp/delay.so"
fi

case $mode in
  beenet) middle="beenet" ;;
  capsfilter) middle="audio/x-raw,rate=16000" ;;
  resample) middle="audioconvert ! audioresample ! beenet" ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac

hung=0
i=0
while [ "$i" -lt "$runs" ]; do
  i=$((i + 1))
  rc=0
  # shellcheck disable=SC2086
  LD_PRELOAD=$preload GST_PLUGIN_PATH="$build/gst" \
    GST_REGISTRY="$build/registry-launch-loop.bin" \
    timeout 15 gst-launch-1.0 filesrc location="$tmp/x.wav" ! wavparse ! \
    $middle ! fakesink >"$tmp/log" 2>&1 || rc=$?
  if [ "$rc" -eq 124 ]; then hung=$((hung + 1)); fi
done
echo "$mode: $runs runs, $hung hung"
