"""What sandboxed code can see of the host, and what Workbench checks around it.

The sandbox is an allow-list: the system folders, a minimal /etc and the tools; no
home, no /etc/shadow, no other Workbench home or database. Around every sandboxed
check the real project (its .git included) is hashed: a change fails the step naming
the path, and the audit log records it. Test output reaches a prompt redacted and
capped. `--out` inside a Workbench home is refused.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest

from workbench.integrate import monitor
from workbench.safety import sandbox

from .conftest import FIXTURE_SPEC, SENTINELS, run_wb

needs_bwrap = pytest.mark.skipif(not sandbox.sandbox_available(), reason=sandbox.sandbox_status()[1])

READER = """
import sys
for path in sys.argv[1:]:
    try:
        with open(path) as fh:
            print("READ", path, fh.read())
    except OSError as exc:
        print("DENIED", path, exc.strerror)
"""


@pytest.fixture
def in_real_home():
    """A secret file and another Workbench home with its database in the real home
    (outside /tmp, which the sandbox replaces anyway)."""
    tag = uuid.uuid4().hex[:12]
    secret = Path.home() / f".wb-h1-secret-{tag}"
    other = Path.home() / f".wb-h1-home-{tag}"
    other.mkdir()
    try:
        secret.write_text(f"WBSECRET{tag}")
        for name in ("workbench.db", "workbench.db-wal"):
            (other / name).write_text(f"WBDATABASE{tag}")
        yield secret, other, tag
    finally:
        secret.unlink(missing_ok=True)
        shutil.rmtree(other, ignore_errors=True)


@needs_bwrap
def test_host_files_are_not_visible(tmp_path, in_real_home, monkeypatch):
    secret, other, tag = in_real_home
    monkeypatch.setenv("WORKBENCH_HOME", str(other))
    targets = [str(secret), str(other / "workbench.db"), str(other / "workbench.db-wal"), "/etc/shadow",
               "/etc/gshadow", "/etc/sudoers", str(Path.home() / ".gitconfig"), str(Path.home() / ".bashrc")]
    res = sandbox.run([sys.executable, "-c", READER, *targets], tmp_path, timeout=60)
    assert res.exit_code == 0, res.output
    assert "READ" not in res.output, res.output
    assert res.output.count("DENIED") == len(targets)
    assert f"WBSECRET{tag}" not in res.output and f"WBDATABASE{tag}" not in res.output
    # what tools need is still there
    res = sandbox.run(["sh", "-c", "id -un; ls /usr/bin/env; test -r /etc/passwd && echo passwd"], tmp_path,
                      timeout=60)
    assert res.exit_code == 0 and "passwd" in res.output, res.output


@needs_bwrap
def test_a_database_inside_a_visible_folder_is_masked(tmp_path, monkeypatch):
    """Even inside the project (or a Workbench home that holds it) no database is readable."""
    home = tmp_path / "wbhome"
    proj = home / "proj"
    proj.mkdir(parents=True)
    (home / "workbench.db").write_text("HOMEDB-SENTINEL")
    (home / "config.toml").write_text("CONFIG-SENTINEL")
    (proj / "workbench.db").write_text("PROJDB-SENTINEL")
    (proj / "data.txt").write_text("ok")
    monkeypatch.setenv("WORKBENCH_HOME", str(home))
    res = sandbox.run([sys.executable, "-c", READER, str(home / "workbench.db"), str(home / "config.toml"),
                       "workbench.db", "data.txt"], proj, timeout=60)
    assert "SENTINEL" not in res.output, res.output
    assert "READ data.txt ok" in res.output


def test_a_tool_path_never_binds_a_home(tmp_path):
    home = os.path.realpath(os.path.expanduser("~"))
    assert all(not home.startswith(p.rstrip("/") + "/") and p != home
               for p in sandbox._tool_paths([os.path.join(home, "some-tool")]))


# --- the real tree, hashed around each check -----------------------------------------


def test_the_guard_names_what_changed(tmp_path):
    root = tmp_path / "proj"
    (root / ".git" / "hooks").mkdir(parents=True)
    (root / ".git" / "config").write_text("[core]\n")
    (root / "run.sh").write_text("echo\n")
    guard = monitor.TreeGuard(root, "monitor")
    guard.verify("nothing")  # unchanged: fine
    with open(root / ".git" / "config", "a") as fh:
        fh.write("\tfsmonitor = touch /tmp/x\n")
    with pytest.raises(monitor.TreeChanged, match=r"\.git/config was modified during the tests"):
        guard.verify("the tests")
    (root / ".git" / "config").write_text("[core]\n")
    (root / ".git" / "hooks" / "post-commit").write_text("#!/bin/sh\n")
    with pytest.raises(monitor.TreeChanged, match=r"\.git/hooks/post-commit was added") as exc:
        guard.verify("the tests")
    assert exc.value.exit_code == 1 and exc.value.step == "monitor"
    (root / ".git" / "hooks" / "post-commit").unlink()
    (root / "run.sh").chmod(0o755)
    with pytest.raises(monitor.TreeChanged, match="run.sh was modified"):
        guard.verify("the tests")


def test_a_change_to_the_real_tree_during_the_monitor_fails_the_step_and_is_audited(tmp_path, monkeypatch):
    """Whatever way sandboxed code reached the project, the monitor notices and says so."""
    from workbench.lifecycle.engine import Engine, Options
    from workbench.llm.offline import OfflineAgents
    from workbench.store import Store

    out = tmp_path / "proj"
    real_run = monitor._run

    def escaping_run(kind, cmd, cwd, *args, **kw):
        res = real_run(kind, cmd, cwd, *args, **kw)
        if kind == "pytest" and (out / ".git").is_dir():
            (out / ".git" / "hooks").mkdir(exist_ok=True)
            (out / ".git" / "hooks" / "post-commit").write_text("#!/bin/sh\ntouch /tmp/pwned\n")
        return res

    monkeypatch.setattr(monitor, "_run", escaping_run)
    store = Store(tmp_path / "home" / "workbench.db")
    engine = Engine(store, OfflineAgents("python-cli"), options=Options(allow_unsandboxed=True))
    sid = engine.start("Convert CSV files to JSON", out, spec_text=FIXTURE_SPEC.read_text())
    try:
        for _ in range(4):
            outcome = engine.run(sid)
            if outcome.status != "gate":
                break
            engine.approve(sid, outcome.gate, outcome.sha256, actor="human:test")
    finally:
        engine.close()
    assert outcome.status == "failed" and outcome.exit_code == 1 and outcome.step == "monitor"
    assert ".git/hooks/post-commit was added" in outcome.message
    events = store.list_events(session=sid, action="tree_changed", limit=10)
    assert events and ".git/hooks/post-commit" in events[0]["summary"]


# --- test output into a prompt ------------------------------------------------------------


def test_output_for_a_prompt_is_redacted_and_capped():
    noise = "".join(f"line {i}: ok\n" for i in range(20_000))
    text = "FIRST LINE\n" + SENTINELS["anthropic"] + "\n" + noise + "E   assert 1 == 2\n3 failed in 1.0s\n"
    out = sandbox.for_prompt(text)
    assert len(out) <= sandbox.PROMPT_LIMIT + 100
    assert SENTINELS["anthropic"] not in out and "sk-ant-" in out
    assert out.startswith("FIRST LINE") and out.endswith("3 failed in 1.0s\n")
    assert "characters of output cut" in out
    assert sandbox.for_prompt("short\n") == "short\n"


# --- --out inside a Workbench home ------------------------------------------------------------


@pytest.mark.parametrize("where", ["home", "nested"])
def test_out_inside_the_workbench_home_is_refused(tmp_path, wb_home, where):
    out = wb_home / "proj" if where == "home" else wb_home / "a" / "b"
    r = run_wb("new", "csv2json", "--spec", str(FIXTURE_SPEC), "--out", str(out), "--yes", "--no-monitor",
               home=wb_home, timeout=120)
    told = r.stdout + r.stderr
    assert r.returncode == 2, told
    assert "--out" in told and "Workbench home" in told and "Traceback" not in told
    assert not out.exists()
