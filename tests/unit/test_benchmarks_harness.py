"""The benchmark harness (benchmarks/run.py, benchmarks/common.py) on fake rows and modules.

No timing is asserted here: only that the report says what was measured, against what,
which goals were met or missed, and what could not be measured and why.
"""

from __future__ import annotations

import importlib
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _import(name: str):
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def harness():
    return _import("benchmarks.run")


@pytest.fixture(scope="module")
def common():
    return _import("benchmarks.common")


MACHINE = {"date": "2026-01-01 00:00 UTC", "cores": 2, "usable_cores": 2, "cpu": "Test CPU",
           "memory_gib": 8.0, "os": "Linux 6", "python": "3.11.7", "python_impl": "CPython",
           "load": [1.0, 1.0, 1.0], "commit": "abc1234"}


def _results(harness):
    from benchmarks.common import Row

    met = Row(what="`workbench --version`", reference='`python -c "import rich"`', value=0.1,
              ref_value=0.08, unit="s", goal="under 0.25 s", met=True,
              command=".venv/bin/python benchmarks/bench_cli.py",
              samples=[0.09, 0.1, 0.12], ref_samples=[0.07, 0.08, 0.09])
    missed = Row(what="workbench new", reference="the work inside it", value=9.0, ref_value=3.0,
                 goal="at most 1.3x", met=False, command="bench new", samples=[9.0], ref_samples=[3.0],
                 note="monitor 3 s")
    reported = Row(what="peak memory | TUI", value=120.0, unit="MB", goal="reported")
    broken = Row.not_measured("first frame", "textual exploded", reference="bare app",
                              goal="at most 1.3x")
    return [
        harness.ModuleResult("bench_cli.py", "Startup", rows=[met, missed], seconds=12),
        harness.ModuleResult("bench_tui.py", "TUI", rows=[reported, broken], seconds=3),
        harness.ModuleResult("bench_audit.py", "Audit", error="its run() does not take `quick`"),
    ]


def test_row_fills_ratio_and_repeats(common):
    row = common.Row(what="x", value=3.0, ref_value=2.0, samples=[3.0, 3.0])
    assert row.ratio == pytest.approx(1.5)
    assert row.repeats == 2
    again = common.Row.from_dict(row.to_dict())
    assert again == row
    assert common.Row(what="x", value=1.0, ref_value=0.0).ratio is None


def test_report_shows_ratios_medians_goals_and_reasons(harness):
    text = harness.render(_results(harness), MACHINE, quick=False,
                          command=".venv/bin/python benchmarks/run.py")
    assert text.startswith("# Benchmarks")
    assert "2 cores" in text and "CPython 3.11.7" in text and "2026-01-01" in text
    assert "1 goal(s) met, 1 missed, 1 figure(s) reported without a goal, 2 not measured" in text
    # each figure beside its reference, as a ratio, with the medians and runs behind it
    assert "| `workbench --version` | 100 ms | `python -c \"import rich\"`: 80.0 ms | 1.25x | under 0.25 s | met | 3 |" in text
    assert "median 100 ms of 3 (90.0 ms – 120 ms)" in text
    assert "3.00x" in text and "**missed**" in text
    assert "Missed goals:" in text and "workbench new: 9.00 s, 3.00x its reference; the goal is at most 1.3x." in text
    # the command that reproduces each figure
    assert "reproduce: `.venv/bin/python benchmarks/bench_cli.py`" in text
    # what could not be measured, and why
    assert "not measured: textual exploded" in text
    assert "**Not measured:** its run() does not take `quick`" in text
    # a pipe in a cell does not break the table
    assert "peak memory \\| TUI" in text


def test_quick_report_says_so(harness):
    text = harness.render([], MACHINE, quick=True, command="run.py --quick")
    assert "quick" in text and "No benchmark modules were found" in text


def _module(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_modules_run_in_their_own_process_and_failures_are_reported(harness, tmp_path):
    good = _module(tmp_path, "bench_good.py", """
        import sys
        from benchmarks.common import Row
        AREA = "Good things"
        def run(quick=False):
            return [Row(what="thing", reference="ref", value=2.0, ref_value=1.0,
                        goal="at most 3x", met=True, samples=[2.0] * (1 if quick else 3))]
        """)
    legacy = _module(tmp_path, "bench_legacy.py", """
        def run(events=1_000_000):
            raise AssertionError("must not be called")
        """)
    boom = _module(tmp_path, "bench_boom.py", """
        def run(quick=False):
            raise RuntimeError("kaboom")
        """)
    crash = _module(tmp_path, "bench_crash.py", """
        import os
        def run(quick=False):
            os._exit(7)
        """)
    none = _module(tmp_path, "bench_none.py", "X = 1\n")

    r = harness.run_module(good, quick=True, timeout=60)
    assert not r.error and r.area == "Good things"
    assert r.rows[0].ratio == pytest.approx(2.0) and r.rows[0].repeats == 1 and r.rows[0].area == "Good things"
    assert "does not take `quick`" in harness.run_module(legacy, quick=True, timeout=60).error
    assert "RuntimeError: kaboom" in harness.run_module(boom, quick=True, timeout=60).error
    assert "exited 7 without a result" in harness.run_module(crash, quick=True, timeout=60).error
    assert "no run(quick)" in harness.run_module(none, quick=True, timeout=60).error


def test_a_module_that_hangs_is_stopped(harness, tmp_path):
    slow = _module(tmp_path, "bench_slow.py", """
        import time
        def run(quick=False):
            time.sleep(60)
        """)
    r = harness.run_module(slow, quick=True, timeout=2)
    assert "timed out after 2 s" in r.error
