"""The start screen (issue 15): a plain `workbench` with earlier sessions lists them and
the projects; Enter resumes one at its true state; a new tool is explicit."""

from __future__ import annotations

from pathlib import Path

import pytest
from screen_text import screen_text
from textual.app import App
from textual.widgets import DataTable
from ui_support import wait_for

from workbench.ui.app import WorkbenchApp
from workbench.ui.screens.start import StartChoice, StartScreen, projects_of, when

pytestmark = pytest.mark.anyio

REQUEST = "count words in text files"
SESSIONS = [
    {"id": "a1b2c3d4e5f6a7b8", "request": "convert csv files to json", "out_dir": "/tmp/x/csv-json",
     "status": "waiting", "current_step": "approval", "updated": "2026-01-02T03:04:05Z"},
    {"id": "99887766554433", "request": "hash files", "out_dir": "/tmp/x/hash", "status": "done",
     "current_step": "monitor", "updated": "2026-01-01T10:00:00Z"},
]


class Host(App):
    def __init__(self, sessions, projects=None) -> None:
        super().__init__()
        self.sessions, self.projects, self.choices = sessions, projects, []

    def on_mount(self) -> None:
        self.push_screen(StartScreen(self.sessions, self.projects), self.choices.append)


async def test_lists_request_status_step_folder_and_when_and_enter_opens_the_highlighted() -> None:
    app = Host(SESSIONS, [])
    async with app.run_test(size=(120, 30)) as pilot:
        assert await wait_for(pilot, lambda: "hash files" in screen_text(app)
                              and isinstance(app.screen.focused, DataTable)), screen_text(app)
        text = screen_text(app)
        for needle in ("a1b2c3d4", "convert csv files to json", "waiting", "approval", "/tmp/x/csv-json",
                       "2026-01-02 03:04", "hash files", "done", "New tool"):
            assert needle in text, needle
        await pilot.press("down", "enter")
        assert await wait_for(pilot, lambda: bool(app.choices))
    assert app.choices == [StartChoice("open", "99887766554433")]


@pytest.mark.parametrize("key,kind", [("n", "new"), ("escape", "new"), ("o", "project")])
async def test_new_tool_and_open_project_are_explicit(key, kind) -> None:
    app = Host(SESSIONS, [])
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_for(pilot, lambda: isinstance(app.screen, StartScreen)
                              and app.screen.focused is not None)  # (its keys reach it)
        await pilot.press(key)
        assert await wait_for(pilot, lambda: bool(app.choices))
    assert [c.kind for c in app.choices] == [kind]


def test_projects_are_the_folders_workbench_made(tmp_path: Path) -> None:
    made = tmp_path / "made"
    (made / ".git").mkdir(parents=True)
    (made / "docs").mkdir()
    (made / "docs" / "spec.md").write_text("---\n")
    rows = [{"id": "1", "out_dir": str(made), "updated": "2026-01-02T03:04:05Z"},
            {"id": "2", "out_dir": str(made)}, {"id": "3", "out_dir": str(tmp_path / "gone")}]
    assert [p["path"] for p in projects_of(rows)] == [str(made)]
    assert when("2026-01-02T03:04:05.123Z") == "2026-01-02 03:04"


def waiting_session(wb_env: Path, tmp_path: Path) -> tuple[str, str]:
    """A session run headless (offline) to the spec gate: (id, its spec)."""
    from workbench.lifecycle.engine import Engine, Options
    from workbench.llm.offline import OfflineAgents
    from workbench.store import Store

    store = Store(wb_env / "workbench.db")
    engine = Engine(store, OfflineAgents(), options=Options(run_monitor=False, allow_unsandboxed=True))
    sid = engine.start(REQUEST, tmp_path / "made" / "words")
    outcome = engine.run(sid)
    assert outcome.status == "gate" and outcome.gate == "spec", outcome
    text = store.get_spec_version(sid)["text"]
    engine.close()
    store.close()
    return sid, text


@pytest.mark.needs_engine
async def test_plain_workbench_shows_it_first_and_enter_reopens_at_the_true_state(
        real_backend, wb_env, tmp_path, out_dir) -> None:
    sid, spec = waiting_session(wb_env, tmp_path)
    app = WorkbenchApp(real_backend, out_dir=out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        assert await wait_for(pilot, lambda: sid[:8] in screen_text(app)), screen_text(app)
        assert REQUEST in screen_text(app)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: real_backend.session_id == sid)
        assert not isinstance(app.screen, StartScreen)
        assert await wait_for(pilot, lambda: app.editor.text == spec)
        assert await wait_for(pilot, lambda: app.waiting_gate is not None)
        assert "waiting for approval" in screen_text(app)


@pytest.mark.needs_engine
async def test_new_tool_from_the_start_screen_goes_to_the_request(real_backend, wb_env, tmp_path,
                                                                  out_dir) -> None:
    waiting_session(wb_env, tmp_path)
    app = WorkbenchApp(real_backend, out_dir=out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_for(pilot, lambda: isinstance(app.screen, StartScreen))
        assert await wait_for(pilot, lambda: app.screen.query_one("#start-sessions", DataTable).row_count == 1)
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, StartScreen) and real_backend.session_id is None
        assert app.focused is app.chat.input


async def test_no_earlier_session_no_start_screen(fake_backend, out_dir) -> None:
    app = WorkbenchApp(fake_backend, out_dir=out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await wait_for(pilot, lambda: fake_backend.ready)
        await pilot.pause(0.3)
        assert not isinstance(app.screen, StartScreen)
