#!/usr/bin/env bash
# Regenerate the TUI snapshots and copy them to screenshots/ under readable names.
#   scripts/update-screenshots.sh            copy the current snapshots
#   scripts/update-screenshots.sh --update   re-render them first (pytest --snapshot-update)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
if [ "${1:-}" = "--update" ]; then
  "$PY" -m pytest tests/ui/test_snapshots.py -q -p no:cacheprovider --snapshot-update
fi
src=tests/ui/__snapshots__/test_snapshots
mkdir -p screenshots
n=0
for f in "$src"/test_snapshot\[*\].svg; do
  [ -e "$f" ] || { echo "no snapshots in $src: run with --update" >&2; exit 1; }
  name=$(basename "$f" .svg)            # test_snapshot[120x40-drafted]
  name=${name#test_snapshot[}; name=${name%]}   # 120x40-drafted
  size=${name%%-*}; state=${name#*-}
  cp "$f" "screenshots/tui-${state}-${size}.svg"
  n=$((n + 1))
done
echo "copied $n screenshots to screenshots/"
