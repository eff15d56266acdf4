"""The one function that writes a project's files, and the path checks it relies on."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from workbench.errors import WorkbenchError


class UnsafePath(WorkbenchError):
    """A path that would leave the project (or enter .git): refused, nothing written."""

    exit_code = 1


def check_relative(rel: str) -> PurePosixPath:
    """Validate a project-relative path as text; return it as a PurePosixPath."""
    if not isinstance(rel, str) or not rel:
        raise UnsafePath(f"refused path {rel!r}: empty")
    if "\x00" in rel:
        raise UnsafePath(f"refused path {rel!r}: contains NUL")
    if "\\" in rel:
        raise UnsafePath(f"refused path {rel!r}: backslashes are not allowed")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise UnsafePath(f"refused path {rel!r}: absolute")
    p = PurePosixPath(rel)
    if any(part == ".." for part in p.parts):
        raise UnsafePath(f"refused path {rel!r}: contains '..'")
    if p.parts and p.parts[0] == ".git":
        raise UnsafePath(f"refused path {rel!r}: inside .git")
    return p


def resolve_inside(root: Path, rel: str) -> Path:
    """`root/rel`, refusing anything that leaves root or passes through a symlink."""
    p = check_relative(rel)
    root_real = Path(os.path.realpath(root))
    target = root_real.joinpath(*p.parts)
    # No component below root may be a symlink (also one planted during the run).
    cur = root_real
    for part in p.parts:
        cur = cur / part
        if cur.is_symlink():
            raise UnsafePath(f"refused path {rel!r}: {cur.relative_to(root_real)} is a symlink")
    real = os.path.realpath(target)
    if not (real == str(root_real) or real.startswith(str(root_real) + os.sep)):
        raise UnsafePath(f"refused path {rel!r}: outside {root}")
    return target


def write_file(root: Path, rel: str, content: str | bytes, mode: int = 0o644) -> Path:
    """Write one file of a project. The only place that does."""
    target = resolve_inside(Path(root), rel)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Re-check after creating parents: a symlink could have been planted meanwhile.
    target = resolve_inside(Path(root), rel)
    data = content.encode("utf-8") if isinstance(content, str) else content
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        raise
    os.chmod(target, mode)
    return target
