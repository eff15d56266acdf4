"""A checkout or virtualenv under /tmp still runs inside the sandbox (whose /tmp is a tmpfs)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from workbench.safety import sandbox

pytestmark = pytest.mark.skipif(not sandbox.sandbox_available(), reason="bubblewrap does not work here")


def test_an_interpreter_living_under_tmp_runs_sandboxed(tmp_path):
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        project = tmp_path / "proj"
        project.mkdir()
        res = sandbox.run([str(venv / "bin" / "python"), "-c", "import sys; print('ok', sys.prefix)"],
                          project, timeout=60)
        assert res.sandbox == "bwrap"
        assert res.exit_code == 0, res.output
        assert f"ok {venv}" in res.output
        # still read-only: the tool folder is visible, not writable
        res = sandbox.run([str(venv / "bin" / "python"), "-c",
                           f"open({str(venv / 'x')!r}, 'w')"], project, timeout=60)
        assert res.exit_code != 0 and "Read-only file system" in res.output
        assert not (venv / "x").exists()
