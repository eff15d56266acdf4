"""The session service: the one place both views (the TUI and the headless runner)
ask what a session is, what comes next, and to move it on.

It wraps the engine (the state machine and its step handlers) with the decisions the
views used to make themselves: which gate is waiting and for which exact hash, what
"next" means, how a gate is approved or rejected, how a spec is revised, and how a
session is driven to the next gate under a policy (stop, approve everything with
`--yes`, or approve one exact hash). Every mutating call emits typed events
(`workbench.lifecycle.events`) through the sink the view gave; a view redraws from
`view()` and the events, and decides nothing.

It knows nothing about any UI: no Textual, no Rich.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from workbench.errors import UsageError
from workbench.identity import human
from workbench.lifecycle import events as ev
from workbench.lifecycle.steps import (
    BY_ID,
    DONE,
    FAILED,
    GATE_PLAN,
    GATE_SPEC,
    PENDING,
    STEP_IDS,
    WAITING,
)

DEFAULT_TEMPLATE = "python-cli"
GATE_STEP = {GATE_SPEC: "approval", GATE_PLAN: "docs"}


# -- what a view reads ----------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """A gate waiting for approval of one exact spec version or plan."""

    gate: str  # "spec" or "plan"
    step: str  # "approval" or "docs"
    sha256: str


@dataclass(frozen=True)
class NextAction:
    """What comes next for a session, and what the developer can do about it.

    kind: "run" (steps are pending: run them), "approve" (a gate waits for `gate`),
    "fix" (a step failed: fix it, then run), "done" (every step is done)."""

    kind: str
    step: str | None = None
    gate: Gate | None = None
    message: str = ""


@dataclass(frozen=True)
class Usage:
    """What the model calls of a step (or a session) took, and the model that answered."""

    tokens: int = 0
    cost: float | None = 0.0  # None: some call's price is unknown
    model: str = ""
    calls: int = 0

    @classmethod
    def sum(cls, parts) -> Usage:
        parts = list(parts)
        costs = [p.cost for p in parts]
        models = [p.model for p in parts if p.model]
        return cls(sum(p.tokens for p in parts), None if any(c is None for c in costs) else sum(costs),
                   models[-1] if models else "", sum(p.calls for p in parts))


def usage_by_step(calls: list[dict]) -> dict[str, Usage]:
    """The store's model calls of a session, summed per step (the last model named)."""
    out: dict[str, Usage] = {}
    for c in calls:
        step = c.get("step") or ""
        tokens = (c.get("prompt_tokens") or 0) + (c.get("completion_tokens") or 0)
        one = Usage(tokens, c.get("cost"), str(c.get("model") or ""), 1)
        out[step] = Usage.sum([out[step], one]) if step in out else one
    return out


@dataclass(frozen=True)
class SessionView:
    """Everything a view shows of a session, read in one go."""

    id: str
    request: str
    out_dir: str
    template: str
    model: str
    status: str
    steps: dict[str, str]  # step -> pending | running | waiting | done | failed
    messages: dict[str, str]
    current_step: str | None
    spec: dict | None  # the newest spec version: version, sha256, text, source
    findings: list[dict] = field(default_factory=list)
    next: NextAction = NextAction("run")
    usage: dict[str, Usage] = field(default_factory=dict)  # step -> its model calls' tokens, cost

    @property
    def total(self) -> Usage:
        """Tokens and cost of the whole session (cost None when any price is unknown)."""
        return Usage.sum(self.usage.values())

    @property
    def open_findings(self) -> int:
        return sum(1 for f in self.findings if f.get("status") == "open")

    @property
    def applied(self) -> bool:
        return self.steps.get("docs") == DONE


