#!/bin/sh
# Builds the Debian packages of debian/ from a copy of this tree, installs
# them, checks that GStreamer finds the installed element with no
# GST_PLUGIN_PATH (gst-inspect-1.0 and a pipeline) and that a program builds
# against the installed libbeenet via pkg-config, then removes the packages
# again, so the machine is left as it was (the test suite loads the build's
# plugin through GST_PLUGIN_PATH; see README "Debian packages").
#
#   tools/test-debian-package.sh [OUTDIR]
#
# The source is copied (tracked and untracked, non-ignored files) to a
# temporary directory, so the .debs, debian/tmp and obj-*/ never land in
# the tree or beside it; the .debs are kept in OUTDIR when given.
# Exit 77 (skip) when dpkg-buildpackage/debhelper are missing, when not
# root and sudo is unavailable, or when gstreamer1.0-beenet is already
# installed (it is not ours to remove).
set -eu
cd "$(dirname "$0")/.."
out=${1:-}
say() { echo "test-debian-package: $*"; }
PKGS="gstreamer1.0-beenet libbeenet0 libbeenet-dev beenet-tools"

if ! command -v dpkg-buildpackage >/dev/null || ! command -v dh >/dev/null; then
  say "SKIP: dpkg-buildpackage or debhelper missing (apt-get install dpkg-dev debhelper)"
  exit 77
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=""
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"
else say "SKIP: needs root or password-less sudo to install packages"; exit 77; fi
if dpkg-query -W -f='${Status}' gstreamer1.0-beenet 2>/dev/null | grep -q "ok installed"; then
  say "SKIP: gstreamer1.0-beenet is already installed; not touching it"
  exit 77
fi
if ! dpkg-checkbuilddeps >/dev/null 2>&1; then
  say "SKIP: build dependencies missing: $(dpkg-checkbuilddeps 2>&1 | sed 's/.*: //')"
  exit 77
fi

tmp=$(mktemp -d)
installed=0
cleanup() {
  if [ "$installed" -eq 1 ]; then
    say "removing $PKGS"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get purge -y -qq $PKGS >/dev/null
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

say "building packages (dpkg-buildpackage -us -uc -b) in $tmp"
mkdir "$tmp/gst-beenet"
git ls-files -z -co --exclude-standard | \
  xargs -0 tar -cf - --no-recursion | tar -xf - -C "$tmp/gst-beenet"
(cd "$tmp/gst-beenet" && \
  DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=2}" \
  dpkg-buildpackage -us -uc -b >"$tmp/build.log" 2>&1) || {
  tail -n 60 "$tmp/build.log"; say "FAIL: dpkg-buildpackage"; exit 1; }
grep -E '^ *[0-9]+/[0-9]+ .*test-install' "$tmp/build.log" | \
  sed 's/^/test-debian-package: dh_auto_test: /' || true
ls "$tmp"/*.deb
if [ -n "$out" ]; then mkdir -p "$out"; cp "$tmp"/*.deb "$out"/; fi

say "installing the packages"
installed=1
debs=""
for p in $PKGS; do debs="$debs $tmp/${p}_*.deb"; done
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $debs >/dev/null

failed=0
# the system installation alone: no plugin path, a fresh registry
unset GST_PLUGIN_PATH GST_PLUGIN_PATH_1_0 GST_PLUGIN_SYSTEM_PATH GST_PLUGIN_SYSTEM_PATH_1_0
export GST_REGISTRY="$tmp/registry.bin"
plugindir=$(pkg-config --variable=pluginsdir gstreamer-1.0)
gst-inspect-1.0 beenet >"$tmp/inspect.log" 2>&1 || true
# (/usr/lib and /lib are one directory on a merged-/usr system)
file=$(sed -n 's/^ *Filename  *//p' "$tmp/inspect.log")
if [ -n "$file" ] && \
    [ "$(readlink -f "$file")" = "$(readlink -f "$plugindir/libgstbeenet.so")" ]; then
  say "ok: gst-inspect-1.0 beenet finds $file (pluginsdir $plugindir)"
else
  cat "$tmp/inspect.log"; say "FAIL: gst-inspect-1.0 beenet"; failed=1
fi
if gst-launch-1.0 -m audiotestsrc num-buffers=50 ! beenet ! fakesink \
    >"$tmp/launch.log" 2>&1; then
  n=$(grep -c 'beenet, timestamp=' "$tmp/launch.log" || true)
  say "ok: audiotestsrc num-buffers=50 ! beenet ! fakesink: $n beenet messages"
  [ "$n" -ge 1 ] || { say "FAIL: no beenet message"; failed=1; }
else
  tail -n 20 "$tmp/launch.log"; say "FAIL: gst-launch-1.0"; failed=1
fi
cat >"$tmp/hello.c" <<'C'
#include <stdio.h>
#include <beenet.h>
int main (void) { printf ("%s\n", beenet_version ()); return 0; }
C
# shellcheck disable=SC2046
if cc -std=c11 -Wall -Wextra -Werror -o "$tmp/hello" "$tmp/hello.c" \
    $(pkg-config --cflags --libs beenet) && "$tmp/hello" >/dev/null; then
  say "ok: a program builds and runs against libbeenet-dev ($(pkg-config --modversion beenet))"
else
  say "FAIL: building against libbeenet-dev"; failed=1
fi
if beenet-classify --model /usr/share/beenet/models/kws12.gguf --describe >/dev/null && \
    dpkg-deb -c "$tmp"/beenet-tools_*.deb | grep -q 'man1/beenet-classify.1'; then
  say "ok: beenet-classify, its man page and /usr/share/beenet/models/kws12.gguf"
else
  say "FAIL: beenet-tools"; failed=1
fi
# every installed model loads and states its network family
for m in /usr/share/beenet/models/*.gguf; do
  arch=$(beenet-classify --model "$m" --describe | sed -n 's/^architecture: //p')
  if [ -n "$arch" ] && [ "$arch" != "(not stated)" ]; then say "ok: $m ($arch)"
  else say "FAIL: $m does not load or states no architecture"; failed=1; fi
done
# the doc-uri and origin of the installed element name installed files
# (uncompressed: debian/rules keeps dh_compress off the .md files)
for f in 'Doc-uri' 'Origin URL'; do
  uri=$(sed -n "s|^ *$f  *\(file://.*\)|\1|p" "$tmp/inspect.log")
  if [ -n "$uri" ] && [ -f "${uri#file://}" ]; then say "ok: $f $uri"
  else say "FAIL: $f '$uri' is not an installed file"; failed=1; fi
done
if beenet-tune --help >/dev/null && \
    [ -f /usr/share/applications/beenet-tune.desktop ]; then
  say "ok: beenet-tune --help and its desktop launcher"
else
  say "FAIL: beenet-tune"; failed=1
fi
# With the packages installed, which copy does a GST_PLUGIN_PATH build use?
# (the test suite's situation on a machine with the package installed)
if [ -f build/gst/libgstbeenet.so ]; then
  f=$(GST_PLUGIN_PATH=$PWD/build/gst GST_REGISTRY="$tmp/registry-build.bin" \
    gst-inspect-1.0 beenet 2>/dev/null | sed -n 's/^ *Filename  *//p')
  say "with GST_PLUGIN_PATH=build/gst and the package installed, beenet is loaded from $f"
fi
[ "$failed" -eq 0 ] && say "PASSED" || say "FAILED"
exit $failed
