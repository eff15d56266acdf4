"""What the developer does once the lifecycle is done: where the project is, and the
next commands for its template (no Textual here: the app and its tests share it)."""

from __future__ import annotations

import shlex
from pathlib import Path

# per template: (how to install it for development, where the command bodies are
# (a glob under the project), how to run its tests)
TEMPLATE_STEPS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "python-cli": (("python -m venv .venv && . .venv/bin/activate", "pip install -e '.[dev]'"),
                   "src/*/commands.py", "pytest"),
    "bash-cli": ((), "lib/*/commands.sh", "make check"),
}


def _bodies(root: Path, pattern: str) -> str:
    found = sorted(p.relative_to(root).as_posix() for p in root.glob(pattern))
    return found[0] if found else pattern


def next_commands(template: str | None, root: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(what for, the commands) in the order to run them."""
    install, bodies, test = TEMPLATE_STEPS.get(template or "python-cli", TEMPLATE_STEPS["python-cli"])
    out: list[tuple[str, tuple[str, ...]]] = [("", (f"cd {shlex.quote(str(root))}",))]
    if install:
        out.append(("install it for development", install))
    out.append(("implement the command bodies", (f"$EDITOR {_bodies(root, bodies)}",)))
    out.append(("run the tests", (test,)))
    return out


def finish_message(root: Path, template: str | None, steps: int = 16) -> str:
    """The chat's last message (Markdown): the project's path and what to do next."""
    lines: list[str] = []
    for why, commands in next_commands(template, root):
        lines += ([f"# {why}"] if why else []) + list(commands)
    return (f"**Done: all {steps} steps.** The project is at `{root}` (its spec is "
            "`docs/spec.md`). Next:\n\n```sh\n" + "\n".join(lines) + "\n```")


def done_line(root: Path | None) -> str:
    return f"Done: the project is at {root}." if root else "Every step is done."
