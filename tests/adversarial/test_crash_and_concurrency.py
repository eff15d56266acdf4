"""kill -9 at random points of a run, then resume; two processes on one database.

Safe outcome: never a half-written project (the out dir is absent, empty, or holds
complete files identical to a clean run's), nothing lost from the database (the
session resumes to the end, the audit chain verifies), leftovers cleaned up.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import FIXTURE_SPEC, ROOT, clean_env, run_wb, tree

TMP_MARKERS = (".wb-tmp-", "-wb-tmp-", ".workbench-tmp", ".tmp-")


def _start(args: list[str], home: Path, log: Path) -> subprocess.Popen:
    fh = open(log, "wb")  # noqa: SIM115 - closed by the caller via proc
    return subprocess.Popen(
        [sys.executable, "-m", "workbench", *args],
        stdout=fh,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=clean_env(home),
        cwd=ROOT,
        start_new_session=True,
    )


def _sessions(home: Path) -> list[dict]:
    db = home / "workbench.db"
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("select * from sessions")]
    except sqlite3.DatabaseError:
        return []
    finally:
        con.close()


def _git(out: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "core.hooksPath=/dev/null", "-C", str(out), *args],
        capture_output=True, text=True, check=False,
    ).stdout


def _leftovers(parent: Path, name: str) -> list[str]:
    return sorted(p for p in os.listdir(parent) if p != name and p.startswith("." + name))


def _verify_audit(home: Path) -> None:
    r = run_wb("audit", "verify", home=home, timeout=300)
    if "invalid choice" in r.stderr:  # the audit command is not there yet
        from workbench.store import Store

        with Store(home / "workbench.db") as s:
            assert s.verify_chain().ok
        return
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """One uninterrupted run: the files a complete project has, and how long it takes."""
    base = tmp_path_factory.mktemp("reference")
    home, out = base / "home", base / "proj"
    t0 = time.monotonic()
    r = run_wb("new", "csv2json", "--spec", str(FIXTURE_SPEC), "--out", str(out), "--yes",
               "--no-monitor", home=home)
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr
    files = {k: v for k, v in tree(out).items() if not k.startswith(".workbench/")}
    first = _git(out, "rev-list", "--max-parents=0", "HEAD").strip()
    scaffold = {p for p in _git(out, "show", "--name-only", "--format=", first).split()
                if not p.startswith(".workbench/")}
    assert scaffold and scaffold <= set(files)
    return {"files": files, "scaffold": scaffold, "seconds": took,
            "commits": _git(out, "log", "--format=%s").splitlines()}


def _check_not_half_written(out: Path, ref: dict) -> str:
    """The out dir after a kill: absent/empty, or complete files identical to the reference."""
    if not out.exists() or not any(out.iterdir()):
        return "empty"
    everything = tree(out)
    for path, data in everything.items():  # session-specific metadata: whole, valid JSON
        if path.startswith(".workbench/") and path.endswith(".json"):
            json.loads(data)
    # A kill between writing a file's temporary and renaming it leaves the temporary
    # (never a partial file under the real name); resume removes it (checked after it).
    got = {k: v for k, v in everything.items()
           if not k.startswith(".workbench/") and not any(m in k for m in TMP_MARKERS)}
    for path, data in got.items():
        assert path in ref["files"], f"unexpected file after kill: {path}"
        assert data == ref["files"][path], f"half-written file after kill: {path}"
    missing = ref["scaffold"] - set(got)
    assert not missing, f"partial scaffold after kill: missing {sorted(missing)[:5]}"
    return "scaffolded"


def _wait_for_line(proc: subprocess.Popen, log: Path, marker: str) -> None:
    """Poll the run's output until a step line appears (or the run ends)."""
    while proc.poll() is None:
        try:
            if marker in log.read_text(errors="replace"):
                return
        except OSError:
            pass
        time.sleep(0.02)


def _wait_for_commits(proc: subprocess.Popen, out: Path, n: int) -> None:
    """Poll the project until it has n commits (or the run ends)."""
    while proc.poll() is None:
        if (out / ".git").exists():
            count = _git(out, "rev-list", "--count", "HEAD").strip()
            if count.isdigit() and int(count) >= n:
                return
        time.sleep(0.01)


# (seed, None): kill after a random delay over the whole run;
# (seed, "@N"): kill the moment the project has N commits (before the step is recorded);
# (seed, marker): kill a random moment (0-0.4 s) after that step line is printed, so
# the apply, git and CI steps are hit, not only the start.
KILLS = [
    (11, None), (23, None), (37, None), (41, None), (59, None),
    (3, "tests "), (5, "⏸ scaffold  docs"), (7, "✓ scaffold  docs"),
    (13, "integrate git"), (17, "integrate cicd"),
    (19, "@1"), (29, "@2"),
]


