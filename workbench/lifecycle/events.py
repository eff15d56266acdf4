"""Progress events: how the engine and the session service tell their views (the TUI,
the headless runner, `--json`) what happened.

Every event is a frozen dataclass with a `kind`; each kind has its own class with
typed fields (`GateReached.sha256`, `StepDone.tokens` ...). `make(kind, ...)` builds
the right class from the engine's keyword data; what a class does not declare stays
in `data`. `to_json()` is the documented, versioned wire form of `--json`
(docs/events.md): one object per line with `schema`, `kind`, `session`, `step`,
`message` and the kind's own fields.

Kinds (stable; extend, never rename):
  step_started, step_progress, token, step_done, step_failed, gate, finished  (the engine)
  status_changed, findings_changed, spec_version_added, approved, rejected,
  stepped_back                                                           (mutating calls)
  merge_planned, conflict, undone                      (evolve and undo: lifecycle/evolve.py, undo.py)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

SCHEMA_VERSION = 1

STEP_STARTED = "step_started"
STEP_PROGRESS = "step_progress"
TOKEN = "token"
STEP_DONE = "step_done"
STEP_FAILED = "step_failed"
GATE = "gate"
FINISHED = "finished"
STATUS_CHANGED = "status_changed"
FINDINGS_CHANGED = "findings_changed"
SPEC_VERSION_ADDED = "spec_version_added"
APPROVED = "approved"
REJECTED = "rejected"
STEPPED_BACK = "stepped_back"
MERGE_PLANNED = "merge_planned"
CONFLICT = "conflict"
UNDONE = "undone"


@dataclass(frozen=True)
class Event:
    kind: str
    session_id: str
    step: str | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    KIND: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        """The `--json` form: JSON-safe, one object, schema-versioned."""
        out: dict[str, Any] = {"schema": SCHEMA_VERSION, "kind": self.kind, "session": self.session_id,
                               "step": self.step, "message": self.message}
        base = {f.name for f in fields(Event)}
        for f in fields(self):
            if f.name not in base:
                out[f.name] = getattr(self, f.name)
        for key, value in self.data.items():
            out.setdefault(key, value)
        return _json_safe(out)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in (sorted(value) if isinstance(value, set | frozenset) else value)]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


@dataclass(frozen=True)
class StepStarted(Event):
    KIND: ClassVar[str] = STEP_STARTED


@dataclass(frozen=True)
class StepProgress(Event):
    KIND: ClassVar[str] = STEP_PROGRESS
    notice: bool = False  # worth saying on its own line (a retry, a fallback), not just a status


@dataclass(frozen=True)
class Token(Event):
    """A piece of a model's reply as it streams (`message` is the text)."""

    KIND: ClassVar[str] = TOKEN


@dataclass(frozen=True)
class StepDone(Event):
    KIND: ClassVar[str] = STEP_DONE
    tokens: int | None = None
    cost: float | None = None
    model: str | None = None


@dataclass(frozen=True)
class StepFailed(Event):
    KIND: ClassVar[str] = STEP_FAILED


@dataclass(frozen=True)
class GateReached(Event):
    """The run stopped for approval of one exact spec version or plan."""

    KIND: ClassVar[str] = GATE
    gate: str = ""
    sha256: str = ""


@dataclass(frozen=True)
class Finished(Event):
    """The end of a drive: `status` done, gate or failed, with the exit code it means."""

    KIND: ClassVar[str] = FINISHED
    status: str = "done"
    exit_code: int = 0


@dataclass(frozen=True)
class StatusChanged(Event):
    """A step's state changed (pending, running, waiting, done, failed)."""

    KIND: ClassVar[str] = STATUS_CHANGED
    status: str = ""


@dataclass(frozen=True)
class FindingsChanged(Event):
    KIND: ClassVar[str] = FINDINGS_CHANGED
    open: int = 0
    total: int = 0


@dataclass(frozen=True)
class SpecVersionAdded(Event):
    KIND: ClassVar[str] = SPEC_VERSION_ADDED
    version: int = 0
    sha256: str = ""
    source: str = ""


@dataclass(frozen=True)
class Approved(Event):
    KIND: ClassVar[str] = APPROVED
    gate: str = ""
    sha256: str = ""
    actor: str = ""


@dataclass(frozen=True)
class Rejected(Event):
    KIND: ClassVar[str] = REJECTED
    gate: str = ""
    reason: str = ""


@dataclass(frozen=True)
class SteppedBack(Event):
    KIND: ClassVar[str] = STEPPED_BACK


@dataclass(frozen=True)
class MergePlanned(Event):
    """evolve: the 3-way merge of every file is planned. `files`: path -> status (unchanged
    ones left out; statuses in integrate/merge.py), `counts`: status -> number of files."""

    KIND: ClassVar[str] = MERGE_PLANNED
    files: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    sha256: str = ""


@dataclass(frozen=True)
class Conflict(Event):
    """evolve stopped on conflicts: `paths` each conflicting file; `written` true when
    --write-conflicts put the markers into the working tree (uncommitted)."""

    KIND: ClassVar[str] = CONFLICT
    paths: list = field(default_factory=list)
    written: bool = False


@dataclass(frozen=True)
class Undone(Event):
    """undo: `reverted` (the Workbench commit) reverted by the new commit `commit`."""

    KIND: ClassVar[str] = UNDONE
    commit: str = ""
    reverted: str = ""


CLASSES: dict[str, type[Event]] = {
    cls.KIND: cls for cls in (StepStarted, StepProgress, Token, StepDone, StepFailed, GateReached,
                              Finished, StatusChanged, FindingsChanged, SpecVersionAdded, Approved,
                              Rejected, SteppedBack, MergePlanned, Conflict, Undone)
}
KINDS: tuple[str, ...] = tuple(CLASSES)


def make(kind: str, session_id: str, step: str | None = None, message: str = "", **data: Any) -> Event:
    """The typed event of `kind`, its declared fields set from `data` (which `.data` also
    keeps whole, for views written before the typed fields)."""
    cls = CLASSES.get(kind, Event)
    declared = {f.name for f in fields(cls)} - {f.name for f in fields(Event)}
    typed = {k: v for k, v in data.items() if k in declared}
    return cls(kind, session_id, step, message, dict(data), **typed)


EventSink = Callable[[Event], None]


def ignore(_event: Event) -> None:
    """An event sink that drops everything."""
