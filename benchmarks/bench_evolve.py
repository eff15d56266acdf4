"""`workbench evolve` of a ten-command project beside its floor, in the same run.

    .venv/bin/python benchmarks/bench_evolve.py [--quick] [--json FILE|-]

Set-up (not timed): an offline `workbench new` of a ten-command python-cli project
(`tentool`, each command with an argument and an option), and its spec v2: one command
and one option added.

A: `workbench evolve DIR --spec v2.md --yes`, offline, the sandboxed checks included
   (install, pytest, ruff check, ruff format --check of the merged project), on a fresh
   copy of the project and of its Workbench home each run.
B: the floor, the unavoidable work inside it, done directly on another fresh copy:
   render the plan from v2 (`workbench.scaffold.render_plan`, in a fresh Python, as a
   command renders: interpreter start, Jinja import, template compilation), read
   base (refs/workbench/base) and ours (HEAD) with one `git cat-file --batch` each,
   `git merge-file -p` of every file the three trees share, write the results, one
   commit (`git add -A`, `git commit`), and the project's tests: a virtualenv prepared
   as the monitor step prepares it (no pip inside, Workbench's pytest and setuptools
   through a .pth file), `pip install -e` of the project, pytest.

Runs are interleaved (A B A B ...), 5 of each after a warm-up pair (1, no warm-up, with
--quick). Goal: at most 1.3x. Timings are reported, never asserted.
"""

from __future__ import annotations

import json
import os
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

from benchmarks.common import CommandFailed, Row, fmt_value, median, run_cmd, script_main  # noqa: E402

AREA = "`workbench evolve`"
GOAL_RATIO = 1.3
BIN = Path(sys.executable).parent
REPRODUCE = ".venv/bin/python benchmarks/bench_evolve.py"
COMMANDS = 10
RENDER = ("import json, sys; from workbench.scaffold import render_plan; from workbench.spec import parse_spec; "
          "plan = render_plan(parse_spec(open(sys.argv[1]).read(), 'v2.md')); "
          "print(json.dumps({p: f.content for p, f in plan.files.items()}))")
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}


def spec_text(commands: int = COMMANDS, evolved: bool = False) -> str:
    """The project's spec: `commands` commands; `evolved` adds a command and an option."""
    parts = []
    for i in range(commands):
        parts.append(f"  - name: cmd{i}\n    summary: Command number {i}\n"
                     "    arguments:\n      - name: input\n        type: str\n        help: File to read\n"
                     "    options:\n      - name: count\n        type: int\n        default: 2\n"
                     "        help: How many\n")
        if evolved and i == 0:
            parts.append("      - name: limit\n        type: int\n        default: 10\n"
                         "        help: At most this many\n")
    if evolved:
        parts.append("  - name: added\n    summary: The added command\n"
                     "    arguments:\n      - name: input\n        type: str\n        help: File to read\n")
    return ("---\nname: tentool\nsummary: A tool of ten commands\ntemplate: python-cli\ncommands:\n"
            + "".join(parts)
            + "integrations:\n  github_actions: true\n  circleci: false\n  devcontainer: true\n---\n"
              "# tentool\n\n## Overview\n\nTen commands.\n\n## Requirements\n\n- Ten commands.\n\n"
              "## Acceptance criteria\n\n- Ten commands.\n")


def _workbench() -> str:
    exe = BIN / "workbench"
    return str(exe) if exe.exists() else (shutil.which("workbench") or "workbench")


def _git(root: Path, *args: str, input: bytes | None = None) -> bytes:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_ENV)
    p = subprocess.run(["git", *args], cwd=root, env=env, input=input, capture_output=True)
    if p.returncode != 0 and args[0] != "merge-file":
        raise CommandFailed(["git", *args], p.returncode, p.stderr.decode("utf-8", "replace"))
    return p.stdout


