#!/usr/bin/env bash
# Debian's prometheus package: the real server and promtool for tests/sources.
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
source "$(dirname "$0")/../lib/apt-install.sh"
apt_install prometheus "tests/sources need Debian's prometheus package"
