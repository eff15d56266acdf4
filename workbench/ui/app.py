"""The Workbench TUI: a view over the lifecycle engine.

The first frame needs only Textual and the step table. The engine, the store and
(only when a real model is configured) LiteLLM are loaded in thread workers after
the first frame. Every engine call runs in a thread worker; the engine's events
come back as messages, its tokens through a buffer flushed at 20 fps.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Footer, Label, Tab, Tabs

from workbench import paths
from workbench.lifecycle import events as ev_kinds
from workbench.lifecycle.events import Event
from workbench.lifecycle.steps import (
    BY_ID,
    DONE,
    FAILED,
    LEARNING,
    PENDING,
    PLAN_STEPS,
    REVIEWER,
    RUNNING,
    STEP_IDS,
    STEPS,
    TOOL_BUILDER,
    WAITING,
    steps_of,
)
from workbench.ui.backend import (
    OFFLINE,
    Backend,
    default_projects_base,
    git_root,
    project_dir,
    sha256_text,
)
from workbench.ui.commands import WorkbenchCommands
from workbench.ui.next_steps import done_line, finish_message
from workbench.ui.screens import hooks as start_hooks
from workbench.ui.screens.gate import ApprovalScreen, GateInfo
from workbench.ui.widgets.audit import AuditPane
from workbench.ui.widgets.chat import ChatPane, ChatTurn
from workbench.ui.widgets.preview import LATER_STEPS, PreviewPane, file_content, plan_files
from workbench.ui.widgets.spec_editor import SpecEditor
from workbench.ui.widgets.stepper import Stepper

PANES = ("chat", "spec", "preview", "audit")
PANE_TITLES = {"chat": "Chat", "spec": "Spec", "preview": "Preview", "audit": "Audit log"}
AGENT_STEPS = steps_of(TOOL_BUILDER, REVIEWER, LEARNING)  # the steps an agent reports on in the chat
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
FLUSH_INTERVAL = 1 / 20  # tokens are drawn at up to 20 fps: smooth, with few relayouts
# While a reply streams, drawing it may take at most this share of the UI thread's CPU;
# past it, tokens gather and are drawn together (but at least every MAX_FLUSH_GAP s).
# A fast model then competes less with the gateway's thread for the GIL, and keys
# typed meanwhile stay responsive.
STREAM_CPU_SHARE = 0.15
MAX_FLUSH_GAP = 0.25

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


class EngineWake(Message):
    """Events are waiting in the app's queue."""


