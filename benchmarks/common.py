"""Shared helpers for Workbench's benchmarks: the Row type, timing, medians, formatting.

Every ``benchmarks/bench_*.py`` module exposes ``run(quick: bool = False) -> list[Row]``
and ends with ``script_main(run)``; ``benchmarks/run.py`` runs each in its own process
and writes ``docs/benchmarks.md``. See ``benchmarks/README.md`` for the convention.

This module imports nothing from Workbench and nothing heavy, so importing it does
not skew a measurement.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_PY = ROOT / ".venv" / "bin" / "python"
SCHEMA = 1


@dataclass
class Row:
    """One measured figure beside its reference, from the same run.

    ``value`` and ``ref_value`` are medians (in ``unit``); ``samples`` and
    ``ref_samples`` are the measurements behind them. ``ratio`` is value / ref_value
    and is filled in when both are known. ``met`` is True or False when the row has
    a goal that can be judged, None when it is only reported (or not measured).
    ``error`` set means the row was not measured; it says why.
    """

    what: str
    reference: str = ""
    value: float | None = None
    ref_value: float | None = None
    unit: str = "s"
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    command: str = ""
    repeats: int | None = None
    samples: list[float] = field(default_factory=list)
    ref_samples: list[float] = field(default_factory=list)
    note: str = ""
    error: str = ""
    area: str = ""

    def __post_init__(self) -> None:
        if self.ratio is None and self.value is not None and self.ref_value:
            self.ratio = self.value / self.ref_value
        if self.repeats is None and self.samples:
            self.repeats = len(self.samples)

    @classmethod
    def not_measured(cls, what: str, reason: str, **kw) -> Row:
        """A row for a figure that could not be measured in this run (the reason is shown)."""
        return cls(what=what, error=reason, **kw)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("value", "ref_value", "ratio"):
            if isinstance(d[k], float) and not math.isfinite(d[k]):
                d[k] = None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Row:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# -- timing -------------------------------------------------------------------------------

def median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def timed(fn: Callable[[], object]) -> float:
    """Wall time of fn() in seconds; if fn returns a number, that number is the time."""
    t = time.perf_counter()
    out = fn()
    elapsed = time.perf_counter() - t
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        return float(out)
    return elapsed


def repeat(fn: Callable[[], object], repeats: int, warmup: int = 0) -> list[float]:
    """Run fn warmup + repeats times; return the timed repeats (seconds)."""
    for _ in range(warmup):
        fn()
    return [timed(fn) for _ in range(repeats)]


def interleaved(fns: Sequence[Callable[[], object]], repeats: int, warmup: int = 0) -> list[list[float]]:
    """Run the functions in turn, A B A B ..., so slow spells of a shared machine fall on
    all of them alike. Returns one list of times (seconds) per function."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            out[i].append(timed(fn))
    return out


class CommandFailed(RuntimeError):
    def __init__(self, cmd: Sequence[str], code: int, output: str):
        self.cmd, self.code, self.output = list(cmd), code, output
        tail = " | ".join(ln.strip() for ln in output.strip().splitlines()[-3:])
        super().__init__(f"`{shell_join(cmd)}` exited {code}: {tail}"[:400])


