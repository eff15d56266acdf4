"""git.commit_all: objects written in-process, the base recorded from the index just
committed (the same tree git's plumbing reads back from the commit)."""

from __future__ import annotations

import subprocess

import pytest

from workbench.integrate import base, git
from workbench.safety.paths import write_file


def _git(root, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    write_file(root, "src/tool/__init__.py", "VERSION = '1'\n")
    write_file(root, "bin/run", "#!/bin/sh\necho hi\n", 0o755)
    write_file(root, ".workbench/manifest.json", '{"spec_sha256": "abc123"}\n')
    write_file(root, "docs/spec.md", "---\nname: tool\nsummary: A tool\ntemplate: python-cli\n"
                                     "commands:\n  - name: run\n    summary: Run it\n---\n# tool\n")
    git.init(root)
    return root


def test_commit_writes_objects_in_process_and_records_the_base(project, monkeypatch):
    started: list[list[str]] = []
    real = subprocess.Popen.__init__

    def spy(self, args, *a, **k):
        started.append([str(x) for x in args] if isinstance(args, list | tuple) else [str(args)])
        real(self, args, *a, **k)

    monkeypatch.setattr(subprocess.Popen, "__init__", spy)
    sha = git.commit_all(project, "Scaffold tool", step="git", session_id="s1")
    monkeypatch.undo()

    assert not [c for c in started if "hash-object" in c], "one git hash-object per file again"
    assert _git(project, "status", "--porcelain") == ""
    subprocess.run(["git", "-C", str(project), "fsck", "--strict"], check=True, capture_output=True)
    assert _git(project, "ls-tree", "-r", "--name-only", sha).split() == [
        ".workbench/manifest.json", "bin/run", "docs/spec.md", "src/tool/__init__.py"]
    assert "100755 blob" in _git(project, "ls-tree", sha, "bin/run")
    # the base: the commit's tree without the manifest, exactly what the plumbing reads back
    tip = _git(project, "rev-parse", base.BASE_REF).strip()
    assert _git(project, "rev-parse", f"{tip}^{{tree}}").strip() == base._known(project, sha).tree
    assert ".workbench/manifest.json" not in _git(project, "ls-tree", "-r", "--name-only", tip).split()
    message = _git(project, "log", "-1", "--format=%B", tip)
    assert "Workbench-Spec-Sha256: abc123" in message
    assert "Workbench-Template: python-cli" in message
    assert f"Workbench-Commit: {sha}" in message
    assert git.head_for_step(project, "git", "s1") == sha
    assert git.head_for_step(project, "cicd", "s1") is None


def test_a_later_commit_moves_the_base_and_an_unchanged_tree_keeps_it(project):
    git.commit_all(project, "Scaffold tool", step="git", session_id="s1")
    first = _git(project, "rev-parse", base.BASE_REF).strip()
    write_file(project, ".github/workflows/ci.yml", "on: push\n")
    sha = git.commit_all(project, "Add CI", step="cicd", session_id="s1")
    second = _git(project, "rev-parse", base.BASE_REF).strip()
    assert second != first and _git(project, "rev-parse", f"{second}^").strip() == first
    assert _git(project, "rev-parse", f"{second}^{{tree}}").strip() == base._known(project, sha).tree
    # only the manifest changed: the base tree is the same, the ref stays where it was
    write_file(project, ".workbench/manifest.json", '{"spec_sha256": "abc123", "n": 2}\n')
    git.commit_all(project, "Add devcontainer", step="codespace", session_id="s1")
    assert _git(project, "rev-parse", base.BASE_REF).strip() == second
