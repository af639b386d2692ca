#!/usr/bin/env bash
# Install the headless browser the report tests drive (tests/report/test_report_browser.py).
# Idempotent: does nothing when Debian's chromium is already present. Uses Debian's package,
# never `playwright install`, so the browser comes from the distribution's signed archive.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo unknown version)"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-dejavu-core
/usr/bin/chromium --version
