#!/bin/sh
# Build the libFuzzer harnesses (clang, ASan+UBSan) in build-fuzz/ and run
# each for a bounded time on its corpus; prints the executions per harness.
#
#   tests/fuzz/run.sh [SECONDS_PER_HARNESS]     (default 60)
#
# Corpora grow in build-fuzz/corpus/<harness>/ (seeded each run by
# make-seeds); crashes are written to build-fuzz/artifacts/<harness>/.
# Exit status: 0 clean, 1 a harness found a crash / leak / UB, 77 clang
# (with libFuzzer) is missing.  Extra libFuzzer flags: FUZZ_FLAGS="...".
# CPU-friendly: run it under `nice -n 19` on a shared machine.
set -eu
cd "$(dirname "$0")/../.."
seconds=${1:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}

if ! command -v clang >/dev/null 2>&1 ||
    ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return 0; }' |
      clang -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1; then
  echo "fuzz: SKIPPED (no clang with libFuzzer; apt-get install clang)"
  exit 77
fi

if [ -f "$build/build.ninja" ]; then
  meson setup --reconfigure "$build" >/dev/null
else
  CC=clang meson setup "$build" --werror -Dfuzzing=enabled \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dtests=disabled -Dpython-tests=disabled >/dev/null
fi
harnesses="model wav element"
targets="tests/fuzz/make-seeds"
for h in $harnesses; do targets="$targets tests/fuzz/fuzz-$h"; done
# shellcheck disable=SC2086
ninja -C "$build" $targets >/dev/null

seeds="$build/seeds"
mkdir -p "$seeds/model" "$seeds/wav" "$seeds/element"
"$build/tests/fuzz/make-seeds" "$seeds"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
# GLib's slice allocator keeps freed blocks in its own caches: every input
# then ends with more mallocs than frees, so libFuzzer runs a full
# LeakSanitizer scan after each one (most of fuzz-element's time), and
# blocks leaked inside a slab stay hidden from it
export G_SLICE=${G_SLICE:-always-malloc}
status=0
for h in $harnesses; do
  corpus="$build/corpus/$h"
  art="$build/artifacts/$h"
  mkdir -p "$corpus" "$art"
  log="$build/fuzz-$h.log"
  rc=0
  # -max_len: the seeds are small; larger inputs only slow the mutations
  dict=
  if [ -f "tests/fuzz/$h.dict" ]; then dict="-dict=tests/fuzz/$h.dict"; fi
  # shellcheck disable=SC2086
  "$build/tests/fuzz/fuzz-$h" -max_total_time="$seconds" \
    $dict -artifact_prefix="$art/" \
    -max_len=16384 -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
    ${FUZZ_FLAGS:-} "$corpus" "$seeds/$h" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz-$h: ${execs:-?} executions in ${seconds} s, $cov, no crash"
  else
    echo "fuzz-$h: FAILED (exit $rc) after ${execs:-?} executions; see $log"
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -n 5
    status=1
  fi
done
exit $status
