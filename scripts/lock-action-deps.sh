#!/usr/bin/env bash
# Regenerate requirements/action.lock: the action's runtime dependencies (from pyproject.toml)
# and its build backend (hatchling), every file pinned by sha256. action.yml installs them with
# `pip install --require-hashes`, so a compromised or re-uploaded release cannot slip in.
# Needs pip-tools (`pip install pip-tools`) and PyPI; run it when pyproject.toml's dependencies
# change, or to take updates (Dependabot/Renovate can do the same for a pip-compile file).
set -euo pipefail
cd "$(dirname "$0")/../requirements"
# PIP_CONFIG_FILE=/dev/null: resolve against PyPI only, whatever local indexes pip is set up with.
PIP_CONFIG_FILE=/dev/null pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --all-build-deps \
  --no-emit-index-url --no-emit-find-links --index-url https://pypi.org/simple \
  --output-file action.lock ../pyproject.toml
