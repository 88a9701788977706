#!/bin/sh
# Set up, build and run the whole gst-beenet test suite, twice:
#   build/       normal build (-Werror), every suite incl. the Python trainer tests
#   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer build of the C code
# This is the README's test command and what CI (.ci/run) runs.
set -eu
cd "$(dirname "$0")/.."
tools/setup-debian.sh

setup() {
  dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then
    meson setup --reconfigure "$dir" "$@"
  else
    meson setup "$dir" "$@"
  fi
}

setup build --werror
meson compile -C build
meson test -C build --print-errorlogs --num-processes 2

setup build-asan --werror -Db_sanitize=address,undefined -Db_lundef=false \
  -Dpython-tests=disabled
meson compile -C build-asan
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  meson test -C build-asan --print-errorlogs --num-processes 2 --no-suite acceptance
echo "run-tests: all suites passed (normal and sanitizer builds)"
