"""Open an earlier session (the palette's "Open session…")."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option


def session_line(s: dict[str, Any], width: int = 60) -> Text:
    """One session as a row: short id, where it stopped, the request, the folder."""
    status = str(s.get("status") or "new")
    step = str(s.get("current_step") or "")
    where = status if status == "done" or not step else f"{status} at {step}"
    request = " ".join(str(s.get("request") or "").split())
    if len(request) > width:
        request = request[: width - 1].rstrip() + "…"
    return Text.assemble((str(s["id"])[:12], "bold"), f"  {where:<18} ", request,
                         (f"\n{'':14}{s.get('out_dir') or ''}", "dim"))


class SessionsScreen(ModalScreen[str | None]):
    """Dismisses with the chosen session's id, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="sessions.cancel")]

    def __init__(self, sessions: list[dict[str, Any]], current: str | None = None) -> None:
        super().__init__()
        self.sessions = sessions
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="sessions-dialog"):
            yield Label("Open session", id="sessions-title")
            if self.sessions:
                yield OptionList(*(Option(session_line(s), id=str(s["id"])) for s in self.sessions),
                                 id="sessions-list")
                help_ = "Enter to open · Esc to cancel · or run `workbench --session ID`"
            else:
                help_ = "No earlier sessions yet: describe a tool in the chat. Esc to close."
            yield Static(Text(help_), id="sessions-help")

    def on_mount(self) -> None:
        for ol in self.query(OptionList):
            ol.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(str(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
