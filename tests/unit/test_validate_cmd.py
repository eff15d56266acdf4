"""`workbench validate SPEC [--json]`: every error at once, located; exit 0 valid, 2 invalid."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BAD = """---
name: Bad_Name
summary: ""
template: nope
commands:
  - name: Run It
    options:
      - name: x
        type: wat
      - name: y
        type: flag
        required: true
---
# body
"""


def wb(tmp_path, *args):
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_every_error_at_once_as_json(tmp_path):
    spec = tmp_path / "bad.spec.md"
    spec.write_text(BAD)
    r = wb(tmp_path, "validate", str(spec), "--json")
    assert r.returncode == 2
    data = json.loads(r.stdout)
    assert data["schema"] == 1 and data["valid"] is False
    got = {(e["line"], e["field"]) for e in data["errors"]}
    assert {(2, "name"), (3, "summary"), (4, "template"), (6, "commands[0].name"),
            (9, "commands[0].options[0].type"), (12, "commands[0].options[1].required")} <= got
    assert all(e["file"] == str(spec) and e["message"] for e in data["errors"])


def test_text_form_one_line_per_error_and_a_count(tmp_path):
    spec = tmp_path / "bad.spec.md"
    spec.write_text(BAD)
    r = wb(tmp_path, "validate", str(spec))
    assert r.returncode == 2 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert lines[-1].endswith("errors") and int(lines[-1].split()[0]) == len(lines) - 1 >= 6
    assert lines[0].startswith(f"{spec}:2: name: ")
    assert "Traceback" not in r.stderr


def test_a_valid_spec_exits_0(tmp_path):
    r = wb(tmp_path, "validate", str(ROOT / "tests" / "fixtures" / "csv2json.spec.md"), "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout) == {"schema": 1, "file": str(ROOT / "tests" / "fixtures" / "csv2json.spec.md"),
                                    "valid": True, "errors": []}


def test_unreadable_inputs_are_one_error_exit_2(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo), str(tmp_path), str(tmp_path / "missing.md")):
        r = wb(tmp_path, "validate", path, "--json")
        assert r.returncode == 2, path
        [err] = json.loads(r.stdout)["errors"]
        assert err["file"] == path and err["message"] and not err["message"].startswith(path)
    notyaml = tmp_path / "x.md"
    notyaml.write_text("---\nname: [unclosed\n---\n")
    r = wb(tmp_path, "validate", str(notyaml))
    assert r.returncode == 2 and "Traceback" not in r.stderr and str(notyaml) in r.stderr


def test_an_empty_path_is_named(tmp_path):
    r = wb(tmp_path, "validate", "")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "SPEC: empty path (expected a spec file)"


def test_a_config_that_is_a_fifo_or_a_directory_is_one_line_never_a_hang(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.mkfifo(home / "config.toml")
    r = wb(tmp_path, "models")
    assert r.returncode == 2 and "config.toml: is a FIFO" in r.stderr and "Traceback" not in r.stderr
    (home / "config.toml").unlink()
    (home / "config.toml").mkdir()
    r = wb(tmp_path, "models")
    assert r.returncode == 2 and "config.toml: is a directory" in r.stderr
