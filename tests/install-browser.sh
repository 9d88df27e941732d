#!/usr/bin/env bash
# Debian's Chromium and a Thai font for the browser tests; installs only what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
fc-list 2>/dev/null | grep -qiE "tlwg|noto sans thai|garuda|loma" || need+=(fonts-thai-tlwg)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "install-browser: need root to apt-get install ${need[*]}" >&2; exit 1; }
  echo "install-browser: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
