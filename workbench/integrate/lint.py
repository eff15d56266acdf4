"""Format and safe-fix the model-owned files before the tests step, deterministically.

Correct code that is not ruff-clean used to fail only at the monitor, after everything
was committed, naming no file. Now the tests step first runs `ruff format` and
`ruff check --fix` (safe fixes only) on the model-owned Python files of the in-memory
plan, with the project's own ruff configuration (its pyproject.toml, and nothing found
around the temporary copy). What ruff cannot fix is a failure like a failing test: it
goes to the repair loop, and the step fails before apply naming `file:line:rule`.

Ruff reads files, it never runs them, so it works on a temporary copy of the plan's
Python files, never on the project. No model is involved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.safety import fs

TIMEOUT_S = 60.0
MAX_ISSUES = 40


@dataclass
class Tidied:
    changed: dict[str, str] = field(default_factory=dict)  # model-owned path -> formatted/fixed content
    issues: list[str] = field(default_factory=list)  # "src/x.py:3:1: F401 `os` imported but unused"
    failure: object | None = None  # a monitor.CheckResult when issues remain (fed to the repair loop)
    error: str | None = None  # ruff could not run: nothing was changed


def _ruff() -> list[str]:
    """Ruff's own binary (what `python -m ruff` would exec, without a Python start-up per run)."""
    try:
        from ruff import find_ruff_bin

        return [os.fspath(find_ruff_bin())]
    except (ImportError, FileNotFoundError):
        return [sys.executable, "-m", "ruff"]


def tidy(plan) -> Tidied:
    """Format and safe-fix the plan's model-owned .py files; report what is left."""
    owned = sorted(p for p, f in plan.files.items() if f.model_owned and p.endswith(".py"))
    if not owned:
        return Tidied()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="workbench-lint-") as tmp:
        root = Path(tmp)
        for path, f in plan.files.items():  # every Python file, so imports sort as in the project
            if path.endswith(".py") or path == "pyproject.toml":
                dest = root / path
                fs.make_dirs(dest.parent)
                fs.write_text(dest, f.content)
        config = ["--config", str(root / "pyproject.toml")] if "[tool.ruff" in (
            plan.files["pyproject.toml"].content if "pyproject.toml" in plan.files else "") else ["--isolated"]
        common = ["--no-cache", *config]
        try:
            def ruff(*args: str) -> subprocess.CompletedProcess:
                return subprocess.run([*_ruff(), *args, *common, *owned], cwd=root, capture_output=True,
                                      text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL)

            ruff("format")  # a file that does not parse is left as it is: the check names it
            formatted = {path: (root / path).read_bytes() for path in owned}
            check = ruff("check", "--fix", "--output-format", "json")  # what is left after the fixes
            if any((root / path).read_bytes() != formatted[path] for path in owned):
                ruff("format")  # what the fixes left (blank lines where imports were)
                check = ruff("check", "--output-format", "json")  # what is left, at its final lines
            # else nothing was fixed: the files are formatted and the check's lines are final
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Tidied(error=f"ruff could not run: {exc}")
        changed = {}
        for path in owned:
            new = (root / path).read_text(encoding="utf-8")
            if new != plan.files[path].content:
                changed[path] = new
        try:
            found = json.loads(check.stdout or "[]")
        except ValueError:
            return Tidied(changed=changed, error=f"ruff check said: {(check.stderr or check.stdout)[:200]}")
    issues = []
    for item in found:
        rel = Path(item.get("filename", "")).resolve()
        try:
            rel_s = rel.relative_to(Path(tmp).resolve()).as_posix()
        except ValueError:
            rel_s = rel.name
        loc = item.get("location") or {}
        issues.append(f"{rel_s}:{loc.get('row', 0)}:{loc.get('column', 0)}: {item.get('code') or 'syntax'} "
                      f"{' '.join(str(item.get('message', '')).split())}")
    issues.sort()
    out = Tidied(changed=changed, issues=issues)
    if issues:
        from workbench.integrate.monitor import CheckResult

        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        text = ("ruff check (after ruff format and its safe fixes) found in the model-owned files:\n"
                + "\n".join(issues[:MAX_ISSUES]) + "\n")
        out.failure = CheckResult(kind="lint", command="ruff check " + " ".join(owned), exit_code=1,
                                  duration_s=time.monotonic() - started, output=text, sandbox="none (ruff reads files only)",
                                  summary=f"lint: {issues[0]}{more}")
    return out
