"""Helpers for the TUI tests (a module of its own: `conftest` is not importable by name
when several test folders run together)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from workbench.identity import Identity

FIXED_NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FIXED_HUMAN = Identity("Ada Tester", "ada@example.com", "git")


def fixed_clock_store(path: Path):
    from workbench.store import Store

    return Store(path, clock=lambda: FIXED_NOW)


async def wait_for(pilot, condition, timeout: float = 30.0, step: float = 0.05) -> bool:
    """Let the app run until `condition()` holds (False after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await pilot.pause(step)
        if condition():
            return True
    return False




def loopback_backend(wb_env: Path, srv):
    """A Backend whose default model `gpt` is served by the loopback server `srv`
    (config.toml written in WORKBENCH_HOME), on a store with a fixed clock."""
    import textwrap

    from workbench.ui.backend import Backend

    (wb_env / "config.toml").write_text(textwrap.dedent(f"""
        [workbench]
        default_model = "gpt"
        [models.gpt]
        model = "openai/gpt-4o"
        api_base = "{srv.api_base('openai')}"
    """))
    return Backend(config_path=wb_env / "config.toml", store_factory=fixed_clock_store)
