"""What the engine and its step handlers share: where a run stopped (`Outcome`), the
knobs a view sets (`Options`), and the refusal of a spec that holds a key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workbench.safety.redact import scan_text


@dataclass
class Outcome:
    """Where a run stopped: `done`, `gate` (waiting for approval) or `failed`."""

    status: str
    session_id: str
    step: str | None = None
    gate: str | None = None
    sha256: str | None = None
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return {"done": 0, "failed": 1, "gate": 3}.get(self.status, 1)


@dataclass
class Options:
    """Knobs a view may set."""

    repair_attempts: int = 2
    test_timeout: float = 300.0
    allow_unsandboxed: bool = False
    run_monitor: bool = True


def refuse_secrets(text: str, source: str, error) -> None:
    """A spec holding something that looks like a key is refused, the value masked."""
    found = scan_text(text, source)
    if found:
        f = found[0]
        raise error(f"{source}:{f.line}: looks like a secret ({f.kind}: {f.masked}); "
                    "keys belong in the environment, never in a spec")
