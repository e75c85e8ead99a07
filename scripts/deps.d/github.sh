#!/usr/bin/env bash
# GitHub's REST description and real webhook payloads for tests/github (npm), installed into
# a project-local folder only when missing. zizmor/actionlint come from PyPI (the test extra).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=tests/github/.npm
want_openapi=23.0.2
want_examples=7.6.1
have() { [ -f "$dir/node_modules/@octokit/$1/package.json" ] && grep -q "\"version\": \"$2\"" "$dir/node_modules/@octokit/$1/package.json"; }
if have openapi "$want_openapi" && have webhooks-examples "$want_examples"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"
npm install --prefix "$dir" --no-audit --no-fund --silent --no-save \
  "@octokit/openapi@$want_openapi" "@octokit/webhooks-examples@$want_examples" 2>&1 | grep -v 'Unknown user config' || true
have openapi "$want_openapi" || { echo "github.sh: @octokit/openapi did not install" >&2; exit 1; }