# -- how a session is driven ----------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """What `drive` does at a gate: stop (the default), approve every gate (`yes`, the
    approval marked as such in the audit), or approve only the gate whose hash starts
    with `approve` (one gate, one exact hash)."""

    yes: bool = False
    approve: str | None = None

    @classmethod
    def stop(cls) -> Policy:
        return cls()


class EngineLike(Protocol):  # what the service needs of the engine (tests check both)
    store: Any

    def start(self, request: str, out_dir: str | Path, spec_text: str | None = ..., template: str | None = ...,
              model: str | None = ..., spec_source: str = ...) -> str: ...
    def run(self, sid: str, until: str | None = None) -> Any: ...
    def approve(self, sid: str, gate: str, sha256: str, actor: str | None = None) -> None: ...
    def reject(self, sid: str, gate: str, reason: str = "", actor: str | None = None) -> None: ...
    def status(self, sid: str) -> dict[str, str]: ...
    def status_messages(self, sid: str) -> dict[str, str]: ...
    def gate_sha(self, sid: str, gate: str) -> str | None: ...
    def is_approved(self, sid: str, gate: str) -> bool: ...
    def findings(self, sid: str) -> list[dict]: ...
    def save_spec_edit(self, sid: str, text: str, actor: str | None = None) -> dict: ...
    def close(self) -> None: ...


ProviderFactory = Callable[[str | None, str], Any]  # (model, template) -> agents provider


class _NoAgents:
    """The provider of a read-only service: reading a session calls no model."""

    label = "none"

    def for_step(self, step: str) -> _NoAgents:
        return self

    def __getattr__(self, name: str):
        raise AttributeError(f"reading a session calls no model (asked for {name})")


class SessionService:
    """One session service per view; engines are made per session, with the agents of
    the session's model and template."""

    def __init__(self, store, provider_for: ProviderFactory | None = None,
                 on_event: ev.EventSink = ev.ignore, options=None,
                 engine_factory: Callable[..., Any] | None = None):
        self.store = store
        self.provider_for = provider_for
        self.on_event = on_event
        self.options = options
        self.engine_factory = engine_factory  # (store, provider, on_event, options) -> engine
        self._engines: dict[str, Any] = {}

    # -------------------------------------------------------------- engines
    def _provider(self, model: str | None, template: str):
        if self.provider_for is None:
            return _NoAgents()
        return self.provider_for(model, template)

    def engine(self, sid: str | None = None, model: str | None = None, template: str | None = None):
        """The engine for a session (made once); with `sid` None, one for a new session."""
        key = sid or ""
        if key in self._engines:
            return self._engines[key]
        if sid is not None:
            session = self.get(sid)
            model = model if model is not None else session.get("model")
            template = template or session.get("template")
        provider = self._provider(model, template or DEFAULT_TEMPLATE)
        if hasattr(provider, "store") and getattr(provider, "store", None) is None:
            provider.store = self.store
        factory = self.engine_factory
        if factory is None:
            from workbench.lifecycle.engine import Engine as factory
        engine = factory(self.store, provider, self.on_event, self.options)
        self._engines[key] = engine
        return engine

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()

    # -------------------------------------------------------------- finding sessions
    def get(self, sid: str) -> dict:
        session = self.store.get_session(sid)
        if session is None:
            raise UsageError(f"no such session: {sid}")
        return session

    def find(self, prefix: str) -> dict:
        """The one session whose id starts with `prefix` (at least 4 characters, or whole)."""
        key = prefix.strip().lower()
        if not key:
            raise UsageError("SESSION: give a session id (or a unique prefix of one)")
        ids = self.store.find_sessions(key)
        if not ids:
            raise UsageError(f"no session matches '{prefix}' (workbench sessions lists them)")
        if len(ids) > 1:
            raise UsageError(f"'{prefix}' matches {len(ids)} sessions; give more of the id")
        return self.get(ids[0])

    def recent(self, limit: int = 20) -> list[dict]:
        return self.store.list_sessions(limit=limit)

    # -------------------------------------------------------------- reading
    def waiting_gate(self, sid: str) -> Gate | None:
        """The gate waiting for approval, with the exact hash that would be approved."""
        engine = self.engine(sid)
        statuses = engine.status(sid)
        for gate, step in GATE_STEP.items():
            if statuses.get(step) == WAITING:
                sha = engine.gate_sha(sid, gate)
                if sha and not engine.is_approved(sid, gate):  # approved: it only waits for a run
                    return Gate(gate, step, sha)
        return None

    def next_action(self, sid: str) -> NextAction:
        engine = self.engine(sid)
        statuses = engine.status(sid)
        gate = self.waiting_gate(sid)
        if gate is not None:
            what = "the spec" if gate.gate == GATE_SPEC else "the plan"
            return NextAction("approve", gate.step, gate, f"waiting for approval of {what} ({gate.sha256[:12]})")
        failed = next((s for s in STEP_IDS if statuses[s] == FAILED), None)
        if failed is not None:
            why = engine.status_messages(sid).get(failed) or "failed"
            return NextAction("fix", failed, None, f"{failed} failed: {why}")
        pending = next((s for s in STEP_IDS if statuses[s] != DONE), None)
        if pending is None:
            out = self.get(sid)["out_dir"]
            return NextAction("done", None, None, f"done: the project is at {out}")
        return NextAction("run", pending, None, f"next: {pending} ({BY_ID[pending].title})")

    def view(self, sid: str) -> SessionView:
        engine = self.engine(sid)
        session = self.get(sid)
        return SessionView(
            id=sid, request=session.get("request") or "", out_dir=session.get("out_dir") or "",
            template=session.get("template") or DEFAULT_TEMPLATE, model=session.get("model") or "",
            status=session.get("status") or "", steps=engine.status(sid),
            messages=engine.status_messages(sid), current_step=session.get("current_step"),
            spec=self.store.get_spec_version(sid), findings=engine.findings(sid),
            next=self.next_action(sid), usage=usage_by_step(self.store.list_model_calls(sid)))

    def findings(self, sid: str) -> list[dict]:
        return self.engine(sid).findings(sid)

    def plan(self, sid: str, steps: set[str] | None = None):
        return self.engine(sid).plan(sid, steps)

    # -------------------------------------------------------------- changing
    def start(self, request: str, out_dir: str | Path, *, spec_text: str | None = None,
              template: str | None = None, model: str | None = None, spec_source: str = "spec.md",
              **start_options) -> str:
        engine = self.engine(None, model=model, template=template)
        sid = engine.start(request, out_dir, spec_text=spec_text, template=template, model=model,
                           spec_source=spec_source, **start_options)
        self._engines[sid] = self._engines.pop("")
        return sid

    def approve(self, sid: str, sha_prefix: str, actor: str | None = None) -> Gate:
        """Approve the gate now waiting, and only if its hash starts with `sha_prefix`."""
        gate = self.waiting_gate(sid)
        prefix = (sha_prefix or "").strip().lower()
        if gate is None:
            raise UsageError(f"nothing is waiting for approval in session {sid[:12]} "
                             f"({self.next_action(sid).message})")
        if len(prefix) < 6 or not gate.sha256.startswith(prefix):
            what = "spec" if gate.gate == GATE_SPEC else "plan"
            raise UsageError(f"--approve {sha_prefix}: the {gate.gate} waiting for approval is "
                             f"{gate.sha256[:12]} (see `workbench show {sid[:12]} {what}`)")
        self.engine(sid).approve(sid, gate.gate, gate.sha256, actor=actor)
        return gate

    def reject(self, sid: str, reason: str = "", actor: str | None = None) -> Gate:
        """Reject the gate now waiting: back to the spec (or the implementation), recorded."""
        gate = self.waiting_gate(sid)
        if gate is None:
            raise UsageError(f"nothing is waiting for approval in session {sid[:12]}")
        self.engine(sid).reject(sid, gate.gate, reason, actor=actor)
        return gate

    def revise_spec(self, sid: str, text: str, actor: str | None = None) -> dict:
        """A new spec version from the developer's text (reviewed again on the next run).

        After the spec gate was rejected (the spec step pending again, a version kept), a
        version the developer changed is the spec: the next run reviews it rather than
        drafting anew (an unchanged one is drafted again, which the TUI asks about first)."""
        engine = self.engine(sid)
        current = self.store.get_spec_version(sid)
        rejected = (engine.status(sid).get("spec") == PENDING and current is not None
                    and current["text"] != text)
        version = engine.save_spec_edit(sid, text, actor=actor)
        if rejected:
            message = f"spec v{version['version']} written by the developer"
            self.store.set_step(sid, "spec", DONE, message)
            self.on_event(ev.make(ev.STATUS_CHANGED, sid, "spec", message, status=DONE))
        return version

    def revise_by_request(self, sid: str, request: str, actor: str | None = None) -> dict:
        """The developer asks, in words, for a change to the spec: the Tool Builder agent
        revises the newest version (a new version, reviewed again on the next run). A model
        that leaves it unchanged (offline: anything but a structural fix) is refused,
        pointing to the editor; nothing changes then."""
        from workbench.llm.base import Finding
        from workbench.spec import parse_spec  # yaml: off the views' start-up

        engine = self.engine(sid)
        current = self.store.get_spec_version(sid)
        if current is None:
            raise UsageError("there is no spec to revise yet: run the session to its draft first")
        agents = engine.provider.for_step("spec")
        ask = Finding("info", "the whole spec", f"The developer asks: {request.strip()}",
                      "Change the spec as the developer asks; keep everything else as it is.", "developer")
        text = agents.apply_finding(engine.ctx(sid, "spec"), current["text"], ask)
        if text.strip() == current["text"].strip():
            raise UsageError(f"{agents.label} left the spec unchanged (v{current['version']}): "
                             "edit it in the editor yourself, or switch to a model that can")
        parse_spec(text, "the revised spec")  # a revision that does not parse is refused
        return {**self.revise_spec(sid, text, actor=actor), "before": current["text"]}

    def apply_finding(self, sid: str, ref: str | int, actor: str | None = None) -> dict:
        return self.engine(sid).apply_finding(sid, ref, actor=actor)

    def dismiss_finding(self, sid: str, ref: str | int, reason: str = "", actor: str | None = None) -> dict:
        return self.engine(sid).dismiss_finding(sid, ref, reason, actor=actor)

    def advance(self, sid: str):
        """Do what `next_action` names, short of a gate: run the next step that is not done
        (a failed one again; a review runs on to its gate) and return the engine's Outcome.
        At a gate or at the end nothing runs: the NextAction is returned, for the view to
        offer (open the gate, say where the project is)."""
        action = self.next_action(sid)
        if action.kind not in ("run", "fix"):
            return action
        until = "approval" if action.step == "review" else action.step
        return self.engine(sid).run(sid, until=until)

    def drive(self, sid: str, policy: Policy = Policy()):
        """Run until done, a failure or a gate the policy does not approve; returns the
        engine's Outcome of the last run."""
        engine = self.engine(sid)
        approve = policy.approve
        while True:
            outcome = engine.run(sid)
            if outcome.status != "gate":
                return outcome
            if approve is not None:
                self.approve(sid, approve)  # refuses, naming the waiting hash, when it differs
                approve = None  # one gate, one exact hash
                continue
            if policy.yes:
                engine.approve(sid, outcome.gate, outcome.sha256, actor=f"human:{human()} (--yes)")
                continue
            return outcome


__all__ = ["EngineLike", "Gate", "NextAction", "Policy", "SessionService", "SessionView", "Usage",
           "PENDING"]
