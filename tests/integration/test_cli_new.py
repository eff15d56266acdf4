"""`workbench new` as a user runs it: a real subprocess, real exit codes, real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent.parent / "fixtures" / "csv2json.spec.md"


def run_wb(*args, home: Path, cwd: Path | None = None, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["WORKBENCH_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def test_version_and_help(tmp_path):
    r = run_wb("--version", home=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("workbench ")
    r = run_wb("new", "--help", home=tmp_path)
    assert r.returncode == 0 and "--spec" in r.stdout and "approval gate" in r.stdout


def test_templates_lists_both(tmp_path):
    r = run_wb("templates", home=tmp_path)
    assert r.returncode == 0
    assert "python-cli" in r.stdout and "bash-cli" in r.stdout


def test_full_offline_run_from_a_spec(tmp_path):
    out = tmp_path / "csv2json"
    r = run_wb("new", "csv2json", "--spec", str(FIXTURE), "--out", str(out), "--yes", home=tmp_path / "home")
    assert r.returncode == 0, r.stdout + r.stderr
    for step in ("request", "approval", "docs", "git", "cicd", "codespace", "deploy", "monitor"):
        assert f" {step} " in r.stdout, step
    log = subprocess.run(["git", "-C", str(out), "log", "--format=%s%n%b"], capture_output=True, text=True).stdout
    assert "Scaffold csv2json from its approved spec" in log
    assert "Add CI configuration" in log and "Workbench-Step: cicd" in log
    status = subprocess.run(["git", "-C", str(out), "status", "--porcelain"], capture_output=True, text=True)
    assert status.stdout == "", "the generated tree is committed and clean"
    # the generated console script works
    assert (out / "src" / "csv2json" / "cli.py").is_file()


def test_offline_run_never_imports_litellm(tmp_path):
    code = (
        "import sys\n"
        "from workbench.cli.main import main\n"
        f"rc = main(['new', 'Convert CSV files to JSON', '--out', {str(tmp_path / 'p')!r}])\n"
        "assert rc == 3, rc\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('litellm', 'textual')]\n"
        "print('BAD', bad)\n"
    )
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home")}
    env = {k: v for k, v in env.items() if not k.endswith("_API_KEY")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "BAD []" in r.stdout


def test_without_yes_stops_at_the_gate_with_exit_3_then_resumes(tmp_path):
    out = tmp_path / "tool"
    home = tmp_path / "home"
    r = run_wb("new", "Convert CSV files to JSON", "--out", str(out), home=home)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "stopped at the spec gate" in r.stdout
    assert not out.exists()
    sid = r.stdout.split("workbench resume ")[1].split()[0]
    r2 = run_wb("resume", sid, "--yes", "--no-monitor", home=home)
    assert r2.returncode == 0, r2.stdout + r2.stderr
    assert (out / ".git").is_dir()


BAD_SPECS = [
    ("name: csv2json", "name: ../evil", "name"),
    ("template: python-cli", "template: cobol-cli", "template"),
    ("type: int", "type: integer", "commands[0].options[0].type"),
    ("default: json", "default: xml", "commands[0].options[2].default"),
    ("summary: Convert CSV files to JSON", "summary: [unclosed", "front matter"),
]


@pytest.mark.parametrize("old, new, field", BAD_SPECS)
def test_bad_spec_exits_2_naming_file_line_field_and_writes_nothing(tmp_path, old, new, field):
    spec = tmp_path / "bad.md"
    text = FIXTURE.read_text("utf-8").replace(old, new, 1)
    spec.write_text(text, "utf-8")
    out = tmp_path / "out"
    home = tmp_path / "home"
    r = run_wb("new", "x", "--spec", str(spec), "--out", str(out), "--yes", home=home)
    assert r.returncode == 2, r.stdout + r.stderr
    line = r.stderr.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in r.stderr
    assert f"{spec}:" in line and field in line
    assert not out.exists()
    assert not home.exists(), "a bad spec must not even create the database"
    assert spec.read_text("utf-8") == text


def test_non_empty_out_is_refused_and_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = run_wb("new", "x", "--spec", str(FIXTURE), "--out", str(out), "--yes", home=tmp_path / "h")
    assert r.returncode == 2
    assert "not empty" in r.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_out_that_is_a_file_and_unknown_template(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = run_wb("new", "x", "--out", str(f), home=tmp_path / "h")
    assert r.returncode == 2 and "not a directory" in r.stderr
    r = run_wb("new", "x", "--out", str(tmp_path / "o"), "--template", "nope", home=tmp_path / "h")
    assert r.returncode == 2 and "available: bash-cli, python-cli" in r.stderr
