#!/bin/sh
# Install everything gst-beenet needs to build, test, train and run on Debian 12.
# Safe to re-run: apt-get skips what is already installed.
set -eu

PACKAGES="
  build-essential meson ninja-build pkg-config gettext dpkg-dev debhelper
  libglib2.0-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  liborc-0.4-dev liborc-0.4-dev-bin libfftw3-dev check clang
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-espeak gstreamer1.0-pulseaudio
  espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
  festvox-italp16k festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv
  festvox-czech-dita festvox-czech-krb festvox-czech-machac festvox-czech-ph festvox-ca-ona-hts
  sox alsa-utils pulseaudio pulseaudio-utils locales wamerican fortunes valgrind
  fortunes-de fortunes-es fortunes-it fortunes-ru debian-faq-fr festvox-ru
  hyperfine procps pyflakes3
  gir1.2-gtk-4.0 python3-gi-cairo xvfb xauth imagemagick
  python3 python3-numpy python3-torch python3-matplotlib python3-gi gir1.2-gstreamer-1.0
"

# Recorded non-speech sounds for training and evaluation
# (train/beenet_train/data/sounds.py, docs/data.md): data packages only,
# installed without their Recommends (which would pull in the games).
SOUND_PACKAGES="
  openttd-opensfx minetest-data sound-theme-freedesktop frozen-bubble-data colobot-common-sounds
  extremetuxracer-data asterisk-moh-opsound-wav tuxpaint-data tuxpaint-stamps-default crrcsim-data
  freeciv-data lincity-ng-data
"

if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi

missing_of() {
  m=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || m="$m $p"
  done
  echo "$m"
}
missing=$(missing_of $PACKAGES)
missing_sounds=$(missing_of $SOUND_PACKAGES)
if [ -n "$missing$missing_sounds" ]; then
  echo "setup-debian: installing:$missing$missing_sounds"
  $SUDO apt-get update -qq
  if [ -n "$missing" ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
  fi
  if [ -n "$missing_sounds" ]; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing_sounds
  fi
else
  echo "setup-debian: all packages present"
fi
