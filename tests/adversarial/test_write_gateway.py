"""Attacks on the one write gateway (workbench.safety.paths.write_file).

Each case: what a hostile model file list / spec / concurrent process tries,
what is refused, what the user is told, and what is (not) on disk afterwards.
"""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.safety import paths
from workbench.safety.paths import (
    DiskFull,
    UnsafePath,
    is_inside,
    resolve_inside,
    write_file,
)

from .conftest import tree


@pytest.fixture
def layout(tmp_path: Path):
    """w/proj (the project), w/proj-evil (a sibling sharing the prefix), w/outside."""
    w = tmp_path / "w"
    proj, evil, outside = w / "proj", w / "proj-evil", w / "outside"
    for d in (proj, evil, outside):
        d.mkdir(parents=True)
    return proj, evil, outside


HOSTILE_PATHS = [
    ("../escape.txt", "contains '..'"),
    ("src/../../escape.txt", "contains '..'"),
    ("/etc/passwd", "absolute"),
    ("//server/share/x", "absolute"),
    ("C:\\Windows\\evil.dll", "backslashes"),
    ("C:evil.txt", "drive letter"),
    ("c:/evil.txt", "drive letter"),
    ("src\\..\\..\\escape.txt", "backslashes"),
    ("ok\x00.txt", "NUL"),
    ("ok\n.txt", "control character"),
    (".git/hooks/pre-commit", "inside .git"),
    (".git/config", "inside .git"),
    ("vendor/.git/config", "inside .git"),
    (".GIT/hooks/post-commit", "inside .git"),
    (".git./config", "inside .git"),
    ("~/.bashrc", "home-relative"),
    ("", "empty"),
    (".", "empty"),
    ("src/", "directory"),
    ("a/" + "x" * 300, "too long"),
    ("README.md:stream", "':'"),
]


@pytest.mark.parametrize("rel,reason", HOSTILE_PATHS, ids=[repr(p) for p, _ in HOSTILE_PATHS])
def test_traversal_paths_from_a_model_file_list_are_refused(layout, rel, reason):
    """A model's file list names paths outside the project: each is refused, nothing written."""
    proj, evil, outside = layout
    with pytest.raises(UnsafePath) as exc:
        write_file(proj, rel, "pwned\n")
    msg = str(exc.value)
    assert msg.startswith("refused path ") and reason in msg
    assert exc.value.exit_code == 1
    assert tree(proj) == {} and tree(evil) == {} and tree(outside) == {}
    assert not (proj.parent / "escape.txt").exists()
    # resolve_inside (used to preview) refuses the same paths
    with pytest.raises(UnsafePath):
        resolve_inside(proj, rel)


def test_non_string_path_is_refused(layout):
    proj, _, _ = layout
    for rel in (None, b"x.txt", 3, Path("x.txt")):
        with pytest.raises(UnsafePath, match="not a string"):
            write_file(proj, rel, "x")  # type: ignore[arg-type]
    assert tree(proj) == {}


def test_normal_paths_are_written_atomically(layout):
    """The safe outcome for legitimate files: exact bytes, mode, no temp files left."""
    proj, _, _ = layout
    p = write_file(proj, "src/pkg/cli.py", "print('héllo')\n", 0o755)
    assert p == Path(os.path.realpath(proj)) / "src/pkg/cli.py"
    assert p.read_bytes() == "print('héllo')\n".encode()
    assert (p.stat().st_mode & 0o777) == 0o755
    write_file(proj, ".gitignore", b"\x00binary\xff")
    write_file(proj, ".github/workflows/ci.yml", "on: push\n")
    write_file(proj, "src/pkg/cli.py", "v2\n")  # overwrite
    assert tree(proj) == {
        "src/pkg/cli.py": b"v2\n",
        ".gitignore": b"\x00binary\xff",
        ".github/workflows/ci.yml": b"on: push\n",
    }
    # setuid bits are dropped
    write_file(proj, "bin/tool", "#!/bin/sh\n", 0o4755)
    assert ((proj / "bin/tool").stat().st_mode & 0o7777) == 0o755


def test_symlinked_directory_in_the_tree_is_refused(layout):
    """A symlink inside the project pointing outside: writing through it is refused."""
    proj, _, outside = layout
    (proj / "docs").symlink_to(outside)
    with pytest.raises(UnsafePath, match="docs is a symlink"):
        write_file(proj, "docs/index.md", "pwned")
    with pytest.raises(UnsafePath, match="symlink"):
        resolve_inside(proj, "docs/index.md")
    assert tree(outside) == {}


def test_symlink_at_the_final_name_is_refused_and_target_untouched(layout):
    proj, _, outside = layout
    victim = outside / "victim.txt"
    victim.write_text("original")
    (proj / "README.md").symlink_to(victim)
    with pytest.raises(UnsafePath, match="README.md is a symlink"):
        write_file(proj, "README.md", "pwned")
    assert victim.read_text() == "original"
    assert (proj / "README.md").is_symlink()  # left as found; the user is told


def test_symlink_to_a_sibling_with_the_same_prefix_is_refused(layout):
    """The prefix bug: /w/proj-evil starts with /w/proj but is outside it."""
    proj, evil, _ = layout
    assert not is_inside(proj, evil)
    assert not is_inside(proj, evil / "x")
    assert is_inside(proj, proj) and is_inside(proj, proj / "a" / "b")
    assert not is_inside(str(proj) + "/", str(evil))
    (proj / "src").symlink_to(evil)
    with pytest.raises(UnsafePath):
        write_file(proj, "src/x.py", "pwned")
    with pytest.raises(UnsafePath):
        write_file(proj, "../proj-evil/x.py", "pwned")
    assert tree(evil) == {}


