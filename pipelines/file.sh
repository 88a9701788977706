#!/bin/sh
# Classify an audio file of any format GStreamer can decode.
#
#   pipelines/file.sh FILE [beenet-property=value ...]
#   e.g. pipelines/file.sh speech.ogg threshold=0.3 interval=250000000
#
# Prints every bus message (-m); the classifier's are the
# `beenet, timestamp=..., label=..., confidence=...` element messages.
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 FILE [beenet-property=value ...]" >&2
  exit 2
fi
. "$(dirname "$0")/env.sh"
file=$1
shift
exec gst-launch-1.0 -m filesrc location="$file" ! decodebin ! audioconvert ! \
  beenet "$@" ! fakesink
