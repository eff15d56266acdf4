"""The lifecycle of design.md: three phases, sixteen steps, two gates.

This is the one step table. Every other list of steps (the scaffold steps, the steps that
ask a model, the role acting at each step, the ids config.toml accepts, ...) derives from
it; tests/unit/test_step_table.py fails when a module spells one out again.

A leaf module: it imports nothing of Workbench, so anything (config, the store, the
views) may import it. The handlers are named here, not imported: the engine loads the
module of a step's phase when the step first runs.
"""

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

# Who acts at a step. The agent roles each have a system prompt (templates/prompts/).
HUMAN = "human"
TEMPLATES = "templates"
TOOL_BUILDER = "tool_builder"
REVIEWER = "reviewer"
INFRASTRUCTURE = "infrastructure"
LEARNING = "learning"
AGENT_ROLES = (TOOL_BUILDER, REVIEWER, INFRASTRUCTURE, LEARNING)
ROLES = (HUMAN, TEMPLATES, *AGENT_ROLES)

# The modules holding the handlers, one per phase.
_DESIGN = "workbench.lifecycle.design_steps"
_SCAFFOLD = "workbench.lifecycle.scaffold_steps"
_INTEGRATE = "workbench.lifecycle.integrate_steps"


@dataclass(frozen=True)
class Step:
    id: str
    phase: str
    title: str
    actor: str  # who acts, as the design's table says it
    gate: str | None = None  # the gate this step ends with, if any
    role: str = TEMPLATES  # one of ROLES: the role whose name an agent's audit entries carry
    plans_files: bool = False  # template files belong to it (it renders part of the plan)
    writes_files: bool = False  # it writes into the project's folder (apply, commits)
    calls_model: bool = False  # it asks an agent backed by a model (tests: to repair)
    handler: str = ""  # "module:function", called as function(engine, session_id)


def _h(module: str, step_id: str) -> str:
    return f"{module}:step_{step_id}"


STEPS: tuple[Step, ...] = (
    Step("request", "design", "Request captured", "human", role=HUMAN,
         handler=_h(_DESIGN, "request")),
    Step("analysis", "design", "Analysis", "Tool Builder agent", role=TOOL_BUILDER,
         calls_model=True, handler=_h(_DESIGN, "analysis")),
    Step("spec", "design", "Spec draft", "Tool Builder agent", role=TOOL_BUILDER,
         calls_model=True, handler=_h(_DESIGN, "spec")),
    Step("review", "design", "Review", "Reviewer agent", role=REVIEWER,
         calls_model=True, handler=_h(_DESIGN, "review")),
    Step("approval", "design", "Approval", "human", gate=GATE_SPEC, role=HUMAN,
         handler=_h(_DESIGN, "approval")),
    Step("implementation", "design", "Implementation", "Tool Builder agent", role=TOOL_BUILDER,
         calls_model=True, handler=_h(_DESIGN, "implementation")),
    Step("structure", "scaffold", "Structure", "templates", plans_files=True,
         handler=_h(_SCAFFOLD, "structure")),
    Step("dependencies", "scaffold", "Dependencies", "templates", plans_files=True,
         handler=_h(_SCAFFOLD, "dependencies")),
    Step("configuration", "scaffold", "Configuration", "templates", plans_files=True,
         handler=_h(_SCAFFOLD, "configuration")),
    Step("tests", "scaffold", "Tests", "templates + agent", role=TOOL_BUILDER, plans_files=True,
         calls_model=True, handler=_h(_SCAFFOLD, "tests")),
    Step("docs", "scaffold", "Docs and apply", "templates + human", gate=GATE_PLAN,
         plans_files=True, writes_files=True, handler=_h(_SCAFFOLD, "docs")),
    Step("git", "integrate", "Git", "Infrastructure agent", role=INFRASTRUCTURE,
         writes_files=True, handler=_h(_INTEGRATE, "git")),
    Step("cicd", "integrate", "CI/CD", "Infrastructure agent", role=INFRASTRUCTURE,
         plans_files=True, writes_files=True, handler=_h(_INTEGRATE, "cicd")),
    Step("codespace", "integrate", "Codespace", "Infrastructure agent", role=INFRASTRUCTURE,
         plans_files=True, writes_files=True, handler=_h(_INTEGRATE, "codespace")),
    Step("deploy", "integrate", "Deploy", "Infrastructure agent", role=INFRASTRUCTURE,
         plans_files=True, writes_files=True, handler=_h(_INTEGRATE, "deploy")),
    Step("monitor", "integrate", "Monitor", "Learning agent", role=LEARNING,
         handler=_h(_INTEGRATE, "monitor")),
)

STEP_IDS: tuple[str, ...] = tuple(s.id for s in STEPS)
BY_ID: dict[str, Step] = {s.id: s for s in STEPS}

#: The steps a template file can belong to, in lifecycle order.
FILE_STEPS: tuple[str, ...] = tuple(s.id for s in STEPS if s.plans_files)
#: The steps rendered before the apply gate and applied together by it.
SCAFFOLD_STEPS: tuple[str, ...] = tuple(s.id for s in STEPS if s.phase == "scaffold")
#: The steps that add their files to the project after the apply (CI, devcontainer, release).
INTEGRATION_FILE_STEPS: tuple[str, ...] = tuple(
    s.id for s in STEPS if s.phase == "integrate" and s.plans_files)
#: The steps whose outputs change the plan: the model-owned files, then the rendering.
PLAN_STEPS: tuple[str, ...] = ("implementation", *SCAFFOLD_STEPS)
#: The steps at which the engine asks a model for work (monitor asks none; tests does, to repair).
MODEL_STEPS: tuple[str, ...] = tuple(s.id for s in STEPS if s.calls_model)
#: The role acting at each step an agent acts at (its audit entries are `agent:<role>`).
ROLE_OF_STEP: dict[str, str] = {s.id: s.role for s in STEPS if s.role in AGENT_ROLES}


def index(step_id: str) -> int:
    return STEP_IDS.index(step_id)


def steps_in(phase: str) -> list[Step]:
    return [s for s in STEPS if s.phase == phase]


def steps_of(*roles: str) -> tuple[str, ...]:
    """The ids of the steps at which one of `roles` acts, in lifecycle order."""
    return tuple(s.id for s in STEPS if s.role in roles)


def agent_actor(step_id: str) -> str:
    """The audit actor of the agent acting at a step (`agent:reviewer`); a step no agent
    owns is the Tool Builder's, as every agent call outside the steps is (apply a finding)."""
    return f"agent:{ROLE_OF_STEP.get(step_id, TOOL_BUILDER)}"
