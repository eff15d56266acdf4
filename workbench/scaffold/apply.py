"""Writing a Plan to disk: all of it or nothing.

`apply_plan` builds the whole tree in a hidden sibling directory
(`.<name>.workbench-tmp-<pid>-<random>`) through `safety.paths.write_file`, syncs
it, then renames it into place: onto a missing target, or over an existing empty
directory (POSIX renames a directory onto an empty one atomically; its mode is kept).
A kill at any moment leaves either no project or all of it; the hidden directory
is removed by the next run's `cleanup_leftovers`.

When the target cannot be replaced by a rename -- a mount point (an empty Docker
volume: EXDEV/EBUSY), the current directory (`--out .`: the user's shell would be
left in a deleted directory), or a parent we cannot write -- the tree is built
inside the target, under `.workbench-inplace-<pid>-<random>`, and a journal
(`.workbench-apply.json`) is written before its entries are moved up one by one
(renames within one filesystem). `recover_target` finishes a journaled move after
a kill, or removes a build that never reached its journal; `apply_plan` calls it
first, so a resumed run ends with the whole tree.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from workbench.errors import UsageError, WorkbenchError
from workbench.safety import fs
from workbench.safety.paths import fsync_path as _fsync_path
from workbench.safety.paths import write_file
from workbench.scaffold.plan import Plan

TMP_MARK = ".workbench-tmp-"
_TMP_RE = re.compile(r"^\..+\.workbench-tmp-(\d+)-[0-9a-f]+$")
INPLACE_MARK = ".workbench-inplace-"
_INPLACE_RE = re.compile(r"^\.workbench-inplace-(\d+)-[0-9a-f]+$")
JOURNAL = ".workbench-apply.json"
# Renaming onto the target failed for a reason building inside it avoids.
_IN_PLACE_ERRNOS = (errno.EXDEV, errno.EBUSY, errno.EACCES, errno.EPERM, errno.EROFS)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # ours, from an earlier (interrupted) call in this process
    return fs.process_alive(pid)


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
        fs.remove_tree(p, ignore_errors=True)
        if not p.exists():
            removed.append(p)
    return removed


def check_target(target: Path, ignore: set[str] = frozenset()) -> None:
    """Refuse a target that exists and is not an empty directory (UsageError, exit 2);
    entries named in `ignore` (our own hidden build) do not count."""
    if target.is_symlink():
        raise UsageError(f"{target}: refusing to write through a symlink")
    if target.exists():
        if not target.is_dir():
            raise UsageError(f"{target}: exists and is not a directory")
        try:
            empty = next((e for e in target.iterdir() if e.name not in ignore), None) is None
        except OSError as exc:
            raise UsageError(f"{target}: cannot read it: {exc.strerror}") from None
        if not empty:
            raise UsageError(f"{target}: exists and is not empty; choose a new or empty directory")


def apply_plan(plan: Plan, target: Path) -> Path:
    """Write every file of the plan into `target`, atomically; return the target.

    The target must not exist or be an empty directory; it is left untouched
    otherwise. Missing parent directories are created. A journaled apply that a kill
    interrupted is finished first; if that leaves exactly this plan, nothing more
    is done."""
    target = Path(os.path.abspath(target))
    if target.is_dir() and not target.is_symlink() and recover_target(target) \
            and _holds(plan, target):
        return target
    check_target(target)
    parent = target.parent
    try:
        fs.make_dirs(parent)
    except OSError as exc:
        raise UsageError(f"{parent}: cannot create it: {exc.strerror}") from None
    if not parent.is_dir():
        raise UsageError(f"{parent}: is not a directory")
    cleanup_leftovers(parent)
    if target.is_dir() and _must_fill_in_place(target):
        return _apply_in_place(plan, target)

    tmp = parent / f".{target.name}{TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    try:
        fs.make_dir(tmp, 0o755)
    except OSError as exc:
        if target.is_dir():  # a parent we may not write, around a target we may
            return _apply_in_place(plan, target)
        raise UsageError(f"{parent}: cannot write there: {exc.strerror}") from None
    try:
        _build(plan, tmp)
        check_target(target)  # it may have changed while we built the tree
        existed = target.is_dir()
        if existed:
            try:
                os.chmod(tmp, os.stat(target).st_mode & 0o7777)  # the directory's mode is kept
            except OSError:
                pass
        try:
            fs.rename(tmp, target)  # onto a missing or an empty directory: atomic
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise UsageError(f"{target}: exists and is not empty; choose a new or empty directory") from None
            if existed and exc.errno in _IN_PLACE_ERRNOS:
                fs.remove_tree(tmp, ignore_errors=True)
                return _apply_in_place(plan, target)
            raise WorkbenchError(f"{target}: cannot move the project into place: {exc.strerror}") from None
        _fsync_path(parent, directory=True)
    except BaseException:
        fs.remove_tree(tmp, ignore_errors=True)
        raise
    return target


def _build(plan: Plan, root: Path) -> None:
    """Write the plan's files below `root` and sync them and their directories."""
    dirs = {root}
    for f in plan.files.values():
        written = write_file(root, f.path, f.content, f.mode)
        _fsync_path(written)
        d = written.parent
        while d != root and d not in dirs:
            dirs.add(d)
            d = d.parent
    for d in sorted(dirs, key=lambda p: len(p.parts), reverse=True):
        _fsync_path(d, directory=True)


