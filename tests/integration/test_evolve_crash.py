"""Crash safety of `workbench evolve`: a process killed with SIGKILL (through the
tests-only WORKBENCH_TEST_CRASH_AT hook, lifecycle/evolve.crash_point) between the
evolve commit and the base update, or while the project's files are being written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.test_evolve import SPEC_V2, generated, git, run_wb  # noqa: F401 (a fixture)


@pytest.fixture
def project(generated, tmp_path):  # noqa: F811
    src, home = generated
    dst = tmp_path / "rowtool"
    shutil.copytree(src, dst, symlinks=True)
    h = tmp_path / "home"
    shutil.copytree(home, h)
    spec = tmp_path / "v2.md"
    spec.write_text(SPEC_V2)
    return dst, h, spec


def evolve(root: Path, home: Path, spec: Path, crash: str | None = None):
    return run_wb("evolve", str(root), "--spec", str(spec), "--yes", "--no-monitor", home=home,
                  env_extra={"WORKBENCH_TEST_CRASH_AT": crash} if crash else None)


def trailer(root: Path, rev: str, key: str) -> str:
    for line in git(root, "log", "-1", "--format=%B", rev).splitlines():
        if line.startswith(key + ": "):
            return line.split(": ", 1)[1].strip()
    return ""


def test_a_kill_between_the_commit_and_the_base_update_is_repaired_by_the_next_run(project):
    root, home, spec = project
    r = evolve(root, home, spec, crash="base")
    assert r.returncode == -9, r.stdout + r.stderr
    assert git(root, "log", "-1", "--format=%s").strip() == "Evolve rowtool to spec v2"
    new_tree = trailer(root, "HEAD", "Workbench-Base-Tree")
    assert new_tree, "the evolve commit names the base it sets"
    assert git(root, "rev-parse", "refs/workbench/base^{tree}").strip() != new_tree  # the ref lags

    # the developer edits a line the evolve generated (the new command's help in the parser)
    cli = root / "src" / "rowtool" / "cli.py"
    text = cli.read_text()
    assert "Print the first rows" in text
    cli.write_text(text.replace("Print the first rows", "Print the first rows, edited by hand"))
    git(root, "commit", "-qam", "Dev: my help text")

    # against the stale base (v1, no `head`) this is "added on both sides, differently": a
    # conflict; against the repaired base it is the developer's edit, kept
    r = evolve(root, home, spec)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "lagged behind" in r.stdout + r.stderr
    assert git(root, "rev-parse", "refs/workbench/base^{tree}").strip() == new_tree
    assert trailer(root, "refs/workbench/base", "Workbench-Spec-Version") == "2"
    assert "Print the first rows, edited by hand" in cli.read_text()
    assert git(root, "log", "-1", "--format=%s").strip() == "Dev: my help text"  # nothing to change


def test_a_kill_during_undo_of_an_evolve_before_the_base_rewind_is_repaired(project):
    root, home, spec = project
    v1_tree = git(root, "rev-parse", "refs/workbench/base^{tree}").strip()
    assert evolve(root, home, spec).returncode == 0
    r = run_wb("undo", str(root), "--yes", home=home, env_extra={"WORKBENCH_TEST_CRASH_AT": "undo-base"})
    assert r.returncode == -9, r.stdout + r.stderr
    assert git(root, "log", "-1", "--format=%s").strip().startswith("Undo ")
    assert git(root, "rev-parse", "refs/workbench/base^{tree}").strip() != v1_tree
    r = evolve(root, home, spec)  # the next run repairs the base first, then evolves to v2 again
    assert r.returncode == 0, r.stdout + r.stderr
    log = git(root, "log", "--format=%s").splitlines()
    assert log[0] == "Evolve rowtool to spec v2" and log[1].startswith("Undo ")


def test_a_kill_while_writing_leaves_the_tree_fully_applied_uncommitted_with_a_message(project, tmp_path):
    root, home, spec = project
    # the reference: the same evolve, not interrupted, on a copy
    ref = tmp_path / "ref"
    shutil.copytree(root, ref / "rowtool", symlinks=True)
    shutil.copytree(home, ref / "home")
    assert evolve(ref / "rowtool", ref / "home", spec).returncode == 0
    expected = [p for p in git(ref / "rowtool", "diff", "--name-only", "HEAD~1", "HEAD").split()
                if p != ".workbench/manifest.json"]
    assert len(expected) > 3

    head = git(root, "rev-parse", "HEAD").strip()
    r = evolve(root, home, spec, crash="apply")
    assert r.returncode == -9, r.stdout + r.stderr
    partial = git(root, "status", "--porcelain").splitlines()
    assert 0 < len(partial) < len(expected)  # killed half way: what a plain run would leave

    r = evolve(root, home, spec)
    assert r.returncode == 2, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "interrupted while writing" in out and "uncommitted" in out and "Traceback" not in out
    assert git(root, "rev-parse", "HEAD").strip() == head  # nothing committed
    changed = sorted(git(root, "diff", "--name-only", "HEAD").split())
    assert changed == sorted(expected)
    for path in expected:  # fully applied: exactly what the uninterrupted evolve committed
        assert (root / path).read_bytes() == (ref / "rowtool" / path).read_bytes(), path

    # the journal is consumed: the next run is the ordinary dirty-tree refusal
    r = evolve(root, home, spec)
    assert r.returncode == 2 and "uncommitted changes" in r.stdout + r.stderr
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Dev: the interrupted evolve, committed")
    r = evolve(root, home, spec)
    assert r.returncode == 0, r.stdout + r.stderr
