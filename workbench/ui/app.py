"""The Workbench TUI: a shell around the main screen (bindings, palette, start-up).

The first frame needs only Textual and the step table. The session service, the store
and (only when a real model is configured) LiteLLM are loaded in thread workers after
the first frame. The main screen (`main_screen.py`) owns the one view of the session
and redraws from it; the bridge (`bridge.py`) holds the engine worker and the event pump.

For other screens: `app.push_screen(screen)` as usual, and `app.open_session(sid)` to
show a session in the main screen (it is reopened at its true state).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

from workbench import paths
from workbench.lifecycle.events import Event
from workbench.ui.backend import Backend, default_projects_base
from workbench.ui.bridge import Bridge, EngineWake
from workbench.ui.commands import WorkbenchCommands
from workbench.ui.main_screen import PANES, MainScreen, findings_hint, render_findings  # noqa: F401
from workbench.ui.screens import hooks as start_hooks

# config.toml [keys]: action name -> the binding it remaps (config.KEY_ACTIONS)
KEY_BINDINGS = {
    "next": "app.next_step", "back": "app.step_back", "rerun": "app.rerun", "approve": "stepper.approve",
    "model": "app.switch_model", "palette": "app.command_palette", "pane": "app.next_pane",
    "diff": "app.toggle_diff", "findings": "app.findings", "cancel": "app.cancel_turn",
    "maximize": "app.maximize_pane", "help": "app.help", "new": "app.new_tool", "quit": "app.quit",
}


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
        Binding("f7", "maximize_pane", "Max", show=False, id="app.maximize_pane"),
        # (not f6: the editor's TextArea selects a line with it and VS Code's terminal keeps
        # it for "focus next part"; not ctrl+f: TextArea deletes a word, VS Code finds)
        Binding("f8", "findings", "Findings", id="app.findings"),
        Binding("f1", "help", "Keys", id="app.help"),
        Binding("escape", "cancel_turn", "Cancel turn", show=False, id="app.cancel_turn"),
        Binding("f5", "new_tool", "New tool", show=False, id="app.new_tool"),
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
        self.bridge = Bridge(self, self.backend)
        self.main: MainScreen = MainScreen(self)
        self.litellm_preloaded = False
        self.first_frame = threading.Event()
        self.set_keymap({KEY_BINDINGS[name]: keys for name, keys in self.backend.keys.items()})

    # -- the main screen, and what the tests and other screens reach through the app ----
    def get_default_screen(self) -> Screen:
        """The main screen, born with its breakpoint classes (no restyle on the first resize)."""
        screen = self.main
        width, height = self.size
        for limits, value in ((self.HORIZONTAL_BREAKPOINTS, width), (self.VERTICAL_BREAKPOINTS, height)):
            chosen = None
            for threshold, name in limits:
                if value >= threshold:
                    chosen = name
            if chosen:
                screen.add_class(chosen)
        return screen

    @property
    def stepper(self):
        return self.main.stepper

    @property
    def chat(self):
        return self.main.chat

    @property
    def editor(self):
        return self.main.editor

    @property
    def preview(self):
        return self.main.preview

    @property
    def audit(self):
        return self.main.audit

    @property
    def busy(self) -> str:
        return self.bridge.busy

    @property
    def engine_running(self) -> bool:
        return self.bridge.running

    @engine_running.setter
    def engine_running(self, value: bool) -> None:
        self.bridge.running = value

    @property
    def waiting_gate(self) -> tuple[str, str] | None:
        return self.main.waiting_gate

    @property
    def findings(self) -> list[dict[str, Any]]:
        return self.main.findings

    @property
    def turn(self):
        return self.main.turn

    @property
    def project_dir(self) -> Path | None:
        return self.main.project_dir

    @property
    def active_pane(self) -> str:
        return self.main.active_pane

    def selected_step(self) -> str | None:
        return self.main.stepper.selected_step

    def key_for(self, binding_id: str) -> str:
        """The key bound to `binding_id` now (after [keys]), as the footer shows it."""
        keys = self._keymap.get(binding_id) if self._keymap else None
        if keys is None:
            keys = next((b.key for b in self.BINDINGS if isinstance(b, Binding) and b.id == binding_id), "")
        first = keys.split(",")[0].strip()
        if not first:
            return "?"
        shown = self.get_key_display(Binding(first, ""))
        return shown.upper() if len(shown) <= 3 and shown[:1] == "f" else shown  # F8, as written

    async def open_session(self, sid: str) -> None:
        """Show session `sid` (an id or a unique prefix) in the main screen, as it stands."""
        await self.main.open_session(sid)

    _resume = open_session  # (the name the screens' hooks knew first)

    # -- start-up ----------------------------------------------------------
    def on_mount(self) -> None:
        start_hooks.on_start(self)  # the remembered theme, F9, the doctor line (screens/hooks.py)
        self.call_after_refresh(self._after_first_frame)

    def _after_first_frame(self) -> None:
        self.first_frame.set()
        if self.open_backend:
            self.run_worker(self._open_backend, thread=True, group="open", exit_on_error=False)
        self.maybe_preload_litellm()

    def _open_backend(self) -> None:
        try:
            self.backend.open(self.bridge.callback)
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app stays usable
            self.backend.error = f"{type(exc).__name__}: {exc}"
            self.call_from_thread(self._backend_failed)
            return
        self.call_from_thread(self._backend_ready)

    def _backend_ready(self) -> None:
        self.main.show_state()
        self.main.audit.reload()
        if self.resume_session:
            self.call_later(self.open_session, self.resume_session)
        else:
            self.call_later(self.main.mention_sessions)
            start_hooks.after_backend(self)  # earlier sessions: the start screen first
        try:
            from workbench.scaffold import list_templates

            self.main.editor.templates = [t.id for t in list_templates()]
        except Exception:  # noqa: BLE001 - validation without the template list
            self.main.editor.templates = None

    async def _backend_failed(self) -> None:
        self.main.show_state()
        await self.main.chat.add_turn(
            "Workbench", text=f"The lifecycle engine could not start: `{self.backend.error}`", kind="error")

    def maybe_preload_litellm(self) -> None:
        if self.backend.uses_litellm() and not self.litellm_preloaded:
            self.litellm_preloaded = True
            self._preload_litellm()

    def _preload_litellm(self) -> None:
        def work() -> None:
            try:
                from workbench.llm import gateway

                gateway.preload().join()
            except Exception as exc:  # noqa: BLE001 - the call itself will report it
                self.call_from_thread(self.notify, f"LiteLLM could not load: {exc}", severity="warning")

        self.run_worker(work, thread=True, group="preload", exit_on_error=False)

    # -- the engine's events (the bridge pumps them to the main screen) ----------------
    def _engine_callback(self, event: Event) -> None:
        self.bridge.callback(event)

    def push_tokens(self, step: str | None, text: str) -> None:
        """Feed a token as the engine would (used by tests and the benchmark)."""
        from workbench.lifecycle import events as ev

        self.bridge.push(ev.make(ev.TOKEN, self.backend.session_id or "", step, text))

    def _start_flushing(self) -> None:
        self.bridge.start_flushing()

    async def drain_events(self) -> None:
        await self.bridge.drain()

    flush_tokens = drain_events

    async def on_engine_wake(self, _message: EngineWake) -> None:
        await self.bridge.drain()

    # -- actions (bindings and the palette; the main screen does them) ------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "findings":
            return bool(self.main.findings)  # F8 is in the footer when there is something to see
        return True

    def action_next_step(self) -> None:
        self.main.next_step()

    def action_step_back(self) -> None:
        self.main.step_back()

    def action_rerun(self) -> None:
        self.main.rerun()

    def action_approve(self) -> None:
        self.main.approve()

    def action_findings(self) -> None:
        self.main.open_findings()

    def on_findings_screen_apply_requested(self, message: Any) -> None:
        self.main.apply_finding(message.number)  # (a modal's messages come to the app)

    def on_findings_screen_dismiss_requested(self, message: Any) -> None:
        self.main.dismiss_finding(message.number, message.reason)

    def action_switch_model(self) -> None:
        self.main.switch_model()

    def apply_model(self, model: str, step: str | None = None) -> None:
        self.main.apply_model(model, step)

    def action_show_models(self) -> None:
        from workbench.ui.screens.models import ModelsScreen

        self.push_screen(ModelsScreen(self.backend.models(), self.backend.session_model,
                                      self.backend.notes(),
                                      str(self.backend.config_path or paths.config_path())))

    def action_open_session(self) -> None:
        self.main.pick_session()

    async def action_new_tool(self) -> None:
        await self.main.new_tool()

    def action_cancel_turn(self) -> None:
        self.main.cancel_turn()

    def action_toggle_diff(self) -> None:
        self.main.toggle_diff()

    def action_show_pane(self, pane: str) -> None:
        self.main.show_pane(pane)

    def action_next_pane(self) -> None:
        if self.screen is self.main:
            self.main.next_pane()

    def action_maximize_pane(self) -> None:
        if self.screen is self.main:
            self.main.maximize_pane()

    def action_help(self) -> None:
        """F1: the keys of the focused pane (and the app's), beside it; again to hide."""
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    async def action_quit(self) -> None:
        self.main.editor.flush_save()
        self.main.save_typed()
        self.exit()


def run(out_dir: Path | None = None, session: str | None = None, project: Path | None = None) -> int:
    """`workbench` with no subcommand (`--session ID` reopens a session; `workbench DIR`
    opens a project Workbench made for evolve)."""
    app = WorkbenchApp(out_dir=out_dir, resume_session=session)
    app.open_project_dir = project  # (screens/hooks.after_backend opens it)
    app.run()
    return app.return_code or 0
