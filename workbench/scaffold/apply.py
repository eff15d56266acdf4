"""Writing a Plan to disk: all of it or nothing.

`apply_plan` builds the whole tree in a hidden sibling directory
(`.<name>.workbench-tmp-<pid>-<random>`) through `safety.paths.write_file`, syncs
it, then renames it into place. An interrupted run leaves no project (only the
hidden directory, which the next run's `cleanup_leftovers` removes).
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path

from workbench.errors import UsageError, WorkbenchError
from workbench.safety.paths import fsync_path as _fsync_path
from workbench.safety.paths import write_file
from workbench.scaffold.plan import Plan

TMP_MARK = ".workbench-tmp-"
_TMP_RE = re.compile(r"^\..+\.workbench-tmp-(\d+)-[0-9a-f]+$")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return False  # ours, from an earlier (interrupted) call in this process
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_leftovers(parent: Path) -> list[Path]:
    """Remove the temp dirs of earlier interrupted runs in `parent`; return them.

    A temp dir whose creating process is still running is left alone.
    """
    parent = Path(parent)
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for p in entries:
        m = _TMP_RE.match(p.name)
        if not m or p.is_symlink() or not p.is_dir():
            continue
        if _pid_alive(int(m.group(1))):
            continue
        shutil.rmtree(p, ignore_errors=True)
        if not p.exists():
            removed.append(p)
    return removed


def check_target(target: Path) -> None:
    """Refuse a target that exists and is not an empty directory (UsageError, exit 2)."""
    if target.is_symlink():
        raise UsageError(f"{target}: refusing to write through a symlink")
    if target.exists():
        if not target.is_dir():
            raise UsageError(f"{target}: exists and is not a directory")
        try:
            empty = next(target.iterdir(), None) is None
        except OSError as exc:
            raise UsageError(f"{target}: cannot read it: {exc.strerror}") from None
        if not empty:
            raise UsageError(f"{target}: exists and is not empty; choose a new or empty directory")


def apply_plan(plan: Plan, target: Path) -> Path:
    """Write every file of the plan into `target`, atomically; return the target.

    The target must not exist or be an empty directory; it is left untouched
    otherwise. Missing parent directories are created.
    """
    target = Path(os.path.abspath(target))
    check_target(target)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{parent}: cannot create it: {exc.strerror}") from None
    if not parent.is_dir():
        raise UsageError(f"{parent}: is not a directory")
    cleanup_leftovers(parent)

    tmp = parent / f".{target.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        os.mkdir(tmp, 0o755)
    except OSError as exc:
        raise UsageError(f"{parent}: cannot write there: {exc.strerror}") from None
    try:
        dirs = {tmp}
        for f in plan.files.values():
            written = write_file(tmp, f.path, f.content, f.mode)
            _fsync_path(written)
            d = written.parent
            while d != tmp and d not in dirs:
                dirs.add(d)
                d = d.parent
        for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
            _fsync_path(d, directory=True)
        check_target(target)  # it may have changed while we built the tree
        if target.is_dir():
            # An existing empty directory (often the user's current one, `--out .`) is
            # kept: renaming over it would leave their shell in a deleted directory.
            # Its entries are moved in one by one instead.
            _move_entries(tmp, target)
            os.rmdir(tmp)
            _fsync_path(target, directory=True)
            return target
        try:
            os.rename(tmp, target)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise UsageError(f"{target}: exists and is not empty; choose a new or empty directory") from None
            raise WorkbenchError(f"{target}: cannot move the project into place: {exc.strerror}") from None
        _fsync_path(parent, directory=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _move_entries(src: Path, dest: Path) -> None:
    for entry in sorted(os.listdir(src)):
        try:
            os.rename(src / entry, dest / entry)
        except OSError as exc:
            raise WorkbenchError(f"{dest}: cannot move {entry} into place: {exc.strerror}") from None


def write_plan_files(plan: Plan, root: Path, steps: Iterable[str] | None = None) -> list[str]:
    """Write the plan's files of `steps` (all when None) into the existing project `root`.

    Used by the integration steps (cicd, codespace, deploy) to add their files to a
    project that already exists. Returns the paths written, in plan order.
    """
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root}: no such project directory")
    wanted = None if steps is None else set(steps)
    written = []
    for f in plan.files.values():
        if wanted is not None and f.step not in wanted:
            continue
        p = write_file(root, f.path, f.content, f.mode)
        _fsync_path(p)
        written.append(f.path)
    return written
