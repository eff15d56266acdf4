"""The dashboard (issue 15): plots of success rate, phase times, errors by cause, and
tokens and cost per model over time; an empty database says "No runs yet"."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from screen_text import screen_text
from textual.app import App
from ui_support import wait_for

from workbench.ui.screens.dashboard import DashboardScreen, load_dashboard, over_time

pytestmark = pytest.mark.anyio
DAY0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def filled_store(path: Path):
    """Two sessions over three days: one passing, one failing; calls on two models."""
    from workbench.store import Store

    ticks = iter(DAY0 + timedelta(hours=7 * i) for i in range(10_000))
    store = Store(path, clock=lambda: next(ticks))
    for n, (model, code) in enumerate((("gpt", 0), ("claude", 1))):
        sid = store.create_session(f"tool {n}", f"/tmp/out{n}", model=model)
        for step in ("request", "analysis", "spec", "review", "approval", "implementation"):
            store.set_step(sid, step, "running")
            store.set_step(sid, step, "done" if (step != "review" or code == 0) else "failed")
        store.record_model_call(sid, "spec", model, 100 * (n + 1), 50, 0.01 * (n + 1), 1.0, "ok")
        store.record_model_call(sid, "review", model, 10, 5, None, 0.5, "error", "RateLimitError: slow down")
        store.record_run(sid, "monitor", "pytest", "pytest -q", code, 1.0, "", "bwrap")
    return store


class Host(App):
    def __init__(self, data) -> None:
        super().__init__()
        self.data = data

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen(self.data))


def test_over_time_sums_tokens_and_known_cost_per_model_and_day() -> None:
    calls = [{"ts": "2026-01-02T01:00:00Z", "model": "gpt", "prompt_tokens": 10, "completion_tokens": 5, "cost": 0.5},
             {"ts": "2026-01-02T09:00:00Z", "model": "gpt", "prompt_tokens": 1, "completion_tokens": None, "cost": None},
             {"ts": "2026-01-03T01:00:00Z", "model": "claude", "prompt_tokens": 7, "completion_tokens": 0, "cost": 0.25}]
    days, tokens, cost = over_time(calls)
    assert days == ["2026-01-02", "2026-01-03"]
    assert tokens == {"claude": [0, 7], "gpt": [16, 0]}
    assert cost == {"claude": [0.0, 0.25], "gpt": [0.5, 0.0]}


async def test_plots_are_drawn_from_the_store(tmp_path) -> None:
    from textual_plotext import PlotextPlot

    data = load_dashboard(filled_store(tmp_path / "w.db"))
    assert not data.empty and len(data.days) >= 2 and set(data.tokens) == {"gpt", "claude"}
    app = Host(data)
    async with app.run_test(size=(160, 50)) as pilot:
        # (pushed, then composed, then painted: wait for its last plot's title)
        assert await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen)
                              and "Cost per model per day" in screen_text(app)), screen_text(app)
        plots = list(app.screen.query(PlotextPlot))
        assert len(plots) == 6
        text = screen_text(app)
        for title in ("Success rate 50%", "Phase times", "Errors by cause", "Tokens per model per day",
                      "Cost per model per day"):
            assert title in text, title
        assert "2 project(s), 50% passed" in text
        assert "gpt" in text and "claude" in text  # the legend / bar labels
        assert "model:rate limit" in text or "step:review" in text, text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DashboardScreen)


async def test_empty_database_says_no_runs_yet(tmp_path) -> None:
    from workbench.store import Store

    app = Host(load_dashboard(Store(tmp_path / "empty.db")))
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_for(pilot, lambda: "No runs yet" in screen_text(app)), screen_text(app)
        assert not app.screen.query("PlotextPlot")


async def test_f9_and_the_palette_open_it_in_the_app(real_backend, out_dir) -> None:
    from workbench.ui.app import WorkbenchApp

    app = WorkbenchApp(real_backend, out_dir=out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: real_backend.ready)
        await pilot.press("f9")
        assert await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert "No runs yet" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("f2")
        await pilot.pause(0.2)
        await pilot.press(*"Dashboard")
        await pilot.pause(0.4)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))


def test_plotext_is_not_imported_on_start_up() -> None:
    code = ("import sys, workbench.ui.app, workbench.ui.commands, workbench.ui.screens.hooks; "
            "print([m for m in sys.modules if 'plotext' in m])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
