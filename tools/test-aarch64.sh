#!/bin/sh
# Test the NEON kernel set (engine/kernels-neon.c) on an x86-64 machine:
# cross-compile the standalone kernel test (tests/engine/
# test-kernels-standalone.c with engine/kernels*.c, plain C, nothing but
# libc) statically for aarch64 and run it under qemu-user, which compares
# the neon and portable sets on hundreds of random shapes.
#
#   tools/test-aarch64.sh [OUTDIR] [-- TEST-ARGS...]
#
# OUTDIR (default build-aarch64) receives the binary.  TEST-ARGS go to the
# test (e.g. --iters 1000 --seed 7).  The cross toolchain and qemu are
# installed with apt-get when missing (root or sudo, Debian 12:
# gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user).
#
# Exit status: 0 passed; 1 a mismatch, a build error, or the neon set not
# tested; 77 SKIPPED (toolchain or qemu unavailable and not installable),
# printed as such, never a silent pass.
# On a native aarch64 machine use the meson build instead: it compiles the
# neon set and runs engine-kernels-standalone-neon and engine-kernels-set-neon.
#
# qemu translates every instruction, so timings under it say nothing about
# NEON speed; this only checks results.
set -eu
cd "$(dirname "$0")/.."

out=build-aarch64
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  out=$1; shift
fi
[ $# -gt 0 ] && [ "$1" = "--" ] && shift

CC=aarch64-linux-gnu-gcc
QEMU=qemu-aarch64
PACKAGES="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
elapsed() { ms=$(( $(now_ms) - $1 )); printf '%d.%03d s' $((ms / 1000)) $((ms % 1000)); }

have_tools() {
  command -v "$CC" >/dev/null 2>&1 && command -v "$QEMU" >/dev/null 2>&1 \
    && [ -f /usr/aarch64-linux-gnu/lib/libc.a ]
}

if ! have_tools; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"
  else
    echo "test-aarch64: SKIPPED: $CC / $QEMU missing and not root to install them ($PACKAGES)"
    exit 77
  fi
  t0=$(now_ms)
  echo "test-aarch64: installing $PACKAGES"
  if ! { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
          --no-install-recommends $PACKAGES >/dev/null 2>&1 \
      || { $SUDO apt-get update -qq \
          && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
              --no-install-recommends $PACKAGES >/dev/null; }; }; then
    echo "test-aarch64: SKIPPED: apt-get could not install $PACKAGES"
    exit 77
  fi
  echo "test-aarch64: installed in $(elapsed "$t0")"
  if ! have_tools; then
    echo "test-aarch64: SKIPPED: $CC / $QEMU still missing after apt-get"
    exit 77
  fi
fi

t0=$(now_ms)
mkdir -p "$out"
exe=$out/test-kernels-standalone
# The project's own C flags (meson: c_std=c11, warning_level=2, --werror).
# ISO C11 also means -ffp-contract=off, which the never-fused output
# transforms rely on (the test checks it).
$CC -std=c11 -D_GNU_SOURCE -O2 -g -static -Wall -Wextra -Werror \
  -DBEENET_HAVE_NEON -Iengine \
  -o "$exe" tests/engine/test-kernels-standalone.c \
  engine/kernels.c engine/kernels-portable.c engine/kernels-avx2.c \
  engine/kernels-avx512.c engine/kernels-neon.c engine/kernels-driver.c -lm
echo "test-aarch64: built $exe with $($CC -dumpfullversion 2>/dev/null || $CC -dumpversion) in $(elapsed "$t0")"

# Twice: on qemu's default CPU model (max: every extension qemu knows) and
# on a Cortex-A53, a plain ARMv8.0-A core like those of small boards, so
# the binary must not rely on anything newer.
status=0
for cpu in default cortex-a53; do
  t0=$(now_ms)
  log=$out/test-kernels-standalone-$cpu.log
  cpuarg=""
  [ "$cpu" = default ] || cpuarg="-cpu $cpu"
  rc=0
  # shellcheck disable=SC2086
  $QEMU $cpuarg "$exe" --set portable --set neon "$@" >"$log" 2>&1 || rc=$?
  sed 's/^/  /' "$log"
  if [ $rc -eq 0 ] && grep -q '^PASS: neon:' "$log"; then
    echo "test-aarch64: qemu-aarch64 ($cpu cpu): neon PASSED in $(elapsed "$t0")"
  elif [ $rc -eq 77 ]; then
    # Compiled in with BEENET_HAVE_NEON and baseline on aarch64: a skip
    # here is a bug, not a missing feature.
    echo "test-aarch64: qemu-aarch64 ($cpu cpu): FAILED: the neon set was SKIPPED"
    status=1
  else
    echo "test-aarch64: qemu-aarch64 ($cpu cpu): FAILED (exit $rc)"
    status=1
  fi
done
exit $status
