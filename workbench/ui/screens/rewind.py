"""Rewind… (issue 14 §4): Workbench's commits of the open project, newest first; the one
that undo would revert (the newest evolve or integration commit no undo reverted yet)
with the preview of its revert diff; on confirmation (`u`, then `y`) undo runs
(`lifecycle.undo.Undo`), as a new commit. A refusal (later commits of the developer's
change the same lines, a dirty tree, nothing to undo) is shown as it is, in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static


@dataclass(frozen=True)
class WorkbenchCommit:
    sha: str
    subject: str
    step: str
    undone: bool  # a later undo commit reverts it


def workbench_commits(root: Path, limit: int = 200) -> list[WorkbenchCommit]:
    """Every commit on HEAD's first-parent history with a Workbench-Step trailer."""
    from workbench.integrate import base as base_mod

    out = base_mod.git(["log", "--first-parent", f"-n{limit}", "--format=%H%x1f%s%x1f%B%x1e", "HEAD"],
                       root).stdout.decode("utf-8", "replace")
    rows, reverted = [], set()
    for record in out.split("\x1e"):
        sha, _, rest = record.strip("\n").partition("\x1f")
        subject, _, body = rest.partition("\x1f")
        if not sha:
            continue
        step = base_mod.parse_trailers(body).get("Workbench-Step")
        if not step:
            continue
        if step == "undo":
            for line in body.splitlines():
                if line.startswith("This reverts commit "):
                    reverted.add(line.removeprefix("This reverts commit ").rstrip(".").strip())
        rows.append((sha, subject, step))
    return [WorkbenchCommit(sha, subject, step, sha in reverted) for sha, subject, step in rows]


class RewindScreen(Screen[str | None]):
    """Dismisses with the revert commit's sha once undone, or None."""

    DEFAULT_CSS = """
    RewindScreen #rewind-title { text-style: bold; color: $accent; padding: 0 1; }
    RewindScreen #rewind-table { height: auto; max-height: 12; scrollbar-size: 1 1; }
    RewindScreen #rewind-what { padding: 0 1; text-style: bold; }
    RewindScreen #rewind-preview-box { height: 1fr; padding: 0 1; scrollbar-size: 1 1; }
    RewindScreen #rewind-status { height: auto; padding: 0 1; }
    RewindScreen .-refused { color: $error; }
    """

    BINDINGS = [
        Binding("u", "undo", "Undo it", id="rewind.undo"),
        Binding("y", "confirm", "Confirm", show=False, id="rewind.confirm"),
        Binding("escape,q", "close", "Close", id="rewind.close"),
    ]

    def __init__(self, store: Any, root: Path, undo: Any = None) -> None:
        super().__init__()
        self.store = store
        self.root = Path(root)
        self.undo = undo
        self.plan: Any = None
        self.refusal = ""
        self.asked = False
        self.commits: list[WorkbenchCommit] = []

    def compose(self) -> ComposeResult:
        yield Label(f"Rewind {self.root}", id="rewind-title")
        with Vertical():
            yield DataTable(id="rewind-table", cursor_type="row")
            yield Label("Looking for Workbench's last change…", id="rewind-what")
            with VerticalScroll(id="rewind-preview-box"):
                yield Static("", id="rewind-preview")
        yield Static(Text("u: undo the change marked ▶ (a new revert commit; history is kept) · Esc: close"),
                     id="rewind-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#rewind-table", DataTable)
        table.add_columns("", "commit", "step", "subject")
        self.run_worker(self._load, thread=True, exit_on_error=False)

    def _undo(self) -> Any:
        if self.undo is None:
            from workbench.lifecycle.undo import Undo

            self.undo = Undo(self.store)
        return self.undo

    def _load(self) -> None:
        try:
            commits = workbench_commits(self.root)
        except Exception as exc:  # noqa: BLE001 - not a repository, git missing: said plainly
            self.app.call_from_thread(self._show, [], None, f"{exc}")
            return
        plan, refusal = None, ""
        try:
            plan = self._undo().plan(self.root)
        except Exception as exc:  # noqa: BLE001 - UndoConflict, a dirty tree, nothing to undo
            refusal = str(exc)
        self.app.call_from_thread(self._show, commits, plan, refusal)

    def _show(self, commits: list[WorkbenchCommit], plan: Any, refusal: str) -> None:
        self.commits, self.plan, self.refusal = commits, plan, refusal
        table = self.query_one("#rewind-table", DataTable)
        table.clear()
        target = plan.commit if plan is not None else None
        for c in commits:
            mark = "▶" if c.sha == target else "↶ undone" if c.undone else ""
            table.add_row(mark, c.sha[:12], c.step, c.subject, key=c.sha)
        what = self.query_one("#rewind-what", Label)
        preview = self.query_one("#rewind-preview", Static)
        if plan is not None:
            n = len(plan.changes)
            what.update(f"Undo would revert {plan.commit[:12]} {plan.subject!r} ({n} file{'s' * (n != 1)}):")
            preview.update(Syntax(plan.diff or "(no file changes)", "diff", background_color="default"))
        else:
            what.update(Text("Cannot undo: " + refusal, style="bold"))
            what.add_class("-refused")
            preview.update("")
        table.focus()

    def action_undo(self) -> None:
        if self.plan is None:
            self.set_status(f"Nothing to undo: {self.refusal}")
            return
        self.asked = True
        self.set_status(f"Revert {self.plan.commit[:12]} {self.plan.subject!r} as a new commit? "
                        "y: yes · Esc: no")

    def action_confirm(self) -> None:
        if not self.asked or self.plan is None:
            return
        self.asked = False
        plan = self.plan
        self.set_status("Reverting…")

        def work() -> None:
            try:
                sha = self._undo().apply(plan)
            except Exception as exc:  # noqa: BLE001 - e.g. the project changed since the preview
                self.app.call_from_thread(self.set_status, f"Cannot undo: {exc}", True)
                return
            self.app.call_from_thread(self._done, sha)

        self.run_worker(work, thread=True, exit_on_error=False)

    def _done(self, sha: str) -> None:
        self.set_status(f"Done: {sha[:12]} reverts {self.plan.commit[:12]}. Esc closes.")
        self.result = sha
        self.run_worker(self._load, thread=True, exit_on_error=False)

    def set_status(self, text: str, refused: bool = False) -> None:
        status = self.query_one("#rewind-status", Static)
        status.update(Text(text))
        status.set_class(refused, "-refused")

    def action_close(self) -> None:
        if self.asked:
            self.asked = False
            self.set_status("Not undone.")
            return
        self.dismiss(getattr(self, "result", None))
