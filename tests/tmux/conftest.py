"""The tmux tests drive the installed `workbench` command as a person would."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs_engine: drives the real lifecycle engine (fails, never skips, once it exists)")
