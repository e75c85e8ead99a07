#!/usr/bin/env bash
# Debian's victoria-metrics package: a second real backend for tests/sources (same data, same snapshot).
set -euo pipefail
if command -v victoria-metrics >/dev/null 2>&1; then
  exit 0
fi
source "$(dirname "$0")/../lib/apt-install.sh"
apt_install victoria-metrics "tests/sources compare against VictoriaMetrics"
