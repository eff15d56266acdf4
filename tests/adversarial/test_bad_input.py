"""Bad input to `workbench new`: a clear one-line error, the documented exit code, nothing changed.

Driven through the real CLI in a subprocess (`python -m workbench`), WORKBENCH_HOME
pointing at a temp dir, as design.md's contract describes.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from .conftest import FIXTURE_SPEC, run_wb, tree


def _told(r, *needles: str) -> str:
    """stderr+stdout; asserts one clear message with no traceback."""
    text = r.stderr + r.stdout
    assert "Traceback" not in text, text
    low = text.lower()
    for n in needles:
        assert n.lower() in low, f"{n!r} not in: {text}"
    return text


def _no_session(home: Path) -> None:
    db = home / "workbench.db"
    if not db.exists():
        return
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
        if "sessions" in tables:
            assert con.execute("select count(*) from sessions").fetchone()[0] == 0
    finally:
        con.close()


@pytest.mark.parametrize(
    "name,content,needle",
    [
        ("latin1.spec.md", "---\nname: café\n---\n".encode("latin-1"), "utf-8"),
        ("binary.spec.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
        ("empty.spec.md", b"", "empty"),
        ("blank.spec.md", b"  \n\n\t\n", "empty"),
        ("huge.spec.md", b"---\nname: x\n---\n" + b"a" * (10 * 1024 * 1024), "too large"),
    ],
    ids=["not-utf8", "binary", "empty", "blank", "10MB"],
)
def test_bad_spec_files_are_refused_with_exit_2(tmp_path, wb_home, name, content, needle):
    spec = tmp_path / name
    spec.write_bytes(content)
    out = tmp_path / "out"
    r = run_wb("new", "a tool", "--spec", str(spec), "--out", str(out), "--yes", home=wb_home)
    assert r.returncode == 2
    _told(r, name, needle)
    assert not out.exists(), "nothing was created"
    assert spec.read_bytes() == content, "the input is not touched"
    _no_session(wb_home)


def test_missing_spec_file_is_refused(tmp_path, wb_home):
    out = tmp_path / "out"
    missing = tmp_path / "nope" / "spec.md"
    r = run_wb("new", "a tool", "--spec", str(missing), "--out", str(out), "--yes", home=wb_home)
    assert r.returncode == 2
    text = _told(r, "spec.md")
    assert "not found" in text.lower() or "no such file" in text.lower() or "does not exist" in text
    assert not out.exists()
    _no_session(wb_home)


def test_spec_that_is_a_directory_is_refused(tmp_path, wb_home):
    d = tmp_path / "specdir"
    d.mkdir()
    r = run_wb("new", "a tool", "--spec", str(d), "--out", str(tmp_path / "out"), home=wb_home)
    assert r.returncode == 2
    _told(r, "specdir")
    assert not (tmp_path / "out").exists()


def test_out_that_is_a_file_is_refused(tmp_path, wb_home):
    out = tmp_path / "out"
    out.write_text("precious")
    r = run_wb("new", "a tool", "--out", str(out), "--yes", home=wb_home)
    assert r.returncode == 2
    _told(r, "--out", "not a directory")
    assert out.read_text() == "precious"
    _no_session(wb_home)


def test_out_that_is_not_empty_is_refused_and_left_alone(tmp_path, wb_home):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "keep.txt").write_text("mine")
    (out / "sub" / "x").write_text("x")
    before = tree(out)
    r = run_wb("new", "a tool", "--out", str(out), "--yes", home=wb_home)
    assert r.returncode == 2
    _told(r, "--out", "not empty")
    assert tree(out) == before and sorted(os.listdir(out)) == ["keep.txt", "sub"]
    _no_session(wb_home)


def test_out_under_a_file_is_refused(tmp_path, wb_home):
    f = tmp_path / "afile"
    f.write_text("x")
    r = run_wb("new", "a tool", "--out", str(f / "proj"), "--yes", home=wb_home)
    assert r.returncode == 2
    _told(r, "--out", "not a directory")
    assert f.read_text() == "x"


@pytest.fixture
def readonly_dir(tmp_path: Path):
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() != 0:
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(d)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot make a read-only directory as root here: {r.stderr.strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False, capture_output=True)


def test_out_that_is_not_writable_is_refused(readonly_dir, wb_home):
    out = readonly_dir / "proj"
    r = run_wb("new", "a tool", "--out", str(out), "--yes", home=wb_home)
    assert r.returncode == 2
    _told(r, "--out", "not writable")
    assert os.listdir(readonly_dir) == []
    _no_session(wb_home)


def test_corrupt_database_is_reported_and_not_overwritten(tmp_path, wb_home):
    db = wb_home / "workbench.db"
    junk = b"this is not a database\x00" * 400
    db.write_bytes(junk)
    out = tmp_path / "out"
    r = run_wb("new", "a tool", "--out", str(out), "--yes", home=wb_home)
    assert r.returncode == 2
    _told(r, "workbench.db")
    assert db.read_bytes() == junk, "the user's file is kept as it was"
    assert not out.exists()


def test_foreign_sqlite_database_is_reported_and_not_migrated(tmp_path, wb_home):
    db = wb_home / "workbench.db"
    con = sqlite3.connect(db)
    con.execute("create table users (id integer primary key, email text)")
    con.execute("insert into users (email) values ('someone@example.com')")
    con.execute("pragma user_version = 42")
    con.commit()
    con.close()
    before = db.read_bytes()
    out = tmp_path / "out"
    r = run_wb("new", "a tool", "--out", str(out), "--yes", home=wb_home)
    assert r.returncode == 2
    _told(r, "workbench.db")
    assert db.read_bytes() == before, "a foreign database is not migrated or touched"
    assert not out.exists()


def test_unreadable_config_names_the_line(tmp_path, wb_home):
    cfg = wb_home / "config.toml"
    cfg.write_text('[workbench]\ndefault_model = "claude"\n\n[models.gpt\nmodel = "openai/gpt-4o"\n')
    out = tmp_path / "out"
    r = run_wb("new", "a tool", "--out", str(out), "--yes", home=wb_home)
    assert r.returncode == 2
    text = _told(r, "config.toml")
    assert "line 4" in text or "config.toml:4:" in text, text
    assert not out.exists(), text


def test_config_with_a_bad_value_names_line_and_key(tmp_path, wb_home):
    cfg = wb_home / "config.toml"
    cfg.write_text('[workbench]\ndefault_model = "gpt"\n\n[models.gpt]\nmodel = 5\n')
    out = tmp_path / "out"
    r = run_wb("new", "a tool", "--out", str(out), "--yes", home=wb_home)
    assert r.returncode == 2
    text = _told(r, "config.toml", "models.gpt.model")
    assert "line 5" in text or "config.toml:5:" in text, text
    assert not out.exists()


def test_config_that_is_not_utf8_is_reported(tmp_path, wb_home):
    (wb_home / "config.toml").write_bytes(b'[workbench]\ndefault_model = "caf\xe9"\n')
    r = run_wb("new", "a tool", "--out", str(tmp_path / "out"), "--yes", home=wb_home)
    assert r.returncode == 2
    _told(r, "config.toml")
    assert not (tmp_path / "out").exists()


@pytest.fixture
def tiny_disk(tmp_path: Path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mnt)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)


def test_disk_filling_up_while_writing_the_project(tiny_disk, wb_home):
    out = tiny_disk / "proj"
    r = run_wb("new", "x", "--spec", str(FIXTURE_SPEC), "--out", str(out), "--yes",
               "--no-monitor", home=wb_home)
    assert r.returncode == 1
    text = _told(r)
    assert "disk is full" in text.lower() or "no space left" in text.lower(), text
    assert not out.exists() or os.listdir(out) == [], "no half-written project"
    assert [p for p in os.listdir(tiny_disk) if p != "proj"] == [], "no temp files left"


@pytest.mark.parametrize("command", ["validate", "new"])
def test_a_fifo_or_a_device_as_the_spec_is_refused_at_once(tmp_path, wb_home, command):
    """A FIFO hung `new`, and /dev/zero read gigabytes: only regular files are read."""
    import time

    fifo = tmp_path / "pipe.spec.md"
    os.mkfifo(fifo)
    for spec, kind in ((fifo, "FIFO"), (Path("/dev/zero"), "character device")):
        args = [command, str(spec)] if command == "validate" else \
            ["new", "a tool", "--spec", str(spec), "--out", str(tmp_path / "out"), "--yes"]
        started = time.perf_counter()
        r = run_wb(*args, home=wb_home, timeout=60)
        assert r.returncode == 2
        _told(r, str(spec), kind)
        assert time.perf_counter() - started < 30
    assert not (tmp_path / "out").exists()
    _no_session(wb_home)