@pytest.mark.parametrize("seed,after", KILLS, ids=[f"{s}-{a or 'random'}".strip() for s, a in KILLS])
def test_kill_9_at_a_random_point_then_resume(tmp_path, reference, seed, after):
    rng = random.Random(seed)
    home, out = tmp_path / "home", tmp_path / "proj"
    log = tmp_path / "run1.log"
    proc = _start(["new", "csv2json", "--spec", str(FIXTURE_SPEC), "--out", str(out), "--yes",
                   "--no-monitor"], home, log)
    if after is None:
        delay = rng.uniform(0.05, max(0.5, reference["seconds"] * 1.1))
    elif after.startswith("@"):
        _wait_for_commits(proc, out, int(after[1:]))
        delay = 0.0
    else:
        _wait_for_line(proc, log, after)
        delay = rng.uniform(0.0, 0.4)
    try:
        proc.wait(timeout=delay)
        finished_first = True
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        finished_first = False
    state = _check_not_half_written(out, reference)

    sessions = _sessions(home)
    assert len(sessions) <= 1
    if sessions:
        sid = sessions[0]["id"]
        r = run_wb("resume", sid, "--yes", "--no-monitor", home=home)
    else:  # killed before the session was recorded: start again, same --out
        assert state == "empty"
        r = run_wb("new", "csv2json", "--spec", str(FIXTURE_SPEC), "--out", str(out), "--yes",
                   "--no-monitor", home=home)
    info = f"seed={seed} delay={delay:.2f}s state={state} finished_first={finished_first}\n"
    print(info, (tmp_path / "run1.log").read_text(errors="replace")[-300:])
    assert r.returncode == 0, info + r.stdout + r.stderr

    got = {k: v for k, v in tree(out).items() if not k.startswith(".workbench/")}
    assert got == reference["files"], info + "resumed project differs from a clean run"
    assert _git(out, "status", "--porcelain") == "", info + "uncommitted leftovers"
    assert _git(out, "log", "--format=%s").splitlines() == reference["commits"], (
        info + "the resumed history differs from a clean run (a step committed twice?)"
    )
    assert _leftovers(out.parent, out.name) == [], info + "temp dirs of the killed run remain"
    assert not [p for p in tree(out) if any(m in p for m in TMP_MARKERS)], info
    assert len(_sessions(home)) == 1, info + "resume reused the session"
    _verify_audit(home)


def test_two_processes_on_one_database(tmp_path, reference):
    home = tmp_path / "home"
    outs = [tmp_path / "a", tmp_path / "b"]
    procs = [
        _start(["new", "csv2json", "--spec", str(FIXTURE_SPEC), "--out", str(o), "--yes",
                "--no-monitor"], home, tmp_path / f"{o.name}.log")
        for o in outs
    ]
    codes = [p.wait(timeout=900) for p in procs]
    logs = [(tmp_path / f"{o.name}.log").read_text(errors="replace") for o in outs]
    assert codes == [0, 0], logs
    for o in outs:
        got = {k: v for k, v in tree(o).items() if not k.startswith(".workbench/")}
        assert got == reference["files"]
    sessions = _sessions(home)
    assert len(sessions) == 2 and len({s["id"] for s in sessions}) == 2
    _verify_audit(home)


def test_symlink_planted_in_the_project_between_steps_is_refused(tmp_path):
    """After the scaffold is committed, something replaces .github with a link to a
    directory outside; the CI step must refuse to write through it."""
    home, out = tmp_path / "home", tmp_path / "proj"
    outside = tmp_path / "outside"
    outside.mkdir()
    log = tmp_path / "run1.log"
    proc = _start(["new", "csv2json", "--spec", str(FIXTURE_SPEC), "--out", str(out), "--yes",
                   "--no-monitor"], home, log)
    _wait_for_commits(proc, out, 1)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    import shutil

    shutil.rmtree(out / ".github", ignore_errors=True)
    (out / ".github").symlink_to(outside)
    sid = _sessions(home)[0]["id"]
    r = run_wb("resume", sid, "--yes", "--no-monitor", home=home)
    told = r.stdout + r.stderr
    assert r.returncode == 1, told
    assert ".github" in told and "symlink" in told and "Traceback" not in told
    assert list(outside.iterdir()) == [], "nothing was written through the planted link"
    assert (out / ".github").is_symlink(), "the link is left for the user to inspect"


def test_out_as_a_symlink_to_an_empty_dir_lands_in_the_real_dir_and_says_so(tmp_path):
    home = tmp_path / "home"
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    r = run_wb("new", "csv2json", "--spec", str(FIXTURE_SPEC), "--out", str(link), "--yes",
               "--no-monitor", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert str(real) in r.stdout, "the user is told where the project really is"
    assert link.is_symlink() and (real / "pyproject.toml").is_file()


def test_out_as_a_dangling_symlink_is_refused(tmp_path):
    home = tmp_path / "home"
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "nowhere")
    r = run_wb("new", "csv2json", "--spec", str(FIXTURE_SPEC), "--out", str(link), "--yes",
               home=home)
    assert r.returncode == 2
    assert "dangling symlink" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "nowhere").exists() and link.is_symlink()


def test_a_write_killed_before_its_rename_leaves_nothing_in_a_commit(tmp_path):
    """A kill -9 between `write_file`'s temporary and its rename (seen once in a sweep: the
    manifest's, during the git step) left a `.wb-tmp-…` file that the resumed step
    committed and the next step deleted: a tracked file gone from the tree."""
    home, out, log = tmp_path / "home", tmp_path / "proj", tmp_path / "run1.log"
    proc = _start(["new", "csv2json", "--spec", str(FIXTURE_SPEC), "--out", str(out), "--yes",
                   "--no-monitor"], home, log)
    _wait_for_line(proc, log, "✓ scaffold  docs")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (out / ".workbench").mkdir(parents=True, exist_ok=True)
    (out / ".workbench" / ".wb-tmp-0123456789ab-manifest.json").write_text('{"half": ')
    r = run_wb("resume", _sessions(home)[0]["id"], "--yes", "--no-monitor", home=home)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _git(out, "status", "--porcelain") == ""
    assert ".wb-tmp-" not in _git(out, "log", "--all", "--name-only", "--format=")
