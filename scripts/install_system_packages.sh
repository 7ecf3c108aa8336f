#!/usr/bin/env bash
# System libraries that Qt (xcb platform) and VTK (OpenGL via Mesa) need, plus Xvfb for the tests.
# Debian/Ubuntu. Runs apt-get as root, or through sudo.
set -euo pipefail
PKGS=(xvfb xauth libgl1 libegl1 libxrender1 libosmesa6 libxkbcommon-x11-0 libxcb-cursor0
      libxcb-icccm4 libxcb-keysyms1 libxcb-xinerama0 libxcb-randr0 libxcb-render-util0
      libxcb-shape0 libxcb-image0 libdbus-1-3 libfontconfig1)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then echo "system packages: all present"; exit 0; fi
echo "installing: ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
