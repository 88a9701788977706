#!/bin/sh
# Try microphone.sh without a microphone: starts a private PulseAudio daemon
# (own HOME and XDG_RUNTIME_DIR, so it never touches a desktop session) with
# a null sink and a virtual microphone (module-remap-source on the sink's
# monitor), plays FILE into the sink in a loop and classifies what the
# virtual microphone captures.
#
#   pipelines/virtual-mic.sh FILE [NUM_BUFFERS] [beenet-property=value ...]
#
# NUM_BUFFERS (default 200, pulsesrc buffers of 10 ms) bounds the run.
# (module-pipe-source is avoided on purpose: it blocks when nobody writes.)
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 FILE [NUM_BUFFERS] [beenet-property=value ...]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
file=$1
shift
num_buffers=200
if [ $# -gt 0 ]; then
  case $1 in *=*) ;; *) num_buffers=$1; shift ;; esac
fi

tmp=$(mktemp -d)
mkdir -p "$tmp/home" "$tmp/run"
chmod 700 "$tmp/run"
HOME=$tmp/home
XDG_RUNTIME_DIR=$tmp/run
export HOME XDG_RUNTIME_DIR

pulseaudio -n --daemonize=no --exit-idle-time=-1 --disable-shm=yes \
  --load=module-native-protocol-unix \
  --load="module-null-sink sink_name=beenet_sink" \
  --load="module-remap-source master=beenet_sink.monitor source_name=beenet_mic" \
  >"$tmp/pulseaudio.log" 2>&1 &
pa_pid=$!
player_pid=

# The player goes first, its gst-launch-1.0 included (it is a child of the
# loop's subshell, which a signal does not pass on to): a player still
# running when the daemon exits would print ERROR blocks about the lost
# connection at the end of a good run.
stop_player() {
  [ -n "$player_pid" ] || return 0
  children=$(pgrep -P "$player_pid" || true)
  kill "$player_pid" 2>/dev/null || true
  # shellcheck disable=SC2086
  [ -z "$children" ] || kill $children 2>/dev/null || true
  wait "$player_pid" 2>/dev/null || true
  player_pid=
}

cleanup() {
  stop_player
  kill "$pa_pid" 2>/dev/null || true
  wait "$pa_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

i=0
until pactl info >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 50 ]; then
    echo "private PulseAudio daemon did not start:" >&2
    cat "$tmp/pulseaudio.log" >&2
    exit 1
  fi
  sleep 0.1
done

# feed the virtual microphone (its messages go to a log: they are not the
# classifier's, and a player cut off at the end is no error)
( while :; do gst-launch-1.0 -q filesrc location="$file" ! decodebin ! \
    audioconvert ! audioresample ! pulsesink device=beenet_sink || exit 0; \
  done ) >"$tmp/player.log" 2>&1 &
player_pid=$!

status=0
DEVICE=beenet_mic NUM_BUFFERS=$num_buffers "$here/microphone.sh" "$@" || status=$?
stop_player
exit $status