def test_symlink_planted_between_mkdir_and_open_is_refused(layout, monkeypatch):
    """Race: right after Workbench creates a directory, an attacker swaps it for a symlink."""
    proj, _, outside = layout
    real_mkdir = os.mkdir

    def racing_mkdir(name, mode=0o777, *, dir_fd=None):
        real_mkdir(name, mode, dir_fd=dir_fd)
        if name == "src":  # the attacker wins the race
            os.rmdir(name, dir_fd=dir_fd)
            os.symlink(str(outside), name, dir_fd=dir_fd)

    monkeypatch.setattr(paths.os, "mkdir", racing_mkdir)
    with pytest.raises(UnsafePath, match="src is a symlink"):
        write_file(proj, "src/pkg/mod.py", "pwned")
    monkeypatch.undo()
    assert tree(outside) == {}, "nothing was written through the planted link"


def test_symlink_planted_while_writing_repeatedly_never_escapes(layout):
    """A concurrent process keeps swapping a project directory for a symlink while
    Workbench writes: every write either lands inside or is refused; none escapes."""
    proj, _, outside = layout
    stop = threading.Event()
    target = proj / "gen"

    def attacker():
        while not stop.is_set():
            try:
                if target.is_symlink():
                    target.unlink()
                elif target.is_dir():
                    for f in target.iterdir():
                        f.unlink()
                    target.rmdir()
                target.symlink_to(outside)
            except OSError:
                pass

    t = threading.Thread(target=attacker, daemon=True)
    t.start()
    refused = written = 0
    try:
        for i in range(300):
            try:
                write_file(proj, f"gen/f{i}.txt", "data", fsync=False)
                written += 1
            except UnsafePath:
                refused += 1
            except WorkbenchError:
                refused += 1  # e.g. the directory vanished between open and write
    finally:
        stop.set()
        t.join()
    assert refused + written == 300
    assert tree(outside) == {}, "a write escaped through a planted symlink"


def test_directory_at_the_final_name_is_refused(layout):
    proj, _, _ = layout
    (proj / "pkg").mkdir()
    (proj / "pkg" / "keep.txt").write_text("keep")
    with pytest.raises(UnsafePath, match="not a regular file"):
        write_file(proj, "pkg", "x")
    assert tree(proj) == {"pkg/keep.txt": b"keep"}


def test_a_file_where_a_directory_is_needed_is_refused(layout):
    proj, _, _ = layout
    (proj / "src").write_text("a file")
    with pytest.raises(UnsafePath, match="src is not a directory"):
        write_file(proj, "src/x.py", "x")
    assert tree(proj) == {"src": b"a file"}


def _enospc_after(nbytes: int):
    """An os.write that writes `nbytes` then fails like a full disk."""
    real_write = os.write
    state = {"left": nbytes}

    def fake_write(fd, data):
        if state["left"] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = real_write(fd, bytes(data[: state["left"]]))
        state["left"] -= n
        return n

    return fake_write


def test_disk_full_while_writing_keeps_old_content_and_leaves_no_partial_file(
    layout, monkeypatch
):
    proj, _, _ = layout
    write_file(proj, "data.json", '{"old": true}\n')
    monkeypatch.setattr(paths.os, "write", _enospc_after(10))
    with pytest.raises(DiskFull) as exc:
        write_file(proj, "data.json", "x" * 100_000)
    monkeypatch.undo()
    msg = str(exc.value)
    assert "data.json" in msg and "disk is full" in msg
    assert exc.value.exit_code == 1 and isinstance(exc.value, WorkbenchError)
    assert tree(proj) == {"data.json": b'{"old": true}\n'}, "old content kept, no temp file"


def test_disk_full_on_a_new_file_leaves_nothing(layout, monkeypatch):
    proj, _, _ = layout
    monkeypatch.setattr(paths.os, "write", _enospc_after(0))
    with pytest.raises(DiskFull, match="new.txt"):
        write_file(proj, "sub/new.txt", "content")
    monkeypatch.undo()
    assert tree(proj) == {}


@pytest.fixture
def tiny_tmpfs(tmp_path: Path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tiny tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False, capture_output=True)


def test_real_full_disk_on_a_tiny_tmpfs(tiny_tmpfs):
    """A real ENOSPC from the kernel: one clear error, no partial file."""
    proj = tiny_tmpfs / "proj"
    write_file(proj, "small.txt", "ok")
    with pytest.raises(DiskFull) as exc:
        write_file(proj, "big.bin", b"x" * (1024 * 1024))
    assert "big.bin" in str(exc.value) and "disk is full" in str(exc.value)
    assert tree(proj) == {"small.txt": b"ok"}


def test_write_fails_cleanly_on_a_read_only_root(tmp_path):
    """Not a disk-full but a permission fault: a WorkbenchError naming the file, no traceback."""
    target = Path("/proc/workbench-not-writable")
    with pytest.raises(WorkbenchError) as exc:
        write_file(target, "x.txt", "x")
    assert "workbench-not-writable" in str(exc.value)


def test_cleanup_removes_leftover_temp_files(layout):
    """After a kill -9 mid-write, a temp file may remain; the next run removes it."""
    proj, _, _ = layout
    write_file(proj, "a/b.txt", "ok")
    (proj / "a" / ".wb-tmp-0123456789ab-b.txt").write_text("half")
    removed = paths.cleanup_temp_files(proj)
    assert [p.name for p in removed] == [".wb-tmp-0123456789ab-b.txt"]
    assert tree(proj) == {"a/b.txt": b"ok"}
