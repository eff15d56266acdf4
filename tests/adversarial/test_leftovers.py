"""What a run leaves behind, and how it ends when it is told to stop.

Before: every run that touched git left a `/tmp/workbench-git-*`; SIGTERM killed the
process with no cleanup at all (no `finally` ran); Ctrl-C while the command line was
still importing printed a Python traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.signals import interruptible

from .conftest import ROOT, clean_env


def _spawn(code: str, home: Path, tmpdir: Path, *args: str) -> subprocess.Popen:
    env = clean_env(home, TMPDIR=str(tmpdir))
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, preexec_fn=interruptible)


def _wait_for(proc: subprocess.Popen, marker: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if marker in line:
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"never saw {marker!r}: {proc.stderr.read()}")


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------ /tmp/workbench-git-*

_GIT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from workbench.integrate import git
    root = Path(sys.argv[1])
    root.mkdir()
    (root / "README.md").write_text("hi\\n")
    git.init(root)
    print(git.commit_all(root, "Scaffold", step="git", session_id="s" * 32))
    print(git.head_for_step(root, "git", "s" * 32), git.log(root))
""")


def test_git_steps_leave_nothing_in_the_temp_directory(wb_home, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    p = _spawn(_GIT, wb_home, tmpdir, str(tmp_path / "proj"))
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    assert sorted(os.listdir(tmpdir)) == [], "a git step left temporary files"
    assert not (tmp_path / "proj" / ".git" / "hooks").exists()  # still no template copied


def test_folders_earlier_versions_left_are_swept_and_nothing_else(tmp_path):
    from workbench.safety import gitsafe

    old = time.time() - 7200

    def legacy(name: str, gitconfig: str = "", extra: bool = False, age: float = old) -> Path:
        d = tmp_path / name
        (d / "templates").mkdir(parents=True)
        (d / "gitconfig").write_text(gitconfig)
        if extra:
            (d / "notes.txt").write_text("someone's")
        os.utime(d, (age, age))
        return d

    stale = [legacy("workbench-git-a1b2c3"), legacy("workbench-git-zz9")]
    kept = [legacy("workbench-git-busy", age=time.time()),  # maybe still in use
            legacy("workbench-git-cfg", gitconfig="[user]\n"),  # not what we left
            legacy("workbench-git-more", extra=True),
            legacy("other-thing")]
    gitsafe.sweep_legacy_dirs.cache_clear()
    removed = gitsafe.sweep_legacy_dirs(str(tmp_path))
    assert sorted(removed) == sorted(str(p) for p in stale)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in stale)


# ------------------------------------------------------------------ SIGTERM

_BLOCKED = textwrap.dedent("""
    import sys, tempfile, time
    from pathlib import Path
    import workbench.cli.main as m
    def dispatch(parser, args):
        d = Path(tempfile.mkdtemp(prefix="workbench-tests-"))
        try:
            (d / "work").write_text("x")
            print("working", d, flush=True)
            time.sleep(60)
        finally:
            import shutil
            shutil.rmtree(d)
        return 0
    m._dispatch = dispatch
    sys.exit(m.main(["sessions"]))
""")


def test_sigterm_runs_the_cleanup_and_exits_143(wb_home, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    p = _spawn(_BLOCKED, wb_home, tmpdir)
    _wait_for(p, "working")
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 143, err
    assert "terminated" in _one_line(err)
    assert os.listdir(tmpdir) == [], "the command's finally did not run"


def test_sigterm_while_blocked_in_a_real_command(wb_home, tmp_path):
    """`audit export --output FIFO` blocks in open(); SIGTERM ends it cleanly."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code = "import sys; from workbench.cli.main import main; print('ready', flush=True); " \
           "sys.exit(main(sys.argv[1:]))"
    p = _spawn(code, wb_home, tmp_path, "audit", "export", "--output", str(fifo))
    _wait_for(p, "ready")
    time.sleep(1.0)  # into the blocking open()
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 143, err
    assert _one_line(err).startswith("workbench: terminated")


def test_sigint_is_still_exit_130(wb_home, tmp_path):
    p = _spawn(_BLOCKED, wb_home, tmp_path)
    _wait_for(p, "working")
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert _one_line(err) == "workbench: interrupted"


# ------------------------------------------------------------------ Ctrl-C during imports

_SLOW_IMPORT = textwrap.dedent("""
    import sys, time
    slow = sys.argv[1]
    class Slow:
        def find_spec(self, name, path=None, target=None):
            if name == slow:
                print("importing", name, flush=True)
                time.sleep(60)
            return None
    sys.meta_path.insert(0, Slow())
    sys.argv = ["workbench", *sys.argv[2:]]
    import runpy
    runpy.run_module("workbench", run_name="__main__")
""")


@pytest.mark.parametrize("module,argv", [
    ("workbench.cli.audit_cmd", ["templates"]),  # while the parser is being built
    ("workbench.cli.main", ["templates"]),  # while `python -m workbench` imports the CLI
    ("workbench.scaffold", ["templates"]),  # while the command imports what it needs
])
def test_ctrl_c_during_imports_is_one_line_and_130(wb_home, tmp_path, module, argv):
    p = _spawn(_SLOW_IMPORT, wb_home, tmp_path, module, *argv)
    _wait_for(p, "importing")
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert _one_line(err) == "workbench: interrupted"
