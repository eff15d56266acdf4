"""The audit log pane: newest first, filtered by actor and step, paged from SQLite."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.lazy import Lazy
from textual.widgets import DataTable, Label, Select

from workbench.lifecycle.steps import STEP_IDS
from workbench.ui.backend import event_field

PAGE = 100
# The store matches the actor filter anywhere in the actor (case-insensitive):
# "human:Ada <ada@x>", "agent:reviewer", "agent:infrastructure", "workbench".
ACTORS = ("human", "agent", "workbench")

Fetcher = Callable[..., list[Any]]


def format_time(value: Any) -> str:
    """An event's time as HH:MM:SS (UTC) whatever form the store keeps it in."""
    if value in (None, ""):
        return ""
    try:
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(float(value), tz=UTC).strftime("%H:%M:%S")
        text = str(value)
        return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return str(value)[:19]


def short_actor(actor: str) -> str:
    """`human:Ada Lovelace <ada@example.com>` -> `human:Ada Lovelace` (at most 20 chars)."""
    if "<" in actor:
        actor = actor.split("<", 1)[0].rstrip()
    return actor if len(actor) <= 20 else actor[:19] + "…"


def detail_of(ev: Any) -> str:
    detail = event_field(ev, "summary", "message", "detail", default="")
    if detail:
        return str(detail).splitlines()[0][:200]
    data = event_field(ev, "payload", "data", default="")
    if isinstance(data, (dict, list)):
        data = json.dumps(data, ensure_ascii=False, sort_keys=True)
    return str(data).replace("\n", " ")[:200]


SCOPES = (("this session", "session"), ("all sessions", "all"))


class AuditPane(Vertical):
    """A DataTable of audit events with actor and step filters, and by default only the
    open session's; more pages load on demand."""

    ALLOW_MAXIMIZE = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.fetch: Fetcher | None = None  # (limit, offset, actor, step) -> events
        self.actor: str | None = None
        self.step: str | None = None
        self.session: str | None = None  # the open session: its events only, unless "all"
        self.all_sessions = False
        self.loaded = 0
        self.last_id: int | None = None
        self.exhausted = False
        self.loads = 0

    def compose(self) -> ComposeResult:
        # The filters mount just after the first frame (Lazy): the log itself is first.
        yield Lazy(Horizontal(
            Select(SCOPES, value="session", allow_blank=False, id="audit-scope", compact=True),
            Select([(a, a) for a in ACTORS], prompt="any actor", id="audit-actor", compact=True),
            Select([(s, s) for s in STEP_IDS], prompt="any step", id="audit-step", compact=True),
            id="audit-filters",
        ))
        table: DataTable = DataTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Label("", id="audit-status")

    @property
    def table(self) -> DataTable:
        return self.query_one("#audit-table", DataTable)

    def on_mount(self) -> None:
        self.table.add_columns("time", "step", "action", "actor", "detail")
        self.watch(self.table, "scroll_y", self._scrolled, init=False)

    def _scrolled(self, y: float) -> None:
        table = self.table
        if table.max_scroll_y and y >= table.max_scroll_y - 2:
            self.load_more()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        value = None if event.value is Select.BLANK else str(event.value)
        if event.select.id == "audit-scope":
            self.all_sessions = value == "all"
        elif event.select.id == "audit-actor":
            self.actor = value
        else:
            self.step = value
        self.reload()

    def reload(self) -> None:
        """Load the newest page again (after new events, or a filter change)."""
        if self.fetch is None:
            return
        self._load(None, self.actor, self.step)

    @property
    def scope(self) -> str | None:
        """The session whose events are shown (None: every session's)."""
        return None if self.all_sessions else self.session

    def load_more(self) -> None:
        if self.fetch is None or self.exhausted or self.last_id is None:
            return
        self._load(self.last_id, self.actor, self.step)

    @work(thread=True, exclusive=True, group="audit")
    def _load(self, before_id: int | None, actor: str | None, step: str | None) -> None:
        """One page, newest first; `before_id` pages on (keyset: fast on any page)."""
        assert self.fetch is not None
        try:
            events = self.fetch(limit=PAGE, before_id=before_id, actor=actor, step=step,
                                session=self.scope)
        except Exception as exc:  # noqa: BLE001 - show, don't crash the pane
            self.app.call_from_thread(self._status, f"cannot read the audit log: {exc}")
            return
        # (escaped: the table reads a str cell as markup, and a request, a reason or a
        # summary is the user's words; "[/]" in one would otherwise stop the app)
        rows = [
            tuple(escape(cell) for cell in (
                format_time(event_field(e, "ts", "time", "created_at", "timestamp")),
                str(event_field(e, "step", default="") or ""),
                str(event_field(e, "action", "kind", "event", default="")),
                short_actor(str(event_field(e, "actor", default=""))),
                detail_of(e),
            ))
            for e in events
        ]
        last = event_field(events[-1], "id", default=None) if events else None
        self.app.call_from_thread(self._add_rows, before_id, rows, last)

    def _add_rows(self, before_id: int | None, rows: list[tuple[str, ...]], last: Any) -> None:
        table = self.table
        if before_id is None:
            table.clear()
            self.loaded = 0
        elif before_id != self.last_id:
            return  # a reload overtook this page
        table.add_rows(rows)
        self.loaded += len(rows)
        if last is not None:
            self.last_id = int(last)
        self.exhausted = len(rows) < PAGE
        self.loads += 1
        scope = "this session" if self.scope else "all sessions"
        filters = ", ".join(f for f in (scope, self.actor, self.step) if f)
        more = "" if self.exhausted else " · more below"
        self._status(f"{self.loaded:,} shown · newest first · {filters}{more}")

    def _status(self, text: str) -> None:
        self.query_one("#audit-status", Label).update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row >= self.table.row_count - 5:
            self.load_more()
