#!/bin/sh
# ThreadSanitizer run of the element's concurrency test (issue 12,
# docs/reliability.md "Concurrency"): writer threads set every live
# property, model included, while audio flows through the element.
#
#   tools/tsan-test.sh [BUILDDIR]        # default build-tsan
#
# Sets up BUILDDIR with -Db_sanitize=thread (the default compiler, gcc on
# Debian, with libtsan2; clang was not tried), builds only the plugin and
# tests/element/test-beenet-concurrency and runs that test through meson
# (TSAN_OPTIONS with halt_on_error=1 and tests/element/tsan.supp come
# from tests/element/meson.build).  About a minute on an idle 2-core
# machine, minutes under load (docs/reliability.md, "Concurrency").
#
# Exit status: 0 passed (no ThreadSanitizer report, the test's checks
# held); 1 a report, a failed check or a build error; 77 SKIPPED (no
# ThreadSanitizer runtime: a -fsanitize=thread program does not link or
# run), printed as such.
set -eu
cd "$(dirname "$0")/.."
dir=${1:-build-tsan}
cc=${CC:-cc}

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
t0=$(now_ms)

probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'int main (void) { return 0; }\n' > "$probe/t.c"
if ! "$cc" -fsanitize=thread "$probe/t.c" -o "$probe/t" >/dev/null 2>&1 \
    || ! "$probe/t" >/dev/null 2>&1; then
  echo "tsan-test: SKIPPED: $cc has no working ThreadSanitizer runtime" \
    "(gcc: libtsan2, clang: libclang-rt)"
  exit 77
fi

# an existing BUILDDIR is reused as it is (meson compile regenerates it
# when a meson.build changed); a full reconfigure costs minutes on a
# loaded 2-core machine
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" --werror -Db_sanitize=thread -Db_lundef=false \
    -Dpython-tests=disabled >/dev/null
fi
meson compile -C "$dir" gstbeenet test-beenet-concurrency
meson test -C "$dir" --no-rebuild --print-errorlogs test-beenet-concurrency
ms=$(( $(now_ms) - t0 ))
echo "tsan-test: passed in $((ms / 1000)) s (build and run)"
