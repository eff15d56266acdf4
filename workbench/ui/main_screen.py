"""The main screen: one reactive view of the open session, and the panes that show it.

`MainScreen.view` is the session as the session service reads it (`SessionView`): step
states, the newest spec version, the findings, what comes next (with the waiting gate's
exact sha256), and the tokens and cost of every step. Everything on screen that states a
fact (the header, the phase bar and the stepper, the chat's status line, the editor's
lock, which panes have the room) is redrawn from it in `watch_view`, on every typed
event (`status_changed` patches it; the other events, and the end of every engine call,
read it again). The screen decides nothing about the lifecycle: Next, Back, Re-run,
approve and reject are the service's (through `Backend`), and the gate shows the
service's hash.

Other screens open a session here with `app.open_session(sid)`; they push themselves
with `app.push_screen` as usual (the engine's events keep reaching this screen).
"""

from __future__ import annotations

import difflib
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Horizontal
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Label, Tab, Tabs

from workbench.lifecycle import events as ev
from workbench.lifecycle.events import Event
from workbench.lifecycle.session import NextAction, SessionView, Usage
from workbench.lifecycle.steps import (
    BY_ID,
    DONE,
    FAILED,
    LEARNING,
    PENDING,
    PLAN_STEPS,
    REVIEWER,
    RUNNING,
    STEPS,
    TOOL_BUILDER,
    WAITING,
    steps_of,
)
from workbench.ui.backend import OFFLINE, default_projects_base, git_root, project_dir
from workbench.ui.bridge import Bridge, maybe_await
from workbench.ui.next_steps import done_line, finish_message
from workbench.ui.screens.confirm import ConfirmScreen
from workbench.ui.screens.gate import ApprovalScreen, GateInfo
from workbench.ui.widgets.audit import AuditPane
from workbench.ui.widgets.chat import ChatPane, ChatTurn
from workbench.ui.widgets.footer import FittingFooter
from workbench.ui.widgets.phasebar import PhaseBar, format_usage
from workbench.ui.widgets.preview import LATER_STEPS, PreviewPane, file_content, plan_files
from workbench.ui.widgets.spec_editor import SpecEditor
from workbench.ui.widgets.stepper import Stepper

if TYPE_CHECKING:
    from workbench.ui.app import WorkbenchApp

PANES = ("chat", "spec", "preview", "audit", "steps")
PANE_TITLES = {"chat": "Chat", "spec": "Spec", "preview": "Preview", "audit": "Audit log", "steps": "Steps"}
# The panes that share the screen in each phase (at 120 columns or more); the last one is
# the working pane, which has the room unless another of them has the focus.
PHASE_PANES = {"design": ("chat", "spec"), "scaffold": ("preview",), "integrate": ("chat", "audit")}
STEPS_WIDTH = 34
AGENT_STEPS = steps_of(TOOL_BUILDER, REVIEWER, LEARNING)  # the steps an agent reports on in the chat
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
MAX_DIFF_LINES = 60

OFFLINE_NOTICE = (
    "**Running offline.** No model key was found, so Workbench uses the built-in "
    "*offline* drafter: it turns your request into a valid spec skeleton for you to "
    "complete. Press **F3** to switch model, or open **Models** from the command "
    "palette (**F2**) to see which keys are present and how to add one."
)
WELCOME = (
    "Describe the command-line tool you want below and press **Enter**. The agent "
    "drafts `spec.md` in the Spec pane; edit it, then approve it (**Ctrl+N**) to "
    "preview the scaffold. Nothing is written to disk until you approve the plan."
)


def side_width(width: int) -> int:
    """The width of the pane beside the working one: the working pane keeps 80 columns of
    text (its border and the editor's gutter besides) from 120 columns on."""
    return max(28, min(56, int(width * 0.275)))


def current_step(steps: dict[str, str]) -> str | None:
    """The step in hand on screen: running, waiting or failed, else the first pending."""
    for state in (RUNNING, WAITING, FAILED):
        for step in STEPS:
            if steps.get(step.id) == state:
                return step.id
    return next((s.id for s in STEPS if steps.get(s.id) == PENDING), None)


def phase_of(view: SessionView | None) -> str:
    if view is None:
        return "design"
    step = current_step(view.steps)
    return BY_ID[step].phase if step is not None else "integrate"


