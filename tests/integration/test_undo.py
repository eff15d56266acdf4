"""`workbench undo`: Workbench's last change reverted as a new commit, previewed and gated."""

from __future__ import annotations

from tests.integration.test_evolve import (  # noqa: F401 - the fixtures
    SPEC_V2,
    generated,
    git,
    hand_edit,
    project,
    run_wb,
    tree_bytes,
)


def _evolve(root, home, tmp_path):
    spec2 = tmp_path / "v2.md"
    spec2.write_text(SPEC_V2)
    r = run_wb("evolve", str(root), "--spec", str(spec2), "--yes", "--no-monitor", home=home)
    assert r.returncode == 0, r.stdout + r.stderr


def test_undo_previews_then_restores_the_previous_tree_exactly(project, tmp_path):
    root, home = project
    hand_edit(root)
    before = tree_bytes(root)
    base_before = git(root, "rev-parse", "refs/workbench/base^{tree}")
    _evolve(root, home, tmp_path)
    evolved = git(root, "rev-parse", "HEAD").strip()
    assert tree_bytes(root) != before
    r = run_wb("undo", str(root), home=home)
    assert r.returncode == 3, r.stdout + r.stderr  # the gate: what would be reverted, how to confirm
    assert "Evolve rowtool to spec v2" in r.stdout and f"workbench undo {root} --yes" in r.stdout
    assert "-def run_head(" in r.stdout  # the diff
    assert git(root, "rev-parse", "HEAD").strip() == evolved
    r = run_wb("undo", str(root), "--yes", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert tree_bytes(root) == before  # byte for byte
    log = git(root, "log", "--format=%s%n%b", "-2")
    assert 'Undo "Evolve rowtool to spec v2"' in log and f"This reverts commit {evolved}." in log
    assert git(root, "rev-parse", "HEAD~1").strip() == evolved  # a new commit, history kept
    assert git(root, "rev-parse", "refs/workbench/base^{tree}") == base_before
    assert git(root, "status", "--porcelain") == ""


def test_undo_refuses_naming_the_files_when_later_commits_conflict(project, tmp_path):
    root, home = project
    _evolve(root, home, tmp_path)
    cmds = root / "src/rowtool/commands.py"
    cmds.write_text(cmds.read_text().replace('print("head: not implemented yet"', 'print("my head"'))
    git(root, "commit", "-q", "-am", "implement head")
    head = git(root, "rev-parse", "HEAD")
    r = run_wb("undo", str(root), "--yes", home=home)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "src/rowtool/commands.py" in r.stderr and "Traceback" not in r.stderr
    assert git(root, "rev-parse", "HEAD") == head and git(root, "status", "--porcelain") == ""


def test_undo_of_an_integration_step_and_nothing_left(project):
    root, home = project
    r = run_wb("undo", str(root), "--yes", home=home)
    assert r.returncode == 0, r.stderr
    assert not (root / ".github/workflows/release.yml").exists()  # the deploy step's file
    assert "Workbench-Step: undo" in git(root, "log", "-1", "--format=%B")
    for _ in range(2):  # codespace, cicd
        assert run_wb("undo", str(root), "--yes", home=home).returncode == 0
    r = run_wb("undo", str(root), home=home)
    assert r.returncode == 2 and "nothing to undo" in r.stderr
