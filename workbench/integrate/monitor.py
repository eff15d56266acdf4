"""Running a generated project's own tests and linters, sandboxed, with a time limit.

`run_generated_tests` runs the tests of an in-memory plan (the `tests` step);
`check_project` installs the written project in a throwaway virtualenv and runs
its tests and linters (the `monitor` step); the install can be done ahead, in the
background, from the plan while the tests step runs (`prepare_plan_in_background`) or
from the tree while the project is committed (`prepare_in_background`). Every command runs with an
environment free of API keys, under bubblewrap where available.

Generated code never sees the real project: every check, the install included, runs
on a throwaway copy of the tree (no ``.git``) inside the sandbox. Only the spec's
declared dependencies are fetched outside it (they need the package index), into the
throwaway virtualenv, never from the tree. Around the checks, the real tree (its
``.git/config`` and hooks included) is hashed; a change fails the step naming the
path (`TreeChanged`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import StepFailed
from workbench.safety import fs

COPY_EXCLUDE = (".git", "workbench.db*", "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache")

Output = Callable[[str], None]

# Generated projects declare no pytest plugins; Workbench's own (textual snapshots,
# xdist, syrupy) are visible through the shared site-packages and cost a second a run.
PYTEST_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


@dataclass
class CheckResult:
    kind: str
    command: str
    exit_code: int
    duration_s: float
    output: str
    sandbox: str
    skipped: bool = False
    summary: str = ""
    limits: str = ""  # the sandbox's limits in force: "cgroup" (per run) or "rlimit"
    timed_out: bool = False


def tool(name: str) -> str | None:
    """A tool from Workbench's own environment first, then PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    return shutil.which(name)


def _summarise(kind: str, output: str, exit_code: int) -> str:
    lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip()]
    if kind in ("pytest", "tests") and lines:
        for ln in reversed(lines):
            if re.search(r"\d+ (passed|failed|error)", ln):
                return ln.strip("= ")
    if kind == "bats":
        for ln in lines:
            if re.match(r"^\d+\.\.\d+$", ln):
                total = int(ln.split("..")[1])
                failures = sum(1 for x in lines if x.startswith("not ok"))
                return f"{total - failures} passed, {failures} failed"
    if exit_code == 0:
        return "ok"
    return lines[-1][:200] if lines else f"exit {exit_code}"


