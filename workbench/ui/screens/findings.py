"""The review's findings: read each one, apply it (the agent revises the spec) or dismiss it.

The screen only shows and asks. Applying and dismissing are the app's: the screen posts
`ApplyRequested` / `DismissRequested`, the app runs the engine call in a thread worker
and hands the new list back with `set_findings` (and any refusal with `show_error`).
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "bold cyan"}
STATUS_MARK = {"open": ("● open", "bold"), "applied": ("✓ applied", "green"),
               "dismissed": ("✗ dismissed", "dim")}
HELP = "a apply · d dismiss · ↑↓ choose · Esc close"


def finding_row(f: dict[str, Any]) -> Table:
    """One finding: its number beside severity, location and status; the text; the suggestion."""
    status = str(f.get("status") or "open")
    decided = status != "open"
    head = Text.assemble(
        (str(f.get("severity", "info")), SEVERITY_STYLE.get(str(f.get("severity")), "bold")),
        "  ", (str(f.get("location", "")), "italic"), "  ",
        STATUS_MARK.get(status, (status, ""))
    )
    if status == "dismissed" and f.get("reason"):
        head.append(f": {f['reason']}", style="dim")
    body = Text(str(f.get("text", "")), style="dim" if decided else "")
    lines: list[Text] = [head, body]
    if f.get("suggestion"):
        lines.append(Text.assemble(("→ ", "bold"), (str(f["suggestion"]), "dim" if decided else "")))
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(width=3, justify="right", no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row(Text(f"{f.get('n', '?')}.", style="bold"), Group(*lines))
    return grid


def summary(findings: list[dict[str, Any]]) -> str:
    """`3 findings · 1 open · 1 applied · 1 dismissed`"""
    counts: dict[str, int] = {}
    for f in findings:
        status = str(f.get("status") or "open")
        counts[status] = counts.get(status, 0) + 1
    parts = [f"{counts[s]} {s}" for s in ("open", "applied", "dismissed") if counts.get(s)]
    return " · ".join([f"{len(findings)} finding{'s' if len(findings) != 1 else ''}", *parts])


class FindingsScreen(ModalScreen[None]):
    """Lists the findings; `a` applies the highlighted one, `d` dismisses it (asking why)."""

    BINDINGS = [
        Binding("a", "apply", "Apply", id="findings.apply"),
        Binding("d", "dismiss_finding", "Dismiss", id="findings.dismiss"),
        Binding("escape", "close", "Close", id="findings.close"),
    ]

    class ApplyRequested(Message):
        def __init__(self, number: int) -> None:
            super().__init__()
            self.number = number

    class DismissRequested(Message):
        def __init__(self, number: int, reason: str) -> None:
            super().__init__()
            self.number = number
            self.reason = reason

    def __init__(self, findings: list[dict[str, Any]], note: str = "", locked: str = "",
                 busy: str = "") -> None:
        super().__init__()
        self.findings = list(findings)
        self.note = note  # e.g. the review has not run on the current spec
        self.locked = locked  # why nothing can be decided now ("" when it can)
        self.busy = busy  # what the app is doing for this screen ("" when idle)
        self.asking: int | None = None  # the finding whose dismissal waits for a reason

    # -- layout ------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="findings-dialog"):
            yield Label("", id="findings-title")
            yield Static("", id="findings-note")
            yield OptionList(id="findings-list")
            with Vertical(id="findings-ask"):
                yield Label("", id="findings-ask-label")
                yield Input(placeholder="why? (optional) · Enter dismisses · Esc cancels",
                            id="findings-reason")
            yield Static("", id="findings-status")
            yield Static(HELP, id="findings-help")

    def on_mount(self) -> None:
        self.query_one("#findings-ask").display = False
        if getattr(self.app, "cursor_blink", True) is False:
            self.query_one("#findings-reason", Input).cursor_blink = False
        self._fill(0)
        self._show_status()
        self.query_one("#findings-list", OptionList).focus()

    @property
    def option_list(self) -> OptionList:
        return self.query_one("#findings-list", OptionList)

    def _fill(self, highlight: int | None) -> None:
        self.query_one("#findings-title", Label).update(
            Text.assemble("Review findings", ("  " + summary(self.findings), "not bold dim")))
        note = self.query_one("#findings-note", Static)
        note.update(Text(self.locked or self.note))
        note.display = bool(self.locked or self.note)
        ol = self.option_list
        options: list[Option | None] = []
        for i, f in enumerate(self.findings):
            if i:
                options.append(None)  # a rule between findings
            options.append(Option(finding_row(f), id=f"finding-{f.get('n', i + 1)}"))
        ol.set_options(options)
        if self.findings and highlight is not None:
            ol.highlighted = self._option_index(min(highlight, len(self.findings) - 1))
        self.call_after_refresh(self._fit_list)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_list)

    def _fit_list(self) -> None:
        """The dialog is at most 90% of the screen high: the list takes what the rest
        leaves, and scrolls past it (CSS cannot size an auto-high child to fit)."""
        dialog = self.query_one("#findings-dialog")
        ol = self.option_list
        others = sum(w.outer_size.height + w.styles.margin.height
                     for w in dialog.children if w is not ol and w.display)
        room = int(self.size.height * 0.9) - dialog.styles.gutter.height - others
        room = max(3, room - ol.styles.margin.height)
        if ol.styles.max_height is None or ol.styles.max_height.value != room:
            ol.styles.max_height = room

    def _option_index(self, i: int) -> int:
        return self.option_list.get_option_index(f"finding-{self.findings[i].get('n', i + 1)}")

    def _show_status(self, text: str = "", error: bool = False) -> None:
        status = self.query_one("#findings-status", Static)
        if self.busy:
            status.update(Text(self.busy, style="bold"))
        else:
            status.update(Text(text, style="bold red" if error else ""))
        status.set_class(error and not self.busy, "-error")
        status.display = bool(self.busy or text)
        self.call_after_refresh(self._fit_list)

    # -- what the app tells the screen ------------------------------------
    def set_findings(self, findings: list[dict[str, Any]], note: str = "", locked: str = "",
                     message: str = "") -> None:
        """A new list (after a decision, a review): keep the same finding highlighted."""
        current = self.current
        self.findings = list(findings)
        self.note, self.locked, self.busy = note, locked, ""
        index = 0
        if current is not None:
            for i, f in enumerate(self.findings):
                if f.get("id") == current.get("id") or f.get("n") == current.get("n"):
                    index = i
                    break
        self._fill(index)
        self._show_status(message)

    def set_busy(self, what: str) -> None:
        self.busy = what
        self._show_status()

    def show_message(self, message: str) -> None:
        self.busy = ""
        self._show_status(message)

    def show_error(self, message: str) -> None:
        self.busy = ""
        self._show_status(f"✗ {message}", error=True)

    # -- keys --------------------------------------------------------------
    @property
    def current(self) -> dict[str, Any] | None:
        ol = self.option_list
        if ol.highlighted is None or not self.findings:
            return None
        option_id = ol.get_option_at_index(ol.highlighted).id or ""
        for f in self.findings:
            if f"finding-{f.get('n')}" == option_id:
                return f
        return None

    def _decidable(self) -> dict[str, Any] | None:
        f = self.current
        if f is None:
            return None
        if self.busy:
            self.notify(f"Busy: {self.busy}", severity="warning")
            return None
        if self.locked:
            self.notify(self.locked, severity="warning")
            return None
        if f.get("status", "open") != "open":
            self.notify(f"Finding {f.get('n')} is already {f.get('status')}.", severity="warning")
            return None
        return f

    def action_apply(self) -> None:
        f = self._decidable()
        if f is None:
            return
        self.busy = f"Applying finding {f['n']}: the Tool Builder agent revises the spec…"
        self._show_status()
        self.post_message(self.ApplyRequested(int(f["n"])))

    def action_dismiss_finding(self) -> None:
        f = self._decidable()
        if f is None:
            return
        self.asking = int(f["n"])
        self.query_one("#findings-ask-label", Label).update(  # (Text: a location is not markup)
            Text(f"Dismiss finding {f['n']} ({f.get('severity')} at {f.get('location')}): why?"))
        self.query_one("#findings-ask").display = True
        self.call_after_refresh(self._fit_list)
        reason = self.query_one("#findings-reason", Input)
        reason.value = ""
        reason.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        number, self.asking = self.asking, None
        self._hide_ask()
        if number is None:
            return
        self.busy = f"Dismissing finding {number}…"
        self._show_status()
        self.post_message(self.DismissRequested(number, event.value.strip()))

    def _hide_ask(self) -> None:
        self.query_one("#findings-ask").display = False
        self.call_after_refresh(self._fit_list)
        self.option_list.focus()

    def action_close(self) -> None:
        if self.asking is not None:  # Esc in the reason: back to the list, nothing dismissed
            self.asking = None
            self._hide_ask()
            return
        self.dismiss(None)
