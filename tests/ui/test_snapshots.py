"""Snapshots (pytest-textual-snapshot) of every main state at 80x24 and 120x40, and of
each phase's screen (design: drafted, scaffold: preview, integrate: done) at 200x50.

Stable by construction: WORKBENCH_HOME is a fresh temp dir with no config, model
keys are unset (offline model), the cursor does not blink, the store's clock and
the human's identity are fixed, the project goes to a fixed directory, and the
few things that carry time (test-run summaries, commit ids) are pinned. Update
with `pytest tests/ui/test_snapshots.py --snapshot-update`, then copy the SVGs to
screenshots/ with `scripts/update-screenshots.sh`.
"""

from __future__ import annotations

import difflib
import shutil
import time
from pathlib import Path

import pytest
from screen_text import screen_text, svg_text
from ui_support import fixed_clock_store, wait_for

from workbench.ui.app import WorkbenchApp
from workbench.ui.backend import Backend
from workbench.ui.screens.findings import FindingsScreen
from workbench.ui.screens.folder import FolderScreen
from workbench.ui.screens.gate import ApprovalScreen
from workbench.ui.screens.models import ModelsScreen

pytestmark = pytest.mark.needs_engine

SIZES = {"80x24": (80, 24), "120x40": (120, 40), "200x50": (200, 50)}
PHASE_STATES = ("drafted", "preview", "done")  # one per phase: also at 200x50
STATES = ("start", "drafted", "invalid", "approve_spec", "preview", "approve_plan", "done", "models",
          "findings", "folder")
