"""The doctor line: the TUI runs doctor's checks in the background at start and shows one
line naming what the main job misses and its fix (WORKBENCH_BWRAP=none: no bubblewrap)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Footer, Label
from ui_support import wait_for

from workbench.cli.doctor_cmd import FAIL, Check
from workbench.ui.screens import doctor_line as dl

pytestmark = pytest.mark.anyio


class Host(App):
    def compose(self) -> ComposeResult:
        yield Label("main")
        yield Footer()


def test_line_names_the_first_problem_its_fix_and_how_many_more() -> None:
    checks = [Check("bubblewrap", FAIL, "bwrap is not installed", {"debian": "sudo apt-get install bubblewrap",
                                                                   "macos": "n/a"}),
              Check("config", FAIL, "bad", {})]
    line = dl.doctor_line(checks)
    assert line is not None and line.startswith("✗ bubblewrap: bwrap is not installed")
    assert "fix: sudo apt-get install bubblewrap" in line or "fix: n/a" in line
    assert line.endswith("1 more: workbench doctor")
    assert dl.doctor_line([]) is None


async def test_missing_bubblewrap_shows_one_line_with_the_apt_command(monkeypatch) -> None:
    monkeypatch.setenv("WORKBENCH_BWRAP", "none")
    monkeypatch.setattr("sys.platform", "linux")
    app = Host()
    async with app.run_test(size=(120, 30)) as pilot:
        dl.check_in_background(app)  # the real checks, in a thread
        assert await wait_for(pilot, lambda: bool(app.screen.query(f"#{dl.BANNER_ID}")), timeout=60)
        banner = app.screen.query_one(dl.DoctorBanner)
        assert "bubblewrap" in banner.line and "sudo apt-get install bubblewrap" in banner.line
        assert banner.region.height >= 1 and banner.region.y < 30  # on screen
        await pilot.click(dl.DoctorBanner)
        await pilot.pause()
        assert not app.screen.query(f"#{dl.BANNER_ID}")


async def test_nothing_missing_shows_nothing() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        dl.check_in_background(app, problems=lambda: [])
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.screen.query(f"#{dl.BANNER_ID}")
