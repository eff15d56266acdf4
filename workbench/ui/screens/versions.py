"""Spec versions (issue 14 §3): the open session's versions, the structural diff
(commands, arguments and options added, removed or changed) and the body diff between
any two, and restoring one (`lifecycle.versions.restore`: a new version, reviewed again).

Keys: ↑↓ choose a version; `a` / `b` make it side A / B of the diff (B defaults to the
newest, A to the one before); `r` restores the highlighted one; Esc closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static


def diff_renderable(a: dict[str, Any], b: dict[str, Any]) -> Any:
    """The structured changes, then the unified diff, coloured as a diff."""
    from workbench.lifecycle.versions import spec_diff_text

    text = spec_diff_text(a["text"], b["text"], f"v{a['version']}", f"v{b['version']}")
    return Syntax(text, "diff", word_wrap=True, background_color="default")


class VersionsScreen(Screen[dict | None]):
    """Dismisses with the restored version (a dict from the engine), or None."""

    DEFAULT_CSS = """
    VersionsScreen #versions-title { text-style: bold; color: $accent; padding: 0 1; }
    VersionsScreen #versions-body { height: 1fr; }
    VersionsScreen #versions-table { width: 1fr; max-width: 60; height: 1fr; scrollbar-size: 1 1; }
    VersionsScreen #versions-diff-box { width: 2fr; height: 1fr; padding: 0 1; scrollbar-size: 1 1; }
    VersionsScreen #versions-diff-title { text-style: bold; }
    VersionsScreen #versions-status { height: auto; padding: 0 1; color: $text-muted; }
    VersionsScreen.-narrow #versions-body { layout: vertical; }
    VersionsScreen.-narrow #versions-table { max-width: 100%; height: 8; }
    """

    BINDINGS = [
        Binding("a", "side('a')", "As A", id="versions.a"),
        Binding("b", "side('b')", "As B", id="versions.b"),
        Binding("r", "restore", "Restore", id="versions.restore"),
        Binding("escape,q", "close", "Close", id="versions.close"),
    ]

    def __init__(self, store: Any, sid: str, restore: Callable[[int], dict] | None = None) -> None:
        super().__init__()
        self.store = store
        self.sid = sid
        self.restore_fn = restore
        from workbench.lifecycle.versions import list_versions

        self.versions = list_versions(store, sid)
        n = len(self.versions)
        self.b = n - 1
        self.a = max(0, n - 2)

    def compose(self) -> ComposeResult:
        yield Label(f"Spec versions of session {self.sid[:12]} ({len(self.versions)})", id="versions-title")
        with Horizontal(id="versions-body"):
            yield DataTable(id="versions-table", cursor_type="row")
            with Vertical(id="versions-diff-box"):
                yield Label("", id="versions-diff-title")
                with VerticalScroll(id="versions-diff-scroll"):
                    yield Static("", id="versions-diff")
        yield Static(Text("a / b: compare the highlighted version as A / B · r: restore it "
                          "(a new version, reviewed again) · Esc: close"), id="versions-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_class(self.app.size.width < 120, "-narrow")
        table = self.query_one("#versions-table", DataTable)
        table.add_columns("", "v", "source", "what changed")
        for i, v in enumerate(self.versions):
            table.add_row(self._mark(i), f"v{v['version']}", str(v.get("source") or ""),
                          str(v.get("change") or "")[:60], key=str(i))
        if self.versions:
            table.move_cursor(row=self.b)
        table.focus()
        self.show_diff()

    def _mark(self, i: int) -> str:
        return "A" if i == self.a and i != self.b else "B" if i == self.b and i != self.a else \
            "A=B" if i == self.a == self.b else ""

    def show_diff(self) -> None:
        title = self.query_one("#versions-diff-title", Label)
        body = self.query_one("#versions-diff", Static)
        if not self.versions:
            title.update("No spec version yet")
            body.update("")
            return
        a, b = self.versions[self.a], self.versions[self.b]
        title.update(f"v{a['version']} → v{b['version']}")
        body.update(diff_renderable(a, b))
        table = self.query_one("#versions-table", DataTable)
        for i in range(len(self.versions)):
            table.update_cell(str(i), table.ordered_columns[0].key, self._mark(i))

    def _highlighted(self) -> int | None:
        table = self.query_one("#versions-table", DataTable)
        return table.cursor_row if self.versions else None

    def action_side(self, side: str) -> None:
        i = self._highlighted()
        if i is None:
            return
        setattr(self, side, i)
        self.show_diff()

    def action_restore(self) -> None:
        i = self._highlighted()
        if i is None or self.restore_fn is None:
            return
        n = int(self.versions[i]["version"])
        if i == len(self.versions) - 1:
            self.set_status(f"v{n} is already the newest version")
            return
        self.set_status(f"Restoring v{n}…")
        fn = self.restore_fn

        def work() -> None:
            try:
                result = fn(n)
            except Exception as exc:  # noqa: BLE001 - the refusal, in one line
                self.app.call_from_thread(self.set_status, f"Cannot restore v{n}: {exc}")
                return
            self.app.call_from_thread(self.dismiss, result)

        self.run_worker(work, thread=True, exit_on_error=False)

    def set_status(self, text: str) -> None:
        self.query_one("#versions-status", Static).update(Text(text))

    def action_close(self) -> None:
        self.dismiss(None)
