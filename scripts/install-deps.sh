#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine with Python:
# the project with its test extras (pip), then each system part in scripts/deps.d/.
set -euo pipefail
cd "$(dirname "$0")/.."
# scripts/test.sh sets PYTHON to the project venv's interpreter.
"${PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check -e '.[test]'
for part in scripts/deps.d/*.sh; do
  [ -e "$part" ] || continue
  bash "$part"
done
