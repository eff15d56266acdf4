"""Pilot tests of the TUI's own behaviour, over a stand-in engine (fast, deterministic).

The same flow against the real engine is in test_flow_engine.py.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from screen_text import screen_text
from textual.command import CommandPalette
from textual.widgets import Tabs
from ui_support import wait_for

from workbench.lifecycle.events import Event
from workbench.ui.app import WorkbenchApp
from workbench.ui.screens.gate import ApprovalScreen
from workbench.ui.screens.models import ModelPicker, ModelsScreen
from workbench.ui.widgets.chat import ChatTurn

pytestmark = pytest.mark.anyio

REQUEST = "convert csv files to json"
ROOT = Path(__file__).resolve().parents[2]


def make_app(backend, out_dir) -> WorkbenchApp:
    return WorkbenchApp(backend, out_dir=out_dir)


async def submit_request(app, pilot, request: str = REQUEST, type_it: bool = False) -> None:
    assert await wait_for(pilot, lambda: app.backend.ready)
    app.chat.input.focus()
    if type_it:
        await pilot.press(*request)
    else:
        app.chat.input.value = request
    await pilot.press("enter")
    assert await wait_for(pilot, lambda: app.waiting_gate is not None and not app.busy)


def visible(app, widget_id: str) -> bool:
    w = app.query_one(f"#{widget_id}")
    return w.display and w.region.area > 0


def width_of(app, widget_id: str) -> int:
    return app.query_one(f"#{widget_id}").region.width


async def test_design_phase_gives_the_focused_pane_the_room(fake_backend, out_dir):
    """120x40, design phase: chat and spec side by side; the focused one has the room
    (the spec then shows 80 columns of text); the stepper is a one-line phase bar."""
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await submit_request(app, pilot)
        assert visible(app, "chat") and visible(app, "spec") and visible(app, "phasebar")
        assert not visible(app, "steps") and not visible(app, "preview") and not visible(app, "audit")
        assert app.query_one("#phasebar").region.height == 1
        app.editor.text_area.focus()
        await pilot.pause()
        assert width_of(app, "spec") > width_of(app, "chat")
        ta = app.editor.text_area
        assert ta.content_region.width - ta.gutter_width >= 80
        app.chat.input.focus()
        await pilot.pause()
        assert width_of(app, "chat") > width_of(app, "spec")


async def test_every_pane_is_one_key_away_and_maximizes_whole(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await submit_request(app, pilot)
        seen = []
        for _ in range(5):
            await pilot.press("ctrl+t")
            seen.append(app.active_pane)
            assert visible(app, app.active_pane)
        assert sorted(seen) == sorted(["chat", "spec", "preview", "audit", "steps"])
        app.action_show_pane("preview")
        await pilot.pause()
        app.query_one("#preview-file").focus()
        await pilot.press("f7")
        await pilot.pause()
        assert app.screen.maximized is app.preview  # the whole pane, not the part focused
        await pilot.press("f7")
        await pilot.pause()
        assert app.screen.maximized is None


async def test_narrow_layout_uses_tabs_and_fits_80x24(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        # the footer's keys are composed once the first focus has settled, a frame or more later
        assert await wait_for(pilot, lambda: "^q Quit" in screen_text(app)), screen_text(app)
        assert visible(app, "pane-tabs")
        assert visible(app, "chat") and not visible(app, "spec")
        text = screen_text(app)
        # the phases on one line, the model and the palette key
        assert "DESIGN" in text and "SCAFFOLD" in text and "INTEGRATE" in text
        assert "model offline" in text
        assert "f2 Commands" in text and "^q Quit" in text
        await pilot.press("ctrl+t")
        assert app.active_pane == "spec" and visible(app, "spec") and not visible(app, "chat")
        assert app.query_one("#pane-tabs", Tabs).active == "tab-spec"
        await pilot.press("ctrl+t", "ctrl+t", "ctrl+t")
        assert app.active_pane == "steps" and app.focused is app.stepper  # the stepper, by key
        assert "Request captured" in screen_text(app)
        await pilot.press("ctrl+t")
        assert app.active_pane == "chat"


async def test_welcome_opens_at_its_instruction(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.chat.log_view.scroll_y == 0
        assert "Describe the command-line tool you want" in screen_text(app)


async def test_offline_notice_on_first_run(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        notices = [t for t in app.chat.turns if t.kind == "notice"]
        assert notices and "Running offline" in notices[0].text


async def test_request_streams_analysis_and_draft(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await submit_request(app, pilot)
        turns = app.chat.turns
        labels = [(t.role, t.model) for t in turns if t.kind == "agent"]
        assert ("Tool Builder agent", "offline") in labels
        assert ("Reviewer agent", "offline") in labels
        analysis = next(t for t in turns if t.kind == "agent" and "Request, restated" in t.text)
        assert REQUEST in analysis.text
        assert app.editor.text.startswith("---\nname: csv-converter\n")
        assert app.editor.draft == app.editor.text
        assert app.stepper.states["approval"] == "waiting"
        assert app.waiting_gate == ("approval", "spec")
        assert "waiting for approval" in screen_text(app)


async def test_validation_as_you_type_marks_the_line_and_clears(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await submit_request(app, pilot)
        ta = app.editor.text_area
        assert not ta.read_only
        ta.focus()
        ta.move_cursor((1, len("name: ")))
        await pilot.press("X")  # "name: Xcsv-converter" is not kebab-case
        assert await wait_for(pilot, lambda: bool(app.editor.errors))
        err = app.editor.errors[0]
        assert (err.line, err.field) == (2, "name")
        assert 1 in ta.error_lines  # painted at its line (0-based)
        assert "line 2: name:" in screen_text(app)
        await pilot.press("backspace")
        assert await wait_for(pilot, lambda: not app.editor.errors)
        assert ta.error_lines == set()
        assert "✓ valid" in screen_text(app)


async def test_every_edit_is_autosaved_and_undo_redo(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await submit_request(app, pilot)
        engine = app.backend.engine
        sid = app.backend.session_id
        ta = app.editor.text_area
        ta.focus()
        ta.move_cursor((ta.document.line_count - 1, 0))
        await pilot.press(*"- must read stdin")
        typed = app.editor.text
        assert await wait_for(pilot, lambda: engine.sessions[sid]["spec"] == typed)
        # the edit sends the lifecycle back to review: no longer waiting at the gate
        assert await wait_for(pilot, lambda: app.waiting_gate is None)
        await pilot.press("ctrl+z")
        assert app.editor.text != typed
        await pilot.press("ctrl+y")
        assert app.editor.text == typed


async def test_diff_against_the_draft(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await submit_request(app, pilot)
        ta = app.editor.text_area
        ta.focus()
        ta.move_cursor((ta.document.line_count - 1, 0))
        await pilot.press(*"- new line")
        await pilot.press("f4")
        await pilot.pause()
        assert app.editor.show_diff
        text = screen_text(app)
        assert "draft (model)" in text and "+- new line" in text
        await pilot.press("f4")
        assert not app.editor.show_diff


async def test_full_flow_approve_preview_apply(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await submit_request(app, pilot, type_it=True)
        await pilot.press("ctrl+n")  # (the service's advance, in the engine's thread, opens it)
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert app.screen.info.sha256 in screen_text(app)
        await pilot.press("y")
        assert await wait_for(pilot, lambda: app.waiting_gate == ("docs", "plan") and not app.busy)
        assert await wait_for(pilot, lambda: bool(app.preview.files))
        project = app.project_dir
        assert project is not None and not project.exists()  # nothing on disk before the gate
        owned = [p for p, f in app.preview.files.items() if f.model_owned]
        assert owned and "✎ model" in screen_text(app)
        app.preview.tree.focus()
        await pilot.press("down", "down")
        assert app.preview.selected in app.preview.files
        await pilot.press("ctrl+n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert app.screen.info.gate == "plan"
        assert f"{len(app.preview.files)} (" in screen_text(app)
        await pilot.press("y")
        assert await wait_for(pilot, lambda: app.stepper.states["monitor"] == "done" and not app.busy)
        assert (project / "pyproject.toml").exists()
        assert "all 16 steps done" in screen_text(app)


async def test_reject_returns_to_editing(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await submit_request(app, pilot)
        await pilot.press("ctrl+n")  # (the service's advance, in the engine's thread, opens it)
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("n")
        assert await wait_for(pilot, lambda: not app.busy and app.active_pane == "spec")
        assert not isinstance(app.screen, ApprovalScreen)
        assert app.focused is app.editor.text_area
        # the rejection went through the engine: recorded, back to the spec, and said
        assert ("step_back", "spec") in app.backend.engine.calls
        assert app.stepper.states["approval"] == "pending" and app.waiting_gate is None
        assert any(e["action"] == "reject" for e in app.backend.store.events)
        text = screen_text(app)
        assert "waiting for approval" not in text
        assert "spec v1 kept" in text and "Rejected the spec" in "".join(t.text for t in app.chat.turns)
        # an edit is the developer's spec: Next reviews it, nothing is drafted again
        ta = app.editor.text_area
        ta.move_cursor((ta.document.line_count - 1, 0))
        await pilot.press(*"- mine")
        await pilot.press("ctrl+n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert app.editor.text.rstrip().endswith("- mine")


async def test_step_back_and_rerun_from_the_stepper(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await submit_request(app, pilot)
        engine = app.backend.engine
        app.action_show_pane("steps")
        app.stepper.select_step("analysis")
        await pilot.press("b")
        assert await wait_for(pilot, lambda: not app.busy)
        assert ("step_back", "analysis") in engine.calls
        assert app.stepper.states["analysis"] == "pending"
        assert app.stepper.states["request"] == "done"
        await pilot.press("n")  # next step: runs analysis only
        assert await wait_for(pilot, lambda: not app.busy and app.stepper.states["analysis"] == "done")
        assert app.stepper.states["spec"] == "pending"
        app.stepper.select_step("analysis")
        await pilot.press("r")
        assert await wait_for(pilot, lambda: ("rerun", "analysis") in engine.calls and not app.busy)
        assert app.stepper.states["analysis"] == "done"


async def test_chat_streams_tokens_and_escape_cancels(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: app.backend.ready)
        engine = app.backend.engine
        engine.chunk, engine.token_delay = 4, 0.01  # a slow stream
        app.chat.input.focus()
        app.chat.input.value = REQUEST
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: app.turn is not None and len(app.turn.text) > 20)
        turn = app.turn
        # (pilot.press would wait for the screen to go idle, which it never does mid-stream)
        app.simulate_key("escape")
        assert await wait_for(pilot, lambda: turn.finished)
        length = len(turn.text)
        await pilot.pause(0.3)
        assert len(turn.text) == length  # nothing more arrives in the cancelled turn
        assert engine.cancelled.is_set()
        assert turn.has_class("-cancelled")
        # (the fake engine carries on to the next steps, whose turns push this one up)
        app.chat.log_view.scroll_to_widget(turn, animate=False, immediate=True)
        await pilot.pause()
        assert "cancelled (Esc)" in screen_text(app)


async def test_stream_keeps_chat_scrolled_to_the_end(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.engine_running = True
        app._start_flushing()
        for i in range(200):
            app.push_tokens("analysis", f"token {i} ")
            if i % 20 == 0:
                app.push_tokens("analysis", "\n\n")
        assert await wait_for(pilot, lambda: app.turn is not None and "token 199" in app.turn.text)
        await pilot.pause(0.2)
        log = app.chat.log_view
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        assert "token 199" in screen_text(app)


async def test_audit_pane_pages_and_filters(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: app.backend.ready)
        store = app.backend.store
        for i in range(250):
            store.add("agent:offline" if i % 2 else "human:Ada", "note", "spec" if i % 5 else "review",
                      f"event {i}")
        app.audit.reload()
        assert await wait_for(pilot, lambda: app.audit.loaded == 100)
        table = app.audit.table
        assert table.get_row_at(0)[-1] == "event 249"  # newest first
        table.focus()
        table.move_cursor(row=99)
        assert await wait_for(pilot, lambda: app.audit.loaded == 200)
        app.audit.query_one("#audit-step").value = "review"
        assert await wait_for(pilot, lambda: app.audit.step == "review" and app.audit.loaded == 50)
        assert all(table.get_row_at(r)[0 + 1] == "review" for r in range(table.row_count))
        app.audit.query_one("#audit-actor").value = "human"
        assert await wait_for(pilot, lambda: app.audit.loaded == 25)
        assert all(table.get_row_at(r)[3].startswith("human") for r in range(table.row_count))


async def test_command_palette_on_f2_and_models_screen(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Models")
        await pilot.pause(0.3)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen))
        text = screen_text(app)
        assert "ANTHROPIC_API_KEY not set" in text and "offline" in text
        assert "config.toml" in text and "Running on the offline model" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ModelsScreen)


async def test_switch_model_for_one_step_is_recorded(fake_backend, out_dir, wb_env, monkeypatch):
    (wb_env / "config.toml").write_text(textwrap.dedent("""
        [workbench]
        default_model = "offline"
        [models.local]
        model = "ollama_chat/llama3.1"
        api_base = "http://127.0.0.1:9"
    """))
    from fakes import FakeEngine, FakeStore

    from workbench.ui.backend import Backend

    backend = Backend(config_path=wb_env / "config.toml", engine_factory=FakeEngine,
                      store_factory=FakeStore)
    monkeypatch.setattr(WorkbenchApp, "_preload_litellm", lambda self: None)
    app = make_app(backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await submit_request(app, pilot)
        app.action_show_pane("steps")
        app.stepper.select_step("review")
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, ModelPicker)
        await pilot.click("#scope-step")
        picker = app.screen.query_one("#picker-models")
        picker.highlighted = picker.get_option_index("local")
        picker.focus()
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: backend.overrides.get("review") == "local")
        assert backend.model_for("review") == "local" and backend.session_model == "offline"
        assert backend.provider.for_step("review").__class__.__name__ == "ModelAgents"
        assert await wait_for(pilot, lambda: any(
            e["action"] == "model_switch" for e in backend.store.events))
        assert "⚑" in screen_text(app)  # the step shows its own model
        # the session model switches from the command palette too
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press(*"Use model local")
        await pilot.pause(0.3)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: backend.session_model == "local")
        assert await wait_for(pilot, lambda: "model local" in screen_text(app))


@pytest.mark.filterwarnings("ignore")
def test_litellm_is_not_imported_before_the_first_frame(tmp_path):
    """Offline: never imported. With a real model configured: only after the first frame."""
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        os.environ["WORKBENCH_HOME"] = {str(tmp_path)!r}
        from workbench.ui.app import WorkbenchApp
        from workbench.ui.backend import Backend
        seen = {{}}
        class App(WorkbenchApp):
            def _after_first_frame(self):
                seen["at_first_frame"] = "litellm" in sys.modules
                super()._after_first_frame()
        async def main():
            app = App(Backend(), out_dir={str(tmp_path)!r})
            async with app.run_test() as pilot:
                await pilot.pause(0.5)
                for _ in range(200):
                    if not sys.argv[1:] or "litellm" in sys.modules:
                        break
                    await pilot.pause(0.1)
                seen["later"] = "litellm" in sys.modules
        asyncio.run(main())
        print(seen["at_first_frame"], seen["later"])
    """)
    script_file = tmp_path / "first_frame.py"
    script_file.write_text(script)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "WORKBENCH_NO_BLINK": "1"}
    out = subprocess.run([sys.executable, str(script_file)], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120)
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]
    (tmp_path / "config.toml").write_text('[workbench]\ndefault_model = "claude"\n')
    env["ANTHROPIC_API_KEY"] = "sk-ant-test-not-a-real-key"
    out = subprocess.run([sys.executable, str(script_file), "wait"], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=120)
    assert out.stdout.split() == ["False", "True"], out.stderr[-2000:]


