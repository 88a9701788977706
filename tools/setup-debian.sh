#!/bin/sh
# Install everything gst-beenet needs to build, test, train and run on Debian 12.
# Safe to re-run: apt-get skips what is already installed.
set -eu

PACKAGES="
  build-essential meson ninja-build pkg-config gettext
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  liborc-0.4-dev liborc-0.4-dev-bin check
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-espeak gstreamer1.0-pulseaudio
  espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
  festvox-italp16k festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv
  festvox-czech-dita festvox-czech-krb festvox-czech-machac festvox-czech-ph festvox-ca-ona-hts
  openttd-opensfx minetest-data sound-theme-freedesktop frozen-bubble-data colobot-common-sounds
  extremetuxracer-data asterisk-moh-opsound-wav tuxpaint-data tuxpaint-stamps-default crrcsim-data
  freeciv-data lincity-ng-data
  sox alsa-utils pulseaudio pulseaudio-utils locales
  python3 python3-numpy python3-torch python3-gi gir1.2-gstreamer-1.0
"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup-debian: installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
else
  echo "setup-debian: all packages present"
fi
