"""tmux: `workbench DIR` on a project Workbench made opens it for evolve, its spec in the
editor; add `--limit` to the spec, ctrl+s, see the spec diff, approve, see the 3-way
preview, approve: done, and git log shows one "Evolve" commit. (The issue's "type 'add an
option --limit to slice'" needs a model; offline, the same change is made in the editor.)"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import pytest
from test_start_tmux import tmux_env
from test_tui_tmux import short_dir, tmux_at, workbench_command  # noqa: F401 - fixtures

pytestmark = [
    pytest.mark.needs_engine,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ui"))


def test_open_project_edit_spec_approve_preview_approve_one_evolve_commit(tmux_at, tmp_path, short_dir):  # noqa: F811
    from screen_host import git, make_project

    project = make_project(short_dir)
    head = git(project, "rev-parse", "HEAD").strip()
    spec = (project / "docs" / "spec.md").read_text().splitlines()
    at = spec.index("  options:")  # the first command's options: --limit goes first among them
    home = tmp_path / "home"
    home.mkdir()
    t = tmux_at(160, 45)
    t.start(f"{workbench_command()} {project}", tmux_env(home, tmp_path), short_dir)
    t.wait_for(f"Evolve {project}", 30)
    t.wait_for("  options:", 30)  # its spec, in the editor
    time.sleep(0.5)
    t.keys("C-Home")
    t.wait_cursor(1)
    t.keys(*["Down"] * (at + 1))  # the start of the line after "  options:"
    t.wait_cursor(at + 2)
    added = ("  - name: limit", "    type: int", "    default: 10", "    help: At most this many")
    for n, line in enumerate(added):  # each line typed whole, then its Enter, seen handled
        t.keys(line, literal=True)
        t.keys("Enter")
        t.wait_cursor(at + 3 + n)
    screen = t.screen()
    shown = [row.split("▎")[0].rstrip() for row in screen.splitlines()]
    first = next((i for i, row in enumerate(shown) if row.endswith("- name: limit")), None)
    assert first is not None, screen
    assert shown[first - 1].endswith("  options:"), screen  # where it was meant to go
    assert [row[-len(line):] for row, line in zip(shown[first:], added)] == list(added), screen
    t.keys("C-s")
    screen = t.wait_for("spec gate", 60)
    assert "+ option --limit" in screen, screen
    assert git(project, "rev-parse", "HEAD").strip() == head
    t.keys("y")
    screen = t.wait_for("plan gate", 180)
    assert "docs/spec.md" in screen and "merged result:" in screen, screen  # side by side at 160
    t.keys("y")
    t.wait_for("Done:", 180)
    log = git(project, "log", "--format=%s", f"{head}..HEAD").splitlines()
    assert len(log) == 1 and log[0].startswith("Evolve "), log
    assert "name: limit" in (project / "docs" / "spec.md").read_text()
    t.keys("Escape")
    t.keys("C-q")
