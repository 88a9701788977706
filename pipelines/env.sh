# Sourced by the pipeline scripts: makes the beenet plugin visible.
#
# With $BEENET_BUILD_DIR set, the plugin of that build directory is used
# (its gst/ subdirectory holds libgstbeenet.so).  Otherwise, if GStreamer
# already finds an installed `beenet` element nothing changes, else the
# plugin is taken from <repo>/build.

beenet_repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${BEENET_BUILD_DIR:-}" ] || ! gst-inspect-1.0 beenet >/dev/null 2>&1; then
  build=${BEENET_BUILD_DIR:-$beenet_repo/build}
  if [ ! -e "$build/gst/libgstbeenet.so" ]; then
    echo "beenet plugin not installed and not found in $build/gst;" >&2
    echo "build it (meson setup build && ninja -C build) or set BEENET_BUILD_DIR" >&2
    exit 1
  fi
  GST_PLUGIN_PATH="$build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
  export GST_PLUGIN_PATH
fi
