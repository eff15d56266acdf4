"""The start screen: recent sessions and projects, to resume one; a new tool is explicit.

A plain `workbench` shows it first when earlier sessions exist. Enter on a session
resumes it at its true state (through the app's open-session hook); Enter on a project
opens it for evolve; `n` (or the button) starts a new tool; `o` opens a project folder.
It dismisses with a `StartChoice` and decides nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Label, Static


@dataclass(frozen=True)
class StartChoice:
    kind: str  # "open" (a session), "project" (a folder, for evolve; "" asks for one), "new"
    value: str = ""


def when(ts: str | None) -> str:
    """A stored timestamp as `2026-01-02 03:04` (UTC, as stored)."""
    text = str(ts or "")
    return text[:16].replace("T", " ") if len(text) >= 16 else text


def short(text: str, width: int) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def is_project(path: str | Path) -> bool:
    """A folder Workbench made: a git repository with docs/spec.md."""
    p = Path(path)
    return (p / ".git").exists() and (p / "docs" / "spec.md").is_file()


def projects_of(sessions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The distinct project folders of the sessions that still exist, newest first."""
    seen: dict[str, dict[str, Any]] = {}
    for s in sessions:
        out = str(s.get("out_dir") or "")
        if out and out not in seen and is_project(out):
            seen[out] = {"path": out, "name": Path(out).name, "updated": s.get("updated"),
                         "session": s.get("id")}
    return list(seen.values())


class StartScreen(Screen[StartChoice]):
    """Recent sessions and projects."""

    DEFAULT_CSS = """
    StartScreen { align: center top; }
    StartScreen #start-box { width: 1fr; max-width: 160; height: 1fr; padding: 1 2; }
    StartScreen #start-title { text-style: bold; color: $accent; }
    StartScreen .start-heading { margin-top: 1; text-style: bold; }
    StartScreen DataTable { height: auto; max-height: 14; scrollbar-size: 1 1; }
    StartScreen #start-buttons { height: auto; margin-top: 1; }
    StartScreen #start-buttons Button { margin-right: 2; }
    StartScreen #start-help { color: $text-muted; margin-top: 1; }
    """

    BINDINGS = [
        Binding("n", "new_tool", "New tool", id="start.new"),
        Binding("o", "open_project", "Open project…", id="start.open_project"),
        Binding("escape", "new_tool", "Close", show=False, id="start.close"),
    ]

    def __init__(self, sessions: list[dict[str, Any]], projects: list[dict[str, Any]] | None = None) -> None:
        super().__init__()
        self.sessions = sessions
        self.projects = projects_of(sessions) if projects is None else projects

    def compose(self) -> ComposeResult:
        with Vertical(id="start-box"):
            yield Label("◆ Workbench: pick up where you left off", id="start-title")
            yield Label(f"Recent sessions ({len(self.sessions)})", classes="start-heading")
            yield DataTable(id="start-sessions", cursor_type="row", zebra_stripes=True)
            if self.projects:
                yield Label(f"Projects ({len(self.projects)})", classes="start-heading")
                yield DataTable(id="start-projects", cursor_type="row")
            with Horizontal(id="start-buttons"):
                yield Button("New tool (n)", id="start-new", variant="primary")
                yield Button("Open project… (o)", id="start-open")
            yield Static(Text("Enter resumes the highlighted session at its true state, or opens the "
                              "highlighted project for evolve · n: describe a new tool · "
                              "o: open a project folder"), id="start-help")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        wide = self.app.size.width >= 120
        table = self.query_one("#start-sessions", DataTable)
        table.add_columns("session", "request", "status", "step", "out dir", "when")
        for s in self.sessions:
            status = str(s.get("status") or "new")
            step = "" if status == "done" else str(s.get("current_step") or "")
            table.add_row(Text(str(s["id"])[:8], style="bold"),
                          short(s.get("request") or "", 44 if wide else 24), status, step,
                          short(s.get("out_dir") or "", 40 if wide else 18), when(s.get("updated")),
                          key=str(s["id"]))
        if self.projects:
            ptable = self.query_one("#start-projects", DataTable)
            ptable.add_columns("project", "folder", "last change")
            for p in self.projects:
                ptable.add_row(Text(p["name"], style="bold"), short(p["path"], 70 if wide else 40),
                               when(p.get("updated")), key=p["path"])
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = str(event.row_key.value)
        if event.data_table.id == "start-projects":
            self.dismiss(StartChoice("project", key))
        else:
            self.dismiss(StartChoice("open", key))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "start-new":
            self.action_new_tool()
        else:
            self.action_open_project()

    def action_new_tool(self) -> None:
        self.dismiss(StartChoice("new"))

    def action_open_project(self) -> None:
        self.dismiss(StartChoice("project", ""))
