"""Open project… and `workbench DIR` (issue 14 §1): a project Workbench made, opened for
evolve. Its spec (docs/spec.md) is in the editor; edit it and press ctrl+s: the change
is reviewed (`lifecycle.evolve.EvolveService`, the same lifecycle as `workbench
evolve`), the spec diff is shown at the spec gate (y approves), then the 3-way preview:
each changed file's merge status, conflicts marked, the merged result as a diff against
the tree, side by side (the tree | the merged result) at 160 columns or more; y approves
the plan and the one "Evolve NAME to spec vN" commit is made. Nothing reaches the
project before that second approval; the edited spec waits in Workbench's own folder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Footer, Input, Label, Static, TextArea

SIDE_BY_SIDE = 160  # columns from which the merge preview is two panes


def project_problem(path: str | Path) -> str | None:
    """Why `path` is not a project Workbench made (None when it is)."""
    p = Path(str(path)).expanduser()
    if not str(path).strip():
        return "give the project's folder"
    if not p.exists():
        return f"{p}: no such folder"
    if not p.is_dir():
        return f"{p}: not a folder"
    if not (p / ".git").exists():
        return f"{p}: not a git repository; Workbench evolves the projects it made"
    if not (p / "docs" / "spec.md").is_file():
        return f"{p}: no docs/spec.md; not a project Workbench made"
    return None


class OpenProjectScreen(ModalScreen[Path | None]):
    DEFAULT_CSS = """
    OpenProjectScreen { align: center middle; }
    OpenProjectScreen #project-dialog { width: 90%; max-width: 100; height: auto; border: round $accent;
                                        padding: 1 2; background: $surface; }
    OpenProjectScreen #project-error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="project.cancel")]

    def __init__(self, store: Any = None, initial: str = "") -> None:
        super().__init__()
        self.initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(id="project-dialog"):
            yield Label("Open project: the folder of a project Workbench made")
            yield Input(self.initial, placeholder="~/workbench-projects/my-tool", id="project-path")
            yield Static("", id="project-error")
            yield Static("Enter opens it for evolve · Esc cancels", classes="dim")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        problem = project_problem(event.value)
        if problem:
            self.query_one("#project-error", Static).update(Text(problem))
            return
        self.dismiss(Path(event.value).expanduser().resolve())

    def action_cancel(self) -> None:
        self.dismiss(None)


def _draft_path(root: Path) -> tuple[Path, str]:
    """Where the edited spec waits (Workbench's own folder, never the project)."""
    import hashlib

    from workbench.ui.screens.themes import state_dir

    key = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    return state_dir(), f"evolve-drafts/{root.name}-{key}.spec.md"


