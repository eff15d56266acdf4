"""What the lifecycle engine asks of an agent, whatever model stands behind it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from workbench.errors import WorkbenchError

SEVERITIES = ("error", "warning", "info")


class ModelOutputError(WorkbenchError):
    """The model's output stayed invalid after one re-ask. `near`: a spec draft that came
    close (it parses), which the engine may keep for the developer to fix by hand."""

    def __init__(self, message: str, *, model: str = "", reason: str = "", output: str = "",
                 rejected: list[dict] | None = None, near: str | None = None):
        super().__init__(message)
        self.model = model
        self.reason = reason
        self.output = output
        self.rejected = rejected or []
        self.near = near


@dataclass
class AgentReport:
    """What an agent's call must leave in the audit log (a re-ask, a rejected reply, a
    rejected path, the review skipped). Agents never write the store: they report on the
    call's context, and the engine audits (`Engine.audit_report`).

    `reply`: the rejected reply as kept for `workbench show SESSION rejected` (what, attempt,
    error, model, reply), or None."""

    action: str  # model_output_invalid | model_output_rejected | review_skipped
    summary: str
    payload: dict = field(default_factory=dict)
    actor: str | None = None  # None: the agent acting at the step
    reply: dict | None = None


@dataclass
class Finding:
    """One review finding the developer can apply or dismiss."""

    severity: str  # error | warning | info
    location: str  # a field path such as "commands[0].options[1]" or "body"
    text: str
    suggestion: str = ""  # suggested change, may be empty
    source: str = "reviewer"  # "validator" (deterministic) or "reviewer" (agent)

    def as_dict(self) -> dict:
        return {
            "severity": self.severity,
            "location": self.location,
            "text": self.text,
            "suggestion": self.suggestion,
            "source": self.source,
        }


@dataclass
class AgentContext:
    """Per-call context: which session and step, where tokens go, how to cancel.

    `on_notice` hears what the developer should see while a call runs (a retry and its
    wait, a fallback); `notes` collects what must also be said in the step's line
    (a fallback: "claude failed (HTTP 500 ×3); answered by gemini")."""

    session_id: str
    step: str
    on_token: Callable[[str], None] = lambda _t: None
    cancel: threading.Event = field(default_factory=threading.Event)
    on_notice: Callable[[str], None] = lambda _m: None
    notes: list[str] = field(default_factory=list)
    reports: list[AgentReport] = field(default_factory=list)
    on_report: Callable[[AgentReport], None] | None = None

    def report(self, report: AgentReport) -> None:
        """Report what the audit log must hold; the engine writes it, never the agent."""
        self.reports.append(report)
        if self.on_report is not None:
            self.on_report(report)

    def say(self, message: str, in_step_line: bool = False) -> None:
        """Tell the developer now (and, when asked, again in the step's line)."""
        if in_step_line and message not in self.notes:
            self.notes.append(message)
        try:
            self.on_notice(message)
        except Exception:  # noqa: BLE001 - a view failing must not fail the call
            pass


class Agents(Protocol):
    """The agents' work, as the engine sees it."""

    label: str  # e.g. "offline" or "claude (anthropic/claude-sonnet-4-5)"

    def analyse(self, ctx: AgentContext, request: str, project_context: str) -> str:
        """Restate the request, list assumptions and clarifying questions (Markdown)."""

    def draft_spec(self, ctx: AgentContext, request: str, analysis: str, examples: list[str]) -> str:
        """Return a complete spec.md text."""

    def review(self, ctx: AgentContext, spec_text: str) -> list[Finding]:
        """Return architecture-review findings for a valid spec."""

    def apply_finding(self, ctx: AgentContext, spec_text: str, finding: Finding) -> str:
        """Return the complete spec changed as the finding suggests (and nothing else);
        the spec unchanged when the agent cannot apply it."""

    def implement(self, ctx: AgentContext, spec_text: str, files: dict[str, str]) -> dict[str, str]:
        """Given the model-owned files (path -> template default), return new contents."""

    def repair(self, ctx: AgentContext, spec_text: str, files: dict[str, str], failure: str) -> dict[str, str]:
        """Given failing test output, return fixed contents of model-owned files."""


class AgentProvider(Protocol):
    """Chooses the agents (and so the model) for each step."""

    def for_step(self, step: str) -> Agents: ...
