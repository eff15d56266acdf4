"""`workbench evolve` as a user runs it: a generated project, hand edits, a changed spec,
a 3-way merge by git against the stored base (refs/workbench/base)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SPEC_V1 = """---
name: rowtool
summary: Work with the rows of CSV files
template: python-cli
commands:
  - name: convert
    summary: Convert one CSV file to JSON
    arguments:
      - name: input
        type: str
        help: CSV file to read
  - name: count
    summary: Count the rows of a file
    arguments:
      - name: input
        type: str
        help: CSV file to read
integrations:
  github_actions: true
  circleci: false
  devcontainer: true
---
# rowtool

## Overview

Rows.

## Requirements

- Rows.

## Acceptance criteria

- Rows.
"""

# v2: a new command `head` and a new option --limit on `count`
SPEC_V2 = SPEC_V1.replace("""integrations:""", """  - name: head
    summary: Print the first rows
    arguments:
      - name: input
        type: str
        help: CSV file to read
integrations:""").replace("""  - name: count
    summary: Count the rows of a file
    arguments:
      - name: input
        type: str
        help: CSV file to read
""", """  - name: count
    summary: Count the rows of a file
    arguments:
      - name: input
        type: str
        help: CSV file to read
    options:
      - name: limit
        type: int
        default: 10
        help: Count at most this many rows
