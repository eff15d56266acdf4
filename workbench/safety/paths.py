"""The one function that writes a project's files, and the path checks it relies on.

Every file Workbench writes into a project goes through `write_file`. A path is
project-relative text (from a template, a spec or a model's file list) and is
refused when it is absolute, contains `..`, a drive letter, a NUL or a control
character, points into `.git`, or passes through a symlink -- also a symlink
planted while the run is under way: the parent directories are opened one by one
with ``O_DIRECTORY | O_NOFOLLOW`` relative to the previous directory's descriptor
(openat), and the file is written to a temporary name inside its final directory
and renamed into place (atomic; a symlink at the final name is never followed).

A full disk (ENOSPC/EDQUOT) ends in one clear `WorkbenchError`; the partial
temporary file is removed and the previous content of the file, if any, is kept.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path, PurePosixPath

from workbench.errors import WorkbenchError


class UnsafePath(WorkbenchError):
    """A path that would leave the project (or enter .git): refused, nothing written."""

    exit_code = 1

    def __init__(self, message: str, rel: object = None, reason: str = ""):
        super().__init__(message)
        self.rel = rel
        self.reason = reason


class DiskFull(WorkbenchError):
    """The disk filled up while writing; the partial file was removed."""

    exit_code = 1


class WriteFailed(WorkbenchError):
    """Writing a project file failed for an OS reason (permissions, read-only fs...)."""

    exit_code = 1


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_TMP_PREFIX = ".wb-tmp-"
MAX_COMPONENT = 255
MAX_PATH = 4096


def _refuse(rel: object, reason: str) -> UnsafePath:
    return UnsafePath(f"refused path {rel!r}: {reason}", rel=rel, reason=reason)


def _is_git_name(part: str) -> bool:
    # Case-insensitive file systems (macOS, Windows) treat `.GIT` as `.git`, and
    # Windows drops trailing dots and spaces (`.git.`, `.git `).
    return part.rstrip(". ").casefold() == ".git"


def check_relative(rel: str) -> PurePosixPath:
    """Validate a project-relative path as text; return it as a PurePosixPath.

    Refused: non-strings, empty paths, NUL and control characters, backslashes,
    absolute paths, Windows drive letters (``C:``, ``C:foo``), ``~`` home paths,
    any ``..`` component, any ``.git`` component (at any depth), a trailing
    slash, and over-long names.
    """
    if not isinstance(rel, str):
        raise _refuse(rel, "not a string")
    if not rel or rel.strip() == "":
        raise _refuse(rel, "empty")
    if "\x00" in rel:
        raise _refuse(rel, "contains NUL")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in rel):
        raise _refuse(rel, "contains a control character")
    if "\\" in rel:
        raise _refuse(rel, "backslashes are not allowed")
    if rel.startswith("/"):
        raise _refuse(rel, "absolute")
    if len(rel) >= 2 and rel[1] == ":" and rel[0].isascii() and rel[0].isalpha():
        raise _refuse(rel, "has a drive letter")
    if rel.startswith("~"):
        raise _refuse(rel, "home-relative (~)")
    if rel.endswith("/"):
        raise _refuse(rel, "names a directory, not a file")
    if len(rel.encode("utf-8", "surrogatepass")) > MAX_PATH:
        raise _refuse(rel, "too long")
    raw_parts = rel.split("/")
    if any(part == ".." for part in raw_parts):
        raise _refuse(rel, "contains '..'")
    p = PurePosixPath(rel)
    if not p.parts or p.parts == (".",):
        raise _refuse(rel, "empty")
    for part in p.parts:
        if _is_git_name(part):
            raise _refuse(rel, "inside .git")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_COMPONENT:
            raise _refuse(rel, "a path component is too long")
        if ":" in part:
            # NTFS alternate data streams / drive-relative forms (`a/C:b`).
            raise _refuse(rel, "contains ':'")
    return p


def is_inside(root: Path | str, path: Path | str) -> bool:
    """True when `path` is `root` or below it, compared on canonical paths.

    Uses a separator-aware comparison: ``/w/proj-evil`` is NOT inside ``/w/proj``.
    """
    r = os.path.realpath(os.fspath(root))
    p = os.path.realpath(os.fspath(path))
    if p == r:
        return True
    return p.startswith(r.rstrip(os.sep) + os.sep)


def resolve_inside(root: Path, rel: str) -> Path:
    """`root/rel`, refusing anything that leaves root or passes through a symlink.

    The root itself is canonicalised first (a symlinked root the caller chose is
    fine); no component below it may be a symlink.
    """
    p = check_relative(rel)
    root_real = Path(os.path.realpath(os.fspath(root)))
    target = root_real.joinpath(*p.parts)
    cur = root_real
    for part in p.parts:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            break  # the rest does not exist yet: nothing below can be a symlink
        except NotADirectoryError:
            raise _refuse(rel, f"{cur.relative_to(root_real)} is not a directory") from None
        if stat.S_ISLNK(st.st_mode):
            raise _refuse(rel, f"{cur.relative_to(root_real).as_posix()} is a symlink")
    if not is_inside(root_real, target):
        raise _refuse(rel, f"outside {root}")
    return target


def _open_root(root: Path, create: bool) -> int:
    root_s = os.fspath(root)
    if create:
        try:
            os.makedirs(root_s, exist_ok=True)
        except OSError as e:
            raise _os_error(e, f"cannot create the project directory {root_s}") from None
    try:
        return os.open(root_s, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    except OSError as e:
        raise _os_error(e, f"cannot open the project directory {root_s}") from None


def _os_error(e: OSError, what: str) -> WorkbenchError:
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DiskFull(f"{what}: the disk is full (no space left on device)")
    reason = e.strerror or str(e)
    return WriteFailed(f"{what}: {reason}")


def _open_dir_nofollow(parent_fd: int, name: str, rel: str, shown: str, create: bool) -> int:
    """openat(parent_fd, name, O_DIRECTORY|O_NOFOLLOW), creating it when missing."""
    flags = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
    for _attempt in range(3):
        try:
            return os.open(name, flags, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(name, 0o755, dir_fd=parent_fd)
            except FileExistsError:
                pass  # created (or planted) concurrently: open again and check
            except OSError as e:
                raise _os_error(e, f"cannot create directory {shown}") from None
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                try:
                    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
                except OSError:
                    st = None
                if st is not None and stat.S_ISLNK(st.st_mode):
                    raise _refuse(rel, f"{shown} is a symlink") from None
                raise _refuse(rel, f"{shown} is not a directory") from None
            raise _os_error(e, f"cannot open directory {shown}") from None
    raise _refuse(rel, f"{shown} keeps changing while it is being opened")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # pragma: no cover - os.write raises instead
            raise OSError(errno.EIO, "short write")
        view = view[n:]


def write_file(
    root: Path,
    rel: str,
    content: str | bytes,
    mode: int = 0o644,
    *,
    fsync: bool = True,
) -> Path:
    """Write one file of a project. The only place that does.

    Returns the written path (``realpath(root)/rel``). Raises `UnsafePath` for a
    refused path, `DiskFull` when the disk fills up, `WriteFailed` for other OS
    errors; in every failing case nothing is left at the target name that was not
    there before (the temporary file is removed).
    """
    p = check_relative(rel)
    if isinstance(content, str):
        data = content.encode("utf-8")
    elif isinstance(content, (bytes, bytearray, memoryview)):
        data = bytes(content)
    else:
        raise TypeError(f"content must be str or bytes, not {type(content).__name__}")
    mode = int(mode) & 0o777
    root_real = Path(os.path.realpath(os.fspath(root)))

    fds: list[int] = []
    try:
        fds.append(_open_root(root_real, create=True))
        parts = p.parts
        for i, part in enumerate(parts[:-1]):
            shown = "/".join(parts[: i + 1])
            fds.append(_open_dir_nofollow(fds[-1], part, rel, shown, create=True))
        dfd = fds[-1]
        name = parts[-1]

        # What is at the final name now? A symlink or a directory is refused;
        # rename() below would replace a symlink without following it anyway.
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise _os_error(e, f"cannot inspect {rel}") from None
        if st is not None:
            if stat.S_ISLNK(st.st_mode):
                raise _refuse(rel, f"{rel} is a symlink")
            if not stat.S_ISREG(st.st_mode):
                raise _refuse(rel, f"{rel} exists and is not a regular file")

        tmp = f"{_TMP_PREFIX}{secrets.token_hex(6)}-{name}"[:MAX_COMPONENT]
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        try:
            tfd = os.open(tmp, flags, 0o600, dir_fd=dfd)
        except OSError as e:
            raise _os_error(e, f"cannot write {rel} in {root_real}") from None
        try:
            try:
                _write_all(tfd, data)
                os.fchmod(tfd, mode)
                if fsync:
                    os.fsync(tfd)
            finally:
                os.close(tfd)
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except BaseException as exc:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
            if isinstance(exc, OSError):
                if exc.errno in (errno.EISDIR, errno.ENOTEMPTY):
                    raise _refuse(rel, f"{rel} is a directory") from None
                raise _os_error(exc, f"cannot write {rel} in {root_real}") from None
            raise
        if fsync:
            try:
                os.fsync(dfd)
            except OSError:
                pass  # some file systems cannot fsync a directory; the data is written
    finally:
        _close_all(fds)
    return root_real.joinpath(*p.parts)


def fsync_path(path: Path | str, directory: bool = False) -> None:
    """fsync a file or a directory, best effort (a filesystem without fsync is not an error)."""
    flags = os.O_RDONLY | (_DIRECTORY if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _close_all(fds: list[int]) -> None:
    for fd in reversed(fds):
        try:
            os.close(fd)
        except OSError:
            pass


def ensure_dir(root: Path, rel: str) -> Path:
    """Create the directory `root/rel` (and its parents) with the same checks."""
    p = check_relative(rel)
    root_real = Path(os.path.realpath(os.fspath(root)))
    fds: list[int] = []
    try:
        fds.append(_open_root(root_real, create=True))
        for i, part in enumerate(p.parts):
            shown = "/".join(p.parts[: i + 1])
            fds.append(_open_dir_nofollow(fds[-1], part, rel, shown, create=True))
    finally:
        _close_all(fds)
    return root_real.joinpath(*p.parts)


def cleanup_temp_files(root: Path) -> list[Path]:
    """Remove temporary files `write_file` left behind after a crash (kill -9)."""
    removed: list[Path] = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for f in filenames:
            if f.startswith(_TMP_PREFIX):
                path = Path(dirpath) / f
                try:
                    path.unlink()
                    removed.append(path)
                except OSError:
                    pass
    return removed


def remove_file(root: Path, rel: str) -> bool:
    """Remove one file of a project (evolve, undo); the same checks as `write_file`: the
    path is checked as text, every parent opened with O_NOFOLLOW relative to the last, and
    the name unlinked in its directory (a symlink there is removed, never followed).
    Returns False when there was nothing to remove; a directory is refused."""
    p = check_relative(rel)
    root_real = Path(os.path.realpath(os.fspath(root)))
    fds: list[int] = []
    try:
        fds.append(_open_root(root_real, create=False))
        for i, part in enumerate(p.parts[:-1]):
            shown = "/".join(p.parts[: i + 1])
            try:
                fds.append(_open_dir_nofollow(fds[-1], part, rel, shown, create=False))
            except FileNotFoundError:
                return False
        try:
            st = os.stat(p.name, dir_fd=fds[-1], follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            raise _refuse(rel, "is a directory")
        try:
            os.unlink(p.name, dir_fd=fds[-1])
        except OSError as e:
            raise _os_error(e, f"cannot remove {rel}") from None
        return True
    finally:
        _close_all(fds)
