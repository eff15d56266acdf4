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


class ApprovalScreen(ModalScreen[bool]):
    """Dismisses with True (approve) or False (reject: back to editing)."""

    BINDINGS = [
        Binding("y", "approve", "Approve", id="gate.approve"),
        Binding("escape,n", "reject", "Reject", id="gate.reject"),
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
            with Horizontal(id="gate-buttons"):
                yield Button("Approve (y)", variant="success", id="gate-approve")
                yield Button("Reject (n)", variant="error", id="gate-reject")

    def on_mount(self) -> None:
        self.query_one("#gate-approve", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "gate-approve")

    def action_approve(self) -> None:
        self.dismiss(True)

    def action_reject(self) -> None:
        self.dismiss(False)
