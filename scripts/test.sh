#!/usr/bin/env bash
# The whole test suite from nothing: a virtualenv in .venv, the project with its
# test extras, the system parts (Prometheus, GitHub's OpenAPI description), then pytest.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
  else
    echo "python3-venv is missing: install it (sudo apt-get install python3-venv)" >&2; exit 1
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
export PATH="$PWD/.venv/bin:$PATH"
export VIRTUAL_ENV="$PWD/.venv" PYTHON="$PWD/.venv/bin/python"
python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
bash scripts/install-deps.sh
python -m pytest -q "$@"
