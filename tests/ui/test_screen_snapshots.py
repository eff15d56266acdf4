"""Snapshots of the new main screens (start screen, dashboard, spec versions, evolve) at
80x24 and 120x40, from fixed data: `--snapshot-update` re-renders them, and
scripts/update-screenshots.sh copies them to screenshots/."""

from __future__ import annotations

import pytest
from test_start_screen import SESSIONS
from textual.app import App

from workbench.ui.screens.start import StartScreen

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


class Host(App):
    def __init__(self, make) -> None:
        super().__init__()
        self.make = make

    def on_mount(self) -> None:
        self.push_screen(self.make())


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_start_screen(snap_compare, size) -> None:
    projects = [{"path": "/home/ada/tools/csv-json", "name": "csv-json", "updated": "2026-01-02T03:04:05Z"}]
    assert snap_compare(Host(lambda: StartScreen(SESSIONS, projects)), terminal_size=SIZES[size])


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_dashboard(snap_compare, size, tmp_path) -> None:
    from test_dashboard import filled_store

    from workbench.ui.screens.dashboard import DashboardScreen, load_dashboard

    data = load_dashboard(filled_store(tmp_path / "w.db"))
    assert snap_compare(Host(lambda: DashboardScreen(data)), terminal_size=SIZES[size])
