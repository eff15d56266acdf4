"""The lifecycle of design.md: three phases, sixteen steps, two gates."""

from __future__ import annotations

from dataclasses import dataclass

PHASES = ("design", "scaffold", "integrate")

# Step states
PENDING = "pending"
RUNNING = "running"
WAITING = "waiting"  # waiting for approval at a gate
DONE = "done"
FAILED = "failed"
STATES = (PENDING, RUNNING, WAITING, DONE, FAILED)

# Gates: "approval" approves a spec version by hash, "apply" approves a plan by hash.
GATE_SPEC = "spec"
GATE_PLAN = "plan"


@dataclass(frozen=True)
class Step:
    id: str
    phase: str
    title: str
    actor: str
    gate: str | None = None  # the gate this step ends with, if any


STEPS: tuple[Step, ...] = (
    Step("request", "design", "Request captured", "human"),
    Step("analysis", "design", "Analysis", "Tool Builder agent"),
    Step("spec", "design", "Spec draft", "Tool Builder agent"),
    Step("review", "design", "Review", "Reviewer agent"),
    Step("approval", "design", "Approval", "human", gate=GATE_SPEC),
    Step("implementation", "design", "Implementation", "Tool Builder agent"),
    Step("structure", "scaffold", "Structure", "templates"),
    Step("dependencies", "scaffold", "Dependencies", "templates"),
    Step("configuration", "scaffold", "Configuration", "templates"),
    Step("tests", "scaffold", "Tests", "templates + agent"),
    Step("docs", "scaffold", "Docs and apply", "templates + human", gate=GATE_PLAN),
    Step("git", "integrate", "Git", "Infrastructure agent"),
    Step("cicd", "integrate", "CI/CD", "Infrastructure agent"),
    Step("codespace", "integrate", "Codespace", "Infrastructure agent"),
    Step("deploy", "integrate", "Deploy", "Infrastructure agent"),
    Step("monitor", "integrate", "Monitor", "Learning agent"),
)

STEP_IDS: tuple[str, ...] = tuple(s.id for s in STEPS)
BY_ID: dict[str, Step] = {s.id: s for s in STEPS}


def index(step_id: str) -> int:
    return STEP_IDS.index(step_id)


def steps_in(phase: str) -> list[Step]:
    return [s for s in STEPS if s.phase == phase]
