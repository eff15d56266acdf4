"""Who the human is: git's user.name/user.email, else the OS user."""

from __future__ import annotations

import getpass
import subprocess
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Identity:
    name: str
    email: str
    source: str  # "git" or "os"

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


def _git_config(key: str) -> str:
    try:
        out = subprocess.run(
            ["git", "config", "--get", key], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


@lru_cache(maxsize=1)
def human() -> Identity:
    name, email = _git_config("user.name"), _git_config("user.email")
    if name and email:
        return Identity(name, email, "git")
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        user = "workbench-user"
    return Identity(name or user, email or f"{user}@localhost", "os")