""")

BODY_OLD = '''    print("convert: not implemented yet", file=sys.stderr)
    return 1
'''
BODY_NEW = '''    # the developer's own body, kept byte for byte
    print(f"converted {args.input}")
    return 0
'''
README_NOTE = "\n## Notes by the developer\n\nKeep this paragraph.\n"
TEST_NOTE = '''

def test_convert_by_the_developer(capsys):
    assert main(["convert", "x.csv"]) == 0
    assert "converted x.csv" in capsys.readouterr().out
'''


def run_wb(*args, home: Path, timeout=600, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["WORKBENCH_HOME"] = str(home)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def git(root: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Dev",
               GIT_AUTHOR_EMAIL="dev@example.com", GIT_COMMITTER_NAME="Dev", GIT_COMMITTER_EMAIL="dev@example.com")
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                          env=env).stdout


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """One generated project (offline, no monitor), copied by each test."""
    where = tmp_path_factory.mktemp("evolve-src")
    spec = where / "spec.md"
    spec.write_text(SPEC_V1)
    home = where / "home"
    r = run_wb("new", "rows", "--spec", str(spec), "--out", str(where / "rowtool"), "--yes", "--no-monitor",
               home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    return where / "rowtool", home


@pytest.fixture
def project(generated, tmp_path):
    src, home = generated
    dst = tmp_path / "rowtool"
    shutil.copytree(src, dst, symlinks=True)
    h = tmp_path / "home"
    shutil.copytree(home, h)
    return dst, h


def hand_edit(root: Path) -> dict[str, bytes]:
    """A model-owned body, the README and a generated test, edited and committed."""
    cmds = root / "src/rowtool/commands.py"
    text = cmds.read_text()
    assert text.count(BODY_OLD) == 1
    cmds.write_text(text.replace(BODY_OLD, BODY_NEW, 1))
    tests = root / "tests/test_commands.py"
    t = tests.read_text()
    entry = '        [\n            "convert",\n            "sample text",\n        ],\n'
    assert entry in t, t
    tests.write_text(t.replace(entry, "") + TEST_NOTE)
    with open(root / "README.md", "a") as fh:
        fh.write(README_NOTE)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "my edits")
    return {p: (root / p).read_bytes() for p in ("src/rowtool/commands.py", "tests/test_commands.py", "README.md")}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def test_the_base_ref_holds_what_new_generated(project):
    root, _home = project
    files = git(root, "ls-tree", "-r", "--name-only", "refs/workbench/base").split()
    assert "src/rowtool/commands.py" in files and ".github/workflows/ci.yml" in files
    assert ".workbench/manifest.json" not in files  # bookkeeping, rewritten by every commit
    msg = git(root, "log", "-1", "--format=%B", "refs/workbench/base")
    assert "Workbench-Spec-Version: 1" in msg and "Workbench-Spec-Sha256: " in msg
    # only Workbench's output: never on HEAD's history, and HEAD does not move
    head_log = git(root, "log", "--format=%s", "HEAD")
    assert "Workbench base" not in head_log


def test_evolve_keeps_every_hand_edit_and_adds_the_command_and_option(project, tmp_path):
    root, home = project
    edits = hand_edit(root)
    before = git(root, "rev-list", "--count", "HEAD")
    spec2 = tmp_path / "v2.md"
    spec2.write_text(SPEC_V2)
    r = run_wb("evolve", str(root), "--spec", str(spec2), home=home)
    assert r.returncode == 3, r.stdout + r.stderr  # the spec gate, as in new
    assert "+ command head" in r.stdout and "+ option --limit" in r.stdout
    assert git(root, "status", "--porcelain") == ""
    r = run_wb("evolve", str(root), "--yes", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert int(git(root, "rev-list", "--count", "HEAD")) == int(before) + 1  # exactly one commit
    assert git(root, "log", "-1", "--format=%s") == "Evolve rowtool to spec v2\n"
    assert "Workbench-Step: evolve" in git(root, "log", "-1", "--format=%B")
    assert git(root, "status", "--porcelain") == ""
    after = {p: (root / p).read_bytes() for p in edits}
    for path, old in edits.items():  # every hand edit survives byte for byte
        if path == "tests/test_commands.py":
            assert TEST_NOTE.encode() in after[path]
        elif path == "README.md":
            assert after[path].endswith(README_NOTE.encode())
        else:
            assert BODY_NEW.encode() in after[path]
    cmds = after["src/rowtool/commands.py"].decode()
    assert "def run_head(" in cmds and 'print("head: not implemented yet"' in cmds
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    helptext = subprocess.run([sys.executable, "-m", "rowtool", "--help"], capture_output=True, text=True,
                              env=env).stdout
    assert "head" in helptext
    count_help = subprocess.run([sys.executable, "-m", "rowtool", "count", "--help"], capture_output=True,
                                text=True, env=env).stdout
    assert "--limit" in count_help
    # the base moved to the new generation, spec v2
    assert "Workbench-Spec-Version: 2" in git(root, "log", "-1", "--format=%B", "refs/workbench/base")
    # the project's own tests and linters pass on the result
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                           capture_output=True, text=True, env=env, cwd=root)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    lint = subprocess.run([ruff, "check", "--no-cache", "."], capture_output=True, text=True, cwd=root)
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run([ruff, "format", "--check", "--no-cache", "."], capture_output=True, text=True, cwd=root)
    assert fmt.returncode == 0, fmt.stdout


def test_a_dirty_tree_is_refused(project, tmp_path):
    root, home = project
    (root / "README.md").write_text("changed\n")
    spec2 = tmp_path / "v2.md"
    spec2.write_text(SPEC_V2)
    r = run_wb("evolve", str(root), "--spec", str(spec2), "--yes", home=home)
    assert r.returncode == 2, r.stderr
    assert "README.md" in r.stderr and "stash" in r.stderr and "commit" in r.stderr
    assert "Traceback" not in r.stderr


def test_offline_request_says_it_cannot(project):
    root, home = project
    r = run_wb("evolve", str(root), "--request", "add an option --limit to count", home=home)
    assert r.returncode == 2, r.stderr
    assert "offline" in r.stderr and "--spec" in r.stderr
    assert git(root, "status", "--porcelain") == ""


def _conflicting_edit(root: Path) -> None:
    """The developer changed the very lines the template regenerates (cli.py's help)."""
    cli = root / "src/rowtool/cli.py"
    text = cli.read_text()
    assert "Count the rows of a file" in text
    cli.write_text(text.replace("Count the rows of a file", "Count rows (my wording)"))
    git(root, "commit", "-q", "-am", "my wording")


def test_a_conflict_stops_with_the_file_named_and_the_tree_untouched(project, tmp_path):
    root, home = project
    _conflicting_edit(root)
    spec2 = tmp_path / "v2.md"
    spec2.write_text(SPEC_V2.replace("Count the rows of a file", "Count the rows of one file"))
    head = git(root, "rev-parse", "HEAD")
    before = tree_bytes(root)
    r = run_wb("evolve", str(root), "--spec", str(spec2), "--yes", home=home)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "src/rowtool/cli.py" in r.stderr and "conflict" in r.stderr
    assert tree_bytes(root) == before and git(root, "rev-parse", "HEAD") == head
    assert git(root, "status", "--porcelain") == ""
    r = run_wb("evolve", str(root), "--spec", str(spec2), "--yes", "--write-conflicts", home=home)
    assert r.returncode == 1, r.stdout + r.stderr
    text = (root / "src/rowtool/cli.py").read_text()
    assert "<<<<<<< ours" in text and "=======" in text and ">>>>>>> theirs" in text
    assert git(root, "rev-parse", "HEAD") == head  # nothing committed
    assert " M src/rowtool/cli.py" in git(root, "status", "--porcelain")


def test_after_a_template_upgrade_evolve_merges_against_the_stored_base(project, tmp_path):
    root, home = project
    edits = hand_edit(root)
    templates = tmp_path / "templates"
    shutil.copytree(Path(__file__).resolve().parents[2] / "templates", templates)
    readme = templates / "python-cli/files/README.md.j2"
    readme.write_text(readme.read_text().replace("## Exit codes", "## Exit codes (upgraded template)"))
    spec2 = tmp_path / "v2.md"
    spec2.write_text(SPEC_V2)
    r = run_wb("evolve", str(root), "--spec", str(spec2), "--yes", "--no-monitor", home=home,
               env_extra={"WORKBENCH_TEMPLATES": str(templates)})
    assert r.returncode == 0, r.stdout + r.stderr
    text = (root / "README.md").read_text()
    assert "## Exit codes (upgraded template)" in text  # the new generation
    assert text.endswith(README_NOTE)  # the developer's edit, merged, not lost
    assert BODY_NEW in (root / "src/rowtool/commands.py").read_text()
    assert edits  # and the base now holds the upgraded generation
    base_readme = git(root, "show", "refs/workbench/base:README.md")
    assert "(upgraded template)" in base_readme and README_NOTE not in base_readme


def test_spec_versions_and_their_diff(project, tmp_path):
    root, home = project
    spec2 = tmp_path / "v2.md"
    spec2.write_text(SPEC_V2)
    r = run_wb("evolve", str(root), "--spec", str(spec2), home=home)
    assert r.returncode == 3
    sid = next(line.split("session ")[1].split()[0] for line in (r.stdout + r.stderr).splitlines()
               if "session " in line) if "session " in r.stdout + r.stderr else None
    sessions = run_wb("sessions", home=home).stdout
    sid = sid or next(line.split()[1] for line in sessions.splitlines() if "evolve" in line)
    r = run_wb("show", sid[:8], "versions", home=home)
    assert r.returncode == 0, r.stderr
    assert "v1" in r.stdout and "v2" in r.stdout and "+ command head" in r.stdout
    r = run_wb("diff", sid[:8], "1", "2", home=home)
    assert r.returncode == 0, r.stderr
    assert "+ command head" in r.stdout and "~ command count: + option --limit" in r.stdout
    assert "+++ v2" in r.stdout
    r = run_wb("diff", sid[:8], "1", "9", home=home)
    assert r.returncode == 2 and "no spec version 9" in r.stderr
