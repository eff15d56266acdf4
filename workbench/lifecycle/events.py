"""Progress events: how the engine tells its views (TUI, headless) what happens."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STEP_STARTED = "step_started"
STEP_PROGRESS = "step_progress"
TOKEN = "token"
STEP_DONE = "step_done"
STEP_FAILED = "step_failed"
GATE = "gate"
FINISHED = "finished"


@dataclass(frozen=True)
class Event:
    kind: str
    session_id: str
    step: str | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)


EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """An event sink that drops everything."""
