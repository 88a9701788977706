#!/bin/sh
# Classify live audio from the default PulseAudio (or PipeWire-Pulse) source.
#
#   pipelines/microphone.sh [beenet-property=value ...]
#   DEVICE=alsa_input.usb-... pipelines/microphone.sh      (pick a source)
#   NUM_BUFFERS=100 pipelines/microphone.sh                (stop by itself)
#
# Stop with Ctrl-C (-e sends EOS first, so the last window is classified).
set -eu
. "$(dirname "$0")/env.sh"
src="pulsesrc"
[ -n "${DEVICE:-}" ] && src="$src device=$DEVICE"
[ -n "${NUM_BUFFERS:-}" ] && src="$src num-buffers=$NUM_BUFFERS"
# shellcheck disable=SC2086
exec gst-launch-1.0 -m -e $src ! audioconvert ! \
  beenet "$@" ! fakesink
