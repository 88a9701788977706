#!/bin/sh
# Synthesise speech with eSpeak (gstreamer1.0-espeak) and classify it.
#
#   pipelines/espeak.sh ["TEXT"] [beenet-property=value ...]
#   e.g. pipelines/espeak.sh "yes no up down" threshold=0.3
#
# eSpeak speaks fast; gap=100 puts 1 s between words (the element spaces
# its detections by the refractory period, 1 s by default) and punctuation
# adds more ("yes. no. up.").
set -eu
. "$(dirname "$0")/env.sh"
text=${1:-"yes. no. up. down. left. right. on. off. stop. go."}
[ $# -gt 0 ] && shift
exec gst-launch-1.0 -m espeak gap=100 text="$text" ! audioconvert ! \
  beenet "$@" ! fakesink
