#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine with Python:
# the project with its test extras (pip), then each system part in scripts/deps.d/.
set -euo pipefail
cd "$(dirname "$0")/.."
# Inside scripts/test.sh this is the project venv's python; alone, whatever python is first on PATH.
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
for part in scripts/deps.d/*.sh; do
  [ -e "$part" ] || continue
  bash "$part"
done
