#!/usr/bin/env bash
# Debian's prometheus-pushgateway: the real Pushgateway the metrics tests push to
# (tests/report/test_metrics_live.py), scraped there by the real Prometheus.
set -euo pipefail
if command -v prometheus-pushgateway >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "tests/report need Debian's prometheus-pushgateway package: sudo apt-get install prometheus-pushgateway" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus-pushgateway >/dev/null
# The package may start a system service; tests start their own on free ports.
(systemctl stop prometheus-pushgateway 2>/dev/null || service prometheus-pushgateway stop 2>/dev/null || true) >/dev/null 2>&1
