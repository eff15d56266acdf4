"""The whole flow through the real engine and store, as a person drives it.

Offline model: type a request, watch the draft arrive, edit the spec, see a
validation error appear and clear, approve, browse the preview, apply,
integrate, read the audit entries. Then the same design phase with a model
behind a loopback server (real HTTP through LiteLLM), streamed into the chat.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from screen_text import screen_text
from ui_support import FIXED_HUMAN, wait_for

from workbench.ui.app import WorkbenchApp
from workbench.ui.screens.gate import ApprovalScreen

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.anyio, pytest.mark.needs_engine]

REQUEST = "convert csv files to json"


async def test_full_lifecycle_offline(real_backend, out_dir):
    app = WorkbenchApp(real_backend, out_dir=out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: real_backend.ready), real_backend.error
        store = real_backend.store

        # 1. the request, typed; the analysis streams into the chat, the draft into the editor
        app.chat.input.focus()
        await pilot.press(*REQUEST, "enter")
        assert await wait_for(pilot, lambda: app.waiting_gate == ("approval", "spec") and not app.busy)
        sid = real_backend.session_id
        turns = [(t.role, t.model) for t in app.chat.turns if t.kind == "agent"]
        assert ("Tool Builder agent", "offline") in turns and ("Reviewer agent", "offline") in turns
        draft = app.editor.text
        assert draft.startswith("---\nname: csv-converter\n")
        assert draft == store.get_spec_version(sid)["text"]
        assert "waiting for approval" in screen_text(app)

        # 2. an edit that breaks the spec: the error appears at its line, then clears
        ta = app.editor.text_area
        ta.focus()
        ta.move_cursor((1, len("name: ")))
        await pilot.press("X")
        assert await wait_for(pilot, lambda: [e.line for e in app.editor.errors] == [2])
        assert "line 2: name:" in screen_text(app)
        await pilot.press("backspace")
        assert await wait_for(pilot, lambda: not app.editor.errors)

        # 3. a real edit, autosaved as a new spec version; the gate must be reached again
        ta.move_cursor((ta.document.line_count - 1, 0))
        await pilot.press(*"- Reads stdin when INPUT is -")
        edited = app.editor.text
        assert await wait_for(pilot, lambda: store.get_spec_version(sid)["text"] == edited)
        assert await wait_for(pilot, lambda: app.stepper.states["approval"] == "pending")

        # 4. Next: the review runs again and the gate opens on exactly this version
        await pilot.press("ctrl+n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert app.screen.info.sha256 == store.get_spec_version(sid)["sha256"]
        sha = app.screen.info.sha256
        assert sha in screen_text(app) and "csv-converter" in screen_text(app)
        await pilot.press("y")
        assert await wait_for(pilot, lambda: app.waiting_gate == ("docs", "plan") and not app.busy, 120)
        approval = store.get_approval(sid, "spec")
        assert approval["sha256"] == sha and approval["actor"] == f"human:{FIXED_HUMAN}"

        # 5. browse the preview: nothing is on disk yet
        assert await wait_for(pilot, lambda: bool(app.preview.files))
        project = app.project_dir
        assert project is not None and not (project / "pyproject.toml").exists()
        assert any(f.model_owned for f in app.preview.files.values())
        app.preview.tree.focus()
        await pilot.press("down", "down", "down")
        chosen = app.preview.selected
        assert chosen in app.preview.files
        await pilot.press("f4")
        await pilot.pause()
        assert app.preview.show_diff and "diff vs disk" in screen_text(app)
        assert "/dev/null" in screen_text(app)  # a new file: nothing on disk to compare

        # 6. apply, then integrate to the end
        await pilot.press("ctrl+n")  # (the service's advance, in the engine's thread, opens it)
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert app.screen.info.gate == "plan"
        await pilot.press("y")
        assert await wait_for(
            pilot, lambda: not app.busy and app.stepper.states["monitor"] in ("done", "failed"), 300)
        assert app.stepper.states["git"] == "done"
        assert (project / "pyproject.toml").exists() and (project / ".git").is_dir()
        assert (project / chosen).read_text() == app.preview.files[chosen].content

        # 7. the audit log, newest first, filtered by step
        assert await wait_for(pilot, lambda: app.audit.loaded > 10)
        table = app.audit.table
        actions = [table.get_row_at(r)[2] for r in range(table.row_count)]
        assert "approve" in actions and "edit" in actions and "commit" in actions
        app.audit.query_one("#audit-step").value = "approval"
        assert await wait_for(pilot, lambda: app.audit.step == "approval" and app.audit.loaded >= 1
                              and all(table.get_row_at(r)[1] == "approval"
                                      for r in range(table.row_count)))
        assert any(table.get_row_at(r)[2] == "approve" for r in range(table.row_count))


async def test_review_failure_is_shown_and_fixed(real_backend, out_dir):
    app = WorkbenchApp(real_backend, out_dir=out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_for(pilot, lambda: real_backend.ready), real_backend.error
        app.chat.input.value = REQUEST
        app.chat.input.focus()
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: app.waiting_gate is not None and not app.busy)
        # an invalid template is a validation error; approving runs the review, which fails
        ta = app.editor.text_area
        ta.focus()
        ta.load_text(ta.text.replace("template: python-cli", "template: nope"))
        assert await wait_for(pilot, lambda: any(e.field == "template" for e in app.editor.errors))
        assert await wait_for(pilot, lambda: app.stepper.states["approval"] == "pending")
        await pilot.press("ctrl+n")  # next: the review runs, and fails on the template
        assert await wait_for(pilot, lambda: app.stepper.states["review"] == "failed" and not app.busy)
        assert not isinstance(app.screen, ApprovalScreen)
        assert "review failed" in " ".join(t.text for t in app.chat.turns)
        ta.load_text(ta.text.replace("template: nope", "template: python-cli"))
        assert await wait_for(pilot, lambda: not app.editor.errors)
        await pilot.press("ctrl+n")  # next: the review, then its gate opens
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert app.waiting_gate == ("approval", "spec") and not app.screen.info.warning


async def test_design_phase_with_a_loopback_model(wb_env, out_dir, monkeypatch):
    """A real model path: LiteLLM over HTTP to a loopback server, streamed into the chat."""
    from ui_support import loopback_backend

    from tests.support.loopback import DEFAULT_SPEC, LoopbackLLM, lifecycle_responder

    monkeypatch.setenv("OPENAI_API_KEY", "sk-SENTINEL-ui-0123456789abcdef")
    with LoopbackLLM() as srv:
        srv.responder = lifecycle_responder()
        backend = loopback_backend(wb_env, srv)
        assert backend.session_model == "gpt"
        app = WorkbenchApp(backend, out_dir=out_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            assert await wait_for(pilot, lambda: backend.ready), backend.error
            assert "model gpt" in screen_text(app)
            app.chat.input.value = REQUEST
            app.chat.input.focus()
            await pilot.press("enter")
            assert await wait_for(pilot, lambda: app.waiting_gate is not None and not app.busy, 90)
            assert [r.step for r in srv.requests] == ["analysis", "spec", "review"]
            assert app.editor.text == DEFAULT_SPEC
            labels = {(t.role, t.model) for t in app.chat.turns if t.kind == "agent"}
            assert ("Tool Builder agent", "gpt") in labels and ("Reviewer agent", "gpt") in labels
            review = next(t for t in app.chat.turns if t.role == "Reviewer agent")
            assert "Consider an --output option." in review.text
            assert "litellm" in sys.modules


async def test_resume_a_session_keeps_the_edited_spec_and_the_gate(real_backend, wb_env, out_dir):
    """A terminal that died mid-edit: `workbench --session ID` brings back the saved edit."""
    from workbench.lifecycle.engine import Engine
    from workbench.llm.offline import OfflineAgents
    from workbench.paths import db_path
    from workbench.store import Store

    store = Store(db_path())
    engine = Engine(store, OfflineAgents())
    sid = engine.start(REQUEST, out_dir / "tool")
    engine.run(sid)
    edited = store.get_spec_version(sid)["text"] + "\n- Typed before the terminal died.\n"
    engine.save_spec_edit(sid, edited)  # what the editor's autosave wrote
    store.close()

    app = WorkbenchApp(real_backend, out_dir=out_dir, resume_session=sid[:10])
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: real_backend.session_id == sid)
        assert app.editor.text == edited
        assert app.stepper.states["spec"] == "done" and app.stepper.states["review"] == "pending"
        assert "Reopened session" in " ".join(t.text for t in app.chat.turns)
        # continuing reviews the edit and stops at the gate for exactly that version
        await pilot.press("ctrl+n")
        assert await wait_for(pilot, lambda: app.waiting_gate == ("approval", "spec") and not app.busy)
        assert real_backend.store.get_spec_version(sid)["text"] == edited
