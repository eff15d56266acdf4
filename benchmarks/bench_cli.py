"""Startup and `workbench new`, each beside its reference in the same run.

    .venv/bin/python benchmarks/bench_cli.py [--quick] [--json FILE|-]

1. `workbench --version` (a subprocess, median of 21; 7 with --quick) against
   `python -c "import rich"`, interleaved. Goal: under 0.25 s.
2. A full offline `workbench new csv2json --spec tests/fixtures/csv2json.spec.md
   --out DIR --yes` (WORKBENCH_HOME in a temporary folder) against the unavoidable
   work it contains, done directly in the same run: write the same files, `git init`,
   add and commit them, then the three later commits (CI, devcontainer, release);
   create a virtualenv the way the monitor step does, install the project into it,
   run its tests (pytest) and linters (ruff check, ruff format --check). Runs are
   interleaved (A B A B ...), 3 of each after a warm-up pair (1, no warm-up, with
   --quick). Goal: at most 1.3x.

Timings are reported, never asserted.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import (
    CommandFailed,
    Row,
    fmt_value,
    interleaved,
    median,
    run_cmd,
    script_main,
    time_cmd,
)

AREA = "Startup and `workbench new`"
SPEC = ROOT / "tests" / "fixtures" / "csv2json.spec.md"
VERSION_GOAL_S = 0.25
NEW_GOAL_RATIO = 1.3
BIN = Path(sys.executable).parent
REPRODUCE = ".venv/bin/python benchmarks/bench_cli.py"


def _workbench() -> str:
    exe = BIN / "workbench"
    return str(exe) if exe.exists() else (shutil.which("workbench") or "workbench")


def _tool(name: str) -> str | None:
    exe = BIN / name
    return str(exe) if exe.exists() else shutil.which(name)


# -- 1. workbench --version -------------------------------------------------------------

def bench_version(quick: bool) -> Row:
    n = 7 if quick else 21
    wb = [_workbench(), "--version"]
    rich = [sys.executable, "-c", "import rich"]
    bare = [sys.executable, "-c", "pass"]
    what = "`workbench --version`"
    reference = '`python -c "import rich"`'
    goal = f"under {VERSION_GOAL_S} s"
    try:
        out = run_cmd(wb).stdout.strip()
        a, b, c = interleaved([lambda: time_cmd(wb), lambda: time_cmd(rich), lambda: time_cmd(bare)],
                              repeats=n, warmup=1)
    except (CommandFailed, OSError) as exc:
        return Row.not_measured(what, str(exc), reference=reference, goal=goal, command=REPRODUCE,
                                area=AREA)
    value = median(a)
    return Row(
        what=what, reference=reference, value=value, ref_value=median(b), unit="s",
        goal=goal, met=value < VERSION_GOAL_S, command=REPRODUCE, samples=a, ref_samples=b,
        note=(f"prints `{out}`; a bare `python -c pass` takes {fmt_value(median(c), 's')} "
              f"(interpreter start-up, in the same interleaved run). By hand: "
              f"`time .venv/bin/workbench --version` and `time .venv/bin/python -c \"import rich\"`."),
        area=AREA,
    )


# -- 2. workbench new vs the work inside it ---------------------------------------------

STEP_LINE = re.compile(r"^\S+\s+(design|scaffold|integrate)\s+(\S+)\s+.*\((\d+(?:\.\d+)?)s\)\s*$")


def _step_times(output: str) -> dict[str, float]:
    """Per-step durations from the headless runner's progress lines (best effort)."""
    steps: dict[str, float] = {}
    for line in output.splitlines():
        m = STEP_LINE.match(line.strip())
        if m:
            steps[m.group(2)] = steps.get(m.group(2), 0.0) + float(m.group(3))
    return steps


