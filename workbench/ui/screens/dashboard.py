"""The dashboard (issue 15): success rate, phase times, errors by cause, and tokens and
cost per model over time, drawn as terminal plots (textual-plotext). `workbench
metrics` is the text form of the same numbers (`store.metrics.compute`).

This module imports textual-plotext at its top: it is imported only when the dashboard
opens (screens/hooks.py), never on the app's start-up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Label, Static
from textual_plotext import PlotextPlot

NO_RUNS = ("No runs yet: the dashboard fills in as sessions run. Describe a tool (n on the start "
           "screen, or the chat) and run it; `workbench metrics` shows the same numbers as text.")


@dataclass
class DashboardData:
    metrics: dict[str, Any]
    days: list[str] = field(default_factory=list)  # the days with model calls, oldest first
    tokens: dict[str, list[int]] = field(default_factory=dict)  # model -> tokens per day
    cost: dict[str, list[float]] = field(default_factory=dict)  # model -> known cost per day

    @property
    def empty(self) -> bool:
        m = self.metrics
        return not (m["success"]["projects"] or m["errors"]["step_attempts"] or m["errors"]["model_calls"])


def over_time(calls: list[dict[str, Any]]) -> tuple[list[str], dict[str, list[int]], dict[str, list[float]]]:
    """Tokens and known cost per model and day (the day of the stored timestamp)."""
    tokens: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    cost: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    days: set[str] = set()
    for c in calls:
        day = str(c.get("ts") or "")[:10] or "?"
        model = str(c.get("model") or "unknown")
        days.add(day)
        tokens[model][day] += int(c.get("prompt_tokens") or 0) + int(c.get("completion_tokens") or 0)
        if c.get("cost") is not None:
            cost[model][day] += float(c["cost"])
    order = sorted(days)
    return (order, {m: [t[d] for d in order] for m, t in sorted(tokens.items())},
            {m: [v.get(d, 0.0) for d in order] for m, v in sorted(cost.items())})


def load_dashboard(store: Any) -> DashboardData:
    """Read everything the dashboard shows (blocking: call it in a thread)."""
    from workbench.store import metrics

    days, tokens, cost = over_time(store.list_model_calls())
    return DashboardData(metrics.compute(store), days, tokens, cost)


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate * 100:.0f}%"


def _label(day: str) -> str:
    return day[5:] if len(day) == 10 else day  # 2026-01-02 -> 01-02


class DashboardScreen(Screen[None]):
    DEFAULT_CSS = """
    DashboardScreen #dash-title { text-style: bold; color: $accent; padding: 0 1; }
    DashboardScreen #dash-summary { padding: 0 1; color: $text-muted; }
    DashboardScreen #dash-grid { grid-size: 2 3; grid-gutter: 0 1; height: 1fr; padding: 0 1; }
    DashboardScreen #dash-grid PlotextPlot { height: 1fr; min-height: 6; }
    DashboardScreen #dash-empty { padding: 2 4; }
    """

    BINDINGS = [Binding("escape,q", "close", "Close", id="dashboard.close"),
                Binding("r", "reload", "Reload", id="dashboard.reload")]

    def __init__(self, data: DashboardData, reload: Any = None) -> None:
        super().__init__()
        self.data = data
        self.reload = reload

    def compose(self) -> ComposeResult:
        yield Label("Dashboard", id="dash-title")
        if self.data.empty:
            with Vertical(id="dash-empty"):
                yield Static(Text(NO_RUNS), id="dash-no-runs")
        else:
            yield Static(Text(self.summary()), id="dash-summary")
            with Grid(id="dash-grid"):
                for pid in ("success", "phases", "errors", "calls", "tokens", "cost"):
                    yield PlotextPlot(id=f"plot-{pid}")
        yield Footer(compact=True)

    def summary(self) -> str:
        m = self.data.metrics
        s, e = m["success"], m["errors"]
        models = m["usage"]["by_model"]
        tokens = sum(g["tokens"] for g in models.values())
        known = [g["cost"] for g in models.values() if g["cost"] is not None]
        cost = f"${sum(known):.4f}" if known else "cost unknown"
        return (f"{s['projects']} project(s), {_pct(s['rate'])} passed · {e['step_attempts']} step runs, "
                f"{_pct(e['step_error_rate'])} failed · {e['model_calls']} model calls, "
                f"{tokens:,} tokens, {cost}")

    def on_mount(self) -> None:
        if not self.data.empty:
            self.draw()

    def draw(self) -> None:
        m = self.data.metrics
        by_model = m["success"]["by_model"]
        plt = self.query_one("#plot-success", PlotextPlot).plt
        plt.clear_data()
        if by_model:
            names = sorted(by_model)
            plt.bar(names, [by_model[n]["rate"] * 100 for n in names])
            plt.ylim(0, 100)
        plt.title(f"Success rate {_pct(m['success']['rate'])} (by model, %)")

        phases = m["phase_times"]
        plt = self.query_one("#plot-phases", PlotextPlot).plt
        plt.clear_data()
        if phases:
            plt.bar(list(phases), [p["mean_s"] or 0 for p in phases.values()])
        plt.title("Phase times (mean s)")

        causes = m["errors"]["by_cause"][:6]
        plt = self.query_one("#plot-errors", PlotextPlot).plt
        plt.clear_data()
        if causes:
            plt.bar([f"{c['source']}:{c['cause']}"[:18] for c in causes], [c["errors"] for c in causes],
                    orientation="horizontal")
        plt.title("Errors by cause" if causes else "Errors by cause: none")

        usage = m["usage"]["by_model"]
        plt = self.query_one("#plot-calls", PlotextPlot).plt
        plt.clear_data()
        if usage:
            plt.bar(list(usage), [g["calls"] for g in usage.values()])
        plt.title("Model calls by model")

        for pid, series, title in (("tokens", self.data.tokens, "Tokens per model per day"),
                                   ("cost", self.data.cost, "Cost per model per day ($, known)")):
            plt = self.query_one(f"#plot-{pid}", PlotextPlot).plt
            plt.clear_data()
            days = self.data.days
            xs = list(range(1, len(days) + 1))
            for model, values in series.items():
                if len(xs) == 1:
                    plt.scatter(xs, values, label=model)
                else:
                    plt.plot(xs, values, label=model, marker="braille")
            if days:
                plt.xticks(xs, [_label(d) for d in days])
            plt.title(title)
        for plot in self.query(PlotextPlot):
            plot.refresh()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        if self.reload is None:
            return

        def work() -> None:
            data = self.reload()
            self.app.call_from_thread(self._reloaded, data)

        self.run_worker(work, thread=True, exit_on_error=False)

    async def _reloaded(self, data: DashboardData) -> None:
        was_empty = self.data.empty
        self.data = data
        if was_empty != data.empty:
            await self.recompose()
        if not data.empty:
            self.query_one("#dash-summary", Static).update(Text(self.summary()))
            self.draw()
