#!/bin/sh
# Synthesise speech with eSpeak (gstreamer1.0-espeak) and classify it.
#
#   pipelines/espeak.sh ["TEXT"] [beenet-property=value ...]
#   e.g. pipelines/espeak.sh "yes no up down" threshold=0.3
#
# eSpeak speaks fast; pauses come from punctuation ("yes. no. up.").
set -eu
. "$(dirname "$0")/env.sh"
text=${1:-"yes. no. up. down. left. right. on. off. stop. go."}
[ $# -gt 0 ] && shift
exec gst-launch-1.0 -m espeak text="$text" ! audioconvert ! audioresample ! \
  beenet "$@" ! fakesink
