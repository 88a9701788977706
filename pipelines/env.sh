# Sourced by the pipeline scripts: makes the beenet plugin visible.
#
# If GStreamer already finds an installed `beenet` element nothing changes.
# Otherwise the plugin is taken from a build directory: $BEENET_BUILD_DIR if
# set, else <repo>/build.  (Its gst/ subdirectory holds libgstbeenet.so.)

beenet_repo=$(cd "$(dirname "$0")/.." && pwd)
if ! gst-inspect-1.0 beenet >/dev/null 2>&1; then
  build=${BEENET_BUILD_DIR:-$beenet_repo/build}
  if [ ! -e "$build/gst/libgstbeenet.so" ]; then
    echo "beenet plugin not installed and not found in $build/gst;" >&2
    echo "build it (meson setup build && ninja -C build) or set BEENET_BUILD_DIR" >&2
    exit 1
  fi
  GST_PLUGIN_PATH="$build/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}"
  export GST_PLUGIN_PATH
fi
