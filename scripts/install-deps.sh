#!/bin/sh
# Installs the Debian 12 packages that sovereignd's build, tests and demo
# need. Safe to run again: it does nothing when everything is there.
set -eu

PKGS="build-essential cmake pkg-config python3 clang-format
libuv1-dev libwebsockets-dev libwebsockets-evlib-uv libcurl4-openssl-dev
libjansson-dev libsodium-dev libsqlite3-dev libsystemd-dev libinih-dev
libopus-dev libspeexdsp-dev libsndfile1-dev portaudio19-dev
libespeak-ng-dev espeak-ng-data espeak-ng libpocketsphinx-dev
pocketsphinx-en-us libasound2-plugins alsa-utils sox systemd sqlite3 curl"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