class Project:
    """What `workbench new` committed, commit by commit: the files the reference writes."""

    def __init__(self, commits: list[tuple[str, list[tuple[str, bytes, int]]]]):
        self.commits = commits  # (subject, [(path, content, mode)]) oldest first

    @classmethod
    def from_repo(cls, repo: Path) -> Project:
        def git(*args: str) -> str:
            return run_cmd(["git", "-C", str(repo), *args]).stdout

        shas = git("log", "--reverse", "--format=%H").split()
        commits = []
        previous: dict[str, tuple[str, str]] = {}
        for sha in shas:
            subject = git("log", "-1", "--format=%s", sha).strip()
            tree: dict[str, tuple[str, str]] = {}
            for entry in git("ls-tree", "-r", "-z", sha).split("\0"):
                if not entry:
                    continue
                meta, path = entry.split("\t", 1)
                mode, _kind, blob = meta.split()
                tree[path] = (mode, blob)
            changed = []
            for path, (mode, blob) in sorted(tree.items()):
                if previous.get(path) != (mode, blob):
                    content = subprocess.run(["git", "-C", str(repo), "cat-file", "blob", blob],
                                             capture_output=True, check=True).stdout
                    changed.append((path, content, 0o755 if mode == "100755" else 0o644))
            commits.append((subject, changed))
            previous = tree
        return cls(commits)

    @property
    def files(self) -> int:
        return len({p for _, files in self.commits for p, _, _ in files})


def _run_workbench_new(tmp: Path, name: str) -> tuple[float, Path, str]:
    env = dict(os.environ, WORKBENCH_HOME=str(tmp / "home"))
    out = tmp / name
    cmd = [_workbench(), "new", name, "--spec", str(SPEC), "--out", str(out), "--yes"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=1800, cwd=tmp)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise CommandFailed(cmd, proc.returncode, proc.stdout + proc.stderr)
    return elapsed, out, proc.stdout + proc.stderr


