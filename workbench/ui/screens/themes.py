"""Themes: Textual's built-in themes from the palette, the choice remembered.

The choice lives in a small state file of Workbench's own, `ui-state.json` beside the
database's config (WORKBENCH_HOME, or the platform's config folder), never in
config.toml, which is the developer's. It is written through the write gateway
(`safety.paths.write_file`: atomic, no symlink followed) and read at start; a damaged
or unknown entry is ignored (the default theme), never an error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from textual.app import App

STATE_FILE = "ui-state.json"
MAX_STATE_BYTES = 64_000


def state_dir() -> Path:
    from workbench import paths

    home = paths.home()
    return home if home is not None else paths.config_path().parent


def read_state() -> dict[str, Any]:
    path = state_dir() / STATE_FILE
    try:
        if not path.is_file() or path.stat().st_size > MAX_STATE_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(updates: dict[str, Any]) -> Path:
    from workbench.safety.paths import write_file

    state = {**read_state(), **updates}
    return write_file(state_dir(), STATE_FILE, json.dumps(state, indent=2, sort_keys=True) + "\n", 0o600)


def saved_theme() -> str | None:
    name = read_state().get("theme")
    return name if isinstance(name, str) and name else None


def theme_names(app: App) -> list[str]:
    return sorted(app.available_themes)


def apply_saved(app: App) -> str | None:
    """The remembered theme, when Textual still has it."""
    name = saved_theme()
    if name and name in app.available_themes and app.theme != name:
        app.theme = name
        return name
    return None


def choose(app: App, name: str) -> None:
    """The palette's "Theme: NAME" (saved by `remember_changes`)."""
    if name not in app.available_themes:
        app.notify(f"No theme named {name!r}", severity="error", markup=False)
        return
    app.theme = name
    if not getattr(app, "_workbench_theme_watch", False):
        save(app, name)


def save(app: App, name: str) -> None:
    if saved_theme() == name:
        return
    try:
        write_state({"theme": name})
    except Exception as exc:  # noqa: BLE001 - the theme applies; only remembering it failed
        app.notify(f"Theme {name} not remembered: {exc}", severity="warning", markup=False)


def remember_changes(app: App) -> None:
    """Save every theme change, from our palette entries or Textual's own theme picker."""
    if getattr(app, "_workbench_theme_watch", False):
        return
    app._workbench_theme_watch = True  # type: ignore[attr-defined]
    app.theme_changed_signal.subscribe(app, lambda theme: save(app, theme.name))
