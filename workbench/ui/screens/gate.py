"""Approval gates as modal screens: what exactly is being approved, then yes or no."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


@dataclass(frozen=True)
class GateInfo:
    gate: str  # "spec" or "plan"
    sha256: str
    title: str
    lines: tuple[tuple[str, str], ...]  # (label, value) rows shown to the developer
    warning: str = ""
    findings_open: int = 0  # the review's open findings (spec gate)

    @property
    def findings_note(self) -> str:
        n = self.findings_open
        if not n:
            return ""
        return f"{n} open finding{'s' if n != 1 else ''} — F8 to review {'them' if n != 1 else 'it'}"


class ApprovalScreen(ModalScreen[bool | None]):
    """Dismisses with True (approve), False (reject: back to editing) or None (F8: see the
    review's findings first; the gate keeps waiting)."""

    BINDINGS = [
        Binding("y", "approve", "Approve", id="gate.approve"),
        Binding("escape,n", "reject", "Reject", id="gate.reject"),
        Binding("f8", "findings", "Findings", id="gate.findings"),
    ]

    def __init__(self, info: GateInfo) -> None:
        super().__init__(classes=f"gate -{info.gate}")
        self.info = info

    def compose(self) -> ComposeResult:
        info = self.info
        with Vertical(id="gate-dialog"):
            yield Label(info.title, id="gate-title")
            rows = Text()
            for i, (label, value) in enumerate(info.lines):
                if i:
                    rows.append("\n")
                rows.append(f"{label:>10}  ", style="bold")
                rows.append(value)
            yield Static(rows, id="gate-details")
            if info.warning:
                yield Static(info.warning, id="gate-warning")
            if info.findings_note:
                yield Static(info.findings_note, id="gate-findings")
            with Horizontal(id="gate-buttons"):
                yield Button("Approve (y)", variant="success", id="gate-approve")
                yield Button("Reject (n)", variant="error", id="gate-reject")
                if info.findings_open:
                    yield Button("Findings (F8)", id="gate-findings-button")

    def on_mount(self) -> None:
        self.query_one("#gate-approve", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "gate-findings-button":
            self.dismiss(None)
            return
        self.dismiss(event.button.id == "gate-approve")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "findings":
            return self.info.findings_open > 0
        return True

    def action_findings(self) -> None:
        self.dismiss(None)

    def action_approve(self) -> None:
        self.dismiss(True)

    def action_reject(self) -> None:
        self.dismiss(False)
