"""Run every benchmark and write docs/benchmarks.md.

    .venv/bin/python benchmarks/run.py [--quick] [--only cli audit ...] [--out docs/benchmarks.md]
                                       [--timeout SECONDS] [--json FILE]

Each `benchmarks/bench_*.py` module runs in its own process (so one module's imports,
such as LiteLLM or Textual, do not skew another's timings) through `run(quick)`, which
returns a list of `benchmarks.common.Row`. A module that fails, times out, or does not
follow the convention is reported as "not measured" with the reason; the others still
run. The report is a report, not a gate: the exit code is 0 whenever it was written,
whatever the numbers say.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import (
    Row,
    fmt_ratio,
    fmt_samples,
    fmt_value,
    machine_info,
    verdict,
)

DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"

# The modules issue 7 asks for: one that does not exist yet is reported as not measured,
# so the report shows every gap rather than leaving it out.
EXPECTED = {
    "bench_audit.py": ("Audit", "append, verify and the newest page of a million events"),
    "bench_cli.py": ("Startup and `workbench new`",
                     "`workbench --version`; a full offline `workbench new` vs the work inside it"),
    "bench_evolve.py": ("`workbench evolve`",
                        "an offline evolve of a ten-command project vs its floor (render, git merge-file, "
                        "commit, the project's tests)"),
    "bench_gateway.py": ("Gateway", "20,000 tokens through the gateway vs a bare LiteLLM loop"),
    "bench_tui.py": ("TUI", ("first frame vs a bare Textual app; a keystroke on a 5,000-line "
                             "spec; chat at 1,000 tokens/s; the audit pane on a million events; "
                             "peak memory before and after LiteLLM")),
}


@dataclass
class ModuleResult:
    module: str                      # "bench_cli.py"
    area: str                        # the section heading
    rows: list[Row] = field(default_factory=list)
    error: str = ""                  # set: the whole module was not measured, and why
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"module": self.module, "area": self.area, "error": self.error,
                "seconds": round(self.seconds, 2), "rows": [r.to_dict() for r in self.rows]}


# -- discovery and the child process ----------------------------------------------------

def discover(only: list[str] | None = None) -> list[Path]:
    mods = sorted(BENCH_DIR.glob("bench_*.py"))
    if only:
        want = {o.removesuffix(".py").removeprefix("bench_") for o in only}
        mods = [m for m in mods if m.stem.removeprefix("bench_") in want]
    return mods


def _default_area(path: Path) -> str:
    if path.name in EXPECTED:
        return EXPECTED[path.name][0]
    return path.stem.removeprefix("bench_").replace("_", " ").capitalize()


def _as_row(item) -> Row:
    if isinstance(item, Row):
        return item
    if isinstance(item, dict):
        return Row.from_dict(item)
    if hasattr(item, "to_dict"):
        return Row.from_dict(item.to_dict())
    if is_dataclass(item):
        return Row.from_dict(asdict(item))
    raise TypeError(f"run() returned a {type(item).__name__}, not a Row")


def child(path: Path, result: Path, quick: bool) -> int:
    """Import one module, call its run(quick=...), write its rows as JSON to `result`."""
    out: dict = {"area": _default_area(path)}
    started = time.perf_counter()
    try:
        sys.argv = [str(path)]
        spec = importlib.util.spec_from_file_location(path.stem, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = mod
        spec.loader.exec_module(mod)
        out["area"] = getattr(mod, "AREA", None) or out["area"]
        fn = getattr(mod, "run", None)
        if not callable(fn):
            out["error"] = "the module has no run(quick) function (see benchmarks/README.md)"
        else:
            params = inspect.signature(fn).parameters
            if "quick" not in params and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
                out["error"] = (f"its run{inspect.signature(fn)} does not take `quick` "
                                f"(convention: run(quick: bool = False) -> list[Row], see benchmarks/README.md)")
            else:
                rows = fn(quick=quick)
                if not isinstance(rows, (list, tuple)):
                    raise TypeError(f"run() returned a {type(rows).__name__}, not a list of Row")
                out["rows"] = [_as_row(r).to_dict() for r in rows]
    except BaseException as exc:  # a failing module is reported, not fatal
        if isinstance(exc, KeyboardInterrupt):
            raise
        out["error"] = f"{type(exc).__name__}: {exc}".strip()[:600]
        out["traceback"] = traceback.format_exc()[-4000:]
    out["seconds"] = time.perf_counter() - started
    result.write_text(json.dumps(out))
    return 0


def _tail(text: str, n: int = 3) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[:400]


def run_module(path: Path, quick: bool, timeout: float, echo: bool = False) -> ModuleResult:
    """Run one module in its own process (and process group, so a timeout ends all of it)."""
    name = path.name
    with tempfile.TemporaryDirectory(prefix="wb-bench-run-") as tmp:
        result = Path(tmp) / "result.json"
        log = Path(tmp) / "output.log"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(path),
               "--result", str(result)] + (["--quick"] if quick else [])
        started = time.perf_counter()
        with open(log, "w") as fh:
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                code = None
        seconds = time.perf_counter() - started
        output = log.read_text(errors="replace")
        if echo and output.strip():
            print(output.rstrip())
        if code is None:
            return ModuleResult(name, _default_area(path), seconds=seconds,
                                error=f"timed out after {timeout:.0f} s (raise it with --timeout)")
        if not result.exists():
            return ModuleResult(name, _default_area(path), seconds=seconds,
                                error=f"its process exited {code} without a result: {_tail(output)}")
        data = json.loads(result.read_text())
    if data.get("traceback") and not echo:
        print(data["traceback"].rstrip(), file=sys.stderr)
    rows = [Row.from_dict(d) for d in data.get("rows", [])]
    area = data.get("area") or _default_area(path)
    for r in rows:
        r.area = r.area or area
    return ModuleResult(name, area, rows=rows, error=data.get("error", ""), seconds=seconds)


# -- the report -------------------------------------------------------------------------

def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _result_cell(row: Row) -> str:
    v = verdict(row)
    if v == "MISSED":
        return "**missed**"
    if v == "not measured":
        reason = row.error if len(row.error) <= 120 else row.error[:117] + "..."
        return f"not measured: {_cell(reason)}"
    return v


def _measured_cell(row: Row) -> str:
    return "—" if row.error else fmt_value(row.value, row.unit)


def _reference_cell(row: Row) -> str:
    if not row.reference:
        return "—"
    if row.ref_value is None:
        return _cell(row.reference)
    return f"{_cell(row.reference)}: {fmt_value(row.ref_value, row.unit)}"


def _repeats_cell(row: Row) -> str:
    if row.error:
        return "—"
    n = row.repeats or len(row.samples)
    m = len(row.ref_samples)
    if not n:
        return "—"
    return f"{n}" if not m or m == n else f"{n} / {m}"


def _machine_line(m: dict) -> str:
    cores = m.get("cores")
    usable = m.get("usable_cores")
    core_text = f"{cores} cores" + (f" ({usable} usable)" if usable and usable != cores else "")
    parts = [core_text, m.get("cpu") or ""]
    if m.get("memory_gib"):
        parts.append(f"{m['memory_gib']} GiB RAM")
    parts.append(m.get("os", ""))
    parts.append(f"{m.get('python_impl', 'Python')} {m.get('python', '')}")
    return ", ".join(p for p in parts if p)


def render(results: list[ModuleResult], machine: dict, *, quick: bool, command: str,
           load_after: list[float] | None = None, seconds: float | None = None) -> str:
    rows = [r for mr in results for r in mr.rows]
    judged = [r for r in rows if not r.error and r.met is not None]
    met = [r for r in judged if r.met]
    missed = [r for r in judged if not r.met]
    reported = [r for r in rows if not r.error and r.met is None]
    not_measured = [r for r in rows if r.error]
    dead = [mr for mr in results if mr.error]

    L: list[str] = []
    L.append("# Benchmarks")
    L.append("")
    L.append(f"Generated by `{command}` on {machine.get('date', '?')}. Do not edit by hand: "
             f"run it again (`--quick` for fewer repeats).")
    L.append("")
    L.append("Every figure is measured beside its reference **in the same run**, with the "
             "runs interleaved (A B A B …), and reported as the ratio of the medians, so that "
             "a slow spell on a shared machine falls on both sides alike. This is a report, "
             "not a pass/fail gate; a missed goal is shown as **missed**. Timings are never "
             "asserted in the test suite.")
    L.append("")
    L.append(f"- Machine: {_machine_line(machine)}")
    load = machine.get("load") or []
    if load:
        after = f"; after: {' / '.join(str(x) for x in load_after)}" if load_after else ""
        L.append(f"- Load average (1 / 5 / 15 min) before the run: {' / '.join(str(x) for x in load)}{after} "
                 f"(other work shared the machine; the interleaving and medians are what keep the ratios fair)")
    if machine.get("commit"):
        L.append(f"- Workbench at commit {machine['commit']}")
    mode = "quick (fewer repeats; a rough look)" if quick else "full"
    took = f", took {seconds:.0f} s" if seconds is not None else ""
    L.append(f"- Mode: {mode}{took}")
    L.append("")

    L.append("## Summary")
    L.append("")
    L.append(f"{len(met)} goal(s) met, {len(missed)} missed, {len(reported)} figure(s) reported "
             f"without a goal, {len(not_measured) + len(dead)} not measured.")
    L.append("")
    if rows or dead:
        L.append("| area | what | measured | ratio | goal | result |")
        L.append("|---|---|---|---|---|---|")
        for mr in results:
            for r in mr.rows:
                L.append(f"| {_cell(mr.area)} | {_cell(r.what)} | {_measured_cell(r)} | "
                         f"{fmt_ratio(r.ratio) if not r.error else '—'} | {_cell(r.goal) or '—'} | "
                         f"{_result_cell(r)} |")
            if mr.error:
                reason = mr.error if len(mr.error) <= 120 else mr.error[:117] + "..."
                L.append(f"| {_cell(mr.area)} | `benchmarks/{mr.module}` | — | — | — | "
                         f"not measured: {_cell(reason)} |")
        L.append("")
    if missed:
        L.append("Missed goals:")
        L.append("")
        for r in missed:
            L.append(f"- {r.what}: {fmt_value(r.value, r.unit)}"
                     + (f", {fmt_ratio(r.ratio)} its reference" if r.ratio is not None else "")
                     + f"; the goal is {r.goal}.")
        L.append("")

    for mr in results:
        L.append(f"## {mr.area}")
        L.append("")
        L.append(f"`benchmarks/{mr.module}`, {mr.seconds:.0f} s in this run; on its own: "
                 f"`.venv/bin/python benchmarks/{mr.module}{' --quick' if quick and not mr.error else ''}`.")
        L.append("")
        if mr.error:
            L.append(f"**Not measured:** {_cell(mr.error)}")
            L.append("")
            if not mr.rows:
                continue
        L.append("| what | measured (median) | reference (median) | ratio | goal | result | runs |")
        L.append("|---|---|---|---|---|---|---|")
        for r in mr.rows:
            L.append(f"| {_cell(r.what)} | {_measured_cell(r)} | {_reference_cell(r)} | "
                     f"{fmt_ratio(r.ratio) if not r.error else '—'} | {_cell(r.goal) or '—'} | "
                     f"{_result_cell(r)} | {_repeats_cell(r)} |")
        L.append("")
        for r in mr.rows:
            L.append(f"- **{_cell(r.what)}**")
            if r.error:
                L.append(f"  - not measured: {_cell(r.error)}")
            if r.samples:
                L.append(f"  - measured: {fmt_samples(r.samples, r.unit)}")
            elif not r.error and r.value is not None:
                L.append(f"  - measured: {fmt_value(r.value, r.unit)}")
            if r.ref_samples:
                L.append(f"  - reference, {_cell(r.reference)}: {fmt_samples(r.ref_samples, r.unit)}")
            elif not r.error and r.ref_value is not None:
                L.append(f"  - reference, {_cell(r.reference)}: {fmt_value(r.ref_value, r.unit)}")
            if r.note:
                L.append(f"  - {_cell(r.note)}")
            if r.command:
                cmd = r.command if "`" in r.command else f"`{r.command}`"
                L.append(f"  - reproduce: {_cell(cmd)}")
        L.append("")
    if not results:
        L.append("No benchmark modules were found in `benchmarks/`.")
        L.append("")
    return "\n".join(L).rstrip() + "\n"


def summary_lines(results: list[ModuleResult]) -> list[str]:
    out = []
    for mr in results:
        if mr.error:
            out.append(f"{mr.module}: not measured: {mr.error}")
        for r in mr.rows:
            if r.error:
                out.append(f"{mr.module}: {r.what}: not measured: {r.error}")
                continue
            ratio = f" ({fmt_ratio(r.ratio)})" if r.ratio is not None else ""
            goal = f" goal {r.goal}: {verdict(r)}" if r.goal and r.met is not None else ""
            out.append(f"{mr.module}: {r.what}: {fmt_value(r.value, r.unit)}{ratio}{goal}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run every benchmark and write docs/benchmarks.md.")
    p.add_argument("--quick", action="store_true", help="fewer repeats (a rough look)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="only these modules (cli, audit, bench_tui.py …)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="where to write the report (default docs/benchmarks.md)")
    p.add_argument("--json", metavar="FILE", help="also write every row as JSON here")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds allowed per module (default 3600; 900 with --quick)")
    p.add_argument("--echo", action="store_true", help="show each module's own output")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return child(Path(args.child), Path(args.result), args.quick)

    timeout = args.timeout or (900 if args.quick else 3600)
    machine = machine_info()
    modules = discover(args.only)
    if not modules:
        print("no benchmark modules matched", file=sys.stderr)
    started = time.perf_counter()
    results = []
    if not args.only:
        present = {m.name for m in modules}
        for name, (area, what) in EXPECTED.items():
            if name not in present:
                results.append(ModuleResult(name, area, error=f"benchmarks/{name} does not exist "
                                            f"yet; it is to measure {what} (issue 7)"))
    for path in modules:
        print(f"running benchmarks/{path.name} ...", flush=True)
        mr = run_module(path, args.quick, timeout, echo=args.echo)
        results.append(mr)
        for line in summary_lines([mr]):
            print("  " + line)
        print(f"  ({mr.seconds:.0f} s)", flush=True)
    seconds = time.perf_counter() - started
    results.sort(key=lambda mr: mr.module)
    try:
        load_after = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        load_after = None
    shown = ["--quick"] if args.quick else []
    if args.only:
        shown += ["--only", *args.only]
    command = " ".join([".venv/bin/python benchmarks/run.py", *shown])
    text = render(results, machine, quick=args.quick, command=command, load_after=load_after,
                  seconds=seconds)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "quick": args.quick,
                                               "modules": [m.to_dict() for m in results]}, indent=2) + "\n")
    rows = [r for mr in results for r in mr.rows]
    met = sum(1 for r in rows if not r.error and r.met is True)
    missed = sum(1 for r in rows if not r.error and r.met is False)
    unmeasured = sum(1 for r in rows if r.error) + sum(1 for mr in results if mr.error)
    try:
        shown_out = out.resolve().relative_to(ROOT)
    except ValueError:
        shown_out = out
    print(f"\n{met} goal(s) met, {missed} missed, {unmeasured} not measured; "
          f"wrote {shown_out} in {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