def _reference_work(project: Project, tmp: Path, name: str, parts: dict[str, list[float]]) -> float:
    """The unavoidable work inside `workbench new`, done directly, part by part."""
    root = tmp / name
    git_env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
                   GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.com",
                   GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.com")
    spent = {"write files": 0.0, "git": 0.0, "venv": 0.0, "install": 0.0, "pytest": 0.0, "ruff": 0.0}
    started = time.perf_counter()

    def clock(part: str, fn) -> None:
        t = time.perf_counter()
        fn()
        spent[part] += time.perf_counter() - t

    def write(files) -> None:
        for path, content, mode in files:
            dest = root / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(content)
            os.chmod(dest, mode)

    def git(*args: str) -> None:
        run_cmd(["git", *args], cwd=root, env=git_env)

    root.mkdir()
    for i, (subject, files) in enumerate(project.commits):
        clock("write files", lambda files=files: write(files))
        if i == 0:
            clock("git", lambda: git("init", "--quiet", "--initial-branch=main"))
        clock("git", lambda: git("add", "-A"))
        clock("git", lambda subject=subject: git("commit", "--quiet", "--no-verify", "-m", subject))

    # The monitor step's virtualenv: no pip inside, Workbench's own pytest and setuptools
    # visible through a .pth file (no network); then install, test and lint.
    venv = tmp / "venv"
    py = venv / "bin" / "python"

    def make_venv() -> None:
        run_cmd([sys.executable, "-m", "venv", "--without-pip", str(venv)])
        site = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        (site / "_workbench_tools.pth").write_text(sysconfig.get_path("purelib") + "\n")

    clock("venv", make_venv)
    clock("install", lambda: run_cmd([sys.executable, "-m", "pip", "--python", str(py), "install",
                                      "--quiet", "--no-build-isolation", "--disable-pip-version-check",
                                      "-e", str(root)]))
    test_env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    clock("pytest", lambda: run_cmd([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                                    cwd=root, env=test_env))
    ruff = _tool("ruff")
    if ruff:
        ruff_env = dict(test_env, RUFF_NO_CACHE="true")
        clock("ruff", lambda: run_cmd([ruff, "check", "--no-cache", "."], cwd=root, env=ruff_env))
        clock("ruff", lambda: run_cmd([ruff, "format", "--check", "--no-cache", "."], cwd=root,
                                      env=ruff_env))
    elapsed = time.perf_counter() - started
    for part, s in spent.items():
        parts.setdefault(part, []).append(s)
    return elapsed


def _fmt_parts(parts: dict[str, list[float]], limit: int = 0) -> str:
    items = [(k, statistics.median(v)) for k, v in parts.items() if v]
    items.sort(key=lambda kv: -kv[1])
    if limit:
        items = items[:limit]
    return ", ".join(f"{k} {fmt_value(v, 's')}" for k, v in items)


def bench_new(quick: bool) -> Row:
    n = 1 if quick else 3
    name = "csv2json"
    what = "offline `workbench new csv2json --spec tests/fixtures/csv2json.spec.md --out DIR --yes`"
    reference = "the same work done directly (files, git, venv, install, pytest, ruff)"
    goal = f"at most {NEW_GOAL_RATIO}x"
    command = REPRODUCE
    common = {"reference": reference, "goal": goal, "command": command, "area": AREA}
    if not SPEC.exists():
        return Row.not_measured(what, f"{SPEC.relative_to(ROOT)} is missing", **common)

    a_times: list[float] = []
    b_times: list[float] = []
    steps: dict[str, list[float]] = {}
    parts: dict[str, list[float]] = {}
    project: Project | None = None
    warmup = 0 if quick else 1
    for i in range(warmup + n):
        measured = i >= warmup
        label = f"run {i + 1 - warmup}" if measured else "the warm-up run"
        # A: workbench new
        tmp = Path(tempfile.mkdtemp(prefix="wb-bench-new-"))
        try:
            elapsed, out, output = _run_workbench_new(tmp, name)
            if measured:
                a_times.append(elapsed)
                for step, s in _step_times(output).items():
                    steps.setdefault(step, []).append(s)
            if project is None:
                project = Project.from_repo(out)
        except (CommandFailed, OSError, subprocess.SubprocessError) as exc:
            return Row.not_measured(what, f"`workbench new` failed on {label}: {exc}", **common)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        # B: the unavoidable work, with the files A wrote
        tmp = Path(tempfile.mkdtemp(prefix="wb-bench-ref-"))
        try:
            elapsed = _reference_work(project, tmp, name, parts if measured else {})
            if measured:
                b_times.append(elapsed)
        except (CommandFailed, OSError, subprocess.SubprocessError) as exc:
            return Row.not_measured(what, f"the reference work failed on {label}: {exc}", **common)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    value, ref = median(a_times), median(b_times)
    ratio = value / ref
    note = (f"interleaved A B A B{' after one warm-up pair' if warmup else ''}. "
            f"The reference writes the same {project.files} files "
            f"(taken from the generated project), runs `git init` and the same "
            f"{len(project.commits)} commits, creates a virtualenv as the monitor step does, "
            f"`pip install -e` the project, runs its pytest, `ruff check` and "
            f"`ruff format --check`. "
            f"Where `workbench new` spends its time (medians of its own step timings): "
            f"{_fmt_parts(steps, limit=6)}. The reference's parts: {_fmt_parts(parts)}. "
            f"Beyond the reference, `workbench new` also runs the generated tests once on the "
            f"in-memory plan (the `tests` step), validates the CI, devcontainer and release files "
            f"(check-jsonschema, actionlint), runs tests and linters under bubblewrap, records "
            f"every step in its database. Three parts run in background threads: the CI checks "
            f"from the implementation step, the monitor's install from the tests step (from the "
            f"plan; overlapping the tests, the apply and the commits), and the monitor's ruff "
            f"beside its pytest (each check its own sandboxed run). By hand: `WORKBENCH_HOME=$(mktemp -d) .venv/bin/workbench new csv2json "
            f"--spec tests/fixtures/csv2json.spec.md --out $(mktemp -d)/csv2json --yes`.")
    return Row(what=what, value=value, ref_value=ref, unit="s", ratio=ratio,
               met=ratio <= NEW_GOAL_RATIO, samples=a_times, ref_samples=b_times, note=note, **common)


def run(quick: bool = False) -> list[Row]:
    return [bench_version(quick), bench_new(quick)]


if __name__ == "__main__":
    sys.exit(script_main(run, description=__doc__.splitlines()[0]))
