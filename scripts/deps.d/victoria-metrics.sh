#!/usr/bin/env bash
# Debian's victoria-metrics package: a second real backend for tests/sources (same data, same snapshot).
set -euo pipefail
if command -v victoria-metrics >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "tests/sources compare against VictoriaMetrics: sudo apt-get install victoria-metrics" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null
# The package may start a system service; tests start their own servers on free ports.
(systemctl stop victoria-metrics 2>/dev/null || service victoria-metrics stop 2>/dev/null || true) >/dev/null 2>&1
