"""`workbench metrics`: how well Workbench performs, from the database.

Success rate of generated projects, completion time per phase and step, error rate
by cause, tokens and cost per model/step/phase, how much developers edit each
model's drafts, and the Learning agent's recommendations (advice only).
`--json` prints the same data as JSON. Importing this module is cheap.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "metrics", help="success rate, completion times, errors, tokens and cost",
        description="Metrics from the database: success rate of generated projects, completion "
                    "time per phase and step, error rate by cause, tokens and cost per model, step "
                    "and phase, edit distance of each model's drafts, and recommendations.",
    )
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.add_argument("--db", metavar="PATH", help=argparse.SUPPRESS)
    p.set_defaults(func=run)
    return p


def _fmt_s(v) -> str:
    if v is None:
        return "-"
    if v < 60:
        return f"{v:.1f}s"
    if v < 3600:
        return f"{v / 60:.1f}m"
    return f"{v / 3600:.1f}h"


def _fmt_cost(v) -> str:
    return "unknown" if v is None else f"${v:.4f}"


def _pct(v) -> str:
    return "-" if v is None else f"{v:.0%}"


def run(args) -> int:
    from workbench.paths import db_path
    from workbench.store import Store, learning, metrics

    store = Store(Path(args.db) if getattr(args, "db", None) else db_path())
    try:
        data = metrics.compute(store)
        data["recommendations"] = learning.recommendations(store)
        data["knowledge_base"] = {"approved_specs": learning.knowledge_count(store)}
    finally:
        store.close()
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
        return 0
    _print(data)
    return 0


def _print(data: dict) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()

    from workbench.cli.terminal import cell

    class _Cells(Table):  # names come from the config and the database: never markup
        def add_row(self, *cells, **kw):
            super().add_row(*(cell(c) if isinstance(c, str) else c for c in cells), **kw)

    def table(title: str, *cols: str) -> Table:
        t = _Cells(title=title, title_justify="left", title_style="bold", show_edge=False,
                   pad_edge=False, header_style="bold")
        for i, c in enumerate(cols):
            t.add_column(c, justify="left" if i == 0 else "right")
        return t

    s = data["success"]
    t = table("Generated projects passing their own tests and linters", "group", "projects",
              "passed", "success rate")
    t.add_row("all", str(s["projects"]), str(s["passed"]), _pct(s["rate"]))
    for model, g in sorted(s["by_model"].items()):
        t.add_row(f"model {model}", str(g["projects"]), str(g["passed"]), _pct(g["rate"]))
    console.print(t)
    console.print()

    t = table("Completion time per phase", "phase", "sessions", "mean", "median", "max")
    for phase, v in data["phase_times"].items():
        t.add_row(phase, str(v["count"]), _fmt_s(v["mean_s"]), _fmt_s(v["median_s"]),
                  _fmt_s(v["max_s"]))
    if data["phase_times"]:
        console.print(t)
        console.print()
    t = table("Completion time per step", "step", "phase", "done", "mean", "median", "max")
    t.columns[1].justify = "left"
    for step, v in data["step_times"].items():
        t.add_row(step, v["phase"], str(v["count"]), _fmt_s(v["mean_s"]), _fmt_s(v["median_s"]),
                  _fmt_s(v["max_s"]))
    if data["step_times"]:
        console.print(t)
        console.print()

    e = data["errors"]
    console.print("[bold]Errors[/bold]", highlight=False)
    console.print(f"  step attempts failed: {e['step_failures']}/{e['step_attempts']} "
                  f"({_pct(e['step_error_rate'])}); model calls failed: {e['model_errors']}/"
                  f"{e['model_calls']} ({_pct(e['model_error_rate'])}); invalid replies re-asked: "
                  f"{e.get('reasks', 0)}, rejected after a re-ask: {e.get('rejected_after_reask', 0)}",
                  highlight=False)
    if e["by_cause"]:
        t = table("Errors by cause", "source", "cause", "errors", "of", "rate")
        t.columns[1].justify = "left"
        for c in e["by_cause"]:
            t.add_row(c["source"], str(c["cause"]), str(c["errors"]), str(c["total"]),
                      _pct(c["rate"]))
        console.print(t)
    console.print()

    for key, label in (("by_model", "model"), ("by_step", "step"), ("by_phase", "phase")):
        rows = data["usage"][key]
        if not rows:
            continue
        t = table(f"Tokens and cost per {label}", label, "calls", "prompt", "completion",
                  "cost", "calls of unknown cost")
        for name, u in sorted(rows.items()):
            t.add_row(name, str(u["calls"]), f"{u['prompt_tokens']:,}",
                      f"{u['completion_tokens']:,}", _fmt_cost(u["cost"]),
                      str(u["cost_unknown_calls"]))
        console.print(t)
        console.print()

    if data["edit_distance"]:
        t = table("Lines changed in each model's draft before approval", "model",
                  "drafts", "approved", "mean edit", "median", "max")
        for model, d in data["edit_distance"].items():
            t.add_row(model, str(d["drafts"]), str(d["approved"]),
                      "-" if d["mean_edit_distance"] is None else f"{d['mean_edit_distance']:.1f}",
                      "-" if d["median_edit_distance"] is None else f"{d['median_edit_distance']:g}",
                      "-" if d["max_edit_distance"] is None else str(d["max_edit_distance"]))
        console.print(t)
        console.print()

    recs = data.get("recommendations") or []
    console.print("[bold]Recommendations[/bold] (advice only; nothing is changed)", highlight=False)
    if not recs:
        console.print("  not enough data yet", highlight=False)
    for r in recs:
        console.print(f"  {escape(r['step'])}: use [bold]{escape(r['model'])}[/bold] — "
                      f"{escape(r['reason'])}",
                      highlight=False)
    kb = data.get("knowledge_base", {}).get("approved_specs", 0)
    console.print(f"[dim]{kb} approved spec(s) in the knowledge base[/dim]", highlight=False)