class MainScreen(Screen):
    """The panes, the header and the footer; one `SessionView`; the engine's events."""

    view: var[SessionView | None] = var(None, always_update=True)

    def __init__(self, app: WorkbenchApp) -> None:
        super().__init__(id="main-screen")
        self.wb = app
        self.backend = app.backend
        self.bridge: Bridge = app.bridge
        self.bridge.sink = self
        self.active_pane = "chat"
        self.phase = "design"
        self.plan: Any = None
        self.project_dir: Path | None = None
        self.turn: ChatTurn | None = None  # the streaming agent turn
        self.turn_step: str | None = None
        self.cancelled_steps: set[str] = set()
        self.busy = ""
        self._spin_timer: Timer | None = None
        self._spin = 0
        self._spec_streaming = False  # between the spec step's start and its end
        self._spec_streamed = ""
        self._applying: int | str | None = None  # the finding (or "request") being applied
        self._apply_streamed = 0
        self._open_gate_after = False  # Next that reaches a gate opens it
        self._save_lock = threading.Lock()
        self._save_latest: str | None = None
        self._save_done: str | None = None
        self._view_seq = 0

    # -- layout ------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Horizontal(id="topbar"):
            yield Label("◆ Workbench", id="brand")
            yield Label("", id="state")
            yield Label("", id="model")
        yield PhaseBar(id="phasebar")
        yield Tabs(*(Tab(PANE_TITLES[p], id=f"tab-{p}") for p in PANES), id="pane-tabs")
        with Container(id="panes"):
            initial = [("Workbench", WELCOME, "system")]
            if self.backend.session_model == OFFLINE:
                initial.append(("Workbench", OFFLINE_NOTICE, "notice"))
            if self.backend.config_error:
                initial.append(("Workbench", f"`{self.backend.config_error}` (the defaults are used "
                                "until it is fixed)", "error"))
            yield ChatPane(initial, id="chat", classes="pane -active")
            yield SpecEditor(id="spec", classes="pane")
            yield PreviewPane(id="preview", classes="pane")
            yield AuditPane(id="audit", classes="pane")
            yield Stepper(id="steps", classes="pane")
        yield FittingFooter(show_command_palette=False, compact=True)

    @property
    def stepper(self) -> Stepper:
        return self.query_one(Stepper)

    @property
    def chat(self) -> ChatPane:
        return self.query_one(ChatPane)

    @property
    def editor(self) -> SpecEditor:
        return self.query_one(SpecEditor)

    @property
    def preview(self) -> PreviewPane:
        return self.query_one(PreviewPane)

    @property
    def audit(self) -> AuditPane:
        return self.query_one(AuditPane)

    def on_mount(self) -> None:
        for pane in PANES:
            self.query_one(f"#{pane}").border_title = PANE_TITLES[pane]
        if not self.wb.cursor_blink:
            for widget in self.query("Input, TextArea"):
                widget.cursor_blink = False  # type: ignore[attr-defined]
        self.editor.text_area.read_only = True
        self.audit.fetch = self.backend.list_events
        self.show_model()
        self.watch_view(None)
        self.chat.input.focus()  # at once: the first keys typed must not be lost

    def on_resize(self) -> None:
        self.layout_panes()

    def layout_panes(self) -> None:
        """Which panes show, and which has the room: by phase, by focus, by width."""
        width = self.size.width or self.app.size.width
        wide = width >= 120
        pair = PHASE_PANES[self.phase]
        active = self.active_pane
        if not wide:
            shown: tuple[str, ...] = (active,)
        elif active in pair:
            shown = pair
        elif active == "steps":
            shown = ("steps", pair[-1])
        else:
            shown = (active,)
        # The active pane has the room: focus moves it (on_descendant_focus), and it stays
        # when the app shows a pane whose widget cannot take the focus yet (the chat's
        # input while the engine finishes)
        focused = self._pane_of(self.focused)
        big = active if active in shown and active != "steps" else (
            focused if focused in shown and focused != "steps" else shown[-1])
        for pane in PANES:
            widget = self.query_one(f"#{pane}")
            widget.display = pane in shown
            widget.set_class(pane == active, "-active")
            if pane == "steps":
                widget.styles.width = STEPS_WIDTH if len(shown) > 1 else "1fr"
            elif len(shown) == 1 or pane == big:
                widget.styles.width = "1fr"
            else:
                widget.styles.width = side_width(width)
        tabs = self.query_one("#pane-tabs", Tabs)
        if tabs.active != f"tab-{active}":
            tabs.active = f"tab-{active}"

    def _pane_of(self, widget: Any) -> str | None:
        node = widget
        while node is not None:
            if getattr(node, "id", None) in PANES:
                return node.id
            node = node.parent
        return None

    def show_pane(self, pane: str) -> None:
        if pane not in PANES:
            return
        self.activate_pane(pane)
        target: Widget = {
            "chat": lambda: self.chat.input,
            "spec": lambda: self.editor.text_area,
            "preview": lambda: self.preview.tree,
            "audit": lambda: self.audit.table,
            "steps": lambda: self.stepper,
        }[pane]()
        # At once, not later as Widget.focus() does: until the focus has moved, a focus
        # event still queued for the old pane (say, the chat's input, back from a modal)
        # would pass as current and switch back (1 in about 40 narrow drafts did).
        self.set_focus(target)
        if self.focused is not target:  # (not focusable yet: once it is, after this frame)
            target.focus()
        self.call_after_refresh(self.layout_panes)

    def activate_pane(self, pane: str) -> None:
        self.active_pane = pane
        self.layout_panes()
        if pane == "spec":
            self.call_after_refresh(self._reset_editor_scroll)

    def _reset_editor_scroll(self) -> None:
        """A pane that was hidden scrolls against a zero-size view: put it right."""
        ta = self.editor.text_area
        if ta.size.width:
            ta.scroll_to(x=0, animate=False, immediate=True)
            ta.scroll_cursor_visible(animate=False)

    def next_pane(self) -> None:
        i = PANES.index(self.active_pane)
        self.show_pane(PANES[(i + 1) % len(PANES)])

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        # React only to the tabs' current state: a stale message (the pane changed again
        # since it was sent) must not switch back, or two panes would ping-pong forever.
        if event.tab.id != event.tabs.active:
            return
        pane = (event.tab.id or "tab-chat").removeprefix("tab-")
        if pane != self.active_pane:
            self.activate_pane(pane)

    def on_descendant_focus(self, event: Any) -> None:
        widget = getattr(event, "widget", None)
        if widget is not None and widget is not self.focused:
            # Stale: the focus moved on since it was sent (say, from the chat's log, which
            # had it while the input was locked, to the preview's tree). Acting on it would
            # show the old pane, hide the focused one, and the focus would fall elsewhere.
            return
        pane = self._pane_of(widget or self.focused)
        if pane is not None and pane != self.active_pane:
            self.activate_pane(pane)
        else:
            self.layout_panes()  # the focused pane has the room

    def on_phase_bar_clicked(self, _message: PhaseBar.Clicked) -> None:
        self.show_pane("steps")

    def maximize_pane(self) -> None:
        """Maximize the focused pane, the whole pane (again: back to the layout)."""
        if self.maximized is not None:
            self.minimize()
            return
        pane = self._pane_of(self.focused) or self.active_pane
        self.maximize(self.query_one(f"#{pane}"), container=False)

    # -- the view, and everything drawn from it ----------------------------
    def set_view(self, view: SessionView | None, seq: int | None = None) -> None:
        if seq is not None and seq < self._view_seq:
            return  # an older read: a newer one is on screen
        if view is not None and view.id != self.backend.session_id:
            return  # a read of the session that was open before
        self.view = view

    def refresh_view(self) -> None:
        """Read the view again in a thread (after an edit, an event outside a run)."""
        self._view_seq += 1
        seq = self._view_seq
        self.bridge.read_view(lambda view: self.set_view(view, seq))

    def watch_view(self, view: SessionView | None) -> None:
        steps = view.steps if view is not None else {s.id: PENDING for s in STEPS}
        stepper = self.stepper
        for step, state in steps.items():
            stepper.set_state(step, state)
        usage = view.usage if view is not None else {}
        stepper.set_usage({s: format_usage(u.tokens, u.cost, u.model) for s, u in usage.items() if u.tokens})
        total = view.total if view is not None else Usage()
        self.query_one(PhaseBar).show(steps, format_usage(total.tokens, total.cost, total.model))
        phase = phase_of(view)
        if phase != self.phase:
            self.phase = phase
            if self.active_pane not in PHASE_PANES[phase] and self.active_pane != "steps":
                self.show_pane(PHASE_PANES[phase][-1])  # (the focus too: its pane is hidden)
        self.layout_panes()
        self.show_state()
        self.update_editor_lock()
        self.chat.set_status(self.chat_status())
        self.app.refresh_bindings()  # F8 is in the footer once there are findings
        screen = self.findings_screen()
        if screen is not None and view is not None:
            note, locked = self.findings_notes()
            screen.set_findings(view.findings, note, locked)

    @property
    def findings(self) -> list[dict[str, Any]]:
        return list(self.view.findings) if self.view is not None else []

    @property
    def waiting_gate(self) -> tuple[str, str] | None:
        """(step, gate) of the gate the service says is waiting, if any."""
        gate = self.view.next.gate if self.view is not None else None
        return (gate.step, gate.gate) if gate is not None else None

    def key(self, binding_id: str) -> str:
        return self.wb.key_for(binding_id)

    def _spec_problem(self) -> str:
        """What is wrong with the spec in the editor, in a line ("" when nothing is)."""
        errors = self.editor.errors
        if not errors:
            return ""
        first = errors[0]
        where = f"line {first.line}: " + (f"{first.field}: " if first.field else "")
        n = len(errors)
        return f"spec invalid: {n} error{'s' if n != 1 else ''}, {where}{first.detail}; fix it in the editor"

    def state_text(self) -> Text:
        """The header's one line: what is true now and what to do next."""
        view = self.view
        nxt = self.key("app.next_step")
        if self.busy:
            done = sum(1 for s in (view.steps if view else {}).values() if s == DONE)
            return Text.assemble((SPINNER[self._spin % len(SPINNER)] + " ", "bold"), self.busy,
                                 (f"  {done}/{len(STEPS)}", "dim"))
        if self.backend.error and not self.backend.ready:
            return Text("engine unavailable", style="bold")
        if view is None:
            return Text("no session: describe a tool in the chat", style="dim")
        action: NextAction = view.next
        spec = view.spec or {}
        problem = self._spec_problem() if view.steps.get("approval") != DONE else ""
        if action.kind == "approve" and action.gate is not None:
            what = "the plan" if action.gate.gate == "plan" else f"the spec v{spec.get('version', '?')}"
            if problem:
                return Text.assemble(("✗ ", "bold"), problem, (f"  (then {nxt}: the gate)", "dim"))
            return Text.assemble(("◆ waiting for approval: ", "bold"), what,
                                 (f" {action.gate.sha256[:12]}  {nxt} to review", "dim"))
        if action.kind == "fix":
            if problem:
                return Text.assemble(("✗ ", "bold"), problem, (f", then {nxt}", "dim"))
            why = view.messages.get(action.step or "", "") or "failed"
            return Text.assemble((f"✗ {BY_ID[action.step].title} failed: ", "bold"), why,
                                 (f"  fix it, then {nxt} runs it again", "dim"))
        if action.kind == "done":
            return Text(f"✓ all {len(STEPS)} steps done · the project is at {view.out_dir}", style="bold")
        step = action.step or ""
        if problem:
            return Text.assemble(("✗ ", "bold"), problem, (f", then {nxt}", "dim"))
        if step == "spec" and spec:
            return Text.assemble((f"spec v{spec['version']} kept: ", "bold"),
                                 f"edit it, then {nxt} reviews it", (" (unchanged: re-drafts, asking first)", "dim"))
        if step == "review" and spec.get("source") in ("edit", "finding", "request"):
            return Text.assemble((f"spec v{spec['version']} changed: ", "bold"), f"{nxt} reviews it")
        done = sum(1 for s in view.steps.values() if s == DONE)
        return Text.assemble(f"{done}/{len(STEPS)} steps done", (f"  {nxt}: {BY_ID[step].title}", "dim"))

    def show_state(self) -> None:
        self.query_one("#state", Label).update(self.state_text(), layout=False)

    def chat_status(self) -> str:
        """The chat's status line: the spec version, the open findings, what comes next."""
        view = self.view
        if view is None:
            return ""
        parts = []
        if view.spec:
            parts.append(f"spec v{view.spec['version']}" +
                         (" · approved" if view.steps.get("approval") == DONE else ""))
        if view.findings:
            n = view.open_findings
            parts.append(f"{n} open finding{'s' if n != 1 else ''}" + (f" ({self.key('app.findings')})" if n else ""))
        parts.append(view.next.message)
        total = view.total
        if total.tokens:
            parts.append(format_usage(total.tokens, total.cost))
        return " · ".join(parts)

    def set_busy(self, what: str) -> None:
        self.busy = what
        self.bridge.busy = what
        if what and self._spin_timer is None:
            self._spin_timer = self.set_interval(0.1, self._tick)
        if not what and self._spin_timer is not None:
            self._spin_timer.stop()
            self._spin_timer = None
        self.show_state()

    def _tick(self) -> None:
        self._spin += 1
        self.show_state()

    def show_model(self) -> None:
        overrides = self.backend.overrides
        text = Text.assemble(("model ", "dim"), (self.backend.session_model, "bold"))
        if overrides:
            text.append(f" +{len(overrides)} step override" + ("s" if len(overrides) > 1 else ""),
                        style="dim")
        self.query_one("#model", Label).update(text)

    def update_editor_lock(self) -> None:
        """The spec is editable once there is a version, until approved, and never while
        the engine works on the session."""
        view = self.view
        ta = self.editor.text_area
        approved = view is not None and view.steps.get("approval") == DONE
        locked = self.bridge.running or view is None or not view.spec or approved
        if ta.read_only != locked:
            ta.read_only = locked
        self.editor.border_subtitle = ("approved · read-only" if approved
                                       else "" if locked else f"autosaved · {self.key('app.toggle_diff')} diff")

    # -- the engine's events -----------------------------------------------
    async def write_tokens(self, step: str | None, text: str) -> None:
        if not text or step in self.cancelled_steps:
            return
        if step == "spec":
            if self._spec_streaming:  # the draft, streamed into the editor as it is written
                self._spec_streamed += text
                self.editor.stream_write(text)
            elif self._applying is not None:
                # The agent revising the spec: its reply (prose and all) is not the spec, so
                # the editor waits for the new version; the top bar counts it.
                self._apply_streamed += len(text)
                what = "the request" if self._applying == "request" else f"finding {self._applying}"
                self.set_busy(f"Applying {what}… {self._apply_streamed:,} characters from the agent")
            return  # (a spec token outside either is stale: the editor is not the place)
        if self.turn is None or self.turn_step != step:
            await self._start_turn(step)
        assert self.turn is not None
        await self.turn.write(text)

    async def _start_turn(self, step: str | None, text: str = "") -> ChatTurn:
        if self.turn is not None:
            await self.turn.finish()
        role = BY_ID[step].actor if step in BY_ID else "agent"
        self.turn = await self.chat.add_turn(role, self.backend.model_for(step), text)
        self.turn_step = step
        return self.turn

    async def _end_turn(self, note: str = "") -> None:
        if self.turn is not None:
            await self.turn.finish(note)
        self.turn = None
        self.turn_step = None

    def _patch(self, step: str, status: str) -> None:
        view = self.view
        if view is not None and step in view.steps and view.steps[step] != status:
            self.view = replace(view, steps={**view.steps, step: status})

    async def on_engine_event(self, event: Event) -> None:
        kind, step, data = event.kind, event.step, event.data or {}
        if event.session_id and self.backend.session_id and event.session_id != self.backend.session_id:
            return  # a session that is no longer open
        if kind == ev.STATUS_CHANGED and step:
            self._patch(step, str(data.get("status") or ""))
            if not self.bridge.running:
                self.refresh_view()  # (what comes next, too: an edit outside a run)
            return
        if kind == ev.STEP_STARTED and step:
            self.cancelled_steps.discard(step)
            if self.bridge.running:
                self.set_busy(f"{BY_ID[step].title}…" if step in BY_ID else "working…")
            if step == "spec":
                self._spec_streamed = ""
                self._spec_streaming = True
                self.editor.stream_start()
                await self._start_turn(step, "Drafting `spec.md` in the Spec pane…")
                if self.size.width < 120 and self.active_pane == "chat":
                    self.show_pane("spec")  # watch the draft arrive where it is edited
            elif step in AGENT_STEPS and step != "tests":
                await self._start_turn(step)
        elif kind == ev.STEP_PROGRESS:
            if event.message and self.bridge.running:
                self.set_busy(event.message[:80])
        elif kind == ev.STEP_DONE and step:
            if step == "spec":
                self._spec_streaming = False
            if step == "docs":
                self.preview.applied = True
                if self.plan is not None:
                    self.preview.set_plan(self.plan, self.project_dir)
            await self._step_done(step, event)
            self.refresh_view()  # its tokens and cost
        elif kind == ev.STEP_FAILED and step:
            if step == "spec":
                self._spec_streaming = False
            await self._end_turn()
            text = f"**{step} failed:** {event.message}"
            if step == "review":
                self.editor.validate_now()
                text += "\n\nFix the spec in the editor (each error is marked at its line), then " \
                        f"**{self.key('app.next_step')}** reviews it again."
            await self.chat.add_turn(BY_ID[step].title if step in BY_ID else "step", text=text, kind="error")
        elif kind == ev.GATE and step:
            if data.get("gate") == "plan":
                self.refresh_plan()
            await self._end_turn()
        elif kind == ev.FINISHED:
            await self._end_turn()
            if data.get("status", "done") == "done":
                root = self.project_dir or self.wb.out_dir
                await self.chat.add_turn("Workbench", text=finish_message(root, self._template(), len(STEPS)))
                self.show_pane("chat")  # (the message says where the project is)
                self.call_after_refresh(self.show_pane, "chat")  # (after a gate's focus returns)
                self.notify(done_line(root), timeout=6)
        elif kind in (ev.FINDINGS_CHANGED, ev.SPEC_VERSION_ADDED, ev.APPROVED, ev.REJECTED, ev.STEPPED_BACK):
            self.refresh_view()
        if kind != ev.STEP_PROGRESS:
            self.reload_audit()

    async def _step_done(self, step: str, event: Event) -> None:
        data = event.data or {}
        if step == "request":
            return
        if step == "spec":
            # the stored spec is the one extracted from the reply (the stream may hold prose)
            text = data.get("spec_text") or self.backend.current_spec_text() or self._spec_streamed
            self.editor.load_draft(str(text))
            if self.turn is not None and self.turn_step == "spec":
                await self.turn.write(
                    f"\n\nDrafted **{len(str(text).splitlines())} lines**: edit them in the Spec pane.")
            await self._end_turn()
            return
        if step == "review":
            findings = self.backend.findings() or data.get("findings") or []
            if findings and (self.turn is None or not self.turn.text.strip()):
                if self.turn is None:
                    await self._start_turn(step)
                assert self.turn is not None
                await self.turn.write(render_findings(findings))
            elif not findings and self.turn is not None and not self.turn.text.strip():
                await self.turn.write("No findings.")
            hint = findings_hint(findings, self.key("app.findings"))
            if hint and self.turn is not None:
                await self.turn.write(f"\n\n{hint}")
        elif self.turn is not None and self.turn_step == step and not self.turn.text.strip():
            await self.turn.write(event.message or "Done.")
        await self._end_turn()
        if step in PLAN_STEPS:
            self.refresh_plan()

    async def engine_done(self, label: str, error: Exception | None, view: SessionView | None,
                          result: Any, then: Any, on_error: Any) -> None:
        self._spec_streaming = False
        self._applying = None
        self._view_seq += 1
        if view is not None or self.backend.session_id is None:
            self.set_view(view)
        open_gate, self._open_gate_after = self._open_gate_after, False
        self.set_busy("")
        self.update_editor_lock()
        await self._end_turn()
        try:
            if error is not None:
                message = str(error) or type(error).__name__
                if on_error is not None:
                    await maybe_await(on_error(error))
                else:
                    await self.chat.add_turn("Workbench", text=f"**{label}** stopped: {message}", kind="error")
            elif then is not None:
                await maybe_await(then(result))
            elif open_gate and self.waiting_gate is not None:
                self.open_gate()
        finally:
            self.reload_audit()

    def reload_audit(self) -> None:
        if self.is_attached and self.query(AuditPane):
            self.audit.reload()

    def refresh_plan(self) -> None:
        def work() -> None:
            try:
                plan = self.backend.plan()
            except Exception as exc:  # noqa: BLE001
                self.app.call_from_thread(self.notify, f"cannot render the plan: {exc}", severity="warning")
                return
            if plan is not None:
                self.app.call_from_thread(self._set_plan, plan)

        self.run_worker(work, thread=True, group="plan", exit_on_error=False)

    def _set_plan(self, plan: Any) -> None:
        self.plan = plan
        self.preview.set_plan(plan, self.project_dir)

    def _template(self) -> str | None:
        """The template of the spec on screen (for the next commands)."""
        try:
            from workbench.spec import parse_spec

            return str(parse_spec(self.editor.text).front.get("template") or "") or None
        except Exception:  # noqa: BLE001 - the default template's commands
            return None

    # -- sessions ----------------------------------------------------------
    async def open_session(self, prefix: str) -> None:
        """Reopen a session as it truly is: its steps, its spec (the approved one once
        approved), its plan (applied or waiting), its findings, and what to do next."""
        try:
            session = self.backend.find(prefix)
        except Exception as exc:  # noqa: BLE001 - a UsageError names what matched
            await self.chat.add_turn("Workbench", text=f"Cannot open `{prefix}`: {exc}", kind="error")
            return
        sid = session["id"]
        if self.backend.session_id is not None:
            self.save_typed()
            self._reset_session()
        self.backend.session_id = sid
        self.project_dir = Path(session["out_dir"])
        view = self.backend.view()
        assert view is not None
        spec = (self.backend.approved_spec() if view.steps.get("approval") == DONE else None) or view.spec
        if spec is not None:
            self.editor.restore(spec["text"], self.backend.draft_text() or spec["text"])
        self.preview.applied = view.applied
        self.audit.session = sid
        self._view_seq += 1
        self.set_view(view)
        if view.steps.get("approval") == DONE:
            self.refresh_plan()  # the approved plan: applied, or waiting at its gate
        self.reload_audit()
        await self.chat.add_turn("Workbench", text=self._reopened_text(view, session))

    def _reopened_text(self, view: SessionView, session: dict[str, Any]) -> str:
        head = f"Reopened session `{view.id[:12]}`: {session.get('request')}."
        nxt = self.key("app.next_step")
        if view.next.kind == "done":
            return f"{head}\n\n{finish_message(self.project_dir, self._template(), len(STEPS))}"
        if view.next.kind == "fix":
            return f"{head} **{BY_ID[view.next.step].title}** failed: fix what it says, then **{nxt}**."
        if view.next.kind == "approve":
            what = "the plan" if view.next.gate and view.next.gate.gate == "plan" else "the spec"
            return f"{head} Waiting for your approval of {what}: **{nxt}**."
        done = sum(1 for v in view.steps.values() if v == DONE)
        return f"{head} {done} of {len(STEPS)} steps done: **{nxt}** continues."

    async def mention_sessions(self) -> None:
        """A plain `workbench`: say that earlier sessions exist and how to reopen one."""
        try:
            sessions = self.backend.recent_sessions(limit=1000)
        except Exception:  # noqa: BLE001 - a note, never a failure
            return
        if not sessions or self.backend.session_id is not None:
            return
        n, last = len(sessions), sessions[0]
        await self.chat.add_turn("Workbench", text=(
            f"{n} earlier session{'s' if n != 1 else ''}, the latest `{str(last['id'])[:12]}` "
            f"({last.get('status')}). Reopen one with `workbench --session ID`, or the "
            "palette's (**F2**) **Open session…**."))

    def _reset_session(self) -> None:
        self.backend.session_id = None
        self._view_seq += 1
        self.view = None
        self.plan = None
        self.preview.applied = False
        self.preview.set_plan({}, None)
        self.editor.draft = ""
        self.editor.text_area.load_text("")
        self.editor.saved = ""
        self.audit.session = None

    async def new_tool(self) -> None:
        """A new tool: the open session is kept as it is; the chat takes a new request."""
        if self.busy:
            self.notify(f"Busy: {self.busy}", severity="warning")
            return
        if self.backend.session_id is not None:
            self.save_typed()
            old = self.backend.session_id
            self._reset_session()
            await self.chat.add_turn("Workbench", text=(
                f"Session `{old[:12]}` is kept (palette: **Open session…**). Describe the new tool "
                "below and press **Enter**."))
        self.show_pane("chat")

    # -- the chat ----------------------------------------------------------
    async def on_chat_pane_submitted(self, message: ChatPane.Submitted) -> None:
        text = message.text
        if self.busy:
            self.notify("Wait for the current step, or press Esc to cancel it.", severity="warning")
            return
        if self.backend.error and not self.backend.ready:
            self.notify(f"The engine could not start: {self.backend.error}", severity="error")
            return
        view = self.view
        if self.backend.session_id is not None and view is not None:
            await self._converse(text, view)
            return
        # (if the engine is still loading, the worker waits for it: the request is kept)
        if not self.wb.ask_folder:
            await self._start_session(text, project_dir(self.wb.out_dir, text), False)
            return
        from workbench.ui.screens.folder import FolderScreen

        async def chosen(choice: Any) -> None:
            if choice is None:  # Esc: back to the request, as typed
                self.chat.input.focus()
                return
            self.wb.out_dir = choice.path.parent  # the next project is offered beside it
            await self._start_session(text, choice.path, choice.read_context)

        self.app.push_screen(FolderScreen(project_dir(self.wb.out_dir, text)), chosen)

    async def _converse(self, text: str, view: SessionView) -> None:
        """A message about the open session: a revision of its spec, never a new session."""
        new = f"palette ({self.key('app.command_palette')}) → **New tool**"
        if view.applied or view.steps.get("approval") == DONE:
            await self.chat.add_turn("Workbench", kind="error", text=(
                f"The spec of this session is approved{' and applied' if view.applied else ''}, so a "
                f"message cannot change it here. A new tool: {new}; a change to the project: "
                "palette → **Open project…** (evolve)."))
            return
        if not view.spec:
            await self.chat.add_turn("Workbench", kind="error", text=(
                f"There is no spec to revise yet: **{self.key('app.next_step')}** drafts it. A new tool: {new}."))
            return
        from workbench.identity import human

        self.chat.input.value = ""
        await self.chat.add_turn("You", text=text, kind="human")
        self._applying, self._apply_streamed = "request", 0
        self.bridge.call("Revising the spec…", *self.save_first(),
                         (self.backend.revise_by_request, text, f"human:{human()}"),
                         then=self._revised, on_error=self._revise_failed)

    async def _revised(self, result: dict[str, Any]) -> None:
        text = result.get("spec_text") or ""
        self._save_latest = self._save_done = text  # saved already: the engine's version
        self.editor.load_revision(text)
        diff = list(difflib.unified_diff(str(result.get("before", "")).splitlines(), text.splitlines(),
                                         "before", f"v{result.get('version')}", lineterm="", n=1))
        shown = diff[:MAX_DIFF_LINES] + ([f"… {len(diff) - MAX_DIFF_LINES} more lines (F4 in the Spec pane)"]
                                         if len(diff) > MAX_DIFF_LINES else [])
        body = "\n".join(shown).replace("```", "ˋˋˋ")
        await self.chat.add_turn(
            BY_ID["spec"].actor, self.backend.model_for("spec"),
            text=f"Revised the spec → **v{result.get('version')}**:\n\n```diff\n{body}\n```\n\n"
                 f"The review runs again on it: **{self.key('app.next_step')}**. Earlier versions stay "
                 "(palette → Spec versions…).")

    async def _revise_failed(self, error: Exception) -> None:
        message = (str(error) or type(error).__name__).strip().splitlines()[0]
        await self.chat.add_turn("Workbench", text=f"Not applied: {message}", kind="error")

    async def _start_session(self, request: str, folder: Path, read_context: bool) -> None:
        self.chat.input.value = ""  # accepted: only now is the typed request cleared
        if self.backend.session_id is not None:
            self._reset_session()
        await self.chat.add_turn("You", text=request, kind="human")
        self.project_dir = folder
        if self.wb.ask_folder:
            repo = git_root(folder)
            read = (f" Reading `{repo}`'s README.md and pyproject.toml as context." if read_context
                    else f" Inside `{repo}`; nothing of it is read." if repo else "")
            await self.chat.add_turn("Workbench", text=f"The project goes to `{folder}`.{read}")

        def started() -> Any:
            sid = self.backend.start(request, folder, None, read_context)
            self.app.call_from_thread(self._started, sid)
            return self.backend.drive()

        self.bridge.call("Starting…", (started,))

    def _started(self, sid: str) -> None:
        self.audit.session = sid
        self._view_seq += 1
        self.refresh_view()

    def cancel_turn(self) -> None:
        if self.busy and self._applying is not None:  # the agent revising the spec
            self.run_worker(self.backend.cancel, thread=True, group="cancel", exit_on_error=False)
            what = "the request" if self._applying == "request" else f"finding {self._applying}"
            self.notify(f"Cancelling {what}: the spec stays as it was.")
            return
        if not self.busy or self.turn_step is None:
            return
        step = self.turn_step
        self.cancelled_steps.add(step)
        self.run_worker(self.backend.cancel, thread=True, group="cancel", exit_on_error=False)
        self.call_later(self._end_turn, "— cancelled (Esc)")
        self.notify(f"Cancelled the {step} turn.")

    # -- spec editing ------------------------------------------------------
    def on_spec_editor_save_requested(self, message: SpecEditor.SaveRequested) -> None:
        self._save_latest = message.text
        self.run_worker(self.save_spec_now, thread=True, group="autosave", exit_on_error=False)

    def on_spec_editor_validated(self, _message: SpecEditor.Validated) -> None:
        self.show_state()

    def save_spec_now(self) -> None:
        """Save the latest text (any thread); saves never overtake each other."""
        with self._save_lock:
            text = self._save_latest
            if text is None or text == self._save_done or self.backend.session_id is None:
                return
            try:
                self.backend.save_spec(text)
                view = self.backend.view()
                if threading.current_thread() is not threading.main_thread():
                    self.app.call_from_thread(self._after_save, view)
            except Exception as exc:  # noqa: BLE001
                try:
                    self.app.call_from_thread(self.notify, f"autosave failed: {exc}", severity="error")
                except RuntimeError:
                    pass
                return
            self._save_done = text

    def _after_save(self, view: SessionView | None) -> None:
        if not self.bridge.running:
            self._view_seq += 1
            self.set_view(view)
        self.reload_audit()

    def save_typed(self) -> None:
        """What was typed goes to its own session (on quit, before another opens)."""
        if self.backend.session_id is None or self.editor.text_area.read_only or not self.backend.ready:
            return
        self.editor.flush_save()
        self._save_latest = self.editor.text
        self.save_spec_now()

    def save_first(self) -> list[tuple[Any, ...]]:
        """Engine calls start with the editor's latest text saved (nothing typed is skipped)."""
        if self.backend.session_id is None or self.editor.text_area.read_only:
            return []
        self.editor.flush_save()
        self._save_latest = self.editor.text
        return [(self.save_spec_now,)]

    def toggle_diff(self) -> None:
        if self.active_pane == "preview":
            self.preview.action_toggle_diff()
        else:
            self.editor.action_toggle_diff()

    # -- lifecycle actions (the service decides; the screen asks) -----------
    def next_step(self) -> None:
        findings = self.findings_screen()
        if findings is not None and findings is self.app.screen:
            findings.dismiss(None)  # Ctrl+N from the findings: on to the review, in view
        view = self.view
        if self.backend.session_id is None or view is None:
            self.show_pane("chat")
            self.notify("Describe the tool you want in the chat first.")
            return
        if self.busy:
            self.notify(f"Busy: {self.busy}", severity="warning")
            return
        action = view.next
        if action.kind == "done":
            self.notify(done_line(self.project_dir or Path(view.out_dir)))
            return
        if (action.step == "spec" and view.spec and self.editor.text == view.spec.get("text")
                and not isinstance(self.app.screen, ConfirmScreen)):
            self.app.push_screen(ConfirmScreen(
                f"Re-draft the spec? The agent writes a new draft from the request; your spec "
                f"v{view.spec['version']} stays as a version (palette → Spec versions…). To review "
                "your own instead, edit it first.", "Re-draft", "Keep editing"),
                lambda ok: self._advance() if ok else self.show_pane("spec"))
            return
        self._advance()

    def _advance(self) -> None:
        """Save what was typed, then what the service says is next (at a gate: nothing
        runs, and the gate opens at the hash the service names)."""
        view = self.view
        step = view.next.step if view is not None and view.next.kind in ("run", "fix") else None
        label = f"Running {BY_ID[step].title}…" if step in BY_ID else "Opening the gate…"
        self._open_gate_after = True  # reaching a gate from Next opens it
        self.bridge.call(label, *self.save_first(), (self.backend.advance,))

    def _target_step(self, back: bool) -> str | None:
        """The step the developer chose in the stepper (Back: or the one before the step in hand)."""
        view = self.view
        if view is None:
            return None
        selected = self.stepper.selected_step
        here = current_step(view.steps)
        ids = [s.id for s in STEPS]
        if not back:
            return selected or here
        here_i = ids.index(here) if here else len(ids) - 1
        if selected and ids.index(selected) < here_i:
            return selected
        return ids[max(0, here_i - 1)]

    def step_back(self) -> None:
        if self.backend.session_id is None or self.busy:
            return
        target = self._target_step(back=True)
        if target is None:
            return
        self.stepper.select_step(target)
        self.bridge.call(f"Back to {BY_ID[target].title}…", (self.backend.step_back, target))

    def rerun(self) -> None:
        if self.backend.session_id is None or self.busy:
            return
        step = self._target_step(back=False)
        if step is None:
            return
        self.bridge.call(f"Re-running {BY_ID[step].title}…", *self.save_first(), (self.backend.rerun, step))

    def approve(self) -> None:
        """Open the waiting gate (a or ctrl+n); the service says whether one waits."""
        if isinstance(self.app.screen, ApprovalScreen):
            return  # (it is open already)
        if self.busy:
            self.notify(f"Busy: {self.busy}", severity="warning")
            return
        view = self.view
        if view is None or view.next.kind != "approve":
            self.notify("Nothing is waiting for approval" + (f": {view.next.message}" if view else "."))
            return
        if not self.editor.text_area.read_only and self.editor.text != (view.spec or {}).get("text"):
            self._open_gate_after = True
            self.bridge.call("Saving…", *self.save_first())  # the edit is reviewed first
            return
        self.open_gate()

    def gate_info(self) -> GateInfo | None:
        view = self.view
        gate = view.next.gate if view is not None else None
        if gate is None:
            return None
        if gate.gate == "plan":
            files = plan_files(self.plan)
            size = sum(len(file_content(f).encode("utf-8")) for f in files.values())
            owned = sum(1 for f in files.values() if getattr(f, "model_owned", False))
            later = sum(1 for f in files.values() if getattr(f, "step", "") in LATER_STEPS)
            detail = f"{owned} model-owned" + (f", {later} by the integrate steps" if later else "")
            return GateInfo("plan", gate.sha256, "Apply the plan to disk?", (
                ("files", f"{len(files)} ({detail})"),
                ("size", f"{size:,} bytes"),
                ("into", str(self.project_dir or view.out_dir)),
                ("sha256", gate.sha256),
            ))
        text = (view.spec or {}).get("text", "")
        name = summary = template = "?"
        commands = 0
        try:
            from workbench.spec import parse_spec

            spec = parse_spec(text)
            name, summary = str(spec.front.get("name", "?")), str(spec.front.get("summary", "?"))
            template = str(spec.front.get("template", "?"))
            commands = len(spec.front.get("commands") or [])
        except Exception:  # noqa: BLE001 - the errors are listed below
            pass
        errors = self.editor.errors
        warning = (f"The spec has {len(errors)} validation error(s); fix them first "
                   f"(line {errors[0].line}: {errors[0].detail})") if errors else ""
        return GateInfo("spec", gate.sha256, f"Approve spec v{(view.spec or {}).get('version', '?')}?", (
            ("name", name),
            ("summary", summary),
            ("template", template),
            ("commands", str(commands)),
            ("lines", str(len(text.splitlines()))),
            ("sha256", gate.sha256),
        ), warning, view.open_findings)

    def open_gate(self) -> None:
        info = self.gate_info()
        if info is None:
            return
        self.app.push_screen(ApprovalScreen(info), lambda ok: self._gate_answered(info, ok))

    def _gate_answered(self, info: GateInfo, approved: bool | None) -> None:
        from workbench.identity import human

        if approved is None:  # F8 in the gate: the findings first; the gate keeps waiting
            self.call_after_refresh(self.open_findings)
            return
        actor = f"human:{human()}"
        if not approved:
            self.bridge.call("Rejecting…", (self.backend.reject, "rejected in the TUI", actor),
                             then=lambda _gate: self._rejected(info))
            return
        what = "Applying the plan…" if info.gate == "plan" else "Approved: going on…"
        self.bridge.call(what, (self.backend.approve, info.sha256, actor))

    async def _rejected(self, info: GateInfo) -> None:
        if info.gate == "spec":
            text = (f"Rejected the spec at its gate ({info.sha256[:12]}): it is kept. Edit it in the "
                    f"Spec pane, then **{self.key('app.next_step')}** reviews your version.")
        else:
            text = (f"Rejected the plan ({info.sha256[:12]}): nothing was written. Back to the "
                    f"implementation: **{self.key('app.next_step')}** plans it again.")
        await self.chat.add_turn("Workbench", text=text)
        self.show_pane("spec" if info.gate == "spec" else "preview")

    # -- models ------------------------------------------------------------
    def switch_model(self) -> None:
        from workbench.ui.screens.models import ModelPicker

        step = self.stepper.selected_step
        self.app.push_screen(ModelPicker(self.backend.models(), self.backend.session_model, step),
                             lambda pick: self.apply_model(pick.model, pick.step) if pick else None)

    def apply_model(self, model: str, step: str | None = None) -> None:
        from workbench.identity import human

        def work() -> None:
            try:
                self.backend.switch_model(model, step, f"human:{human()}")
            except Exception as exc:  # noqa: BLE001 - e.g. no key: say so
                self.app.call_from_thread(self.notify, str(exc), severity="error")
                return
            self.app.call_from_thread(self._model_switched, model, step)

        self.run_worker(work, thread=True, group="switch", exit_on_error=False)

    def _model_switched(self, model: str, step: str | None) -> None:
        if step is not None:
            self.stepper.set_override(step, model)
        self.show_model()
        self.notify(f"Model {model} {'for ' + step if step else 'for the session'}.")
        self.reload_audit()
        self.wb.maybe_preload_litellm()

    # -- review findings ---------------------------------------------------
    def findings_screen(self) -> Any:
        from workbench.ui.screens.findings import FindingsScreen

        return next((s for s in self.app.screen_stack if isinstance(s, FindingsScreen)), None)

    def findings_notes(self) -> tuple[str, str]:
        """(what to know about the list, why nothing can be decided: "" when it can)."""
        steps = self.view.steps if self.view is not None else {}
        nxt = self.key("app.next_step")
        if steps.get("approval") == DONE:
            return "", "The spec is approved: its findings can no longer be applied or dismissed."
        review = steps.get("review")
        if review == FAILED:
            return f"The review failed: fix the errors in the spec, then {nxt}.", ""
        if review != DONE and steps.get("spec") == DONE:
            return f"The spec changed since this review: {nxt} runs the review again.", ""
        return "", ""

    def open_findings(self) -> None:
        """Open the findings screen (F8, the palette, F8 in the spec gate)."""
        from workbench.ui.screens.findings import FindingsScreen

        if self.findings_screen() is not None:
            return
        view = self.view
        if view is None:
            self.notify("No session yet: describe the tool you want in the chat first.")
            return
        if not view.findings:
            done = view.steps.get("review") == DONE
            self.notify("The review found nothing to change." if done
                        else f"No review findings yet: {self.key('app.next_step')} runs the review.")
            return
        note, locked = self.findings_notes()
        busy = self.busy if self._applying is not None else ""
        self.app.push_screen(FindingsScreen(self.findings, note, locked, busy))

    def apply_finding(self, number: int) -> None:
        from workbench.identity import human

        if self.busy:
            self._finding_failed(RuntimeError(f"Busy: {self.busy}"), severity="warning")
            return
        self._applying, self._apply_streamed = number, 0
        self.bridge.call(f"Applying finding {number}…", *self.save_first(),  # the agent revises what you typed
                         (self.backend.apply_finding, number, f"human:{human()}"),
                         then=self._finding_applied, on_error=self._finding_failed)

    def dismiss_finding(self, number: int, reason: str = "") -> None:
        from workbench.identity import human

        if self.busy:
            self._finding_failed(RuntimeError(f"Busy: {self.busy}"), severity="warning")
            return
        self.bridge.call(f"Dismissing finding {number}…",
                         (self.backend.dismiss_finding, number, reason, f"human:{human()}"),
                         then=self._finding_dismissed, on_error=self._finding_failed)

    async def _finding_applied(self, result: dict[str, Any]) -> None:
        text = result.get("spec_text")
        if text is not None:
            self._save_latest = self._save_done = text  # saved already: the engine's version
            self.editor.load_revision(text)
        nxt = self.key("app.next_step")
        line = f"Applied finding {result.get('n')} → spec v{result.get('spec_version')}"
        await self.chat.add_turn(
            BY_ID["spec"].actor, self.backend.model_for("spec"),
            text=f"{line} ({result.get('severity')} at `{result.get('location')}`). "
                 f"The review runs again on it: **{nxt}**.")
        self.notify(f"{line}. {nxt} runs the review again.")
        screen = self.findings_screen()
        if screen is not None:
            screen.show_message(f"✓ {line}. {nxt} runs the review again.")

    def _finding_dismissed(self, result: dict[str, Any]) -> None:
        reason = result.get("reason") or ""
        line = f"Dismissed finding {result.get('n')}" + (f": {reason}" if reason else "")
        self.notify(line, markup=False)  # (the reason is the developer's words, not markup)
        screen = self.findings_screen()
        if screen is not None:
            screen.show_message(f"✓ {line}")

    def _finding_failed(self, error: Exception, severity: str = "error") -> None:
        """A refusal or a model failure: one line; the spec and the findings are unchanged."""
        message = (str(error) or type(error).__name__).strip().splitlines()[0]
        if getattr(error, "cause", "") == "cancelled":  # Esc: what was asked for happened
            severity = "warning"
        self.notify(message, severity=severity, timeout=8, markup=False)  # type: ignore[arg-type]
        screen = self.findings_screen()
        if screen is not None:
            screen.show_error(message)

    def pick_session(self) -> None:
        """The palette's "Open session…": the recent sessions, to reopen one."""
        from workbench.ui.screens.sessions import SessionsScreen

        if self.busy:
            self.notify(f"Busy: {self.busy}", severity="warning")
            return
        try:
            sessions = self.backend.recent_sessions()
        except Exception as exc:  # noqa: BLE001 - e.g. the engine could not start
            self.notify(f"Cannot list sessions: {exc}", severity="error", markup=False)
            return

        async def picked(sid: str | None) -> None:
            if sid is not None and not self.busy:
                await self.open_session(sid)

        self.app.push_screen(SessionsScreen(sessions, self.backend.session_id), picked)


def render_findings(findings: list[Any]) -> str:
    """The findings as a Markdown list: numbered (the numbers F8 and `workbench findings`
    use), with the developer's decision when there is one."""
    lines = []
    for f in findings:
        n, sev, loc, text, sug = (f.get(k, "") for k in ("n", "severity", "location", "text", "suggestion"))
        line = f"{n}. **{sev or 'info'}** `{loc}`: {text}" if n else f"- **{sev or 'info'}** `{loc}`: {text}"
        if sug:
            line += f" *{sug}*"
        status = f.get("status", "open") or "open"
        if status != "open":
            reason = f.get("reason", "")
            line += f" (**{status}**{': ' + reason if reason else ''})"
        lines.append(line)
    return "\n".join(lines)


def findings_hint(findings: list[dict[str, Any]], key: str = "F8") -> str:
    """What to do about the open findings, in a line ("" when none is open)."""
    count = sum(1 for f in findings if (f.get("status") or "open") == "open")
    if not count:
        return ""
    if count == 1:
        return f"**1 open finding**: press **{key}** to apply or dismiss it."
    return f"**{count} open findings**: press **{key}** to apply or dismiss them."

__all__ = ["MainScreen", "PANES", "default_projects_base", "render_findings", "findings_hint"]