class EvolveScreen(Screen[str | None]):
    """Edit, review, approve the spec; preview the 3-way merge; approve; one commit."""

    DEFAULT_CSS = """
    EvolveScreen #evolve-title { text-style: bold; color: $accent; padding: 0 1; }
    EvolveScreen #evolve-status { height: auto; padding: 0 1; }
    EvolveScreen #evolve-editor { height: 1fr; }
    EvolveScreen #evolve-review { height: 1fr; display: none; }
    EvolveScreen.-review #evolve-editor { display: none; }
    EvolveScreen.-review #evolve-review { display: block; }
    EvolveScreen #evolve-files { width: 44; height: 1fr; scrollbar-size: 1 1; }
    EvolveScreen.-specgate #evolve-files { display: none; }
    EvolveScreen .evolve-pane { width: 1fr; height: 1fr; padding: 0 1; scrollbar-size: 1 1; }
    EvolveScreen #evolve-right { display: none; }
    EvolveScreen.-sbs #evolve-right { display: block; }
    EvolveScreen.-specgate #evolve-right { display: none; }
    EvolveScreen .-refused { color: $error; }
    """

    BINDINGS = [
        Binding("ctrl+s", "review", "Review the change", id="evolve.review", priority=True),
        Binding("y", "approve", "Approve", id="evolve.approve"),
        Binding("escape", "back", "Back", id="evolve.back"),
    ]

    def __init__(self, store: Any, root: Path, provider: Callable[..., Any] | None = None,
                 options: Any = None) -> None:
        super().__init__()
        self.store = store
        self.root = Path(root).expanduser().resolve()
        self.provider = provider
        self.options = options
        self.service: Any = None
        self.sid: str | None = None
        self.gate: Any = None  # the Outcome waiting at a gate
        self.stage = "edit"  # edit | spec | plan | busy | done | failed
        self.merge: Any = None
        self.result: str | None = None

    # -- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Label(f"Evolve {self.root}", id="evolve-title")
        yield Static(Text("Edit the spec, then ctrl+s: review the change (nothing is written to the "
                          "project before you approve the plan) · Esc: close"), id="evolve-status")
        yield TextArea(self._spec_text(), id="evolve-editor", soft_wrap=False, show_line_numbers=True)
        with Horizontal(id="evolve-review"):
            yield DataTable(id="evolve-files", cursor_type="row")
            with VerticalScroll(classes="evolve-pane", id="evolve-left"):
                yield Static("", id="evolve-diff")
            with VerticalScroll(classes="evolve-pane", id="evolve-right"):
                yield Static("", id="evolve-merged")
        yield Footer(compact=True)

    def _spec_text(self) -> str:
        from workbench.spec.model import read_user_file

        try:
            return read_user_file(self.root / "docs" / "spec.md").decode("utf-8")
        except Exception:  # noqa: BLE001 - the editor stays empty; ctrl+s then names the problem
            return ""

    def on_mount(self) -> None:
        self.query_one("#evolve-files", DataTable).add_columns("status", "file")
        self.query_one("#evolve-editor", TextArea).focus()

    def on_resize(self) -> None:
        self.set_class(self.size.width >= SIDE_BY_SIDE, "-sbs")

    @property
    def editor(self) -> TextArea:
        return self.query_one("#evolve-editor", TextArea)

    def set_status(self, text: str, refused: bool = False) -> None:
        status = self.query_one("#evolve-status", Static)
        status.update(Text(text))
        status.set_class(refused, "-refused")

    # -- the service --------------------------------------------------------------------
    def _service(self) -> Any:
        if self.service is None:
            from workbench.lifecycle.evolve import EvolveService

            provider = self.provider
            if provider is None:
                store = self.store

                def provider(model: str | None, template: str | None) -> Any:
                    from workbench.llm import registry

                    return registry.build_provider(model=model, template=template, store=store)

            self.service = EvolveService(self.store, provider, self._event, self.options)
        return self.service

    def _event(self, event: Any) -> None:
        """The engine's events, on its thread: the step lines go to the status line."""
        if event.kind in ("step_started", "step_done", "step_failed", "conflict") and event.message:
            try:
                self.app.call_from_thread(self.set_status, f"{event.step or ''}: {event.message}")
            except Exception:  # noqa: BLE001 - the screen closed meanwhile
                pass

    def _in_thread(self, what: str, fn: Callable[[], Any], then: Callable[[Any], None]) -> None:
        self.stage = "busy"
        self.set_status(what + "…")

        def work() -> None:
            try:
                result = fn()
            except Exception as exc:  # noqa: BLE001 - a refusal or a failure, in one line
                self.app.call_from_thread(self._failed, str(exc))
                return
            self.app.call_from_thread(then, result)

        self.run_worker(work, thread=True, exit_on_error=False, group="evolve")

    def _failed(self, message: str) -> None:
        self.stage = "edit" if self.sid is None else "failed"
        self.remove_class("-review")
        self.set_status(message, refused=True)

    # -- the steps ----------------------------------------------------------------------
    def action_review(self) -> None:
        if self.stage not in ("edit", "failed"):
            return
        text = self.editor.text
        if text == self._spec_text():
            self.set_status("The spec is unchanged: edit it first (say, add an option), then ctrl+s",
                            refused=True)
            return

        def run() -> Any:
            from workbench.lifecycle.session import Policy
            from workbench.safety.paths import write_file

            folder, rel = _draft_path(self.root)
            draft = write_file(folder, rel, text, 0o600)
            service = self._service()
            self.sid = service.open(self.root, spec_file=str(draft))
            return service.drive(self.sid, Policy())

        self._in_thread("Reviewing the change", run, self._outcome)

    def _outcome(self, outcome: Any) -> None:
        self.gate = outcome if outcome.status == "gate" else None
        if outcome.status == "gate" and outcome.gate == "spec":
            self.stage = "spec"
            self._show_spec_gate()
        elif outcome.status == "gate":
            self.stage = "plan"
            self._show_plan_gate()
        elif outcome.status == "done":
            self.stage = "done"
            self.result = self.sid
            self.set_status(f"Done: {outcome.message}. Esc closes.")
        else:
            self.stage = "failed"
            self._show_failure(outcome)

    def _show_spec_gate(self) -> None:
        from workbench.lifecycle.versions import spec_diff_text

        versions = self.store.list_spec_versions(self.sid)
        first, last = versions[0], versions[-1]
        text = spec_diff_text(first["text"], last["text"], "as last generated", f"v{last['version']}")
        findings = self._service().sessions.findings(self.sid)
        open_ = [f for f in findings if f.get("status") == "open"]
        if open_:
            text += "\n# review findings\n" + "".join(
                f"# {f['n']}. {f['severity']} {f['location']}: {f['text']}\n" for f in open_)
        self.add_class("-review", "-specgate")
        self.query_one("#evolve-diff", Static).update(Syntax(text, "diff", background_color="default"))
        self.set_status(f"The spec change (spec gate, {self.gate.sha256[:12]}): y approves it, then the "
                        "merge is planned · Esc: back to editing")

    def _show_plan_gate(self) -> None:
        self.merge = self._service().merge(self.sid)
        self.remove_class("-specgate")
        self.add_class("-review")
        table = self.query_one("#evolve-files", DataTable)
        table.clear()
        changed = sorted(self.merge.changed, key=lambda f: f.path)
        for f in changed:
            mark = Text(f.status, style="bold red" if f.status == "conflict" else "")
            table.add_row(mark, f.path, key=f.path)
        counts = self.merge.statuses()
        summary = ", ".join(f"{sum(1 for s in counts.values() if s == k)} {k}"
                            for k in sorted(set(counts.values())))
        self.set_status(f"The 3-way merge ({summary}); plan gate {self.gate.sha256[:12]}: y approves and "
                        "commits · Esc: back")
        if changed:
            self._show_file(changed[0].path)
        table.focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.merge is not None and event.row_key is not None:
            self._show_file(str(event.row_key.value))

    def _show_file(self, path: str) -> None:
        from workbench.integrate.merge import unified_diff

        f = self.merge.files.get(path)
        if f is None:
            return
        ours = f.ours[0] if f.ours else None
        result = f.result[0] if f.result else None
        head = f"# {f.path}: {f.status}" + (f" ({f.conflict_reason})" if f.conflict_reason else "") + "\n"
        left = self.query_one("#evolve-diff", Static)
        right = self.query_one("#evolve-merged", Static)
        if self.size.width >= SIDE_BY_SIDE:
            left.update(Text(f"the tree now: {f.path}\n\n" + (ours or "(new file)")))
            right.update(Text(f"merged result: {f.path}\n\n" + (result if result is not None else "(removed)")))
        else:
            left.update(Syntax(head + unified_diff(f.path, ours, result), "diff", background_color="default"))

    def _show_failure(self, outcome: Any) -> None:
        lines = [outcome.message]
        try:
            merge = self._service().merge(self.sid)
            conflicts = [f"{f.path} ({f.conflict_reason or 'conflict'})" for f in merge.conflicts]
            if conflicts:
                lines.append("conflicts: " + ", ".join(conflicts))
        except Exception:  # noqa: BLE001 - no merge planned: the message says why
            pass
        self.set_status(" · ".join(lines) + " · nothing was committed; Esc closes", refused=True)

    def action_approve(self) -> None:
        if self.stage not in ("spec", "plan") or self.gate is None:
            return
        sha = self.gate.sha256

        def run() -> Any:
            from workbench.lifecycle.session import Policy

            return self._service().drive(self.sid, Policy(approve=sha))

        self._in_thread("Planning the 3-way merge" if self.stage == "spec" else "Applying and committing",
                        run, self._outcome)

    def action_back(self) -> None:
        if self.stage == "busy":
            return
        if self.stage in ("spec", "plan"):
            self.stage = "edit"
            self.remove_class("-review")
            self.set_status("Back to editing: ctrl+s reviews the change again")
            self.editor.focus()
            return
        if self.service is not None:
            self.service.close()
        self.dismiss(self.result)