def _must_fill_in_place(target: Path) -> bool:
    """An existing directory a rename must not replace: a mount point, or our cwd."""
    try:
        if os.stat(target).st_dev != os.stat(target.parent).st_dev:
            return True
        return os.path.samefile(target, os.getcwd())
    except OSError:
        return False


def _apply_in_place(plan: Plan, target: Path) -> Path:
    """Build inside `target` under a hidden name, journal, then move the entries up."""
    name = f"{INPLACE_MARK}{os.getpid()}-{secrets.token_hex(4)}"
    build = target / name
    try:
        fs.make_dir(build, 0o755)
    except OSError as exc:
        raise UsageError(f"{target}: cannot write there: {exc.strerror}") from None
    try:
        _build(plan, build)
        entries = sorted(os.listdir(build))
        check_target(target, ignore={name})  # nothing else appeared while we built
        journal = {"format": "workbench-apply/1", "pid": os.getpid(), "tmp": name,
                   "entries": entries}
        write_file(target, JOURNAL, json.dumps(journal, indent=1) + "\n", 0o600)
        _fsync_path(target, directory=True)
    except BaseException:
        fs.remove_tree(build, ignore_errors=True)
        raise
    _finish_in_place(target, build, entries)
    return target


def _finish_in_place(target: Path, build: Path, entries: list[str]) -> None:
    """Move the journaled entries up (skipping those already moved); drop the journal."""
    for entry in entries:
        src, dest = build / entry, target / entry
        if not os.path.lexists(src):
            continue  # moved before a kill
        if os.path.lexists(dest):
            raise WorkbenchError(f"{dest}: appeared while the project was moved into place; "
                                 f"the rest is kept in {build} (see {target / JOURNAL})")
        try:
            fs.rename(src, dest)
        except OSError as exc:
            raise WorkbenchError(f"{target}: cannot move {entry} into place: {exc.strerror}; "
                                 f"`workbench resume` finishes it") from None
    _fsync_path(target, directory=True)
    fs.remove_tree(build, ignore_errors=True)
    fs.remove_file(target / JOURNAL)
    _fsync_path(target, directory=True)


def recover_target(target: Path) -> bool:
    """Finish an in-place apply a kill interrupted (True), or remove a hidden build that
    never reached its journal (False). A process still applying is left alone."""
    target = Path(target)
    journal = target / JOURNAL
    if journal.is_symlink() or (journal.exists() and not journal.is_file()):
        raise UsageError(f"{journal}: not a Workbench journal (a symlink or not a file); "
                         "move it away")
    if journal.is_file():
        try:
            data = json.loads(journal.read_text(encoding="utf-8"))
            pid, name, entries = int(data["pid"]), str(data["tmp"]), list(data["entries"])
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{journal}: unreadable apply journal ({exc}); move it away") from None
        if not _INPLACE_RE.match(name) or not all(
                isinstance(e, str) and e and "/" not in e and e not in (".", "..") and "\0" not in e
                for e in entries):
            raise UsageError(f"{journal}: the apply journal names paths outside its build; "
                             "move it away")
        if _pid_alive(pid):
            raise UsageError(f"{target}: another Workbench process (pid {pid}) is moving a "
                             "project into it")
        _finish_in_place(target, target / name, entries)
        return True
    for p in list(target.iterdir()):
        m = _INPLACE_RE.match(p.name)
        if m and p.is_dir() and not p.is_symlink() and not _pid_alive(int(m.group(1))):
            fs.remove_tree(p, ignore_errors=True)
    return False


def _holds(plan: Plan, target: Path) -> bool:
    """Does `target` hold exactly the plan's files?"""
    try:
        for rel, f in plan.files.items():
            want = f.content.encode("utf-8") if isinstance(f.content, str) else bytes(f.content)
            if (target / rel).read_bytes() != want:
                return False
    except OSError:
        return False
    return True


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
