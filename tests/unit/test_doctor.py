"""`workbench doctor`: one line per prerequisite, the fix for each failure, an honest exit code."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def doctor(tmp_path, *args, **env_over):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update({"WORKBENCH_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)})
    env.update(env_over)
    return subprocess.run([sys.executable, "-m", "workbench", "doctor", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def lines_named(out: str, name: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln[2:].startswith(name + " ")]


@pytest.mark.skipif(subprocess.run(["sh", "-c", "command -v bwrap"]).returncode != 0,
                    reason="needs bubblewrap present")
def test_everything_present_exits_0(tmp_path):
    r = doctor(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert lines_named(r.stdout, "bubblewrap")[0].startswith("✓")
    assert lines_named(r.stdout, "config")[0].startswith("✓")
    assert "ready: the main job can run" in r.stdout


def test_without_bubblewrap_exits_1_and_shows_the_apt_command(tmp_path):
    r = doctor(tmp_path, WORKBENCH_BWRAP="none")
    assert r.returncode == 1
    line = lines_named(r.stdout, "bubblewrap")
    assert line and line[0].startswith("✗")
    assert "fix: sudo apt-get install bubblewrap" in r.stdout
    assert "not ready" in r.stdout


def test_a_broken_config_is_a_failure_naming_its_line(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("[workbench]\ndefault_model = \n")
    r = doctor(tmp_path)
    assert r.returncode == 1
    line = lines_named(r.stdout, "config")[0]
    assert line.startswith("✗") and "config.toml:2" in line


def test_a_damaged_database_is_found_by_quick_check(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    db = home / "workbench.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x TEXT)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,) for _ in range(2000)])
    conn.commit()
    conn.close()
    data = bytearray(db.read_bytes())
    data[4096 * 3: 4096 * 3 + 2000] = os.urandom(2000)  # garbage in the middle of the file
    db.write_bytes(bytes(data))
    r = doctor(tmp_path)
    assert r.returncode == 1
    line = lines_named(r.stdout, "database")[0]
    assert line.startswith("✗") and "damaged" in line


def test_keys_are_reported_by_name_never_by_value(tmp_path):
    secret = "sk-ant-doctor-0123456789abcdef0123456789"
    r = doctor(tmp_path, ANTHROPIC_API_KEY=secret)
    assert secret not in r.stdout + r.stderr
    line = lines_named(r.stdout, "key for claude")[0]
    assert line.startswith("✓") and "ANTHROPIC_API_KEY is set" in line


def test_a_read_only_home_fails(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes to read-only directories")
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o500)
    try:
        r = doctor(tmp_path)
    finally:
        home.chmod(0o700)
    assert r.returncode == 1
    assert lines_named(r.stdout, "WORKBENCH_HOME")[0].startswith("✗")


def test_json_lists_every_check(tmp_path):
    r = doctor(tmp_path, "--json", WORKBENCH_BWRAP="none")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    names = {c["name"] for c in data["checks"]}
    for must in ("git", "git identity", "bubblewrap", "bats", "shellcheck", "actionlint", "terminal",
                 "config", "WORKBENCH_HOME", "database"):
        assert must in names, must
    assert data["ready"] is False
    bw = next(c for c in data["checks"] if c["name"] == "bubblewrap")
    assert bw["status"] == "fail" and "apt-get install bubblewrap" in bw["fix"]["debian"]


def test_a_home_that_is_a_file_fails(tmp_path):
    (tmp_path / "home").write_text("not a directory")
    r = doctor(tmp_path)
    assert r.returncode == 1
    line = lines_named(r.stdout, "WORKBENCH_HOME")[0]
    assert line.startswith("✗") and "not a directory" in line
