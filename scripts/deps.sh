#!/usr/bin/env bash
# Installs what the build and the tests need, from Debian packages and the npm
# registry only (pinned where we can). Idempotent: skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_pkgs=(cmake gcc make pkg-config libpng-dev zlib1g-dev unicode-data python3)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