class FittingFooter(Footer):
    """The footer, less the keys that would not fit whole. (Textual's footer cuts the
    last key short: at 80 columns, with the spec editor's F4 in front, "f8 Findin".)
    A key's width comes from its text, so the keys are fitted as they are composed,
    before the first frame shows them, and again on a resize.

    Recomposes (one per change of focus or bindings) run one at a time: two that overlap
    can leave both sets of keys mounted, the older first, so that a stale footer shows
    and the current one is pushed off the edge."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recompose_lock = asyncio.Lock()

    async def recompose(self) -> None:
        async with self._recompose_lock:
            await super().recompose()

    def compose(self) -> ComposeResult:
        fit = self._fitter()
        for widget in super().compose():
            if type(widget).__name__ == "FooterKey":
                widget.display = fit(widget)
            yield widget

    def on_resize(self) -> None:
        fit = self._fitter()
        for key in self.query("FooterKey"):
            show = fit(key)
            if key.display != show:
                key.display = show

    def _fitter(self) -> Any:
        width = self.size.width or self.app.size.width
        used, cut = 0, False

        def fit(key: Any) -> bool:
            nonlocal used, cut
            if key.has_class("-command-palette"):  # (docked right, not in the row)
                return True
            text = key.key_display + (f" {key.description}" if key.description else "")
            need = cell_len(text) + (0 if self.compact else 3)
            cut = cut or used + need > width
            used += need + (1 if self.compact else 0)  # the compact footer's margin-right
            return not cut

        return fit


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


class WorkbenchApp(App):
    """Spec-first building of command-line tools, step by step."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "Workbench"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    BINDINGS = [
        Binding("ctrl+n", "next_step", "Next", id="app.next_step", priority=True),
        Binding("ctrl+o", "step_back", "Back", id="app.step_back", priority=True),
        Binding("ctrl+r", "rerun", "Re-run", id="app.rerun", priority=True),
        Binding("f3", "switch_model", "Model", id="app.switch_model", priority=True),
        Binding("f2", "command_palette", "Commands", id="app.command_palette", priority=True),
        # (both keys: Textual adds its own ctrl+p only when nothing binds command_palette,
        # and VS Code's terminal keeps ctrl+p for itself, so F2 is the one the footer shows)
        Binding("ctrl+p", "command_palette", "Commands", show=False,
                id="app.command_palette_ctrl_p", priority=True),
        Binding("ctrl+t", "next_pane", "Pane", id="app.next_pane", priority=True),
        Binding("f4", "toggle_diff", "Diff", show=False, id="app.toggle_diff"),
        # (not f6: the editor's TextArea selects a line with it and VS Code's terminal keeps
        # it for "focus next part"; not ctrl+f: TextArea deletes a word, VS Code finds)
        Binding("f8", "findings", "Findings", id="app.findings"),
        Binding("escape", "cancel_turn", "Cancel turn", show=False, id="app.cancel_turn"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(
        self,
        backend: Backend | None = None,
        *,
        out_dir: Path | None = None,
        cursor_blink: bool | None = None,
        open_backend: bool = True,
        resume_session: str | None = None,
    ) -> None:
        super().__init__()
        self.resume_session = resume_session
        self.backend = backend or Backend()
        # With no folder given (plain `workbench`), the developer chooses where each
        # project goes before it is drafted; this is only the folder first offered.
        self.ask_folder = out_dir is None
        self.out_dir = Path(out_dir) if out_dir is not None else default_projects_base()
        self.cursor_blink = (not env_flag("WORKBENCH_NO_BLINK")) if cursor_blink is None else cursor_blink
        self.open_backend = open_backend
        self.waiting_gate: tuple[str, str] | None = None  # (step, gate)
        self.busy: str = ""  # what the engine worker is doing
        self.active_pane = "chat"
        self.plan: Any = None
        self.gate_data: dict[str, dict[str, Any]] = {}  # the engine's word on each gate
        self.project_dir: Path | None = None
        self.turn: ChatTurn | None = None  # the streaming agent turn
        self.turn_step: str | None = None
        self.cancelled_steps: set[str] = set()
        self._events: list[Event] = []
        self._token_lock = threading.Lock()
        self._drain_lock = asyncio.Lock()
        self.engine_running = False
        self._gate_after_run = False
        self._flush_timer: Timer | None = None
        self._last_flush = (0.0, 0.0)  # (monotonic, UI-thread CPU) at the last timed flush
        self._spin_timer: Timer | None = None
        self._spin = 0
        self._spec_streamed = ""
        self._spec_streaming = False  # between the spec step's start and its end
        self.findings: list[dict[str, Any]] = []  # the review's findings, with their status
        self._applying: int | None = None  # the finding the agent is applying
        self._apply_streamed = 0
        self._save_lock = threading.Lock()
        self._save_latest: str | None = None
        self._save_done: str | None = None
        self.litellm_preloaded = False
        self.first_frame = threading.Event()

    # -- layout ------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        """The default screen, born with its breakpoint classes (no restyle on the first resize)."""
        screen = super().get_default_screen()
        width, height = self.size
        for limits, value in ((self.HORIZONTAL_BREAKPOINTS, width), (self.VERTICAL_BREAKPOINTS, height)):
            chosen = None
            for threshold, name in limits:
                if value >= threshold:
                    chosen = name
            if chosen:
                screen.add_class(chosen)
        return screen

    def compose(self) -> ComposeResult:
        with Horizontal(id="topbar"):
            yield Label("◆ Workbench", id="brand")
            yield Label("", id="state")
            yield Label("", id="model")
        with Horizontal(id="main"):
            yield Stepper(id="stepper")
            with Vertical(id="work"):
                yield Tabs(*(Tab(PANE_TITLES[p], id=f"tab-{p}") for p in PANES), id="pane-tabs")
                with Container(id="panes"):
                    initial = [("Workbench", WELCOME, "system")]
                    if self.backend.session_model == OFFLINE:
                        initial.append(("Workbench", OFFLINE_NOTICE, "notice"))
                    yield ChatPane(initial, id="chat", classes="pane -active")
                    yield SpecEditor(id="spec", classes="pane")
                    yield PreviewPane(id="preview", classes="pane")
                    yield AuditPane(id="audit", classes="pane")
        yield FittingFooter(show_command_palette=False, compact=True)

    def _main(self, kind):
        """A widget of the main screen, also while a modal screen (a gate, the models or
        the findings) is on top of it: engine events keep arriving then."""
        stack = self.screen_stack
        return (stack[0] if stack else self).query_one(kind)

    @property
    def stepper(self) -> Stepper:
        return self._main(Stepper)

    @property
    def chat(self) -> ChatPane:
        return self._main(ChatPane)

    @property
    def editor(self) -> SpecEditor:
        return self._main(SpecEditor)

    @property
    def preview(self) -> PreviewPane:
        return self._main(PreviewPane)

    @property
    def audit(self) -> AuditPane:
        return self._main(AuditPane)

    async def on_mount(self) -> None:
        for pane in PANES:
            self.query_one(f"#{pane}").border_title = PANE_TITLES[pane]
        if not self.cursor_blink:
            for widget in self.query("Input, TextArea"):
                widget.cursor_blink = False  # type: ignore[attr-defined]
        self.editor.text_area.read_only = True
        self.audit.fetch = self.backend.list_events
        self._show_model()
        self._show_state()
        self.chat.input.focus()  # at once: the first keys typed must not be lost
        start_hooks.on_start(self)  # the remembered theme, F9, the doctor line (screens/hooks.py)
        self.call_after_refresh(self._after_first_frame)

    def _after_first_frame(self) -> None:
        self.first_frame.set()
        if self.open_backend:
            self._open_backend()
        self._maybe_preload_litellm()

    # -- background loading ------------------------------------------------
    @work(thread=True, group="open", exit_on_error=False)
    def _open_backend(self) -> None:
        try:
            self.backend.open(self._engine_callback)
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app stays usable
            self.backend.error = f"{type(exc).__name__}: {exc}"
            self.call_from_thread(self._backend_failed)
            return
        self.call_from_thread(self._backend_ready)

    def _backend_ready(self) -> None:
        self._show_state()
        self.audit.reload()
        if self.resume_session:
            self.call_later(self._resume, self.resume_session)
        else:
            self.call_later(self._mention_sessions)
            start_hooks.after_backend(self)  # earlier sessions: the start screen first
        try:
            from workbench.scaffold import list_templates

            self.editor.templates = [t.id for t in list_templates()]
        except Exception:  # noqa: BLE001 - validation without the template list
            self.editor.templates = None

    async def _mention_sessions(self) -> None:
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

    async def _resume(self, prefix: str) -> None:
        """Reopen a session (`workbench --session ID`, or the palette's "Open session…") as
        it truly is: its steps, its spec (the approved one once approved), its plan (applied
        or waiting), its findings, and what to do next."""
        store = self.backend.store
        matches = store.find_sessions(prefix) if hasattr(store, "find_sessions") else []
        if len(matches) != 1:
            why = "no session matches" if not matches else f"{len(matches)} sessions match"
            await self.chat.add_turn("Workbench", text=f"Cannot resume `{prefix}`: {why}.", kind="error")
            return
        sid = matches[0]
        if self.backend.session_id is not None:
            self._reset_session()
        session = store.get_session(sid)
        self.backend.session_id = sid
        self.project_dir = Path(session["out_dir"])
        status = self.backend.status()
        spec = self._session_spec(sid, approved=status.get("approval") == DONE)
        if spec is not None:
            draft = store.get_output(sid, "spec", "draft") if hasattr(store, "get_output") else None
            self.editor.restore(spec["text"], draft or spec["text"])
        self.preview.applied = status.get("docs") == DONE
        self.sync_states(status)
        self._load_findings()
        if status.get("approval") == DONE:
            self._refresh_plan()  # the approved plan: applied, or waiting at its gate
        self.audit.reload()
        await self.chat.add_turn("Workbench", text=self._resumed_text(sid, session, status))

    def _session_spec(self, sid: str, approved: bool) -> dict[str, Any] | None:
        """The spec version to show: the approved one when the gate was passed, else the latest."""
        store = self.backend.store
        if approved and hasattr(store, "get_approval") and hasattr(store, "list_spec_versions"):
            approval = store.get_approval(sid, "spec")
            for version in reversed(store.list_spec_versions(sid)):
                if approval and version["sha256"] == approval["sha256"]:
                    return version
        return store.get_spec_version(sid) if hasattr(store, "get_spec_version") else None

    def _resumed_text(self, sid: str, session: dict[str, Any], status: dict[str, str]) -> str:
        head = f"Reopened session `{sid[:12]}`: {session.get('request')}."
        if status and all(v == DONE for v in status.values()):
            return f"{head}\n\n{finish_message(self.project_dir, self._template(), len(STEPS))}"
        failed = [s for s in STEP_IDS if status.get(s) == FAILED]
        if failed:
            return (f"{head} **{BY_ID[failed[0]].title}** failed: fix what it says, then "
                    "**Ctrl+R** re-runs it.")
        if self.waiting_gate is not None:
            step, gate = self.waiting_gate
            what = "the plan" if (gate == "plan" or step == "docs") else "the spec"
            return f"{head} Waiting for your approval of {what}: **Ctrl+N**."
        done = sum(1 for v in status.values() if v == DONE)
        return f"{head} {done} of {len(STEPS)} steps done: **Ctrl+N** continues."

    def _template(self) -> str | None:
        """The template of the spec on screen (for the next commands)."""
        try:
            from workbench.spec import parse_spec

            return str(parse_spec(self.editor.text).front.get("template") or "") or None
        except Exception:  # noqa: BLE001 - the default template's commands
            return None

    async def _backend_failed(self) -> None:
        self._show_state()
        await self.chat.add_turn(
            "Workbench", text=f"The lifecycle engine could not start: `{self.backend.error}`",
            kind="error")

    def _maybe_preload_litellm(self) -> None:
        if self.backend.uses_litellm() and not self.litellm_preloaded:
            self.litellm_preloaded = True
            self._preload_litellm()

    @work(thread=True, group="preload", exit_on_error=False)
    def _preload_litellm(self) -> None:
        try:
            from workbench.llm import gateway

            gateway.preload().join()
        except Exception as exc:  # noqa: BLE001 - the call itself will report it
            self.call_from_thread(self.notify, f"LiteLLM could not load: {exc}", severity="warning")

    # -- status ------------------------------------------------------------
    def _show_model(self) -> None:
        overrides = self.backend.overrides
        text = Text.assemble(("model ", "dim"), (self.backend.session_model, "bold"))
        if overrides:
            text.append(f" +{len(overrides)} step override" + ("s" if len(overrides) > 1 else ""),
                        style="dim")
        self.query_one("#model", Label).update(text)

    def _show_state(self) -> None:
        label = self.query_one("#state", Label)

        def show(text: Text) -> None:
            label.update(text, layout=False)  # one line of fixed size: no re-layout of the screen

        states = self.stepper.states
        done = sum(1 for s in states.values() if s == DONE)
        if self.busy:
            show(Text.assemble((SPINNER[self._spin % len(SPINNER)] + " ", "bold"),
                                       self.busy, (f"  {done}/{len(STEPS)}", "dim")))
        elif self.waiting_gate:
            step, gate = self.waiting_gate
            what = "the plan" if (gate == "plan" or step == "docs") else "the spec"
            show(Text.assemble(("◆ waiting for approval: ", "bold"), what,
                                       ("  ctrl+n to review", "dim")))
        elif self.backend.error and not self.backend.ready:
            show(Text("engine unavailable", style="bold"))
        elif self.backend.session_id is None:
            show(Text("no session: describe a tool in the chat", style="dim"))
        elif done == len(STEPS):
            show(Text(f"✓ all {len(STEPS)} steps done", style="bold"))
        else:
            failed = [s for s, v in states.items() if v == FAILED]
            if failed:
                show(Text(f"✗ {BY_ID[failed[0]].title} failed  Ctrl+R to re-run", style="bold"))
            else:
                show(Text(f"{done}/{len(STEPS)} steps done  Ctrl+N for the next", style="dim"))

    def _set_busy(self, what: str) -> None:
        self.busy = what
        if what and self._spin_timer is None:
            self._spin_timer = self.set_interval(0.1, self._tick)
        if not what and self._spin_timer is not None:
            self._spin_timer.stop()
            self._spin_timer = None
        self._show_state()

    def _tick(self) -> None:
        self._spin += 1
        self._show_state()

    # -- panes -------------------------------------------------------------
    def action_show_pane(self, pane: str) -> None:
        if pane not in PANES:
            return
        self._activate_pane(pane)
        target: Widget = {
            "chat": lambda: self.chat.input,
            "spec": lambda: self.editor.text_area,
            "preview": lambda: self.preview.tree,
            "audit": lambda: self.audit.table,
        }[pane]()
        target.focus()

    def _activate_pane(self, pane: str) -> None:
        self.active_pane = pane
        for p in PANES:
            self.query_one(f"#{p}").set_class(p == pane, "-active")
        tabs = self.query_one("#pane-tabs", Tabs)
        if tabs.active != f"tab-{pane}":
            tabs.active = f"tab-{pane}"
        if pane == "spec":
            self.call_after_refresh(self._reset_editor_scroll)

    def _reset_editor_scroll(self) -> None:
        """A pane hidden behind a tab scrolls against a zero-size view: put it right."""
        ta = self.editor.text_area
        if ta.size.width:
            ta.scroll_to(x=0, animate=False, immediate=True)
            ta.scroll_cursor_visible(animate=False)

    def action_next_pane(self) -> None:
        i = PANES.index(self.active_pane)
        self.action_show_pane(PANES[(i + 1) % len(PANES)])

    @on(Tabs.TabActivated, "#pane-tabs")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        # React only to the tabs' current state: a stale message (the pane changed again
        # since it was sent) must not switch back, or two panes would ping-pong forever.
        if event.tab.id != event.tabs.active:
            return
        pane = (event.tab.id or "tab-chat").removeprefix("tab-")
        if pane != self.active_pane:
            self._activate_pane(pane)

    def on_descendant_focus(self, event: Any) -> None:
        widget = getattr(event, "widget", None) or self.focused
        node = widget
        while node is not None:
            if node.id in PANES:
                if node.id != self.active_pane:
                    self._activate_pane(node.id)
                return
            node = node.parent

    def selected_step(self) -> str | None:
        return self.stepper.selected_step

    # -- the engine's events ----------------------------------------------
    def _engine_callback(self, event: Event) -> None:
        """Called on the engine's thread. Events keep their order in one queue; the UI
        drains it at 20 fps (tokens) or at once (any other event)."""
        with self._token_lock:
            self._events.append(event)
        if event.kind != ev_kinds.TOKEN:
            self.post_message(EngineWake())

    def push_tokens(self, step: str | None, text: str) -> None:
        """Feed a token as the engine would (used by tests and the benchmark)."""
        with self._token_lock:
            self._events.append(Event(ev_kinds.TOKEN, self.backend.session_id or "", step, text))

    async def drain_events(self) -> None:
        """Handle every queued event in order; runs of tokens are written at once."""
        async with self._drain_lock:
            while True:
                with self._token_lock:
                    events, self._events = self._events, []
                if not events:
                    return
                i = 0
                while i < len(events):
                    event = events[i]
                    if event.kind == ev_kinds.TOKEN:
                        parts = []
                        step = event.step
                        while (i < len(events) and events[i].kind == ev_kinds.TOKEN
                               and events[i].step == step):
                            e = events[i]
                            parts.append(e.message or str(e.data.get("token", "") or e.data.get("text", "")))
                            i += 1
                        await self._write_tokens(step, "".join(parts))
                        continue
                    await self.handle_event(event)
                    i += 1

    flush_tokens = drain_events

    async def _write_tokens(self, step: str | None, text: str) -> None:
        if not text or step in self.cancelled_steps:
            return
        if step == "spec":
            if self._spec_streaming:  # the draft, streamed into the editor as it is written
                self._spec_streamed += text
                self.editor.stream_write(text)
            elif self._applying is not None:
                # A finding being applied: the agent's reply (prose and all) is not the
                # spec, so the editor waits for the new version; the top bar counts it.
                self._apply_streamed += len(text)
                self._set_busy(f"Applying finding {self._applying}… "
                               f"{self._apply_streamed:,} characters from the agent")
            return  # (a spec token outside either is stale: the editor is not the place)
        if self.turn is None or self.turn_step != step:
            await self._start_turn(step)
        assert self.turn is not None
        await self.turn.write(text)

    async def on_engine_wake(self, _message: EngineWake) -> None:
        await self.drain_events()

    def _start_flushing(self) -> None:
        if self._flush_timer is None:
            self._flush_timer = self.set_interval(FLUSH_INTERVAL, self._flush_tick)

    async def _flush_tick(self) -> None:
        """The 20 fps timer: draw what has arrived, unless the UI thread has been busy."""
        now = (time.monotonic(), time.thread_time())
        if not flush_due(now, self._last_flush):
            return  # let tokens gather; they are drawn in one go at a later tick
        self._last_flush = now
        await self.drain_events()

    def _stop_flushing(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None

    async def _start_turn(self, step: str | None, text: str = "") -> ChatTurn:
        if self.turn is not None:
            await self.turn.finish()
        role = BY_ID[step].actor if step in BY_ID else "agent"
        model = self.backend.model_for(step)
        self.turn = await self.chat.add_turn(role, model, text)
        self.turn_step = step
        return self.turn

    async def _end_turn(self, note: str = "") -> None:
        if self.turn is not None:
            await self.turn.finish(note)
        self.turn = None
        self.turn_step = None

    async def handle_event(self, event: Event) -> None:
        kind, step, data = event.kind, event.step, event.data or {}
        stepper = self.stepper
        if kind == ev_kinds.STEP_STARTED and step:
            stepper.set_state(step, RUNNING)
            self.cancelled_steps.discard(step)
            if self.engine_running:
                self._set_busy(f"{BY_ID[step].title}…" if step in BY_ID else "working…")
            if step == "spec":
                self._spec_streamed = ""
                self._spec_streaming = True
                self.editor.stream_start()
                await self._start_turn(step, "Drafting `spec.md` in the Spec pane…")
                if self.screen.has_class("-narrow") and self.active_pane == "chat":
                    self.action_show_pane("spec")  # watch the draft arrive where it is edited
            elif step in AGENT_STEPS and step != "tests":
                await self._start_turn(step)
        elif kind == ev_kinds.STEP_PROGRESS:
            if event.message and self.engine_running:
                self._set_busy(event.message[:80])
        elif kind == ev_kinds.STEP_DONE and step:
            stepper.set_state(step, DONE)
            if step == "spec":
                self._spec_streaming = False
            if step == "docs" and not self.preview.applied:
                self.preview.applied = True
                if self.plan is not None:
                    self.preview.set_plan(self.plan, self.project_dir)
            if self.waiting_gate and self.waiting_gate[0] == step:
                self.waiting_gate = None
            await self._step_done(step, event)
        elif kind == ev_kinds.STEP_FAILED and step:
            stepper.set_state(step, FAILED)
            if step == "spec":
                self._spec_streaming = False
            await self._end_turn()
            text = f"**{step} failed:** {event.message}"
            if step == "review":
                findings = self._load_findings()
                if findings:
                    text += "\n\n" + render_findings(findings)
                text += "\n\nFix the spec (errors are marked at their line), then **Ctrl+N**."
            await self.chat.add_turn(BY_ID[step].title if step in BY_ID else "step", text=text,
                                     kind="error")
            self.notify(f"{step} failed: {event.message}", severity="error", timeout=8)
        elif kind == ev_kinds.GATE and step:
            gate = str(data.get("gate") or BY_ID[step].gate or step)
            stepper.set_state(step, WAITING)
            self.waiting_gate = (step, gate)
            self.gate_data[gate] = dict(data)
            if gate == "plan":
                self._refresh_plan()
            await self._end_turn()
        elif kind == ev_kinds.FINISHED:
            await self._end_turn()
            root = self.project_dir or self.out_dir
            await self.chat.add_turn("Workbench", text=finish_message(root, self._template(), len(STEPS)))
            self.action_show_pane("chat")  # (the message says where the project is)
            self.notify(done_line(root), timeout=6)
        self._show_state()
        self.update_editor_lock()
        if kind != ev_kinds.STEP_PROGRESS:
            self.audit.reload()

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
            # numbered, with the developer's decisions (a dismissal holds across reviews)
            findings = self._load_findings() or data.get("findings") or []
            if findings and (self.turn is None or not self.turn.text.strip()):
                if self.turn is None:
                    await self._start_turn(step)
                assert self.turn is not None
                await self.turn.write(render_findings(findings))
            elif not findings and self.turn is not None and not self.turn.text.strip():
                await self.turn.write("No findings.")
            hint = findings_hint(self.findings)
            if hint and self.turn is not None:
                await self.turn.write(f"\n\n{hint}")
        elif self.turn is not None and self.turn_step == step and not self.turn.text.strip():
            await self.turn.write(event.message or "Done.")
        await self._end_turn()
        if step in PLAN_STEPS:
            self._refresh_plan()

    # -- engine calls (thread workers) -------------------------------------
    def _call_engine(self, label: str, *calls: tuple[Any, ...], then: Any = None,
                     on_error: Any = None) -> bool:
        """Run `calls` in order in the engine's thread worker (one at a time). When they are
        done: the step states and findings are refreshed, then `then(result of the last
        call)` runs on the UI thread, or `on_error(exc)` (default: a chat line and a
        notification). False when the engine is busy and nothing was started."""
        if self.busy:
            self.notify(f"Busy: {self.busy}", severity="warning")
            return False
        self._set_busy(label)
        self.engine_running = True
        self.update_editor_lock()
        self._start_flushing()
        self._engine_worker(label, calls, then, on_error)
        return True

    @work(thread=True, exclusive=True, group="engine", exit_on_error=False)
    def _engine_worker(self, label: str, calls: tuple[tuple[Any, ...], ...], then: Any = None,
                       on_error: Any = None) -> None:
        error: Exception | None = None
        result: Any = None
        try:
            for fn, *args in calls:
                result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - shown to the user
            error = exc
        try:
            status = self.backend.status()
        except Exception:  # noqa: BLE001
            status = {}
        try:
            findings: list[dict[str, Any]] | None = self.backend.findings()
        except Exception:  # noqa: BLE001 - the list stays as it was
            findings = None
        self.call_from_thread(self._engine_done, label, error, status, findings, result, then,
                              on_error)

    async def _engine_done(self, label: str, error: Exception | None,
                           status: dict[str, str] | None = None,
                           findings: list[dict[str, Any]] | None = None, result: Any = None,
                           then: Any = None, on_error: Any = None) -> None:
        await self.drain_events()
        self.engine_running = False
        self._spec_streaming = False
        self._applying = None
        if status:
            self.sync_states(status)
        if findings is not None:
            self._set_findings(findings)
        self.update_editor_lock()
        open_gate, self._gate_after_run = self._gate_after_run, False
        self._stop_flushing()
        self._set_busy("")
        await self._end_turn()
        try:
            if error is not None:
                message = str(error) or type(error).__name__
                if on_error is not None:
                    await _maybe_await(on_error(error))
                else:
                    await self.chat.add_turn("Workbench", text=f"**{label}** stopped: {message}",
                                             kind="error")
                    self.notify(message, severity="error", timeout=8)
            elif then is not None:
                await _maybe_await(then(result))
            elif open_gate and self.waiting_gate is not None:
                self.action_approve()
        finally:
            self.audit.reload()

    def update_editor_lock(self) -> None:
        """The spec is editable once drafted, until approved, and never while a step runs."""
        states = self.stepper.states
        ta = self.editor.text_area
        locked = (self.engine_running or self.backend.session_id is None
                  or states.get("spec") != DONE or states.get("approval") == DONE)
        if ta.read_only != locked:
            ta.read_only = locked
        if locked and states.get("approval") == DONE:
            self.editor.border_subtitle = "approved · read-only"
        elif not locked:
            self.editor.border_subtitle = "autosaved · F4 diff"
        else:
            self.editor.border_subtitle = ""

    def sync_states(self, status: dict[str, str]) -> None:
        """Mirror the engine's step states (after an edit, a step back, a run)."""
        stepper = self.stepper
        waiting = None
        for step, state in status.items():
            stepper.set_state(step, state)
            if state == WAITING and step in BY_ID:
                waiting = (step, BY_ID[step].gate or step)
        self.waiting_gate = waiting
        self._show_state()
        self.update_editor_lock()

    @work(thread=True, group="plan", exit_on_error=False)
    def _refresh_plan(self) -> None:
        try:
            plan = self.backend.plan()
        except Exception as exc:  # noqa: BLE001
            self.call_from_thread(self.notify, f"cannot render the plan: {exc}", severity="warning")
            return
        if plan is not None:
            self.call_from_thread(self._set_plan, plan)

    def _set_plan(self, plan: Any) -> None:
        self.plan = plan
        self.preview.set_plan(plan, self.project_dir)

    # -- chat --------------------------------------------------------------
    async def on_chat_pane_submitted(self, message: ChatPane.Submitted) -> None:
        request = message.text
        if self.busy:
            self.notify("Wait for the current step, or press Esc to cancel it.", severity="warning")
            return
        if self.backend.error and not self.backend.ready:
            self.notify(f"The engine could not start: {self.backend.error}", severity="error")
            return
        # (if the engine is still loading, the worker waits for it: the request is kept)
        if not self.ask_folder:
            await self._start_session(request, project_dir(self.out_dir, request), False)
            return
        from workbench.ui.screens.folder import FolderScreen

        async def chosen(choice: Any) -> None:
            if choice is None:  # Esc: back to the request, as typed
                self.chat.input.focus()
                return
            self.out_dir = choice.path.parent  # the next project is offered beside it
            await self._start_session(request, choice.path, choice.read_context)

        self.push_screen(FolderScreen(project_dir(self.out_dir, request)), chosen)

    async def _start_session(self, request: str, folder: Path, read_context: bool) -> None:
        self.chat.input.value = ""  # accepted: only now is the typed request cleared
        if self.backend.session_id is not None:
            self._reset_session()
        await self.chat.add_turn("You", text=request, kind="human")
        self.project_dir = folder
        if self.ask_folder:
            repo = git_root(folder)
            read = (f" Reading `{repo}`'s README.md and pyproject.toml as context." if read_context
                    else f" Inside `{repo}`; nothing of it is read." if repo else "")
            await self.chat.add_turn("Workbench", text=f"The project goes to `{folder}`.{read}")
        self._call_engine(
            "Starting…",
            (self.backend.start, request, folder, None, read_context),
            (self.backend.run,),
        )

    def _reset_session(self) -> None:
        self.stepper.reset()
        self._set_findings([])
        self.waiting_gate = None
        self.gate_data = {}
        self.plan = None
        self.preview.applied = False
        self.preview.set_plan({}, None)
        self.editor.draft = ""
        self.editor.text_area.load_text("")
        self.editor.saved = ""

    def action_cancel_turn(self) -> None:
        if self.busy and self._applying is not None:  # the agent revising the spec
            self.run_worker(self._cancel_engine, thread=True, group="cancel", exit_on_error=False)
            self.notify(f"Cancelling finding {self._applying}: the spec stays as it was.")
            return
        if not self.busy or self.turn_step is None:
            return
        step = self.turn_step
        self.cancelled_steps.add(step)
        self.run_worker(self._cancel_engine, thread=True, group="cancel", exit_on_error=False)
        self.call_later(self._end_turn, "— cancelled (Esc)")
        self.notify(f"Cancelled the {step} turn.")

    def _cancel_engine(self) -> None:
        self.backend.cancel()

    # -- spec editing -------------------------------------------------------
    def on_spec_editor_save_requested(self, message: SpecEditor.SaveRequested) -> None:
        self._save_latest = message.text
        self._save_worker()

    @work(thread=True, group="autosave", exit_on_error=False)
    def _save_worker(self) -> None:
        self.save_spec_now()

    def save_spec_now(self) -> None:
        """Save the latest text (any thread); saves never overtake each other."""
        with self._save_lock:
            text = self._save_latest
            if text is None or text == self._save_done or self.backend.session_id is None:
                return
            try:
                self.backend.save_spec(text)
                status = self.backend.status()
                if status and threading.current_thread() is not threading.main_thread():
                    self.call_from_thread(self._after_save, status)
            except Exception as exc:  # noqa: BLE001
                try:
                    self.call_from_thread(self.notify, f"autosave failed: {exc}", severity="error")
                except RuntimeError:
                    pass
                return
            self._save_done = text

    def _after_save(self, status: dict[str, str]) -> None:
        if not self.engine_running:
            self.sync_states(status)
        self.audit.reload()

    async def action_quit(self) -> None:
        self.editor.flush_save()
        self._save_latest = self.editor.text if self.backend.session_id else self._save_latest
        if self.backend.session_id is not None and self.backend.ready:
            self.save_spec_now()
        self.exit()

    # -- lifecycle actions ---------------------------------------------------
    def action_next_step(self) -> None:
        findings = self._findings_screen()
        if findings is not None and findings is self.screen:
            findings.dismiss(None)  # Ctrl+N from the findings: on to the review, in view
        if self.backend.session_id is None:
            self.action_show_pane("chat")
            self.notify("Describe the tool you want in the chat first.")
            return
        if self.waiting_gate is not None:
            self.action_approve()
            return
        pending = [s for s in STEP_IDS if self.stepper.states[s] != DONE]
        if not pending:
            self.notify(done_line(self.project_dir))
            return
        until = pending[0]
        if until in ("review", "approval"):
            until = "approval"  # a review ends at its gate
        self._gate_after_run = True  # reaching a gate from "Next" opens it
        self._call_engine(f"Running {BY_ID[until].title}…", *self._save_first(),
                          (self.backend.run, until))

    def action_step_back(self) -> None:
        if self.backend.session_id is None or self.busy:
            return
        stepper = self.stepper
        current = stepper.current_step or STEP_IDS[-1]
        selected = stepper.selected_step
        if selected and STEP_IDS.index(selected) < STEP_IDS.index(current):
            target = selected
        else:
            target = STEP_IDS[max(0, STEP_IDS.index(current) - 1)]
        for sid in STEP_IDS[STEP_IDS.index(target):]:
            stepper.set_state(sid, PENDING)
        self.waiting_gate = None
        stepper.select_step(target)
        self._call_engine(f"Back to {BY_ID[target].title}…", (self.backend.step_back, target))

    def action_rerun(self) -> None:
        if self.backend.session_id is None or self.busy:
            return
        stepper = self.stepper
        step = stepper.selected_step or stepper.current_step
        if step is None:
            return
        for sid in STEP_IDS[STEP_IDS.index(step):]:
            stepper.set_state(sid, PENDING)
        self.waiting_gate = None
        self._call_engine(f"Re-running {BY_ID[step].title}…", *self._save_first(),
                          (self.backend.rerun, step))

    def _save_first(self) -> list[tuple[Any, ...]]:
        """Engine calls start with the editor's latest text saved (nothing typed is skipped)."""
        if self.backend.session_id is None or self.editor.text_area.read_only:
            return []
        self.editor.flush_save()
        self._save_latest = self.editor.text
        return [(self.save_spec_now,)]

    def gate_info(self, gate: str) -> GateInfo:
        if gate == "plan":
            plan = self.plan
            files = plan_files(plan)
            engine_says = self.gate_data.get("plan", {})
            size = engine_says.get("bytes", getattr(plan, "total_bytes", None))
            if size is None:
                size = sum(len(file_content(f).encode("utf-8")) for f in files.values())
            sha = engine_says.get("sha256") or getattr(plan, "sha256", "") or sha256_text(
                "".join(f"{p}\0{file_content(files[p])}\0" for p in sorted(files)))
            count = engine_says.get("files", len(files))
            owned = sum(1 for f in files.values() if getattr(f, "model_owned", False))
            later = engine_says.get("integration_files")
            if later is None:
                later = sum(1 for f in files.values() if getattr(f, "step", "") in LATER_STEPS)
            detail = f"{owned} model-owned" + (f", {later} by the integrate steps" if later else "")
            return GateInfo("plan", sha, "Apply the plan to disk?", (
                ("files", f"{count} ({detail})"),
                ("size", f"{size:,} bytes"),
                ("into", str(self.project_dir or self.out_dir)),
                ("sha256", sha),
            ))
        text = self.editor.text
        sha = sha256_text(text)
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
        open_findings = sum(1 for f in self.findings if (f.get("status") or "open") == "open")
        return GateInfo("spec", sha, "Approve this spec?", (
            ("name", name),
            ("summary", summary),
            ("template", template),
            ("commands", str(commands)),
            ("lines", str(len(text.splitlines()))),
            ("sha256", sha),
        ), warning, open_findings)

    def action_approve(self) -> None:
        if isinstance(self.screen, ApprovalScreen):
            return  # (ctrl+n in a gate: it is open already)
        if self.busy:
            self.notify(f"Busy: {self.busy}", severity="warning")
            return
        if self.waiting_gate is None:
            states = self.stepper.states
            if (self.backend.session_id is not None and states.get("spec") == DONE
                    and states.get("approval") != DONE and self.editor.text.strip()):
                self.waiting_gate = ("approval", "spec")  # edited since: review, then approve
            else:
                self.notify("Nothing is waiting for approval.")
                return
        step, gate = self.waiting_gate
        gate_kind = "plan" if (gate == "plan" or step == "docs") else "spec"
        if gate_kind == "spec":
            self.editor.flush_save()
        info = self.gate_info(gate_kind)
        self.push_screen(ApprovalScreen(info), lambda ok: self._gate_answered(step, gate, info, ok))

    def _gate_answered(self, step: str, gate: str, info: GateInfo, approved: bool | None) -> None:
        from workbench.identity import human

        if approved is None:  # F8 in the gate: the findings first; the gate keeps waiting
            self.call_after_refresh(self.action_findings)
            return
        actor = f"human:{human()}"
        if not approved:
            self.run_worker(lambda: self.backend.reject(info.gate, actor), thread=True,
                            group="reject", exit_on_error=False)
            self.notify("Rejected: back to editing.")
            self.call_after_refresh(self.action_show_pane, "spec" if info.gate == "spec" else "preview")
            return
        self.waiting_gate = None
        self.stepper.set_state(step, RUNNING)
        if info.gate == "spec":
            text = self.editor.text
            self._save_latest = text
            self._save_done = text
            self._call_engine("Approved: going on…", (self.backend.approve_spec, text, actor))
        else:
            self._call_engine("Applying the plan…", (self.backend.approve_plan, info.sha256, actor))

    # -- models --------------------------------------------------------------
    def action_switch_model(self) -> None:
        from workbench.ui.screens.models import ModelPicker

        step = self.stepper.selected_step
        self.push_screen(
            ModelPicker(self.backend.models(), self.backend.session_model, step),
            self._model_picked,
        )

    def _model_picked(self, pick: Any) -> None:
        if pick is None:
            return
        self.apply_model(pick.model, pick.step)

    def apply_model(self, model: str, step: str | None = None) -> None:
        self._switch_worker(model, step)

    @work(thread=True, group="switch", exit_on_error=False)
    def _switch_worker(self, model: str, step: str | None) -> None:
        from workbench.identity import human

        try:
            self.backend.switch_model(model, step, f"human:{human()}")
        except Exception as exc:  # noqa: BLE001 - e.g. no key: say so
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.call_from_thread(self._model_switched, model, step)

    def _model_switched(self, model: str, step: str | None) -> None:
        if step is not None:
            self.stepper.set_override(step, model)
        self._show_model()
        where = f"for {step}" if step else "for the session"
        self.notify(f"Model {model} {where}.")
        self.audit.reload()
        self._maybe_preload_litellm()

    def action_show_models(self) -> None:
        from workbench.ui.screens.models import ModelsScreen

        self.push_screen(ModelsScreen(self.backend.models(), self.backend.session_model,
                                      self.backend.notes(),
                                      str(self.backend.config_path or paths.config_path())))

    # -- review findings -------------------------------------------------------
    def _load_findings(self) -> list[dict[str, Any]]:
        """Read the findings now (a quick read of the store, on the UI thread)."""
        try:
            findings = self.backend.findings()
        except Exception:  # noqa: BLE001 - keep the list we have
            return self.findings
        self._set_findings(findings)
        return findings

    def _set_findings(self, findings: list[dict[str, Any]]) -> None:
        had = bool(self.findings)
        self.findings = [dict(f) for f in findings]
        if had != bool(self.findings):
            self.screen_stack[0].refresh_bindings()  # F8 is in the footer with findings
        screen = self._findings_screen()
        if screen is not None:
            note, locked = self._findings_notes()
            screen.set_findings(self.findings, note, locked)

    def _findings_screen(self) -> Any:
        from workbench.ui.screens.findings import FindingsScreen

        for screen in self.screen_stack:
            if isinstance(screen, FindingsScreen):
                return screen
        return None

    def _findings_notes(self) -> tuple[str, str]:
        """(what to know about the list, why nothing can be decided: "" when it can)."""
        states = self.stepper.states
        if states.get("approval") == DONE:
            return "", "The spec is approved: its findings can no longer be applied or dismissed."
        review = states.get("review")
        if review == FAILED:
            return "The review failed: fix the errors in the spec, then Ctrl+N.", ""
        if review != DONE and states.get("spec") == DONE:
            return "The spec changed since this review: Ctrl+N runs the review again.", ""
        return "", ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "findings":
            return bool(self.findings)  # F8 is in the footer when there is something to see
        return True

    def action_findings(self) -> None:
        """Open the findings screen (F8, the palette, F8 in the spec gate)."""
        from workbench.ui.screens.findings import FindingsScreen

        if self._findings_screen() is not None:
            return
        if self.backend.session_id is None:
            self.notify("No session yet: describe the tool you want in the chat first.")
            return
        if not self.findings:
            done = self.stepper.states.get("review") == DONE
            self.notify("The review found nothing to change." if done
                        else "No review findings yet: Ctrl+N runs the review.")
            return
        note, locked = self._findings_notes()
        busy = self.busy if self._applying is not None else ""
        self.push_screen(FindingsScreen(self.findings, note, locked, busy))

    def on_findings_screen_apply_requested(self, message: Any) -> None:
        self.apply_finding(message.number)

    def on_findings_screen_dismiss_requested(self, message: Any) -> None:
        self.dismiss_finding(message.number, message.reason)

    def apply_finding(self, number: int) -> None:
        """The agent revises the spec as finding `number` suggests (a thread worker)."""
        from workbench.identity import human

        if self.busy:
            self._finding_failed(RuntimeError(f"Busy: {self.busy}"), severity="warning")
            return
        self._applying, self._apply_streamed = number, 0
        self._call_engine(
            f"Applying finding {number}…", *self._save_first(),  # the agent revises what you typed
            (self.backend.apply_finding, number, f"human:{human()}"),
            then=self._finding_applied, on_error=self._finding_failed)

    def dismiss_finding(self, number: int, reason: str = "") -> None:
        from workbench.identity import human

        if self.busy:
            self._finding_failed(RuntimeError(f"Busy: {self.busy}"), severity="warning")
            return
        self._call_engine(
            f"Dismissing finding {number}…",
            (self.backend.dismiss_finding, number, reason, f"human:{human()}"),
            then=self._finding_dismissed, on_error=self._finding_failed)

    async def _finding_applied(self, result: dict[str, Any]) -> None:
        text = result.get("spec_text")
        if text is not None:
            self._save_latest = self._save_done = text  # saved already: the engine's version
            self.editor.load_revision(text)
        line = f"Applied finding {result.get('n')} → spec v{result.get('spec_version')}"
        await self.chat.add_turn(
            BY_ID["spec"].actor, self.backend.model_for("spec"),
            text=f"{line} ({result.get('severity')} at `{result.get('location')}`). "
                 "The review runs again on it: **Ctrl+N**.")
        self.notify(f"{line}. Ctrl+N runs the review again.")
        screen = self._findings_screen()
        if screen is not None:
            screen.show_message(f"✓ {line}. Ctrl+N runs the review again.")

    def _finding_dismissed(self, result: dict[str, Any]) -> None:
        reason = result.get("reason") or ""
        line = f"Dismissed finding {result.get('n')}" + (f": {reason}" if reason else "")
        self.notify(line, markup=False)  # (the reason is the developer's words, not markup)
        screen = self._findings_screen()
        if screen is not None:
            screen.show_message(f"✓ {line}")

    def _finding_failed(self, error: Exception, severity: str = "error") -> None:
        """A refusal or a model failure: one line; the spec and the findings are unchanged."""
        message = (str(error) or type(error).__name__).strip().splitlines()[0]
        if getattr(error, "cause", "") == "cancelled":  # Esc: what was asked for happened
            severity = "warning"
        self.notify(message, severity=severity, timeout=8, markup=False)  # type: ignore[arg-type]
        screen = self._findings_screen()
        if screen is not None:
            screen.show_error(message)

    def action_open_session(self) -> None:
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
            if sid is None or self.busy:
                return
            if self.backend.session_id is not None and not self.editor.text_area.read_only:
                self.editor.flush_save()  # what was typed goes to its own session first
                self._save_latest = self.editor.text
                self.save_spec_now()
            await self._resume(sid)

        self.push_screen(SessionsScreen(sessions, self.backend.session_id), picked)

    def action_toggle_diff(self) -> None:
        if self.active_pane == "preview":
            self.preview.action_toggle_diff()
        else:
            self.editor.action_toggle_diff()


def flush_due(now: tuple[float, float], last: tuple[float, float]) -> bool:
    """Whether streamed tokens may be drawn now: (wall, UI-thread CPU) now and at the
    last flush. Not while the UI thread has spent more than its share since the last
    flush, unless MAX_FLUSH_GAP has passed."""
    gap = now[0] - last[0]
    return gap >= MAX_FLUSH_GAP or now[1] - last[1] <= STREAM_CPU_SHARE * gap


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value


def render_findings(findings: list[Any]) -> str:
    """The findings as a Markdown list: numbered (the numbers F8 and `workbench findings`
    use) when the engine numbered them, with the developer's decision when there is one."""
    lines = []
    for f in findings:
        get = f.get if isinstance(f, dict) else lambda k, d="", f=f: getattr(f, k, d)
        sev = get("severity", "info")
        loc = get("location", "")
        text = get("text", "")
        sug = get("suggestion", "")
        n = get("n", None)
        line = f"{n}. **{sev}** `{loc}`: {text}" if n else f"- **{sev}** `{loc}`: {text}"
        if sug:
            line += f" *{sug}*"
        status = get("status", "open") or "open"
        if status != "open":
            reason = get("reason", "")
            line += f" (**{status}**{': ' + reason if reason else ''})"
        lines.append(line)
    return "\n".join(lines)


def findings_hint(findings: list[dict[str, Any]]) -> str:
    """What to do about the open findings, in a line ("" when none is open)."""
    count = sum(1 for f in findings if (f.get("status") or "open") == "open")
    if not count:
        return ""
    if count == 1:
        return "**1 open finding**: press **F8** to apply or dismiss it."
    return f"**{count} open findings**: press **F8** to apply or dismiss them."


def run(out_dir: Path | None = None, session: str | None = None, project: Path | None = None) -> int:
    """`workbench` with no subcommand (`--session ID` reopens a session; `workbench DIR`
    opens a project Workbench made for evolve)."""
    app = WorkbenchApp(out_dir=out_dir, resume_session=session)
    app.open_project_dir = project  # (screens/hooks.after_backend opens it)
    app.run()
    return app.return_code or 0
