"""Every change to the file system that is not a project file written by
`paths.write_file`: the folders beside the database (locks), the throwaway trees the
checks run in, the scaffold's atomic apply (its hidden build, the rename into place, the
journal's removal), a file the developer names (an audit export) and a spec written back.

With `paths`, this is the only module that creates, renames or removes anything;
tests/unit/test_one_writer.py fails when code elsewhere does (the store keeps the
database and its keyring, and says so there). Removing a tree is refused unless it is
Workbench's own: under the temporary folder, or named with a Workbench mark.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from workbench.errors import WorkbenchError

#: What the names of Workbench's own hidden trees carry (`.proj.workbench-tmp-…`).
OWN_MARK = ".workbench-"


class NotOurs(WorkbenchError):
    """A tree Workbench did not make was about to be removed (a bug, never done)."""

    exit_code = 1


def make_dirs(path: Path | str) -> Path:
    """`path` and its missing parents (an existing one is fine)."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def make_dir(path: Path | str, mode: int = 0o755) -> Path:
    """A new directory (FileExistsError when it exists: a build of our own is never shared)."""
    os.mkdir(path, mode)
    return Path(path)


def rename(src: Path | str, dst: Path | str) -> None:
    """`os.rename`: atomic within one filesystem, onto a missing or an empty directory."""
    os.rename(src, dst)


def remove_file(path: Path | str) -> None:
    os.unlink(path)


def is_ours(path: Path | str) -> bool:
    """Under the temporary folder, or named with a Workbench mark (its own hidden build)."""
    p = Path(os.path.abspath(path))
    tmp = Path(os.path.realpath(tempfile.gettempdir()))
    real_parent = Path(os.path.realpath(p.parent))
    return OWN_MARK in p.name or real_parent == tmp or tmp in real_parent.parents


def remove_tree(path: Path | str, ignore_errors: bool = False) -> None:
    """Remove a tree Workbench made (NotOurs for any other: nothing is removed)."""
    if not is_ours(path):
        raise NotOurs(f"{path}: refusing to remove a folder Workbench did not make")
    shutil.rmtree(path, ignore_errors=ignore_errors)


def copy_tree(src: Path, dst: Path, ignore: Callable | None = None) -> Path:
    """A fresh copy of `src` at `dst` (a throwaway one: `dst` must be Workbench's own);
    symlinks are copied as links, never followed."""
    if os.path.lexists(dst):
        remove_tree(dst)
    elif not is_ours(dst):
        raise NotOurs(f"{dst}: refusing to copy a tree to a folder Workbench does not own")
    shutil.copytree(src, dst, symlinks=True, ignore=ignore)
    return Path(dst)


def write_text(path: Path | str, text: str) -> Path:
    """A file in a folder Workbench owns (a throwaway tree, its tools), not a project's."""
    p = Path(path)
    p.write_text(text, encoding="utf-8")
    return p


def write_bytes(path: Path | str, data: bytes) -> Path:
    """A file the developer named, exactly these bytes (a spec written back)."""
    p = Path(path)
    p.write_bytes(data)
    return p


def open_for_writing(path: Path | str, newline: str | None = None) -> IO[str]:
    """A text file the developer named, for a stream of output (an audit export)."""
    return open(path, "w", encoding="utf-8", newline=newline)  # noqa: SIM115 - the caller closes it


def process_alive(pid: int) -> bool:
    """Whether a process of that id exists (one of another user's counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