def run_cmd(cmd: Sequence[str], *, cwd: Path | str | None = None, env: dict | None = None,
            timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command, capturing its output; raise CommandFailed (with the output's tail)
    when it exits non-zero and ``check`` is set."""
    try:
        proc = subprocess.run(list(cmd), check=False, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(cmd, 124, f"timed out after {timeout:.0f} s\n{exc.output or ''}") from None
    if check and proc.returncode != 0:
        raise CommandFailed(cmd, proc.returncode, proc.stdout + proc.stderr)
    return proc


def time_cmd(cmd: Sequence[str], **kw) -> float:
    """Wall time (seconds) of one run of a command, which must succeed."""
    t = time.perf_counter()
    run_cmd(cmd, **kw)
    return time.perf_counter() - t


def shell_join(cmd: Sequence[str]) -> str:
    return " ".join(shlex.quote(str(c)) for c in cmd)


def rel(path: Path | str) -> str:
    """A path relative to the repository when it lies inside it (for commands in the report)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


# -- formatting ---------------------------------------------------------------------------

def fmt_value(v: float | None, unit: str = "s") -> str:
    if v is None:
        return "—"
    if unit == "s":
        if v < 1:
            return f"{v * 1000:.0f} ms" if v >= 0.1 else f"{v * 1000:.1f} ms"
        return f"{v:.2f} s" if v < 100 else f"{v:.0f} s"
    if unit == "ms":
        return f"{v:.1f} ms" if v < 100 else f"{v:,.0f} ms"
    if abs(v) >= 1000:
        return f"{v:,.0f} {unit}".rstrip()
    if abs(v) >= 10:
        return f"{v:.1f} {unit}".rstrip()
    return f"{v:.3g} {unit}".rstrip()


def fmt_ratio(r: float | None) -> str:
    if r is None:
        return "—"
    return f"{r:.2f}x" if r < 100 else f"{r:,.0f}x"


def fmt_samples(xs: Sequence[float], unit: str = "s") -> str:
    """'median 0.21 s of 5 (0.19–0.30 s)'."""
    if not xs:
        return "no samples"
    m = median(xs)
    if len(xs) == 1:
        return f"{fmt_value(m, unit)} (1 run)"
    return f"median {fmt_value(m, unit)} of {len(xs)} ({fmt_value(min(xs), unit)} – {fmt_value(max(xs), unit)})"


def verdict(row: Row) -> str:
    if row.error:
        return "not measured"
    if row.met is True:
        return "met"
    if row.met is False:
        return "MISSED"
    return "reported"


def print_rows(rows: Sequence[Row], out=None) -> None:
    out = out or sys.stdout
    for row in rows:
        if row.error:
            print(f"- {row.what}: not measured: {row.error}", file=out)
            continue
        ref = f" vs {row.reference} {fmt_value(row.ref_value, row.unit)}" if row.reference else ""
        ratio = f" = {fmt_ratio(row.ratio)}" if row.ratio is not None else ""
        goal = f"; goal {row.goal}: {verdict(row)}" if row.goal and row.met is not None else ""
        print(f"- {row.what}: {fmt_value(row.value, row.unit)}{ref}{ratio}{goal}", file=out)
        if row.samples:
            print(f"    measured  {fmt_samples(row.samples, row.unit)}", file=out)
        if row.ref_samples:
            print(f"    reference {fmt_samples(row.ref_samples, row.unit)}", file=out)
        if row.note:
            print(f"    note: {row.note}", file=out)
        if row.command:
            print(f"    reproduce: {row.command}", file=out)


# -- the machine --------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError):
        pass
    return None


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], check=False, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info() -> dict:
    """What a reader needs to weigh the numbers: cores, CPU, memory, load, Python, date."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count()
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = []
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": _cpu_model(),
        "memory_gib": round(_mem_total_gib() or 0, 1) or None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "python_impl": platform.python_implementation(),
        "load": load,
        "commit": commit + (" (with uncommitted changes)" if commit and dirty else ""),
    }


# -- the script convention ----------------------------------------------------------------

def write_json(rows: Sequence[Row], path: str) -> None:
    text = json.dumps({"schema": SCHEMA, "rows": [r.to_dict() for r in rows]}, indent=2)
    if path == "-":
        print(text)
    else:
        Path(path).write_text(text + "\n")


def read_json(text: str) -> list[Row]:
    data = json.loads(text)
    return [Row.from_dict(d) for d in data["rows"]]


def script_main(run: Callable[..., list[Row]], argv: Sequence[str] | None = None,
                description: str | None = None) -> int:
    """``python benchmarks/bench_x.py [--quick] [--json FILE|-]``: run and print the rows."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="fewer repeats (a rough look, not a report)")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON here ('-' for stdout only)")
    args = p.parse_args(argv)
    rows = run(quick=args.quick)
    if args.json == "-":
        write_json(rows, "-")
        return 0
    print_rows(rows)
    if args.json:
        write_json(rows, args.json)
    return 0