async def test_engine_events_keep_their_order(fake_backend, out_dir):
    """Tokens and step events go through one queue: a turn never splits or reorders."""
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.engine_running = True
        cb = app._engine_callback
        cb(Event("step_started", "s1", "analysis"))
        for word in ("one ", "two ", "three"):
            cb(Event("token", "s1", "analysis", word))
        cb(Event("step_done", "s1", "analysis", "analysed"))
        await pilot.pause(0.2)
        agent_turns = [t for t in app.chat.turns if isinstance(t, ChatTurn) and t.kind == "agent"]
        assert [t.text for t in agent_turns] == ["one two three"]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_quit_on_ctrl_q(fake_backend, out_dir, size):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0


async def test_a_keys_remap_takes_effect_and_f1_lists_the_keys(wb_env, out_dir):
    from fakes import FakeEngine, FakeStore

    from workbench.ui.backend import Backend

    (wb_env / "config.toml").write_text('[keys]\nnext = "ctrl+e"\n')
    backend = Backend(config_path=wb_env / "config.toml", engine_factory=FakeEngine, store_factory=FakeStore)
    app = make_app(backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await submit_request(app, pilot)
        assert "^e to review" in screen_text(app)  # the status names the key as remapped
        await pilot.press("ctrl+n")  # the old key no longer does it
        await pilot.pause()
        assert not isinstance(app.screen, ApprovalScreen)
        await pilot.press("ctrl+e")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: not isinstance(app.screen, ApprovalScreen) and not app.busy)
        app.editor.text_area.focus()
        await pilot.press("f1")
        await pilot.pause()
        assert app.screen.query("HelpPanel")
        text = screen_text(app)
        assert "Diff" in text and "Next" in text  # the spec pane's F4, and the app's keys
        await pilot.press("f1")
        await pilot.pause()
        assert not app.screen.query("HelpPanel")


async def test_a_chat_message_revises_the_open_spec_never_a_new_session(fake_backend, out_dir):
    app = make_app(fake_backend, out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await submit_request(app, pilot)
        sid = app.backend.session_id
        app.chat.input.value = "add an option --limit to convert"
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: not app.busy and len(app.chat.turns) > 2)
        assert app.backend.session_id == sid and len(app.backend.store.sessions) == 1
        last = app.chat.turns[-1]
        # offline cannot write that change: it says so and points to the editor; nothing changed
        assert last.kind == "error" and "Not applied" in last.text and "editor" in last.text
        assert len(app.backend.store.list_spec_versions(sid)) == 1
        assert app.waiting_gate == ("approval", "spec")
