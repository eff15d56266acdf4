"""Before drafting: where the project goes, and whether an enclosing repository is read."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

from workbench.ui.backend import git_root


@dataclass(frozen=True)
class FolderChoice:
    path: Path
    read_context: bool  # the enclosing repository's README and pyproject go to the agent


def check_folder(text: str, cwd: Path | None = None) -> tuple[Path | None, str]:
    """(the folder, "") when a project can be made there, else (None, why not)."""
    text = text.strip()
    if not text:
        return None, "Type the folder the project goes to."
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    path = Path(os.path.normpath(path))
    if path.exists() and not path.is_dir():
        return None, f"{path} is a file: choose a new or empty folder."
    if path.is_dir():
        try:
            if any(path.iterdir()):
                return None, f"{path} is not empty: choose a new or empty folder."
        except OSError as exc:
            return None, f"{path} cannot be read: {exc.strerror or exc}"
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return None, f"{parent} is a file: choose another folder."
            if not os.access(parent, os.W_OK | os.X_OK):
                return None, f"{parent} is not writable: choose another folder."
            break
    return path, ""


class FolderScreen(ModalScreen[FolderChoice | None]):
    """Dismisses with the chosen folder, or None (Esc: back to the request)."""

    BINDINGS = [Binding("escape", "cancel", "Back", id="folder.cancel")]

    def __init__(self, suggested: Path) -> None:
        super().__init__()
        self.suggested = suggested

    def compose(self) -> ComposeResult:
        with Vertical(id="folder-dialog"):
            yield Label("Where should the project go?", id="folder-title")
            yield Input(str(self.suggested), id="folder-input")
            yield Static("", id="folder-note")
            yield Checkbox("", False, id="folder-context")
            yield Static("", id="folder-help")

    def on_mount(self) -> None:
        if getattr(self.app, "cursor_blink", True) is False:
            self.query_one(Input).cursor_blink = False
        self._check(self.query_one(Input).value)
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._check(event.value)

    def _check(self, text: str) -> Path | None:
        path, why = check_folder(text)
        note = self.query_one("#folder-note", Static)
        box = self.query_one("#folder-context", Checkbox)
        repo = git_root(path) if path is not None else None
        box.display = repo is not None
        tick = " · Tab, then Space, to tick" if repo is not None else ""
        self.query_one("#folder-help", Static).update(
            Text(f"Enter to start drafting{tick} · Esc to go back to the request"))
        if repo is not None:
            box.label = Text(f"Read {repo}'s README.md and pyproject.toml as context for the agent")
        if path is None:
            note.update(Text(why, style="bold"))
            note.set_class(True, "-error")
            return None
        note.set_class(False, "-error")
        where = (f"Inside the git repository {repo}." if repo is not None
                 else "Outside any git repository.")
        new = "an empty folder" if path.is_dir() else "a new folder"
        note.update(Text(f"{where} Workbench makes {new} there; nothing is written before "
                         "you approve the plan."))
        return path

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = self._check(event.value)
        if path is None:
            return
        box = self.query_one("#folder-context", Checkbox)
        self.dismiss(FolderChoice(path, bool(box.display and box.value)))

    def action_cancel(self) -> None:
        self.dismiss(None)
