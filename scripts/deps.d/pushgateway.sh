#!/usr/bin/env bash
# Debian's prometheus-pushgateway: the real Pushgateway the metrics tests push to
# (tests/report/test_metrics_live.py), scraped there by the real Prometheus.
set -euo pipefail
if command -v prometheus-pushgateway >/dev/null 2>&1; then
  exit 0
fi
source "$(dirname "$0")/../lib/apt-install.sh"
apt_install prometheus-pushgateway "tests/report need Debian's prometheus-pushgateway package"