SNAP_OUT = Path("/tmp/workbench-snapshots")
FIXED_SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pin what carries time: generated-test summaries and commit ids."""
    from workbench.integrate import git, monitor

    def tests_pass(plan, template, options, on_output=None, **_kw):
        return monitor.CheckResult("pytest", "pytest -q", 0, 0.5, "10 passed", "bwrap",
                                   summary="10 passed")

    def project_ok(root, template, options, on_output=None, **_kw):
        return [monitor.CheckResult(kind, kind, 0, 0.5, "ok", "bwrap", summary="ok")
                for kind in ("install", "pytest", "ruff")]

    real_commit = git.commit_all

    def commit_all(root, subject, *args, **kwargs):
        real_commit(root, subject, *args, **kwargs)
        return FIXED_SHA

    monkeypatch.setattr(monitor, "run_generated_tests", tests_pass)
    monkeypatch.setattr(monitor, "check_project", project_ok)
    monkeypatch.setattr(git, "commit_all", commit_all)


def make_app(size_name: str, state: str) -> WorkbenchApp:
    out = SNAP_OUT / f"{state}-{size_name}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    # (a fixed config path: the Models screen names it; it is never created)
    backend = Backend(store_factory=fixed_clock_store, config_path=SNAP_OUT / "config.toml")
    app = WorkbenchApp(backend, out_dir=out)
    app.ask_folder = state == "folder"  # (as a plain `workbench` does, offering `out`)
    return app


async def drive(pilot, state: str) -> None:
    app: WorkbenchApp = pilot.app
    narrow = app.size.width < 120
    assert await wait_for(pilot, lambda: app.backend.ready), app.backend.error
    if state == "start":
        return
    if state == "models":
        app.action_show_models()
        assert await wait_for(pilot, lambda: isinstance(app.screen, ModelsScreen))
        return
    app.chat.input.value = "convert csv files to json"
    app.chat.input.focus()
    await pilot.press("enter")
    if state == "folder":
        assert await wait_for(pilot, lambda: isinstance(app.screen, FolderScreen))
        return
    assert await wait_for(pilot, lambda: app.waiting_gate is not None and not app.busy)
    if state == "drafted":
        app.action_show_pane("spec")
        await pilot.pause()
        app.editor.text_area.move_cursor((0, 0))
        return
    if state == "findings":
        await drive_findings(pilot)
        return
    if state == "invalid":
        app.action_show_pane("spec")
        await pilot.pause()
        ta = app.editor.text_area
        ta.move_cursor((1, len("name: ")))
        await pilot.press("X")
        assert await wait_for(pilot, lambda: bool(app.editor.errors))
        return
    await pilot.press("ctrl+n")
    assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
    if state == "approve_spec":
        return
    await pilot.press("y")
    assert await wait_for(pilot, lambda: app.waiting_gate == ("docs", "plan") and not app.busy, 120)
    assert await wait_for(pilot, lambda: bool(app.preview.files))
    if state == "preview":
        app.action_show_pane("preview")
        owned = sorted(p for p, f in app.preview.files.items() if f.model_owned)
        app.preview.show_file(owned[0])
        return
    await pilot.press("ctrl+n")
    assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
    if state == "approve_plan":
        return
    await pilot.press("y")
    assert await wait_for(pilot, lambda: not app.busy and app.stepper.states["monitor"] == "done", 120)
    if narrow:
        # the end of a run shows the chat (its last message), also after a refresh: let
        # that happen first, then look at the audit
        await pilot.pause(0.3)
        app.action_show_pane("audit")
        assert await wait_for(pilot, lambda: app.main.active_pane == "audit")
    assert await wait_for(pilot, lambda: app.audit.loaded > 20)


async def drive_findings(pilot) -> None:
    """Three findings (an edit drops a help text and a body section); one applied, one
    dismissed with a reason, one open and highlighted."""
    app: WorkbenchApp = pilot.app
    help_line = "    help: Show what would happen without doing it\n"
    app.editor.text_area.load_text(app.editor.text.replace(help_line, "").split("## Acceptance criteria")[0])
    assert await wait_for(pilot, lambda: app.stepper.states["approval"] == "pending")
    await pilot.press("ctrl+n")
    assert await wait_for(pilot, lambda: isinstance(app.screen, ApprovalScreen))
    await pilot.press("f8")
    assert await wait_for(pilot, lambda: isinstance(app.screen, FindingsScreen))
    await pilot.press("a")  # 1: the help text
    assert await wait_for(pilot, lambda: not app.busy and app.findings[0]["status"] == "applied")
    await pilot.press("down", "down", "d", *"covered by the README", "enter")  # 3
    assert await wait_for(pilot, lambda: not app.busy and app.findings[2]["status"] == "dismissed")
    await pilot.press("up")  # 2: open
    # (the main screen's focus, under the modal, decides its footer: pin it to the editor)
    app.screen_stack[0].set_focus(app.editor.text_area)


CASES = [(size, state) for size in SIZES for state in STATES if size != "200x50" or state in PHASE_STATES]


async def settle(pilot, app: WorkbenchApp, timeout: float = 5.0) -> str:
    """Wait until the screen reads the same twice, 0.2 s apart (a late event redraws)."""
    last, deadline = None, time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = screen_text(app)
        if now == last:
            break
        last = now
        await pilot.pause(0.2)
    return last or ""


@pytest.mark.parametrize(("size_name", "state"), CASES, ids=[f"{z}-{s}" for z, s in CASES])
def test_snapshot(snap_compare, pinned, request, size_name: str, state: str) -> None:
    app = make_app(size_name, state)
    seen: list[str] = []

    async def run_before(pilot) -> None:
        await drive(pilot, state)
        app.clear_notifications()
        await pilot.pause(0.3)  # let validation, the plan and the audit page settle
        # (and every read of the view, the plan and the audit started by the last events)
        await wait_for(pilot, lambda: not any(w.is_running for w in app.workers), 10)
        seen.append(await settle(pilot, app))

    ok = snap_compare(app, terminal_size=SIZES[size_name], run_before=run_before)
    if not ok:  # say what differs in the log: CI keeps no HTML report
        expected = Path(__file__).parent / "__snapshots__" / "test_snapshots" / f"{request.node.name}.svg"
        want = svg_text(expected.read_text(encoding="utf-8")) if expected.exists() else ""
        got = [line.rstrip() for line in (seen or [""])[-1].splitlines()]
        diff = "\n".join(difflib.unified_diff(want.splitlines(), got, "expected", "seen", lineterm=""))
        print(diff or "The text is as expected: what differs is colour, style or focus.")
    assert ok
