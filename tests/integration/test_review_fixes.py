"""Behaviours a demanding user relies on: headless gates, locks, crash-safe apply, edits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import UsageError
from workbench.lifecycle.engine import Engine, Options, session_lock
from workbench.llm.offline import OfflineAgents
from workbench.store import Store

FIXTURE = Path(__file__).parent.parent / "fixtures" / "csv2json.spec.md"


def run_wb(*args, home: Path, cwd: Path | None = None):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["WORKBENCH_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


@pytest.fixture
def engine(tmp_path):
    store = Store(tmp_path / "home" / "workbench.db")
    return Engine(store, OfflineAgents(), options=Options(run_monitor=False))


def to_plan_gate(engine, out):
    sid = engine.start("csv2json", out, spec_text=FIXTURE.read_text("utf-8"))
    gate = engine.run(sid)
    engine.approve(sid, "spec", gate.sha256)
    return sid, engine.run(sid)


def test_headless_gate_shows_the_findings_and_how_to_read_edit_and_approve(tmp_path):
    home, out = tmp_path / "home", tmp_path / "tool"
    r = run_wb("new", "Count words in text files", "--out", str(out), home=home)
    assert r.returncode == 3
    assert "body: The requirements are a placeholder drafted offline." in r.stdout
    sid = r.stdout.split("workbench show ")[1].split()[0]
    spec = run_wb("show", sid, "spec", home=home)
    assert spec.returncode == 0 and spec.stdout.startswith("---\nname: word-counter\n")
    # --approve with a wrong hash: exit 2, names the hash that is waiting, approves nothing
    wrong = run_wb("resume", sid, "--approve", "deadbeef", home=home)
    assert wrong.returncode == 2 and "the spec waiting for approval is" in wrong.stderr
    # change the spec from a file, then approve exactly that version: stops at the plan gate
    edited = tmp_path / "edited.md"
    edited.write_text(spec.stdout.replace("name: word-counter", "name: wordcount"), "utf-8")
    r2 = run_wb("resume", sid, "--spec", str(edited), home=home)
    assert r2.returncode == 3
    sha = r2.stdout.split("--approve ")[1].split()[0]
    r3 = run_wb("resume", sid, "--approve", sha, "--no-monitor", home=home)
    assert r3.returncode == 3 and "stopped at the plan gate" in r3.stdout
    assert "CI, devcontainer and release files" in r3.stdout
    plan = run_wb("show", sid, "plan", home=home)
    assert ".github/workflows/ci.yml" in plan.stdout and "src/wordcount/cli.py" in plan.stdout
    assert not out.exists()
    approvals = run_wb("audit", "list", "--action", "approve", home=home).stdout
    assert sha in approvals and len(approvals.strip().splitlines()) == 1


def test_the_approved_plan_covers_the_integration_files(engine, tmp_path):
    sid, gate = to_plan_gate(engine, tmp_path / "p")
    assert gate.gate == "plan"
    assert ".circleci/config.yml" in gate.data["paths"]
    assert ".devcontainer/devcontainer.json" in gate.data["paths"]
    assert gate.data["integration_files"] >= 3


def test_a_second_process_cannot_run_the_same_session(engine, tmp_path):
    home = tmp_path / "home"
    sid = engine.start("x", tmp_path / "p")
    with session_lock(engine.store, sid):
        r = run_wb("resume", sid[:12], "--yes", home=home)
    assert r.returncode == 2
    assert f"is being run by pid {os.getpid()}" in r.stderr
    assert engine.status(sid)["request"] == "pending"


def test_spec_edits_and_stepping_back_are_refused_once_applied(engine, tmp_path):
    sid, gate = to_plan_gate(engine, tmp_path / "p")
    engine.approve(sid, "plan", gate.sha256)
    assert engine.run(sid).status == "done"
    with pytest.raises(UsageError, match="already applied"):
        engine.save_spec_edit(sid, FIXTURE.read_text("utf-8") + "\nmore\n")
    with pytest.raises(UsageError, match="already applied"):
        engine.step_back(sid, "spec")
    assert engine.status(sid)["monitor"] == "done"


def test_run_until_a_done_step_pauses_and_does_not_finish_the_session(engine, tmp_path):
    sid = engine.start("x", tmp_path / "p")
    engine.run(sid)
    out = engine.run(sid, until="spec")
    assert out.status == "paused"
    assert engine.store.get_session(sid)["status"] != "done"


def test_a_stale_plan_hash_is_not_approvable(engine, tmp_path):
    sid, gate = to_plan_gate(engine, tmp_path / "p")
    engine.step_back(sid, "implementation")
    with pytest.raises(UsageError):
        engine.approve(sid, "plan", gate.sha256)


def test_apply_that_finished_before_a_crash_is_not_repeated(engine, tmp_path):
    from workbench.scaffold import apply_plan

    out = tmp_path / "p"
    sid, gate = to_plan_gate(engine, out)
    engine.approve(sid, "plan", gate.sha256)
    # the crash: the plan was applied, but the step was never recorded as done
    plan = engine.plan(sid).for_steps(("structure", "dependencies", "configuration", "tests", "docs"))
    engine.store.put_output(sid, "docs", "applying", gate.sha256)
    apply_plan(plan, out)
    done = engine.run(sid)
    assert done.status == "done", done.message


def test_out_dot_keeps_the_users_directory(tmp_path):
    here = tmp_path / "here"
    here.mkdir()
    inode = here.stat().st_ino
    r = run_wb("new", "csv2json", "--spec", str(FIXTURE), "--out", ".", "--yes", "--no-monitor",
               home=tmp_path / "home", cwd=here)
    assert r.returncode == 0, r.stderr
    assert here.stat().st_ino == inode, "the user's directory was replaced"
    assert (here / "pyproject.toml").is_file() and (here / ".git").is_dir()


def test_generated_repo_keeps_the_users_own_hooks(engine, tmp_path):
    out = tmp_path / "p"
    sid, gate = to_plan_gate(engine, out)
    engine.approve(sid, "plan", gate.sha256)
    engine.run(sid)
    config = (out / ".git" / "config").read_text()
    assert "hooksPath" not in config and "fsmonitor" not in config


def test_a_check_that_cannot_run_is_unverified_not_passed(tmp_path, monkeypatch):
    import shutil

    from workbench.integrate import monitor

    real_which = shutil.which
    monkeypatch.setattr(monitor.shutil, "which", lambda n: None if n == "bats" else real_which(n))
    store = Store(tmp_path / "home" / "workbench.db")
    engine = Engine(store, OfflineAgents("bash-cli"), options=Options())
    spec = FIXTURE.read_text("utf-8").replace("template: python-cli", "template: bash-cli")
    sid = engine.start("csv2json", tmp_path / "p", spec_text=spec)
    for _ in range(3):
        out = engine.run(sid)
        if out.status != "gate":
            break
        engine.approve(sid, out.gate, out.sha256)
    assert out.status == "done", out.message
    assert "UNVERIFIED" in engine.status_messages(sid)["monitor"]
    from workbench.store import metrics

    assert metrics.success_rate(store)["passed"] == 0