def _run(kind: str, cmd: list[str], cwd: Path, options, writable: list[Path], env_extra: dict | None = None,
         on_output: Output | None = None, sandboxed: bool = True) -> CheckResult:
    from workbench.safety import sandbox

    # sandboxed: only what this check sets (the sandbox adds its allow-list of the rest);
    # the one unsandboxed install (the spec's declared dependencies) gets the scrubbed host
    # environment, proxies included
    env = dict(env_extra or {}) if sandboxed else {**sandbox.clean_env(), **(env_extra or {})}
    started = time.monotonic()
    limits, timed_out = "", False
    if sandboxed:
        try:
            res = sandbox.run(cmd, cwd, timeout=options.test_timeout, writable=writable, env=env,
                              allow_unsandboxed=options.allow_unsandboxed)
        except sandbox.SandboxUnavailable as exc:
            raise StepFailed("tests", str(exc)) from None
        output, code, box, limits, timed_out = res.output, res.exit_code, res.sandbox, res.limits, res.timed_out
        if res.timed_out:
            output += f"\n(timed out after {options.test_timeout:.0f} s)"
    else:
        # Only the spec's declared dependencies are installed this way (network); it
        # dies with Workbench and its whole process group goes on a timeout.
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(sandbox.launcher(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                code = proc.wait(timeout=options.test_timeout)
            except subprocess.TimeoutExpired:
                timed_out, code = True, 124
            finally:
                _kill_group(proc.pid)
                proc.wait()
            out.seek(0)
            output = out.read().decode("utf-8", "replace")
        if timed_out:
            output += f"\n(timed out after {options.test_timeout:.0f} s)"
        box = "none"
    _tell(kind, output, timed_out, options, on_output)
    return CheckResult(kind, " ".join(cmd), code, time.monotonic() - started, output, box,
                       summary=_summarise(kind, output, code), limits=limits, timed_out=timed_out)


def _tell(kind: str, output: str, timed_out: bool, options, on_output: Output | None) -> None:
    """A check's last lines (and a time-out) to whoever follows the step."""
    if on_output:
        if timed_out:
            on_output(f"{kind}: timed out after {options.test_timeout:.0f} s, killed")
        for line in output.splitlines()[-5:]:
            on_output(line)


def _kill_group(pid: int) -> None:
    import os
    import signal

    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --- the real tree: copied for the checks, hashed around them ---------------------


class TreeChanged(StepFailed):
    """Sandboxed code changed the real project (or its .git): never trusted, never committed."""


def tree_state(root: Path) -> dict[str, str]:
    """Every entry below root, .git included (config, hooks, objects): path -> what it is."""
    import hashlib
    import os

    state: dict[str, str] = {}
    root = Path(root)
    if not root.is_dir():
        return state
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            rel = p.relative_to(root).as_posix()
            try:
                st = p.lstat()
                if p.is_symlink():
                    state[rel] = "link:" + os.readlink(p)
                elif p.is_dir():
                    state[rel] = f"dir:{st.st_mode:o}"
                else:
                    state[rel] = f"file:{st.st_mode:o}:" + hashlib.sha256(p.read_bytes()).hexdigest()
            except OSError as exc:
                state[rel] = f"unreadable:{exc.errno}"
        dirnames[:] = [d for d in dirnames if not Path(dirpath, d).is_symlink()]
    return state


class TreeGuard:
    """The real tree as Workbench left it; `verify` fails naming what changed since."""

    def __init__(self, root: Path, step: str):
        self.root, self.step = Path(root), step
        self.before = tree_state(self.root)

    def verify(self, after_what: str) -> None:
        after = tree_state(self.root)
        if after == self.before:
            return
        changed = sorted(k for k in self.before.keys() | after.keys() if self.before.get(k) != after.get(k))
        first = next((k for k in changed if not (after.get(k) or self.before[k]).startswith("dir:")), changed[0])
        how = "added" if first not in self.before else "removed" if first not in after else "modified"
        more = f" (and {len(changed) - 1} more)" if len(changed) > 1 else ""
        raise TreeChanged(self.step, f"{self.root / first} was {how} during {after_what}{more}: "
                                     "generated code must not change the project; nothing was trusted")


def copy_tree(src: Path, dst: Path) -> Path:
    """A throwaway copy of the project (no .git, no database) for generated code to run in."""
    return fs.copy_tree(src, dst, ignore=shutil.ignore_patterns(*COPY_EXCLUDE))


def _skipped(kind: str, why: str) -> CheckResult:
    return CheckResult(kind, "", 0, 0.0, why, "none", skipped=True, summary=why)


def run_generated_tests(plan, template: str, options, on_output: Output | None = None,
                        dependencies: list[str] | None = None) -> CheckResult:
    """Write the plan to a temporary folder and run its tests there.

    The spec's dependencies, if any, are installed first into a throwaway virtualenv
    (outside the sandbox: it needs the package index; nothing of the tree is read); the
    tests then run sandboxed."""
    from workbench.safety.sandbox import temp_prefix

    with tempfile.TemporaryDirectory(prefix=temp_prefix("workbench-tests")) as tmp:
        root = write_plan_copy(plan, Path(tmp) / "project")
        if template == "bash-cli":
            bats = shutil.which("bats")
            if not bats:
                return _skipped("bats", "bats is not installed (apt-get install bats)")
            return _run("bats", [bats, "test"], root, options, [root], on_output=on_output)
        python = sys.executable
        if dependencies:
            python = str(_venv_with_workbench_tools(Path(tmp) / "venv"))
            install = _run("install", [sys.executable, "-m", "pip", "--python", python, "install",
                                       "--quiet", "--disable-pip-version-check", *dependencies],
                           Path(tmp), options, [], on_output=on_output, sandboxed=False)
            if install.exit_code != 0:
                install.summary = f"installing the spec's dependencies failed: {install.summary}"
                return install
        env = {"PYTHONPATH": str(root / "src"), **PYTEST_ENV}
        return _run("pytest", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                    root, options, [root], env, on_output)


def write_plan_copy(plan, root: Path) -> Path:
    """The plan's files in a new throwaway folder `root` (what the checks run on before apply)."""
    from workbench.safety.paths import write_file

    fs.make_dir(root)
    for path, f in plan.files.items():
        write_file(root, path, f.content, f.mode)
    return root


def _venv_with_workbench_tools(venv: Path) -> Path:
    """A fresh virtualenv that can see Workbench's own pytest and setuptools (no network)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    fs.write_text(Path(site, "_workbench_tools.pth"), sysconfig.get_path("purelib") + "\n")
    return py


@dataclass
class PreparedEnv:
    """A throwaway virtualenv with a copy of the project installed (editable), and the
    install's result. `fingerprint` is what the install read; a project whose packaging
    changed since is installed afresh. The checks run on `project`, refreshed from the
    real tree first (`refresh`)."""

    tmp: tempfile.TemporaryDirectory
    python: Path
    install: CheckResult
    fingerprint: str
    project: Path | None = None

    def refresh(self, root: Path) -> Path:
        assert self.project is not None
        return copy_tree(Path(root), self.project)

    def cleanup(self) -> None:
        self.tmp.cleanup()


def install_fingerprint(root: Path) -> str:
    """What an editable install of the project depends on: its packaging files and its
    top-level packages (module files are read at import time, so edits to them are seen)."""
    import hashlib

    def part(data: bytes) -> bytes:  # length-prefixed: no bytes can move across a boundary
        return b"%d:" % len(data) + data

    h = hashlib.sha256()
    for name in ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in"):
        p = root / name
        h.update(part(name.encode()) + (part(p.read_bytes()) if p.is_file() else b"-"))
    packages = [c for c in (root / "src").iterdir() if c.is_dir()] if (root / "src").is_dir() else []
    packages += [c for c in root.iterdir() if c.is_dir() and (c / "__init__.py").is_file()]
    for name in sorted(str(c.relative_to(root)).encode("utf-8", "surrogateescape") for c in packages):
        h.update(part(name))
    return h.hexdigest()


def prepare_python(root: Path, options, on_output: Output | None = None,
                   dependencies: list[str] | None = None, copied: Path | None = None) -> PreparedEnv:
    """Create the throwaway virtualenv and install a copy of the project into it.

    The spec's `dependencies` are fetched outside the sandbox (package index); the
    project itself (its setup.py, its build backend) is installed inside it, without
    network, from the copy. `copied`: a copy already taken (and its temporary folder)."""
    from workbench.safety.sandbox import temp_prefix

    root = Path(root)
    fingerprint = install_fingerprint(root)
    tmp = tempfile.TemporaryDirectory(prefix=temp_prefix("workbench-venv"))
    try:
        base = Path(tmp.name)
        project = copy_tree(copied if copied is not None else root, base / "project")
        py = _venv_with_workbench_tools(base / "venv")
        pip = [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet",
               "--no-build-isolation", "--disable-pip-version-check"]
        if dependencies:
            deps = _run("install", [*pip, *dependencies], base, options, [], on_output=on_output,
                        sandboxed=False)
            if deps.exit_code != 0:
                deps.summary = f"installing the spec's dependencies failed: {deps.summary}"
                return PreparedEnv(tmp, py, deps, fingerprint, project)
        install = _run("install", [*pip, "--no-deps", "--no-index", "-e", str(project)], project, options,
                       [project, base / "venv"], {"PIP_NO_CACHE_DIR": "1"}, on_output=on_output)
    except BaseException:
        tmp.cleanup()
        raise
    return PreparedEnv(tmp, py, install, fingerprint, project)


def prepare_in_background(root: Path, options, dependencies: list[str] | None = None) -> Future:
    """`prepare_python` in a daemon thread, so the install overlaps the steps before the
    monitor (committing, validating CI). The future holds the PreparedEnv or the error.
    The tree is copied first, here, before anything else can write it."""
    snapshot, copied = _scratch(lambda dest: copy_tree(Path(root), dest))
    return _prepare_thread(snapshot, copied, options, dependencies)


def prepare_plan_in_background(plan, options, dependencies: list[str] | None = None) -> Future:
    """`prepare_in_background` from an in-memory plan, before it is applied (from the
    tests step on): the install is then ready when the monitor runs. Its `fingerprint`
    is the plan's; the monitor installs again if the tree's packaging differs."""
    snapshot, copied = _scratch(lambda dest: write_plan_copy(plan, dest))
    return _prepare_thread(snapshot, copied, options, dependencies)


def _scratch(fill: Callable[[Path], Path]) -> tuple[tempfile.TemporaryDirectory, Path]:
    """A throwaway folder of this process and the tree `fill` puts in it (gone if that fails)."""
    from workbench.safety.sandbox import temp_prefix

    tmp = tempfile.TemporaryDirectory(prefix=temp_prefix("workbench-check"))
    try:
        return tmp, fill(Path(tmp.name) / "project")
    except BaseException:
        tmp.cleanup()
        raise


def _prepare_thread(snapshot: tempfile.TemporaryDirectory, copied: Path, options,
                    dependencies: list[str] | None) -> Future:
    """Install `copied` (a throwaway tree in `snapshot`, removed afterwards) in a daemon
    thread; the future's `fingerprint` says what the install read (`install_fingerprint`)."""
    fingerprint = install_fingerprint(copied)
    future = _in_thread("workbench-prepare", snapshot,
                        lambda: prepare_python(copied, options, dependencies=dependencies, copied=copied))
    future.fingerprint = fingerprint  # type: ignore[attr-defined]
    return future


def _in_thread(name: str, scratch: tempfile.TemporaryDirectory, work: Callable[[], object]) -> Future:
    """`work()` in a daemon thread; the future holds its result or its error (raised where
    it is taken); the throwaway folder `scratch` goes when it ends."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever takes the result
            future.set_exception(exc)
        finally:
            scratch.cleanup()

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def discard(future: Future | None) -> None:
    """Drop a prepared environment that will not be used (once it is ready)."""
    if future is None:
        return

    def clean(f: Future) -> None:
        if f.exception() is None:
            f.result().cleanup()

    future.add_done_callback(clean)


def check_project(root: Path, template: str, options, on_output: Output | None = None,
                  prepared: PreparedEnv | None = None, dependencies: list[str] | None = None) -> list[CheckResult]:
    """Install a copy of the project in a throwaway virtualenv; run its tests and linters
    on that copy. The real tree is hashed before and after each check (`TreeGuard`).

    `prepared`: the install done ahead (`prepare_in_background`); used when the
    project's packaging is still what it installed, else the project is installed again."""
    from workbench.safety.sandbox import temp_prefix

    results: list[CheckResult] = []
    root = Path(root)
    guard = TreeGuard(root, "monitor")
    if template == "bash-cli":
        with tempfile.TemporaryDirectory(prefix=temp_prefix("workbench-check")) as tmp:
            copy = copy_tree(root, Path(tmp) / "project")
            shellcheck = tool("shellcheck")
            scripts = sorted(str(p.relative_to(copy)) for p in copy.rglob("*")
                             if p.is_file() and (p.suffix in (".sh", ".bash") or p.parent.name == "bin"))
            if shellcheck:
                results.append(_run("shellcheck", [shellcheck, "-x", *scripts], copy, options, [],
                                    on_output=on_output))
                guard.verify("shellcheck")
            else:
                results.append(_skipped("shellcheck", "shellcheck is not installed"))
            bats = shutil.which("bats")
            if bats:
                results.append(_run("bats", [bats, "test"], copy, options, [copy], on_output=on_output))
                guard.verify("the bats tests")
            else:
                results.append(_skipped("bats", "bats is not installed (apt-get install bats)"))
        return results
    if prepared is not None and prepared.fingerprint != install_fingerprint(root):
        prepared.cleanup()
        prepared = None
    if prepared is not None and on_output is not None:
        on_output(f"install: done ahead while the project was committed "
                  f"({prepared.install.duration_s:.1f} s, exit {prepared.install.exit_code})")
    env = prepared or prepare_python(root, options, on_output, dependencies=dependencies)
    try:
        guard.verify("the install")
        results.append(env.install)
        if env.install.exit_code != 0:
            return results
        copy = env.refresh(root)
        test_env = dict(PYTEST_ENV)
        ruff = tool("ruff")
        # the linters run meanwhile, sandboxed, on a copy of their own that the tests cannot
        # reach (what the tests may write is not linted)
        linted = _lint_in_background(root, ruff, options, {**test_env, "RUFF_NO_CACHE": "true"}) if ruff else None
        results.append(_run("pytest", [str(env.python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], copy,
                            options, [copy, Path(env.tmp.name)], test_env, on_output))
        guard.verify("the project's tests")
        if linted is not None:
            for r in linted.result():
                _tell(r.kind, r.output, r.timed_out, options, on_output)
                results.append(r)
            guard.verify("ruff")
        else:
            results.append(_skipped("ruff", "ruff is not installed"))
    finally:
        env.cleanup()
    return results


def _lint_in_background(root: Path, ruff: str, options, env: dict) -> Future:
    """`ruff check` and `ruff format --check`, one after the other in a daemon thread, each
    sandboxed like any check, on a throwaway copy of the tree taken now (removed after)."""
    tmp, copy = _scratch(lambda dest: copy_tree(root, dest))
    return _in_thread("workbench-lint", tmp, lambda: [
        _run("ruff check", [ruff, "check", "--no-cache", "."], copy, options, [copy], env),
        _run("ruff format", [ruff, "format", "--check", "--no-cache", "."], copy, options, [copy], env),
    ])
