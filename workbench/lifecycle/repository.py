"""Where a new project stands: the repository around it, and what of it the analysis may read."""

from __future__ import annotations

from pathlib import Path

CONTEXT_FILES = ("README.md", "pyproject.toml")
CONTEXT_CHARS = 4000  # of each file


def enclosing_repo(out: Path) -> Path:
    """The existing repository the new project is created in, if any (else the folder above)."""
    cur = out.parent
    while True:
        if (cur / ".git").exists():
            return cur
        if cur.parent == cur:
            return out.parent
        cur = cur.parent


def project_context(root: Path) -> str:
    """The README and pyproject of `root` (the first CONTEXT_CHARS of each), for the analysis."""
    parts = []
    for name in CONTEXT_FILES:
        p = root / name
        if p.is_file():
            try:
                parts.append(f"### {name}\n\n" + p.read_text("utf-8", errors="replace")[:CONTEXT_CHARS])
            except OSError:
                pass
    return "\n\n".join(parts)


def context_read(root: Path, context: str) -> list[str]:
    """The files `project_context` read (none when the context is empty)."""
    return [n for n in CONTEXT_FILES if context and (root / n).is_file()]
