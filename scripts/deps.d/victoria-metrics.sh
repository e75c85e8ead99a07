#!/usr/bin/env bash
# Debian's victoria-metrics package: a second real backend for tests/sources (same data, same snapshot).
set -euo pipefail
if command -v victoria-metrics >/dev/null 2>&1; then
  exit 0
fi
# root, or passwordless sudo (GitHub's runners); otherwise the VictoriaMetrics tests skip, saying why.
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "tests/sources compare against VictoriaMetrics: sudo apt-get install victoria-metrics" >&2
  exit 0
fi
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends victoria-metrics >/dev/null
# The package may start a system service; tests start their own servers on free ports.
("${as_root[@]}" systemctl stop victoria-metrics 2>/dev/null || "${as_root[@]}" service victoria-metrics stop 2>/dev/null || true) >/dev/null 2>&1
