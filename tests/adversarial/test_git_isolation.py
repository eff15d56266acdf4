"""Hooks, hooksPath, fsmonitor and filters from the user's config or a template never run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from workbench.safety import gitsafe

from .conftest import SENTINELS


@pytest.fixture
def evil_global(tmp_path: Path, monkeypatch):
    """A global git config (GIT_CONFIG_GLOBAL) whose hooks, fsmonitor and filters touch markers."""
    marks = tmp_path / "marks"
    marks.mkdir()
    hooks = tmp_path / "evil-hooks"
    hooks.mkdir()
    for hook in ("pre-commit", "post-commit", "commit-msg", "prepare-commit-msg",
                 "post-checkout", "reference-transaction", "post-index-change"):
        h = hooks / hook
        h.write_text(f"#!/bin/sh\ntouch {marks}/{hook}\nexit 0\n")
        h.chmod(0o755)
    fsmon = tmp_path / "fsmonitor.sh"
    fsmon.write_text(f"#!/bin/sh\ntouch {marks}/fsmonitor\n")
    fsmon.chmod(0o755)
    tmpl = tmp_path / "evil-template" / "hooks"
    tmpl.mkdir(parents=True)
    (tmpl / "post-commit").write_text(f"#!/bin/sh\ntouch {marks}/template-hook\n")
    (tmpl / "post-commit").chmod(0o755)
    cfg = tmp_path / "evil.gitconfig"
    cfg.write_text(
        "[user]\n  name = Real User\n  email = real.user@example.com\n"
        f"[core]\n  hooksPath = {hooks}\n  fsmonitor = {fsmon}\n"
        f"[init]\n  templateDir = {tmpl.parent}\n"
        f'[filter "evil"]\n  clean = touch {marks}/filter-clean\n'
        f"  smudge = touch {marks}/filter-smudge\n  required = true\n"
        f"[commit]\n  gpgSign = true\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    # also smuggled through git's own environment-config channel
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'core.hooksPath={hooks}'")
    gitsafe.identity.cache_clear()
    from workbench import identity

    identity.human.cache_clear()
    yield marks
    gitsafe.identity.cache_clear()
    identity.human.cache_clear()


def _plain_git(args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_the_attack_is_real_for_plain_git(tmp_path, evil_global):
    """Control: the same config does run code for a plain `git` (so the test means something)."""
    repo = tmp_path / "control"
    repo.mkdir()
    (repo / ".gitattributes").write_text("* filter=evil\n")
    (repo / "a.txt").write_text("a")
    _plain_git(["init", "-q"], repo)
    _plain_git(["add", "-A"], repo)
    _plain_git(["-c", "commit.gpgSign=false", "commit", "-qm", "x"], repo)
    assert {"filter-clean", "pre-commit"} <= {p.name for p in evil_global.iterdir()}


def test_workbench_git_runs_no_hook_fsmonitor_or_filter(tmp_path, evil_global):
    repo = tmp_path / "proj"
    repo.mkdir()
    # a template / model wrote hook-ish files and attributes into the project
    (repo / ".gitattributes").write_text("* filter=evil\n")
    (repo / ".githooks").mkdir()
    (repo / ".githooks" / "pre-commit").write_text(f"#!/bin/sh\ntouch {evil_global}/project-hook\n")
    (repo / ".githooks" / "pre-commit").chmod(0o755)
    (repo / "README.md").write_text("# proj\n")
    name, email = gitsafe.identity()
    assert (name, email) == ("Real User", "real.user@example.com"), "identity read before isolating"
    gitsafe.run_git(["init", "-q"], repo)
    gitsafe.run_git(["config", "core.hooksPath", ".githooks"], repo)  # even set locally
    gitsafe.run_git(["add", "-A"], repo)
    gitsafe.run_git(["commit", "-qm", "Scaffold"], repo)
    gitsafe.run_git(["status", "--porcelain"], repo)
    gitsafe.run_git(["checkout", "-q", "-b", "other"], repo)
    log = gitsafe.run_git(["log", "--format=%an <%ae>|%s|%G?"], repo).stdout.strip()
    assert log == "Real User <real.user@example.com>|Scaffold|N"
    assert sorted(p.name for p in evil_global.iterdir()) == []
    assert not (repo / ".git" / "hooks" / "post-commit").exists(), "no template hook copied"


def test_lead_git_integration_runs_no_hook(tmp_path, evil_global):
    """workbench.integrate.git (GitPython) under the same hostile config."""
    gitmod = pytest.importorskip("workbench.integrate.git")
    repo = tmp_path / "proj"
    repo.mkdir()
    (repo / ".gitattributes").write_text("* filter=evil\n")
    (repo / "README.md").write_text("# proj\n")
    gitmod.init(repo)
    sha = gitmod.commit_all(repo, "Scaffold proj", step="git", session_id="s1")
    assert len(sha) == 40
    # the git subprocesses GitPython starts see the isolated configuration, even with
    # a hostile GIT_CONFIG_PARAMETERS inherited from the environment
    r = gitmod._repo(repo)
    assert r.git.config("--get", "core.hooksPath") == "/dev/null"
    assert r.git.config("--get", "core.fsmonitor") == "false"
    r.git.status()
    assert sorted(p.name for p in evil_global.iterdir()) == []
    log = _plain_git(["-c", f"core.hooksPath={tmp_path}/none", "log", "--format=%an|%s"], repo)
    assert log.stdout.strip() == "Real User|Scaffold proj"


def test_safe_env_drops_inherited_git_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_EXEC_PATH", str(tmp_path))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.fsmonitor=/bin/evil'")
    monkeypatch.setenv("ANTHROPIC_API_KEY", SENTINELS["anthropic"])
    env = gitsafe.safe_git_env(name="A", email="a@b")
    assert "GIT_DIR" not in env and "GIT_EXEC_PATH" not in env
    assert env["GIT_CONFIG_PARAMETERS"] == "", "neutralised, also when merged onto os.environ"
    assert "ANTHROPIC_API_KEY" not in env
    assert env["GIT_CONFIG_NOSYSTEM"] == "1"
    assert Path(env["GIT_CONFIG_GLOBAL"]).read_text() == ""
    keys = {env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"]
            for i in range(int(env["GIT_CONFIG_COUNT"]))}
    assert keys["core.hooksPath"] == "/dev/null" and keys["core.fsmonitor"] == "false"
    ov = gitsafe.git_config_overrides()
    assert ov[:2] == ["-c", "core.hooksPath=/dev/null"] and "core.fsmonitor=false" in ov


def test_a_secret_in_the_tree_stops_the_commit(tmp_path, evil_global):
    gitmod = pytest.importorskip("workbench.integrate.git")
    repo = tmp_path / "proj"
    (repo / "src").mkdir(parents=True)
    (repo / "README.md").write_text("# proj\n")
    (repo / "src" / "settings.py").write_text(f"\n\nAPI_KEY = '{SENTINELS['anthropic']}'\n")
    gitmod.init(repo)
    with pytest.raises(Exception) as exc:
        gitmod.commit_all(repo, "Scaffold", step="git", session_id="s1")
    msg = str(exc.value)
    assert getattr(exc.value, "exit_code", None) == 1
    assert "src/settings.py" in msg and "3" in msg and "sk-ant-…****" in msg
    assert SENTINELS["anthropic"] not in msg
    head = _plain_git(["rev-parse", "--verify", "HEAD"], repo)
    assert head.returncode != 0, "nothing was committed"


def test_isolate_process_env_removes_inherited_git_variables(monkeypatch, evil_global):
    monkeypatch.setenv("GIT_EXTERNAL_DIFF", "/bin/evil-diff")
    monkeypatch.setenv("GIT_SSH_COMMAND", "/bin/evil-ssh")
    removed = gitsafe.isolate_process_env()
    assert {"GIT_EXTERNAL_DIFF", "GIT_SSH_COMMAND", "GIT_CONFIG_GLOBAL",
            "GIT_CONFIG_PARAMETERS"} <= set(removed)
    import os

    assert not [k for k in os.environ if k.startswith("GIT_") and k not in gitsafe.KEEP_ENV]
    assert gitsafe.identity() == ("Real User", "real.user@example.com"), "read before isolating"
