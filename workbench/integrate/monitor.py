"""Running a generated project's own tests and linters, sandboxed, with a time limit.

`run_generated_tests` runs the tests of an in-memory plan (the `tests` step);
`check_project` installs the written project in a throwaway virtualenv and runs
its tests and linters (the `monitor` step); the install can be done ahead, in the
background, while the project is committed (`prepare_in_background`). Every command runs with an
environment free of API keys, under bubblewrap where available.
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

    env = sandbox.clean_env()
    env.update(env_extra or {})
    started = time.monotonic()
    if sandboxed:
        try:
            res = sandbox.run(cmd, cwd, timeout=options.test_timeout, writable=writable, env=env,
                              allow_unsandboxed=options.allow_unsandboxed)
        except sandbox.SandboxUnavailable as exc:
            raise StepFailed("tests", str(exc)) from None
        output, code, box = res.output, res.exit_code, res.sandbox
        if res.timed_out:
            output += f"\n(timed out after {options.test_timeout:.0f} s)"
    else:
        try:
            proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                                  timeout=options.test_timeout)
            output, code = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired:
            output, code = f"(timed out after {options.test_timeout:.0f} s)", 124
        box = "none"
    if on_output:
        for line in output.splitlines()[-5:]:
            on_output(line)
    return CheckResult(kind, " ".join(cmd), code, time.monotonic() - started, output, box,
                       summary=_summarise(kind, output, code))


def _skipped(kind: str, why: str) -> CheckResult:
    return CheckResult(kind, "", 0, 0.0, why, "none", skipped=True, summary=why)


def run_generated_tests(plan, template: str, options, on_output: Output | None = None,
                        dependencies: list[str] | None = None) -> CheckResult:
    """Write the plan to a temporary folder and run its tests there.

    The spec's dependencies, if any, are installed first into a throwaway virtualenv
    (outside the sandbox: it needs the package index); the tests then run sandboxed."""
    from workbench.safety.paths import write_file

    with tempfile.TemporaryDirectory(prefix="workbench-tests-") as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        for path, f in plan.files.items():
            write_file(root, path, f.content, f.mode)
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
                           root, options, [], on_output=on_output, sandboxed=False)
            if install.exit_code != 0:
                install.summary = f"installing the spec's dependencies failed: {install.summary}"
                return install
        env = {"PYTHONPATH": str(root / "src"), **PYTEST_ENV}
        return _run("pytest", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                    root, options, [root], env, on_output)


def _venv_with_workbench_tools(venv: Path) -> Path:
    """A fresh virtualenv that can see Workbench's own pytest and setuptools (no network)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   capture_output=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "_workbench_tools.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return py


@dataclass
class PreparedEnv:
    """A throwaway virtualenv with the project installed (editable), and the install's
    result. `fingerprint` is what the install read; a project whose packaging changed
    since is installed afresh."""

    tmp: tempfile.TemporaryDirectory
    python: Path
    install: CheckResult
    fingerprint: str

    def cleanup(self) -> None:
        self.tmp.cleanup()


def install_fingerprint(root: Path) -> str:
    """What an editable install of the project depends on: its packaging files and its
    top-level packages (module files are read at import time, so edits to them are seen)."""
    import hashlib

    h = hashlib.sha256()
    for name in ("pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in"):
        p = root / name
        h.update(name.encode() + b"\0" + (p.read_bytes() if p.is_file() else b"-") + b"\0")
    packages = [c for c in (root / "src").iterdir() if c.is_dir()] if (root / "src").is_dir() else []
    packages += [c for c in root.iterdir() if c.is_dir() and (c / "__init__.py").is_file()]
    h.update(b"|".join(sorted(str(c.relative_to(root)).encode("utf-8", "surrogateescape") for c in packages)))
    return h.hexdigest()


def prepare_python(root: Path, options, on_output: Output | None = None) -> PreparedEnv:
    """Create the throwaway virtualenv and install the project into it."""
    root = Path(root)
    fingerprint = install_fingerprint(root)
    tmp = tempfile.TemporaryDirectory(prefix="workbench-venv-")
    try:
        py = _venv_with_workbench_tools(Path(tmp.name) / "venv")
        pip = [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet",
               "--no-build-isolation", "--disable-pip-version-check"]
        # Installing may fetch the spec's dependencies, so it runs outside the sandbox;
        # no code of the generated project runs during it.
        install = _run("install", [*pip, "-e", str(root)], root, options, [], on_output=on_output,
                       sandboxed=False)
    except BaseException:
        tmp.cleanup()
        raise
    return PreparedEnv(tmp, py, install, fingerprint)


def prepare_in_background(root: Path, options) -> Future:
    """`prepare_python` in a daemon thread, so the install overlaps the steps before the
    monitor (committing, validating CI). The future holds the PreparedEnv or the error."""
    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(prepare_python(root, options))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever takes the result
            future.set_exception(exc)

    threading.Thread(target=work, name="workbench-prepare", daemon=True).start()
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
                  prepared: PreparedEnv | None = None) -> list[CheckResult]:
    """Install the project in a throwaway virtualenv; run its tests and linters.

    `prepared`: the install done ahead (`prepare_in_background`); used when the
    project's packaging is still what it installed, else the project is installed again."""
    results: list[CheckResult] = []
    root = Path(root)
    if template == "bash-cli":
        shellcheck = tool("shellcheck")
        scripts = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                         if p.is_file() and ".git" not in p.parts
                         and (p.suffix in (".sh", ".bash") or p.parent.name == "bin"))
        if shellcheck:
            results.append(_run("shellcheck", [shellcheck, "-x", *scripts], root, options, [], on_output=on_output))
        else:
            results.append(_skipped("shellcheck", "shellcheck is not installed"))
        bats = shutil.which("bats")
        if bats:
            results.append(_run("bats", [bats, "test"], root, options, [root], on_output=on_output))
        else:
            results.append(_skipped("bats", "bats is not installed (apt-get install bats)"))
        return results
    if prepared is not None and prepared.fingerprint != install_fingerprint(root):
        prepared.cleanup()
        prepared = None
    if prepared is not None and on_output is not None:
        on_output(f"install: done ahead while the project was committed "
                  f"({prepared.install.duration_s:.1f} s, exit {prepared.install.exit_code})")
    env = prepared or prepare_python(root, options, on_output)
    try:
        results.append(env.install)
        if env.install.exit_code != 0:
            return results
        test_env = dict(PYTEST_ENV)
        results.append(_run("pytest", [str(env.python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], root,
                            options, [root, Path(env.tmp.name)], test_env, on_output))
        ruff = tool("ruff")
        if ruff:
            env_r = {**test_env, "RUFF_NO_CACHE": "true"}
            results.append(_run("ruff check", [ruff, "check", "--no-cache", "."], root, options, [root],
                                env_r, on_output))
            results.append(_run("ruff format", [ruff, "format", "--check", "--no-cache", "."], root,
                                options, [root], env_r, on_output))
        else:
            results.append(_skipped("ruff", "ruff is not installed"))
    finally:
        env.cleanup()
    return results
