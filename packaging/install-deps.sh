#!/usr/bin/env bash
# Installs the Debian packages Kizuna needs to build, test and run.
# Runs apt-get only when something is missing. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkgconf
  libglib2.0-dev libjson-glib-dev libsqlite3-dev libxml2-dev libltdl-dev
  sqlite3 libxml2-utils jq binutils
  clang-format clang git
  libcurl4-openssl-dev python3 python3-aiosmtpd openssl
  chromium python3-pil
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
