#!/bin/sh
# Installs the build into a temporary DESTDIR (`meson install --destdir`)
# and checks the Debian layout of README "Install": the plugin in
# GStreamer's plugin directory, libbeenet.so.0 with its SONAME, the header,
# a beenet.pc that pkg-config resolves, the models, beenet-classify and its
# man page, beenet-tune and its launcher, the docs the plugin's origin and
# the element's doc-uri name (checked through gst-inspect-1.0); then compiles and links a small C program against the installed
# header and library through pkg-config and runs it.
#
#   test-install.sh BUILD_ROOT
#
# The paths come from the build's own configuration (meson introspect), so
# the test holds for any --prefix/--libdir; README gives the Debian ones.
set -eu
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
dest=$tmp/dest
failed=0
fail() { echo "FAIL: $*"; failed=1; }

opt() {
  meson introspect --buildoptions "$build" | /usr/bin/python3 -c '
import json, sys
print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1"
}
prefix=$(opt prefix)
libdir=$(opt libdir)
case $libdir in /*) ;; *) libdir=$prefix/$libdir ;; esac
includedir=$prefix/$(opt includedir)
datadir=$prefix/$(opt datadir)
bindir=$prefix/$(opt bindir)
mandir=$prefix/$(opt mandir)
version=$(meson introspect --projectinfo "$build" | /usr/bin/python3 -c '
import json, sys; print(json.load(sys.stdin)["version"])')
major=${version%%.*}

meson install -C "$build" --destdir "$dest" --no-rebuild --quiet \
  >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }

check_file() {
  if [ -f "$dest$1" ]; then echo "ok: $1"; else fail "missing $1"; fi
}
check_file "$libdir/gstreamer-1.0/libgstbeenet.so"
check_file "$libdir/libbeenet.so.$version"
check_file "$includedir/beenet/beenet.h"
check_file "$libdir/pkgconfig/beenet.pc"
for m in kws12 kws12-birealnet kws12-densenet kws12-meliusnet lid6-quicknet lid6-birealnet lid6-densenet lid6-meliusnet kws31-quicknet kws31-birealnet kws31-densenet kws31-meliusnet; do check_file "$datadir/beenet/models/$m.gguf"; done
check_file "$bindir/beenet-classify"
check_file "$mandir/man1/beenet-classify.1"
check_file "$bindir/beenet-tune"
[ -x "$dest$bindir/beenet-tune" ] || fail "$bindir/beenet-tune is not executable"
check_file "$datadir/applications/beenet-tune.desktop"
# the plugin's origin and the element's doc-uri (file:// URIs of these)
check_file "$datadir/doc/gst-beenet/README.md"
check_file "$datadir/doc/gst-beenet/docs/element.md"
for l in "libbeenet.so.$major" libbeenet.so; do
  if [ -L "$dest$libdir/$l" ]; then echo "ok: $libdir/$l (symlink)"
  else fail "missing symlink $libdir/$l"; fi
done

# The installed plugin's doc-uri and origin name installed files (the
# element test test-beenet-metadata checks them against the source tree).
if command -v gst-inspect-1.0 >/dev/null 2>&1; then
  GST_PLUGIN_PATH="$dest$libdir/gstreamer-1.0" GST_PLUGIN_SYSTEM_PATH_1_0= \
    GST_REGISTRY="$tmp/registry.bin" gst-inspect-1.0 beenet \
    >"$tmp/inspect.log" 2>&1 || true
  for f in 'Doc-uri' 'Origin URL'; do
    uri=$(sed -n "s|^ *$f  *\(file://.*\)|\1|p" "$tmp/inspect.log")
    if [ -n "$uri" ] && [ -f "$dest${uri#file://}" ]; then echo "ok: $f $uri"
    else fail "$f '$uri' is not an installed file"; fi
  done
fi
# beenet-tune starts from the install (python3-gi with Gst needed)
if /usr/bin/python3 -c 'import gi; gi.require_version("Gst", "1.0")' 2>/dev/null; then
  "$dest$bindir/beenet-tune" --help >/dev/null && echo "ok: beenet-tune --help" ||
    fail "installed beenet-tune --help"
fi

soname=$(readelf -d "$dest$libdir/libbeenet.so.$version" | \
  sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libbeenet.so.$major" ] && echo "ok: SONAME $soname" || \
  fail "SONAME is '$soname', expected libbeenet.so.$major"

# The man page documents every long option of beenet-classify --help.
for o in $("$dest$bindir/beenet-classify" --help | \
    sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}--\([a-z-]*\).*/\2/p'); do
  [ "$o" = help ] && continue
  grep -q -- "$(echo "$o" | sed 's/-/\\\\-/g')" "$dest$mandir/man1/beenet-classify.1" || \
    fail "man page lacks --$o"
done

# pkg-config through the DESTDIR, as a cross/sysroot build would see it.
export PKG_CONFIG_PATH="$dest$libdir/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$dest"
flags=$(pkg-config --cflags --libs beenet) || fail "pkg-config beenet"
echo "pkg-config --cflags --libs beenet: $flags"
[ "$(pkg-config --modversion beenet)" = "$version" ] || fail "beenet.pc version"

cat >"$tmp/hello.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <beenet.h>

int
main (void)
{
  const char *v = beenet_version ();
  printf ("libbeenet %s, kernels %s, %zu policies\n", v,
      beenet_kernel_name (), beenet_policy_count ());
  return v != NULL && strlen (v) > 0 ? 0 : 1;
}
C
# shellcheck disable=SC2086
if ${CC:-cc} -std=c11 -Wall -Wextra -Werror -o "$tmp/hello" "$tmp/hello.c" \
    $flags; then
  out=$(LD_LIBRARY_PATH="$dest$libdir" "$tmp/hello") || fail "hello failed"
  echo "$out"
  case $out in "libbeenet $version,"*) ;; *) fail "hello printed '$out'";; esac
  needed=$(readelf -d "$tmp/hello" | sed -n 's/.*(NEEDED).*\[\(libbeenet[^]]*\)\]/\1/p')
  [ "$needed" = "libbeenet.so.$major" ] && echo "ok: hello needs $needed" || \
    fail "hello needs '$needed'"
else
  fail "could not compile against the installed libbeenet"
fi
exit $failed
