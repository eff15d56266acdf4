"""Review findings in the TUI: the findings screen (F8), applying and dismissing them.

Over the real engine with the offline agents (the default: no keys): a draft edited so
that the review finds three things, 1. a missing help text and 2. a missing body
section (structural: the offline agent can apply them) and 3. the placeholder drafted
offline (words: it cannot). Then a model behind a loopback server applying a finding
(its streamed reply must never reach the editor), and the UI's own rules over the
stand-in engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from screen_text import screen_text
from textual.command import CommandPalette
from ui_support import FIXED_HUMAN, wait_for

from workbench.ui.app import WorkbenchApp
from workbench.ui.screens.findings import FindingsScreen
from workbench.ui.screens.gate import ApprovalScreen

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.anyio

REQUEST = "convert csv files to json"
HELP_LINE = "    help: Show what would happen without doing it\n"
REASON = "covered by the README [see 2.1, not [/] markup]"


def record_notifications(app: WorkbenchApp) -> list[tuple[str, str]]:
    """Every notification the app shows, as (message, severity)."""
    seen: list[tuple[str, str]] = []
    notify = app.notify

    def recording(message, *args, **kwargs):
        seen.append((str(message), str(kwargs.get("severity", "information"))))
        return notify(message, *args, **kwargs)

    app.notify = recording  # type: ignore[method-assign]
    return seen


async def request_draft(app: WorkbenchApp, pilot, timeout: float = 30) -> None:
    assert await wait_for(pilot, lambda: app.backend.ready), app.backend.error
    app.chat.input.value = REQUEST
    app.chat.input.focus()
    await pilot.press("enter")
    assert await wait_for(pilot, lambda: app.waiting_gate is not None and not app.busy, timeout)


async def three_findings_at_the_gate(app: WorkbenchApp, pilot) -> None:
    """Draft, edit (no help for --dry-run, no acceptance criteria), review: the spec gate."""
    await request_draft(app, pilot)
    text = app.editor.text
    assert HELP_LINE in text
    app.editor.text_area.load_text(text.replace(HELP_LINE, "").split("## Acceptance criteria")[0])
    assert await wait_for(pilot, lambda: app.stepper.states["approval"] == "pending")
    await pilot.press("ctrl+n")  # the review runs on the edit, then its gate opens
    assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen), 60)
    assert [f["status"] for f in app.findings] == ["open"] * 3, (app.findings, app.main.view and app.main.view.steps)
    assert [f["status"] for f in app.findings] == ["open"] * 3


async def open_findings_from_the_gate(app: WorkbenchApp, pilot) -> FindingsScreen:
    assert await wait_for(pilot, lambda: "3 open findings — F8 to review them" in screen_text(app)), \
        screen_text(app)
    await pilot.press("f8")
    assert await wait_for(pilot, lambda: isinstance(app.screen, FindingsScreen))
    assert app.waiting_gate == ("approval", "spec")  # not a rejection: the gate still waits
    await pilot.pause()
    return app.screen  # type: ignore[return-value]


def audit_actions(app: WorkbenchApp) -> list[str]:
    table = app.audit.table
    return [str(table.get_row_at(r)[2]) for r in range(table.row_count)]


@pytest.mark.needs_engine
async def test_dismiss_a_finding_with_a_reason(real_backend, out_dir):
    app = WorkbenchApp(real_backend, out_dir=out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await three_findings_at_the_gate(app, pilot)
        sid = real_backend.session_id
        review = [t for t in app.chat.turns if t.role == "Reviewer agent"][-1]  # the second review
        assert "1. **warning** `commands[0].options[0]`" in review.text  # numbered as on screen
        assert "press **F8** to apply or dismiss them" in review.text
        screen = await open_findings_from_the_gate(app, pilot)
        text = screen_text(app)
        for shown in ("Review findings", "3 findings · 3 open", "1.", "warning", "commands[0].options[0]",
                      "'dry-run' has no help text", "→ Add a one-line help text.", "● open",
                      "3.", "info", "The requirements are a placeholder drafted offline.",
                      "a apply · d dismiss"):
            assert shown in text, shown

        await pilot.press("down", "down")
        assert screen.current is not None and screen.current["n"] == 3
        await pilot.press("d")
        reason = screen.query_one("#findings-reason")
        assert reason.has_focus and "Dismiss finding 3 (info at body): why?" in screen_text(app)
        notes = record_notifications(app)
        await pilot.press(*REASON, "enter")
        assert await wait_for(pilot, lambda: not app.busy and app.findings[2]["status"] == "dismissed")
        found = real_backend.engine.findings(sid)[2]
        assert (found["status"], found["reason"], found["decided_by"]) == (
            "dismissed", REASON, f"human:{FIXED_HUMAN}")
        await pilot.pause()
        text = screen_text(app)
        assert f"✗ dismissed: {REASON}" in text  # (as typed: not markup)
        assert "3 findings · 2 open · 1 dismissed" in text
        assert f"✓ Dismissed finding 3: {REASON}" in text
        assert (f"Dismissed finding 3: {REASON}", "information") in notes
        # the audit log: the event in the store, and in the audit pane
        events = real_backend.store.list_events(limit=20, step="review")
        dismissed = [e for e in events if e["action"] == "finding_dismissed"]
        assert dismissed and dismissed[0]["payload"]["reason"] == REASON
        assert await wait_for(pilot, lambda: "finding_dismissed" in audit_actions(app))

        # the same finding cannot be dismissed twice; Esc in the reason cancels
        await pilot.press("d")
        assert not screen.query_one("#findings-ask").display
        await pilot.press("up", "d")
        assert screen.query_one("#findings-ask").display
        await pilot.press("escape")
        assert isinstance(app.screen, FindingsScreen) and not screen.query_one("#findings-ask").display
        assert real_backend.engine.findings(sid)[1]["status"] == "open"
        await pilot.press("escape")  # Esc on the list closes the screen
        assert await wait_for(pilot, lambda: not isinstance(app.screen, FindingsScreen))
        # the gate opens again with the open findings counted
        await pilot.press("ctrl+n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert "2 open findings — F8 to review them" in screen_text(app)


@pytest.mark.needs_engine
async def test_apply_a_structural_finding_then_review_again(real_backend, out_dir):
    app = WorkbenchApp(real_backend, out_dir=out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await three_findings_at_the_gate(app, pilot)
        store, sid = real_backend.store, real_backend.session_id
        before = store.get_spec_version(sid)
        notes = record_notifications(app)
        screen = await open_findings_from_the_gate(app, pilot)

        await pilot.press("a")  # finding 1: --dry-run has no help text
        assert await wait_for(pilot, lambda: not app.busy and app.findings[0]["status"] == "applied")
        after = store.get_spec_version(sid)
        assert after["version"] == before["version"] + 1
        # the editor holds the new version exactly: nothing streamed into it, nothing to save
        assert app.editor.text == after["text"] == app.editor.saved
        assert 'help: "(To fill in: what dry-run is)"' in app.editor.text
        # steps after the spec are pending: the review must run again
        states = app.stepper.states
        assert (states["spec"], states["review"], states["approval"]) == ("done", "pending", "pending")
        assert app.waiting_gate is None
        line = f"Applied finding 1 → spec v{after['version']}"
        assert any(t.text.startswith(line) and t.role == "Tool Builder agent" for t in app.chat.turns)
        assert any(m.startswith(line) for m, _ in notes)
        await pilot.pause()
        text = screen_text(app)
        assert "✓ applied" in text and "The spec changed since this review" in text
        assert [e["action"] for e in store.list_events(limit=5, step="review")][0] == "finding_applied"

        assert "changed: ^n reviews it" in screen_text(app)  # (the top bar, under the screen)
        await pilot.pause(0.5)  # (an autosave would be a new version: there is none)
        assert store.get_spec_version(sid)["version"] == after["version"]
        # Ctrl+N, from the findings screen: it closes, the review runs again on the new
        # version, and its gate is for exactly that text
        await pilot.press("ctrl+n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert app.main.findings_screen() is None
        assert app.screen.info.sha256 == after["sha256"]
        texts = [f["text"] for f in app.findings]
        assert "'dry-run' has a placeholder for its help text." in texts
        assert not any("has no help text" in t for t in texts)
        assert screen is not app.screen


@pytest.mark.needs_engine
async def test_offline_cannot_apply_the_placeholder_finding(real_backend, out_dir):
    app = WorkbenchApp(real_backend, out_dir=out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await three_findings_at_the_gate(app, pilot)
        store, sid = real_backend.store, real_backend.session_id
        before, text_before = store.get_spec_version(sid), app.editor.text
        events_before = len(store.list_events(limit=500))
        notes = record_notifications(app)
        screen = await open_findings_from_the_gate(app, pilot)
        await pilot.press("down", "down", "a")  # 3: the placeholder drafted offline
        assert await wait_for(pilot, lambda: not app.busy and bool(notes))
        message, severity = notes[-1]
        assert message.startswith("finding 3: the offline model applies only structural fixes") \
            and "dismiss the finding" in message and severity == "error"
        await pilot.pause()
        assert "✗ finding 3: the offline model applies only structural" in screen_text(app)
        # nothing changed: the spec, the editor, the decision, the steps, the audit log
        assert store.get_spec_version(sid)["version"] == before["version"]
        assert app.editor.text == text_before
        assert [f["status"] for f in app.findings] == ["open"] * 3
        assert app.waiting_gate == ("approval", "spec") and app.stepper.states["review"] == "done"
        assert len(store.list_events(limit=500)) == events_before
        assert not any("Applied finding" in t.text for t in app.chat.turns)
        assert isinstance(app.screen, FindingsScreen) and app.screen is screen  # dismiss it instead
        await pilot.press("d", "enter")
        assert await wait_for(pilot, lambda: not app.busy and app.findings[2]["status"] == "dismissed")


@pytest.mark.needs_engine
async def test_apply_with_a_model_streams_the_reply_elsewhere(wb_env, out_dir, monkeypatch):
    """A model revises the spec over HTTP: its streamed reply (prose and a fence around the
    spec) never reaches the editor, which gets the extracted version when it is done."""
    from ui_support import loopback_backend

    from tests.support.loopback import LoopbackLLM, lifecycle_responder

    monkeypatch.setenv("OPENAI_API_KEY", "sk-SENTINEL-ui-0123456789abcdef")
    with LoopbackLLM() as srv:
        srv.responder = lifecycle_responder()
        backend = loopback_backend(wb_env, srv)
        app = WorkbenchApp(backend, out_dir=out_dir)
        async with app.run_test(size=(120, 40)) as pilot:
            await request_draft(app, pilot, timeout=90)  # (LiteLLM loads first)
            assert [f["text"] for f in app.findings] == ["Consider an --output option."]
            drafted = app.editor.text
            await pilot.press("f8")
            assert await wait_for(pilot, lambda: isinstance(app.screen, FindingsScreen))
            seen: list[str] = []
            sampler = app.set_interval(0.01, lambda: seen.append(app.editor.text))
            await pilot.press("a")
            assert await wait_for(pilot, lambda: not app.busy and app.findings[0]["status"] == "applied", 60)
            sampler.stop()  # (before the app shuts down and the editor is gone)
            assert srv.requests[-1].step == "spec"
            revised = backend.store.get_spec_version(backend.session_id)["text"]
            assert revised.startswith(drafted.rstrip("\n"))
            assert "--output PATH when given" in revised
            assert app.editor.text == revised
            assert all(t in (drafted, revised) for t in seen)  # never a half-streamed reply
            assert not any("Revised:" in t for t in seen)
            assert any(t.text.startswith("Applied finding 1 → spec v2") and t.model == "gpt"
                       for t in app.chat.turns)


# -- the UI's own rules, over the stand-in engine ---------------------------------------

async def test_tokens_streamed_while_applying_never_reach_the_editor(fake_backend, out_dir):
    app = WorkbenchApp(fake_backend, out_dir=out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await request_draft(app, pilot)
        engine = fake_backend.engine
        sid = fake_backend.session_id
        app.editor.text_area.load_text(app.editor.text.replace(HELP_LINE, ""))
        assert await wait_for(pilot, lambda: engine.sessions[sid]["spec"] == app.editor.text)
        await pilot.press("ctrl+n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("f8")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FindingsScreen))
        before = app.editor.text
        engine.chunk, engine.token_delay = 8, 0.02  # the revised spec, streamed slowly (~2 s)
        await pilot.press("a")
        # while the reply streams, the editor holds what it held (checked in the same
        # moment: under load the stream may end right after)
        assert await wait_for(pilot, lambda: "characters from the agent" in app.busy
                              and "Applying finding 1" in screen_text(app) and app.editor.text == before)
        assert await wait_for(pilot, lambda: not app.busy)
        assert ("apply_finding", 1) in engine.calls
        assert app.editor.text == engine.sessions[sid]["spec"] != before
        assert app.editor.draft != app.editor.text  # F4 still diffs against the model's draft
        # ctrl+z takes the applied change back (and that is saved as an edit)
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: not isinstance(app.screen, FindingsScreen | ApprovalScreen))
        app.editor.text_area.focus()
        assert await wait_for(pilot, lambda: app.focused is app.editor.text_area)  # then the key is its
        await pilot.press("ctrl+z")
        assert await wait_for(pilot, lambda: app.editor.text == before)
        assert await wait_for(pilot, lambda: engine.sessions[sid]["spec"] == before)


async def test_findings_key_palette_and_before_a_review(fake_backend, out_dir):
    app = WorkbenchApp(fake_backend, out_dir=out_dir)
    notes = record_notifications(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert "app.findings" in {b.id for b in app.BINDINGS}
        assert "f8 Findings" not in screen_text(app)  # nothing to see yet: not in the footer
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Findings")
        await pilot.pause(0.3)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: bool(notes))
        assert not isinstance(app.screen, FindingsScreen)
        assert notes[-1][0] == "No session yet: describe the tool you want in the chat first."

        await request_draft(app, pilot)
        assert "f8 Findings" in screen_text(app)
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press(*"Findings")
        await pilot.pause(0.3)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FindingsScreen))
        assert "The requirements are a placeholder drafted offline." in screen_text(app)
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: not isinstance(app.screen, FindingsScreen))
        app.stepper.focus()
        await pilot.press("f")  # the stepper's key for it
        assert await wait_for(pilot, lambda: isinstance(app.screen, FindingsScreen))


async def test_after_approval_the_findings_are_read_only(fake_backend, out_dir):
    app = WorkbenchApp(fake_backend, out_dir=out_dir)
    notes = record_notifications(app)
    async with app.run_test(size=(80, 24)) as pilot:
        await request_draft(app, pilot)
        await pilot.press("ctrl+n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        assert "1 open finding — F8 to review it" in screen_text(app)
        await pilot.press("y")
        assert await wait_for(pilot, lambda: app.waiting_gate == ("docs", "plan") and not app.busy)
        app.editor.text_area.focus()  # (F8 is not one of the editor's keys: F6 would be)
        await pilot.press("f8")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FindingsScreen))
        assert "The spec is approved" in screen_text(app)
        await pilot.press("d")
        assert not app.screen.query_one("#findings-ask").display
        await pilot.press("a")
        assert not app.busy
        assert notes[-1][0].startswith("The spec is approved")
        assert not any(c[0] in ("dismiss_finding", "apply_finding") for c in fake_backend.engine.calls)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_footer_shows_f8_whole_or_not_at_all(fake_backend, out_dir, size):
    app = WorkbenchApp(fake_backend, out_dir=out_dir)
    async with app.run_test(size=size) as pilot:
        await request_draft(app, pilot)
        def footer() -> str:
            return screen_text(app).splitlines()[-1].rstrip()

        app.chat.input.focus()
        assert await wait_for(pilot, lambda: "^t Pane f8 Findings" in footer())
        app.editor.text_area.focus()  # its F4 comes first: at 80 columns F8 no longer fits
        assert await wait_for(pilot, lambda: footer().startswith("f4 Diff"))
        await pilot.pause(0.1)
        if size[0] < 82:
            assert footer().endswith("^t Pane")
        else:
            assert "^t Pane f8 Findings" in footer()
            await pilot.resize_terminal(80, 24)  # narrower: it goes, whole
            assert await wait_for(pilot, lambda: footer().endswith("^t Pane"))
            await pilot.resize_terminal(*size)
            assert await wait_for(pilot, lambda: "^t Pane f8 Findings" in footer())
        await pilot.press("f8")  # the key works all the same
        assert await wait_for(pilot, lambda: isinstance(app.screen, FindingsScreen))


@pytest.mark.needs_engine
async def test_esc_cancels_a_model_applying_a_finding(wb_env, out_dir, monkeypatch):
    """The model hangs on the revision: Esc (on the main screen) cancels it; nothing changes."""
    from ui_support import loopback_backend

    from tests.support.loopback import LoopbackLLM, Reply, lifecycle_responder

    monkeypatch.setenv("OPENAI_API_KEY", "sk-SENTINEL-ui-0123456789abcdef")
    with LoopbackLLM() as srv:
        answer = lifecycle_responder()

        def respond(req):
            if req.step == "spec" and "The finding to apply" in req.prompt_text():
                return Reply(fault="hang", hang_s=30)
            return answer(req)

        srv.responder = respond
        backend = loopback_backend(wb_env, srv)
        app = WorkbenchApp(backend, out_dir=out_dir)
        notes = record_notifications(app)
        async with app.run_test(size=(120, 40)) as pilot:
            await request_draft(app, pilot, timeout=90)  # (LiteLLM loads first)
            before = backend.store.get_spec_version(backend.session_id)
            text_before = app.editor.text
            await pilot.press("f8")
            assert await wait_for(pilot, lambda: isinstance(app.screen, FindingsScreen))
            await pilot.press("a")
            assert await wait_for(pilot, lambda: app.busy.startswith("Applying finding 1"))
            assert await wait_for(pilot, lambda: srv.requests and srv.requests[-1].step == "spec")
            app.simulate_key("escape")  # closes the findings screen: the agent works on
            assert await wait_for(pilot, lambda: not isinstance(app.screen, FindingsScreen))
            assert app.busy.startswith("Applying finding 1")
            app.simulate_key("escape")  # cancels the agent's turn
            assert await wait_for(pilot, lambda: not app.busy, 20)
            assert any("Cancelling finding 1" in m for m, _ in notes)
            assert ("model gpt (openai/gpt-4o): cancelled", "warning") in notes
            assert backend.store.get_spec_version(backend.session_id)["version"] == before["version"]
            assert app.editor.text == text_before
            assert app.findings[0]["status"] == "open"
            assert app.waiting_gate == ("approval", "spec")
