"""Themes (issue 15): Textual's built-in themes from the palette, the choice remembered in
Workbench's own state file (never config.toml) and applied at start."""

from __future__ import annotations

import json

import pytest
from textual.app import App
from textual.command import CommandPalette
from ui_support import wait_for

from workbench.ui.app import WorkbenchApp
from workbench.ui.screens import themes

pytestmark = pytest.mark.anyio


async def test_chosen_theme_is_saved_and_applied_at_the_next_start(fake_backend, out_dir, wb_env) -> None:
    app = WorkbenchApp(fake_backend, out_dir=out_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme != "nord"
        themes.choose(app, "nord")
        await pilot.pause()
        assert app.theme == "nord"
    state = wb_env / themes.STATE_FILE
    assert json.loads(state.read_text()) == {"theme": "nord"}
    assert not (wb_env / "config.toml").exists()  # the developer's file is not touched
    again = WorkbenchApp(fake_backend, out_dir=out_dir)
    async with again.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert again.theme == "nord"


async def test_textual_own_theme_picker_is_remembered_too(wb_env) -> None:
    app = App()
    async with app.run_test() as pilot:
        themes.remember_changes(app)
        app.theme = "gruvbox"
        await pilot.pause()
    assert themes.saved_theme() == "gruvbox"


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"theme": "no-such-theme"}', '{"theme": 7}'])
async def test_a_damaged_or_unknown_state_is_ignored(wb_env, content) -> None:
    (wb_env / themes.STATE_FILE).write_text(content)
    app = App()
    async with app.run_test() as pilot:
        await pilot.pause()
        before = app.theme
        assert themes.apply_saved(app) is None
        assert app.theme == before


async def test_the_palette_lists_every_builtin_theme_and_applies_one(fake_backend, out_dir) -> None:
    app = WorkbenchApp(fake_backend, out_dir=out_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f2")
        assert await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"Theme: dracula")
        await pilot.pause(0.4)
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: app.theme == "dracula")
    assert themes.saved_theme() == "dracula"
    from workbench.ui.screens.hooks import palette_entries

    names = {n for n, _cb, _h in palette_entries(app)}
    assert {f"Theme: {t}" for t in app.available_themes} <= names