def _tree(root: Path, rev: str) -> dict[str, tuple[bytes, str]]:
    """path -> (content, mode) of `rev`, with one `git cat-file --batch`."""
    entries = []
    for rec in _git(root, "ls-tree", "-r", "-z", "--full-tree", rev).split(b"\0"):
        if rec:
            meta, _, path = rec.partition(b"\t")
            mode, _kind, sha = meta.split()
            entries.append((path.decode(), sha.decode(), mode.decode()))
    out = _git(root, "cat-file", "--batch", input="".join(f"{s}\n" for _, s, _ in entries).encode())
    files, pos = {}, 0
    for path, _sha, mode in entries:
        nl = out.index(b"\n", pos)
        size = int(out[pos:nl].split()[2])
        files[path] = (out[nl + 1:nl + 1 + size], mode)
        pos = nl + 1 + size + 1
    return files


class Setup:
    """The generated project (v1) and its home, copied afresh for every run."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.v2 = tmp / "v2.md"
        self.v2.write_text(spec_text(evolved=True))
        v1 = tmp / "v1.md"
        v1.write_text(spec_text())
        self.project = tmp / "src" / "tentool"
        self.home = tmp / "src" / "home"
        env = dict(os.environ, WORKBENCH_HOME=str(self.home))
        cmd = [_workbench(), "new", "tentool", "--spec", str(v1), "--out", str(self.project), "--yes",
               "--no-monitor"]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=tmp)
        if p.returncode != 0:
            raise CommandFailed(cmd, p.returncode, p.stdout + p.stderr)
        self.files = len(_tree(self.project, "HEAD"))

    def fresh(self, name: str) -> tuple[Path, Path]:
        where = self.tmp / name
        shutil.rmtree(where, ignore_errors=True)
        where.mkdir()
        shutil.copytree(self.project, where / "tentool", symlinks=True)
        shutil.copytree(self.home, where / "home", symlinks=True)
        return where / "tentool", where / "home"


def run_evolve(setup: Setup, run: int) -> tuple[float, str]:
    project, home = setup.fresh(f"a{run}")
    env = dict(os.environ, WORKBENCH_HOME=str(home))
    cmd = [_workbench(), "evolve", str(project), "--spec", str(setup.v2), "--yes"]
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=setup.tmp)
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        raise CommandFailed(cmd, p.returncode, p.stdout + p.stderr)
    log = _git(project, "log", "-1", "--format=%s").decode().strip()
    if not log.startswith("Evolve tentool to spec v2"):
        raise CommandFailed(cmd, 0, f"the newest commit is {log!r}, not the evolve")
    shutil.rmtree(project.parent, ignore_errors=True)
    return elapsed, p.stdout


def run_floor(setup: Setup, run: int, parts: dict[str, list[float]]) -> float:
    """The unavoidable work of the evolve, done directly."""
    project, _home = setup.fresh(f"b{run}")
    spent = dict.fromkeys(("render", "read trees", "merge-file", "write", "commit", "venv", "install",
                           "pytest"), 0.0)
    started = time.perf_counter()
    mark = [started]

    def lap(part: str) -> None:
        now = time.perf_counter()
        spent[part] += now - mark[0]
        mark[0] = now

    # rendered in a fresh Python, as a command renders (interpreter, Jinja, template compilation)
    out = run_cmd([sys.executable, "-c", RENDER, str(setup.v2)], cwd=ROOT).stdout
    theirs = {p: c.encode("utf-8") for p, c in json.loads(out).items()}
    lap("render")
    base = _tree(project, "refs/workbench/base")
    ours = _tree(project, "HEAD")
    lap("read trees")
    results: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="wb-bench-merge-") as tmp:
        for path in sorted(base.keys() & ours.keys() & theirs.keys()):
            names = []
            for side, content in (("ours", ours[path][0]), ("base", base[path][0]), ("theirs", theirs[path])):
                f = Path(tmp) / side
                f.write_bytes(content)
                names.append(str(f))
            results[path] = _git(project, "merge-file", "-p", *names)
        for path in theirs.keys() - base.keys():
            results[path] = theirs[path]
    lap("merge-file")
    for path, content in results.items():
        dest = project / path
        if path in ours and ours[path][0] == content:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(content)
    lap("write")
    _git(project, "add", "-A")
    _git(project, "commit", "--quiet", "--no-verify", "-m", "Evolve tentool to spec v2")
    lap("commit")
    venv = project.parent / "venv"
    py = venv / "bin" / "python"
    run_cmd([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "_workbench_tools.pth").write_text(sysconfig.get_path("purelib") + "\n")
    lap("venv")
    run_cmd([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-build-isolation",
             "--disable-pip-version-check", "--no-deps", "--no-index", "-e", str(project)],
            env=dict(os.environ, PIP_NO_CACHE_DIR="1"))
    lap("install")
    run_cmd([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project,
            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    lap("pytest")
    elapsed = time.perf_counter() - started
    for part, s in spent.items():
        parts.setdefault(part, []).append(s)
    shutil.rmtree(project.parent, ignore_errors=True)
    return elapsed


def _step_times(output: str) -> dict[str, float]:
    from benchmarks.bench_cli import _step_times as parse

    return parse(output)


def _fmt_parts(parts: dict[str, list[float]], limit: int = 0) -> str:
    items = sorted(((k, statistics.median(v)) for k, v in parts.items() if v), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {fmt_value(v, 's')}" for k, v in (items[:limit] if limit else items))


def bench_evolve(quick: bool) -> Row:
    n = 1 if quick else 5
    warmup = 0 if quick else 1
    what = (f"offline `workbench evolve DIR --spec v2.md --yes` of a {COMMANDS}-command python-cli project "
            "(one command and one option added; sandboxed checks included)")
    reference = "the floor done directly (render, `git merge-file` of every file, one commit, venv, install, pytest)"
    common = {"reference": reference, "goal": f"at most {GOAL_RATIO}x", "command": REPRODUCE, "area": AREA}
    tmp = Path(tempfile.mkdtemp(prefix="wb-bench-evolve-"))
    try:
        try:
            setup = Setup(tmp)
        except (CommandFailed, OSError, subprocess.SubprocessError) as exc:
            return Row.not_measured(what, f"the set-up `workbench new` failed: {exc}", **common)
        a_times: list[float] = []
        b_times: list[float] = []
        steps: dict[str, list[float]] = {}
        parts: dict[str, list[float]] = {}
        for i in range(warmup + n):
            measured = i >= warmup
            label = f"run {i + 1 - warmup}" if measured else "the warm-up run"
            try:
                elapsed, output = run_evolve(setup, i)
            except (CommandFailed, OSError, subprocess.SubprocessError) as exc:
                return Row.not_measured(what, f"`workbench evolve` failed on {label}: {exc}", **common)
            if measured:
                a_times.append(elapsed)
                for step, s in _step_times(output).items():
                    steps.setdefault(step, []).append(s)
            try:
                elapsed = run_floor(setup, i, parts if measured else {})
            except (CommandFailed, OSError, subprocess.SubprocessError) as exc:
                return Row.not_measured(what, f"the floor failed on {label}: {exc}", **common)
            if measured:
                b_times.append(elapsed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    value, ref = median(a_times), median(b_times)
    ratio = value / ref
    note = (f"interleaved A B A B{' after one warm-up pair' if warmup else ''}; a fresh copy of the "
            f"project ({setup.files} files) and of its Workbench home for every run, copied untimed. "
            f"Where evolve spends its time (medians of its own step timings): {_fmt_parts(steps, limit=5)}. "
            f"The floor's parts: {_fmt_parts(parts)} (its render runs in a fresh Python, as a command "
            "renders; warm in one process it is a few ms: Jinja's compiled templates are then cached). "
            f"Beyond the floor, evolve also starts its own "
            "Python and imports Workbench, opens a session (spec versions, review, two gates approved "
            "by --yes, every step in the audit log), copies the merged project to a throwaway folder "
            "and runs the checks there under bubblewrap, with `ruff check` and `ruff format --check` "
            "after pytest, writes through the write gateway (fsync), and records the new base on "
            "refs/workbench/base. By hand: `WORKBENCH_HOME=$(mktemp -d) .venv/bin/workbench new tentool "
            "--spec v1.md --out DIR --yes --no-monitor`, then `.venv/bin/workbench evolve DIR --spec "
            "v2.md --yes` (the specs: `benchmarks.bench_evolve.spec_text()`).")
    return Row(what=what, value=value, ref_value=ref, unit="s", ratio=ratio, met=ratio <= GOAL_RATIO,
               samples=a_times, ref_samples=b_times, note=note, **common)


def run(quick: bool = False) -> list[Row]:
    return [bench_evolve(quick)]


if __name__ == "__main__":
    sys.exit(script_main(run, description=__doc__.splitlines()[0]))
