#!/usr/bin/env bash
# Debian's prometheus package: the real server and promtool for tests/sources.
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
# root, or passwordless sudo (GitHub's runners); otherwise the Prometheus tests skip, saying why.
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "tests/sources need Debian's prometheus package: sudo apt-get install prometheus" >&2
  exit 0
fi
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
# The package may start a system service; tests start their own servers on free ports.
("${as_root[@]}" systemctl stop prometheus 2>/dev/null || "${as_root[@]}" service prometheus stop 2>/dev/null || true) >/dev/null 2>&1
