"""The lifecycle engine: an explicit state machine over the sixteen steps.

It knows nothing about any UI. Views (the TUI, the headless runner) subscribe to
its events. Its state lives in the store, so a session survives a restart and
is resumed by calling `run` again. Gates are real: nothing after the spec gate
runs until that exact spec version (by sha256) is approved, and nothing reaches
disk until that exact plan (by sha256) is approved.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import StepFailed, UsageError, WorkbenchError
from workbench.identity import human
from workbench.lifecycle import events as ev
from workbench.lifecycle.steps import (
    BY_ID,
    DONE,
    FAILED,
    GATE_PLAN,
    GATE_SPEC,
    PENDING,
    RUNNING,
    STEP_IDS,
    STEPS,
    WAITING,
    index,
)
from workbench.llm.base import AgentContext, AgentProvider, Finding

SCAFFOLD_STEPS = ("structure", "dependencies", "configuration", "tests", "docs")
INTEGRATION_FILE_STEPS = ("cicd", "codespace", "deploy")


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


class Engine:
    def __init__(self, store, provider: AgentProvider, on_event: ev.EventSink = ev.ignore,
                 options: Options | None = None):
        self.store = store
        self.provider = provider
        self.on_event = on_event
        self.options = options or Options()
        self.cancel = threading.Event()
        # The monitor's install, started in the background once the project is applied
        # (session id -> Future of monitor.PreparedEnv); taken by the monitor step.
        self._prepared: dict[str, Any] = {}
        self._specs: dict[str, Any] = {}  # the parsed spec of the latest version asked for
        self._notes: dict[tuple[str, str], list[str]] = {}  # what the step's line must also say

    def close(self) -> None:
        """Drop work started ahead that no step took (its temporary files go)."""
        from workbench.integrate import monitor

        for sid in list(self._prepared):
            monitor.discard(self._prepared.pop(sid))

    # ------------------------------------------------------------------ helpers
    def emit(self, kind: str, sid: str, step: str | None = None, message: str = "", **data) -> None:
        self.on_event(ev.make(kind, sid, step, message, **data))

    def _set_step(self, sid: str, step: str, status: str, message: str = "") -> None:
        """Every state change goes through here, so every view hears of it."""
        self.store.set_step(sid, step, status, message)
        self.emit(ev.STATUS_CHANGED, sid, step, message, status=status)

    def _findings_changed(self, sid: str) -> None:
        found = self.findings(sid)
        self.emit(ev.FINDINGS_CHANGED, sid, "review", f"{len(found)} finding(s)",
                  open=sum(1 for f in found if f["status"] == "open"), total=len(found))

    def _session(self, sid: str) -> dict:
        s = self.store.get_session(sid)
        if s is None:
            raise UsageError(f"no such session: {sid}")
        return s

    @staticmethod
    def _agent_actor(step: str) -> str:
        """Agents act by role (the Reviewer agent is `agent:reviewer`), as the agents
        themselves record; the model behind one goes in the event's payload."""
        from workbench.llm.registry import ROLE_OF_STEP

        return f"agent:{ROLE_OF_STEP.get(step, 'tool_builder')}"

    def _ctx(self, sid: str, step: str) -> AgentContext:
        self.cancel.clear()
        return AgentContext(
            session_id=sid, step=step, cancel=self.cancel,
            on_token=lambda t: self.emit(ev.TOKEN, sid, step, t),
            on_notice=lambda m: self.emit(ev.STEP_PROGRESS, sid, step, m, notice=True),
            notes=self._notes.setdefault((sid, step), []),
        )

    def _json_output(self, sid: str, step: str, kind: str, default=None):
        raw = self.store.get_output(sid, step, kind)
        return json.loads(raw) if raw is not None else default

    # ------------------------------------------------------------------ public
    def start(self, request: str, out_dir: str | Path, spec_text: str | None = None,
              template: str | None = None, model: str | None = None,
              spec_source: str = "spec.md", read_context: bool | None = None) -> str:
        """Create a session. Nothing runs until `run`. `read_context`: whether the analysis
        may read the enclosing repository's README and pyproject (None: yes, the folder
        was chosen with `--out`; the TUI passes what the developer chose)."""
        from workbench.safety.redact import redact

        out = str(Path(out_dir).expanduser().resolve())
        if spec_text is not None:
            refuse_secrets(spec_text, spec_source, UsageError)
        if model is None:
            model = (getattr(self.provider, "default", None)
                     or getattr(self.provider.for_step("spec"), "label", None))
        sid = self.store.create_session(request=redact(request), out_dir=out, template=template,
                                        model=model)
        if spec_text is not None:
            self.store.put_output(sid, "request", "given_spec", spec_text)
            self.store.put_output(sid, "request", "given_spec_source", spec_source)
        if read_context is not None:
            self.store.put_output(sid, "request", "read_context", "yes" if read_context else "no")
        for step in STEPS:
            self._set_step(sid, step.id, PENDING)
        return sid

    def status(self, sid: str) -> dict[str, str]:
        steps = self.store.get_steps(sid)
        return {s: steps.get(s, {}).get("status", PENDING) for s in STEP_IDS}

    def status_messages(self, sid: str) -> dict[str, str]:
        steps = self.store.get_steps(sid)
        return {s: steps.get(s, {}).get("message") or "" for s in STEP_IDS}

    def current_spec(self, sid: str) -> dict | None:
        return self.store.get_spec_version(sid)

    def save_spec_edit(self, sid: str, text: str, actor: str | None = None) -> dict:
        """Record an edited spec as a new version. Steps after `spec` go back to pending."""
        refuse_secrets(text, "spec.md", UsageError)
        self._refuse_after_apply(sid, "edit the spec")
        version = self._new_spec_version(sid, text, "edit", actor or f"human:{human()}")
        if self.status(sid).get("spec") == FAILED:  # the developer's spec replaces a failed draft
            self.store.set_step(sid, "spec", DONE, f"spec v{version['version']} written by the developer")
        return version

    def _new_spec_version(self, sid: str, text: str, source: str, who: str, **payload) -> dict:
        import difflib
        import hashlib

        prev = self.store.get_spec_version(sid)
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        if prev is not None and prev["sha256"] == sha:
            return prev
        version = self.store.add_spec_version(sid, text, sha, source, who)
        diff = ""
        if prev is not None:
            diff = "".join(difflib.unified_diff(
                prev["text"].splitlines(keepends=True), text.splitlines(keepends=True),
                f"v{prev['version']}", f"v{version}", n=0))
        what = "edited" if source == "edit" else f"changed ({source})"
        self.store.audit(sid, who, "spec", "edit", f"spec {what} (v{version}, sha256 {sha[:12]})",
                         payload={"diff": diff[:20000], "sha256": sha, **payload})
        self.emit(ev.SPEC_VERSION_ADDED, sid, "spec", f"spec v{version} ({what})", version=version,
                  sha256=sha, source=source)
        # Everything that depended on the old spec must run again.
        statuses = self.status(sid)
        for step in STEP_IDS[index("review"):]:
            if statuses[step] != PENDING:
                self._set_step(sid, step, PENDING, f"spec {what}")
        return self.store.get_spec_version(sid)

    # ------------------------------------------------------------------ review findings
    def findings(self, sid: str) -> list[dict]:
        """The review's findings, numbered from 1, each with a stable `id` and the
        developer's decision: `status` open, dismissed (with `reason`) or applied.

        A dismissal holds for the same finding in later reviews; a finding the
        reviewer raises again after it was applied is open again."""
        raw = self._json_output(sid, "review", "findings", []) or []
        reviewed = int(self.store.get_output(sid, "review", "findings_version") or 0)
        decisions = self._json_output(sid, "review", "decisions", {}) or {}
        out = []
        for n, f in enumerate(raw, 1):
            fid = finding_id(f)
            d = decisions.get(fid) or {}
            status = d.get("status", "open")
            if status == "applied" and reviewed >= int(d.get("version") or 0):
                status = "open"  # reviewed again after the change, and raised again
            out.append({**f, "n": n, "id": fid, "status": status, "reason": d.get("reason", ""),
                        "decided_by": d.get("actor", "") if status != "open" else ""})
        return out

    def _open_finding(self, sid: str, ref: str | int, doing: str) -> dict:
        self._refuse_after_apply(sid, doing)
        if self.is_approved(sid, GATE_SPEC):
            raise UsageError(f"cannot {doing}: the spec is approved (edit it to review it again)")
        findings = self.findings(sid)
        if not findings:
            raise UsageError(f"cannot {doing}: session {sid[:12]} has no review findings")
        key = str(ref).strip().lower()
        match = [f for f in findings if key.isdigit() and f["n"] == int(key)] or \
                [f for f in findings if len(key) >= 4 and f["id"].startswith(key)]
        if len(match) != 1:
            if not findings:
                raise UsageError(f"no finding '{ref}': the session has no review findings")
            numbers = "1" if len(findings) == 1 else f"1-{len(findings)}"
            raise UsageError(f"no finding '{ref}': the session has {len(findings)} "
                             f"finding{'s' if len(findings) != 1 else ''} ({numbers}); "
                             "give its number or id (workbench findings SESSION lists them)")
        f = match[0]
        if f["status"] != "open":
            raise UsageError(f"finding {f['n']} is already {f['status']}")
        return f

    def _decide(self, sid: str, f: dict, **decision) -> None:
        decisions = self._json_output(sid, "review", "decisions", {}) or {}
        decisions[f["id"]] = decision
        self.store.put_output(sid, "review", "decisions", json.dumps(decisions, sort_keys=True))

    def dismiss_finding(self, sid: str, ref: str | int, reason: str = "", actor: str | None = None) -> dict:
        """Dismiss a finding (with a reason, recorded in the audit log)."""
        from workbench.safety.redact import redact

        f = self._open_finding(sid, ref, "dismiss a finding")
        who = actor or f"human:{human()}"
        reason = redact(reason.strip())
        self._decide(sid, f, status="dismissed", reason=reason, actor=who)
        self.store.audit(sid, who, "review", "finding_dismissed",
                         f"dismissed finding {f['n']} ({f['severity']} at {f['location']})"
                         + (f": {reason}" if reason else ""),
                         payload={"finding": _finding_fields(f), "reason": reason})
        self._findings_changed(sid)
        return {**f, "status": "dismissed", "reason": reason, "decided_by": who}

    def apply_finding(self, sid: str, ref: str | int, actor: str | None = None) -> dict:
        """Have the Tool Builder agent change the spec as a finding suggests. The change
        is a new spec version (source "finding"); the review runs again on it."""
        f = self._open_finding(sid, ref, "apply a finding")
        who = actor or f"human:{human()}"
        current = self.store.get_spec_version(sid)
        agents = self.provider.for_step("spec")
        finding = Finding(f["severity"], f["location"], f["text"], f.get("suggestion", ""),
                          f.get("source", "reviewer"))
        text = agents.apply_finding(self._ctx(sid, "spec"), current["text"], finding)
        if text == current["text"]:
            why = ("the offline model applies only structural fixes (a missing help text or "
                   "section) and cannot write this for you" if agents.label == "offline"
                   else f"{agents.label} left the spec unchanged")
            raise UsageError(f"finding {f['n']}: {why}; edit the spec yourself (workbench show "
                             f"{sid[:12]} spec > spec.md, then resume --spec spec.md), or dismiss "
                             "the finding with your reason")
        refuse_secrets(text, "the revised spec", UsageError)
        from workbench.spec import parse_spec

        parse_spec(text, "spec.md")  # a revision that does not parse is refused (exit 2)
        version = self._new_spec_version(sid, text, "finding", self._agent_actor("spec"),
                                         finding=_finding_fields(f), model=agents.label)
        self._decide(sid, f, status="applied", version=version["version"], actor=who)
        self.store.audit(sid, who, "review", "finding_applied",
                         f"applied finding {f['n']} ({f['severity']} at {f['location']}) with "
                         f"{agents.label}: spec v{version['version']}",
                         payload={"finding": _finding_fields(f), "sha256": version["sha256"]})
        self._findings_changed(sid)
        return {**f, "status": "applied", "decided_by": who, "spec_version": version["version"],
                "sha256": version["sha256"]}

    def approve(self, sid: str, gate: str, sha256: str, actor: str | None = None) -> None:
        """Approve one exact spec version or plan (by hash)."""
        who = actor or f"human:{human()}"
        expected = self.gate_sha(sid, gate)
        if gate == GATE_PLAN and self.status(sid).get("docs") != WAITING:
            expected = None
        if expected is None:
            raise UsageError(f"nothing to approve at the {gate} gate yet")
        if sha256 != expected:
            raise UsageError(
                f"{gate} gate: sha256 {sha256[:12]} is not the current {gate} ({expected[:12]})")
        self.store.add_approval(sid, gate, sha256, who)
        what = "spec version" if gate == GATE_SPEC else "plan"
        self.store.audit(sid, who, "approval" if gate == GATE_SPEC else "docs", "approve",
                         f"approved {what} {sha256[:12]}", payload={"gate": gate, "sha256": sha256})
        self.emit(ev.APPROVED, sid, "approval" if gate == GATE_SPEC else "docs",
                  f"approved {what} {sha256[:12]}", gate=gate, sha256=sha256, actor=who)

    def reject(self, sid: str, gate: str, reason: str = "", actor: str | None = None) -> None:
        who = actor or f"human:{human()}"
        step = "approval" if gate == GATE_SPEC else "docs"
        self.store.audit(sid, who, step, "reject", f"rejected at the {gate} gate: {reason}".strip())
        back = "spec" if gate == GATE_SPEC else "implementation"
        self.step_back(sid, back)
        self.emit(ev.REJECTED, sid, step, f"rejected at the {gate} gate", gate=gate, reason=reason)

    def switch_model(self, sid: str, provider: AgentProvider, model: str, step: str | None = None,
                     actor: str | None = None) -> None:
        """Use another model from now on (for the session, or for one step); recorded."""
        who = actor or f"human:{human()}"
        self.provider = provider
        if step is None:
            self.store.update_session(sid, model=model)
        scope = f"step {step}" if step else "the session"
        self.store.audit(sid, who, step or "", "model_switch", f"switched {scope} to {model}",
                         payload={"model": model, "step": step})

    def gate_sha(self, sid: str, gate: str) -> str | None:
        if gate == GATE_SPEC:
            spec = self.store.get_spec_version(sid)
            return spec["sha256"] if spec else None
        plan_json = self.store.get_output(sid, "docs", "plan_sha256")
        return plan_json

    def is_approved(self, sid: str, gate: str) -> bool:
        sha = self.gate_sha(sid, gate)
        appr = self.store.get_approval(sid, gate)
        return bool(sha and appr and appr["sha256"] == sha)

    def _refuse_after_apply(self, sid: str, what: str) -> None:
        if self.status(sid).get("docs") == DONE:
            out = self._session(sid)["out_dir"]
            raise UsageError(
                f"cannot {what}: the plan is already applied to {out}; start a new session to "
                "scaffold again (the applied project is never overwritten)")

    def step_back(self, sid: str, step: str) -> None:
        """Make `step` and every step after it pending again (outputs stay, versioned)."""
        if step not in BY_ID:
            raise UsageError(f"unknown step '{step}' (steps: {', '.join(STEP_IDS)})")
        if index(step) <= index("docs"):
            self._refuse_after_apply(sid, f"step back to {step}")
        for s in STEP_IDS[index(step):]:
            self._set_step(sid, s, PENDING, f"stepped back to {step}")
        self.store.audit(sid, f"human:{human()}", step, "step_back", f"stepped back to {step}")
        self.emit(ev.STEPPED_BACK, sid, step, f"stepped back to {step}")

    def rerun(self, sid: str, step: str) -> Outcome:
        self.step_back(sid, step)
        return self.run(sid, until=step)

    def plan(self, sid: str, steps: set[str] | None = None):
        """The in-memory plan of this session's approved (or current) spec."""
        from workbench.scaffold import render_plan

        spec = self._approved_spec(sid, required=False)
        overrides = self._json_output(sid, "implementation", "files", {}) or {}
        return render_plan(spec, steps=steps, overrides=overrides)

    # ------------------------------------------------------------------ run loop
    def run(self, sid: str, until: str | None = None) -> Outcome:
        """Run pending steps in order until a gate, a failure, `until` or the end.

        One process at a time runs a session: a second one is refused (exit 2)."""
        self._session(sid)
        with session_lock(self.store, sid):
            return self._run_locked(sid, until)

    def _run_locked(self, sid: str, until: str | None) -> Outcome:
        statuses = self.status(sid)
        for step in STEPS:
            if statuses[step.id] == DONE:
                if until == step.id:
                    return Outcome("paused", sid, step.id, message=f"{step.id} is already done")
                continue
            outcome = self._run_step(sid, step.id)
            if outcome is not None:
                return outcome
            if until == step.id:
                return Outcome("paused", sid, step.id, message=f"ran up to {step.id}")
        self.store.update_session(sid, status="done")
        self.emit(ev.FINISHED, sid, None, "all steps done")
        return Outcome("done", sid, message="all steps done")

    def _run_step(self, sid: str, step: str) -> Outcome | None:
        handler = getattr(self, f"_step_{step}")
        self._set_step(sid, step, RUNNING)
        self.store.update_session(sid, current_step=step, status="running")
        self.emit(ev.STEP_STARTED, sid, step, BY_ID[step].title)
        started = time.monotonic()
        self._notes.pop((sid, step), None)
        calls_before = self._last_call_id(sid)
        try:
            result = handler(sid)
        except KeyboardInterrupt:
            self._set_step(sid, step, PENDING, "interrupted")
            self.store.update_session(sid, status="interrupted")
            self.store.audit(sid, "workbench", step, "interrupted", f"{step} interrupted; resume to continue")
            raise
        except WorkbenchError as exc:
            reason = exc.reason if isinstance(exc, StepFailed) else str(exc)
            return self._fail(sid, step, reason)
        except Exception as exc:  # noqa: BLE001 - one clear line, the detail goes to the audit log
            return self._fail(sid, step, f"{type(exc).__name__}: {exc}")
        if isinstance(result, Outcome):  # a gate
            return result
        message = result or "done"
        notes = self._notes.pop((sid, step), [])  # a fallback that answered, said in the step's line
        message += "".join(f" ({n})" for n in notes)
        self._set_step(sid, step, DONE, message)
        tokens, cost = self._usage_since(sid, step, calls_before)
        self.store.audit(sid, "workbench", step, "step_done", message,
                         payload={"seconds": round(time.monotonic() - started, 3)},
                         tokens=tokens, cost=cost)
        self.emit(ev.STEP_DONE, sid, step, message)
        return None

    def _last_call_id(self, sid: str) -> int:
        calls = self.store.list_model_calls(sid)
        return calls[-1]["id"] if calls else 0

    def _usage_since(self, sid: str, step: str, after_id: int) -> tuple[int | None, float | None]:
        """Tokens and cost of this step's model calls (cost None when any price is unknown)."""
        calls = [c for c in self.store.list_model_calls(sid) if c["id"] > after_id and c["step"] == step]
        if not calls:
            return None, None
        tokens = sum((c["prompt_tokens"] or 0) + (c["completion_tokens"] or 0) for c in calls)
        costs = [c["cost"] for c in calls]
        return tokens, (None if any(c is None for c in costs) else sum(costs))

    def _fail(self, sid: str, step: str, reason: str) -> Outcome:
        from workbench.safety.redact import redact

        reason = redact(reason.strip().splitlines()[0] if reason.strip() else "failed")
        self._set_step(sid, step, FAILED, reason)
        self.store.update_session(sid, status="failed")
        self.store.audit(sid, "workbench", step, "failure", reason)
        self.emit(ev.STEP_FAILED, sid, step, reason)
        return Outcome("failed", sid, step, message=f"step {step} failed: {reason}")

    def _gate(self, sid: str, step: str, gate: str, sha: str, summary: dict) -> Outcome:
        self._set_step(sid, step, WAITING, f"waiting for approval of {gate} {sha[:12]}")
        self.store.update_session(sid, status="waiting")
        self.emit(ev.GATE, sid, step, f"approve {gate} {sha[:12]}", gate=gate, sha256=sha, **summary)
        return Outcome("gate", sid, step, gate=gate, sha256=sha,
                       message=f"waiting for approval of the {gate} ({sha[:12]})", data=summary)

    # ------------------------------------------------------------------ steps: design
    def _step_request(self, sid: str) -> str:
        session = self._session(sid)
        self.store.put_output(sid, "request", "request", session["request"])
        self.store.audit(sid, f"human:{human()}", "request", "request",
                         session["request"][:200], payload={"request": session["request"]})
        return "request captured"

    def _step_analysis(self, sid: str) -> str:
        session = self._session(sid)
        agents = self.provider.for_step("analysis")
        root = _enclosing_repo(Path(session["out_dir"]))
        chosen = self.store.get_output(sid, "request", "read_context") != "no"
        context = _project_context(root) if chosen else ""
        text = agents.analyse(self._ctx(sid, "analysis"), session["request"], context)
        self.store.put_output(sid, "analysis", "analysis", text)
        self.store.audit(sid, self._agent_actor("analysis"), "analysis", "analysis", "request analysed",
                         payload={"model": agents.label})
        read = [n for n in ("README.md", "pyproject.toml") if context and (root / n).is_file()]
        return f"request analysed (read as context: {', '.join(read)} in {root})" if read \
            else "request analysed"

    def _step_spec(self, sid: str) -> str:
        from workbench.spec import parse_spec

        given = self.store.get_output(sid, "request", "given_spec")
        if given is not None:
            source = self.store.get_output(sid, "request", "given_spec_source") or "spec.md"
            spec = parse_spec(given, source)
            actor = f"human:{human()}"
            version = self.store.add_spec_version(sid, given, spec.sha256, "file", actor)
            self.store.audit(sid, actor, "spec", "draft", f"spec v{version} from {source}",
                             payload={"sha256": spec.sha256})
            self.emit(ev.TOKEN, sid, "spec", given)
            return f"spec v{version} from {source}"
        session = self._session(sid)
        agents = self.provider.for_step("spec")
        analysis = self.store.get_output(sid, "analysis", "analysis") or ""
        examples = _similar_specs(self.store, session["request"])
        text = agents.draft_spec(self._ctx(sid, "spec"), session["request"], analysis, examples)
        refuse_secrets(text, "the drafted spec", lambda m: StepFailed("spec", m))
        spec = parse_spec(text, "spec.md")
        actor = self._agent_actor("spec")
        version = self.store.add_spec_version(sid, text, spec.sha256, "draft", actor,
                                             model=getattr(agents, "label", "offline"))
        self.store.put_output(sid, "spec", "draft", text)
        self.store.audit(sid, actor, "spec", "draft", f"spec v{version} drafted by {agents.label}",
                         payload={"sha256": spec.sha256, "examples": len(examples), "model": agents.label})
        return f"spec v{version} drafted ({spec.sha256[:12]})"

    def _step_review(self, sid: str) -> str:
        from workbench.scaffold import template_ids
        from workbench.spec import parse_spec, validation_errors

        current = self.store.get_spec_version(sid)
        if current is None:
            raise StepFailed("review", "there is no spec to review")
        spec = parse_spec(current["text"], "spec.md")
        errors = validation_errors(spec, template_ids())
        findings = [Finding("error", e.field or "front matter", f"line {e.line}: {e.detail}",
                            source="validator") for e in errors]
        self.store.put_output(sid, "review", "findings_version", str(current["version"]))
        if errors:
            self.store.put_output(sid, "review", "findings", json.dumps([f.as_dict() for f in findings]))
            self._findings_changed(sid)
            raise StepFailed("review", str(errors[0]) + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
        agents = self.provider.for_step("review")
        findings += agents.review(self._ctx(sid, "review"), current["text"])
        self.store.put_output(sid, "review", "findings", json.dumps([f.as_dict() for f in findings]))
        self.store.audit(sid, self._agent_actor("review"), "review", "review",
                         f"{len(findings)} finding(s) on spec v{current['version']}",
                         payload={"findings": [f.as_dict() for f in findings], "model": agents.label})
        self._findings_changed(sid)
        return f"spec valid; {len(findings)} review finding(s)"

    def _step_approval(self, sid: str) -> str | Outcome:
        current = self.store.get_spec_version(sid)
        if self.is_approved(sid, GATE_SPEC):
            return f"spec v{current['version']} approved ({current['sha256'][:12]})"
        from workbench.spec import parse_spec

        spec = parse_spec(current["text"])
        return self._gate(sid, "approval", GATE_SPEC, current["sha256"], {
            "version": current["version"], "name": spec.front.get("name"),
            "summary": spec.front.get("summary"),
        })

    def _approved_spec(self, sid: str, required: bool = True):
        from workbench.spec import parse_spec

        appr = self.store.get_approval(sid, GATE_SPEC)
        current = self.store.get_spec_version(sid)
        if current is None or (required and (appr is None or appr["sha256"] != current["sha256"])):
            raise StepFailed("approval", "the spec is not approved (gate not passed)")
        key = current["text"]
        spec = self._specs.get(key)
        if spec is None:
            spec = parse_spec(current["text"], "spec.md")  # ~15 ms of YAML: once per version
            self._specs = {key: spec}
        return spec

    def _step_implementation(self, sid: str) -> str:
        from workbench.integrate import ci
        from workbench.scaffold import render_plan

        spec = self._approved_spec(sid)
        plan = render_plan(spec)
        # The CI files follow from the approved spec alone: lint them now, in the
        # background, while the model writes code (the cicd step reuses the verdicts).
        ci.prevalidate(plan.for_steps(INTEGRATION_FILE_STEPS))
        owned = {p: f.content for p, f in plan.files.items() if f.model_owned}
        agents = self.provider.for_step("implementation")
        result = agents.implement(self._ctx(sid, "implementation"), spec.text, owned)
        accepted = self._accept_model_files(sid, "implementation", agents, owned, result)
        self.store.put_output(sid, "implementation", "files", json.dumps(accepted))
        changed = sum(1 for p, c in accepted.items() if owned.get(p) != c)
        return f"{len(owned)} model-owned file(s), {changed} written by {agents.label}"

    def _accept_model_files(self, sid, step, agents, owned: dict, result: dict) -> dict:
        from workbench.safety.paths import UnsafePath, check_relative

        accepted = {}
        for path, content in (result or {}).items():
            try:
                check_relative(path)
            except UnsafePath as exc:
                self.store.audit(sid, self._agent_actor(step), step, "refused", str(exc))
                continue
            if path not in owned:
                self.store.audit(sid, self._agent_actor(step), step, "refused",
                                 f"refused {path!r}: not a model-owned file")
                continue
            accepted[path] = content
        return accepted

    # ------------------------------------------------------------------ steps: scaffold
    def _scaffold_step(self, sid: str, step: str) -> str:
        plan = self.plan(sid, steps={step})
        self._approved_spec(sid)
        files = sorted(plan.files)
        self.store.put_output(sid, step, "files", json.dumps(files))
        self.emit(ev.STEP_PROGRESS, sid, step, f"{len(files)} file(s) planned", files=files)
        return f"{len(files)} file(s) planned: " + ", ".join(files[:6]) + (" …" if len(files) > 6 else "")

    def _step_structure(self, sid: str) -> str:
        return self._scaffold_step(sid, "structure")

    def _step_dependencies(self, sid: str) -> str:
        return self._scaffold_step(sid, "dependencies")

    def _step_configuration(self, sid: str) -> str:
        return self._scaffold_step(sid, "configuration")

    def _step_tests(self, sid: str) -> str:
        from workbench.integrate import lint, monitor
        from workbench.safety.sandbox import for_prompt

        summary = self._scaffold_step(sid, "tests")
        spec = self._approved_spec(sid)
        agents = self.provider.for_step("tests")
        # The tests run on a throwaway copy; a project already on disk must stay as it is.
        guard = monitor.TreeGuard(self._project(sid), "tests")
        attempts = 0
        runs = 1 if getattr(agents, "label", "offline") == "offline" else self.options.repair_attempts + 1
        while True:
            plan = self.plan(sid, steps=set(SCAFFOLD_STEPS))
            tidied = lint.tidy(plan)  # ruff format + safe fixes of the model-owned files; what is left fails
            if tidied.changed:
                self.store.put_output(sid, "implementation", "files", json.dumps(
                    {**self._json_output(sid, "implementation", "files", {}), **tidied.changed}))
                plan = self.plan(sid, steps=set(SCAFFOLD_STEPS))
            result = tidied.failure or monitor.run_generated_tests(
                plan, spec.template, self.options,
                on_output=lambda line: self.emit(ev.STEP_PROGRESS, sid, "tests", line),
                dependencies=spec.data.get("dependencies") or [])
            self.store.record_run(sid, "tests", "tests", result.command,
                                  None if result.skipped else result.exit_code,
                                  result.duration_s, result.output[-20000:], result.sandbox)
            self.store.audit(sid, "workbench", "tests", "test_run",
                             f"generated tests: {result.summary} (sandbox: {result.sandbox}, "
                             f"limits: {result.limits or 'none'})",
                             payload={"exit_code": result.exit_code, "attempt": attempts,
                                      "limits": result.limits, "timed_out": result.timed_out})
            self._guard_verified(sid, guard, "the generated tests")
            if result.timed_out:
                self.emit(ev.STEP_PROGRESS, sid, "tests",
                          f"generated tests timed out after {self.options.test_timeout:.0f} s "
                          f"(run {attempts + 1} of {runs})", notice=True)
            if result.skipped:
                return f"{summary}; tests not run: {result.summary}"
            if result.exit_code == 0:
                return f"{summary}; generated tests pass ({result.summary})"
            if getattr(agents, "label", "offline") == "offline" or attempts >= self.options.repair_attempts:
                raise StepFailed("tests", f"generated tests fail after {attempts} repair attempt(s): {result.summary}")
            attempts += 1
            self.emit(ev.STEP_PROGRESS, sid, "tests",
                      f"generated tests fail ({result.summary}); repair attempt {attempts} of "
                      f"{self.options.repair_attempts}", notice=True)
            owned = {p: f.content for p, f in plan.files.items() if f.model_owned}
            fixed = agents.repair(self._ctx(sid, "tests"), spec.text, owned, for_prompt(result.output))
            accepted = self._accept_model_files(sid, "tests", agents, owned, fixed)
            merged = {**self._json_output(sid, "implementation", "files", {}), **accepted}
            self.store.put_output(sid, "implementation", "files", json.dumps(merged))
            self.store.audit(sid, self._agent_actor("tests"), "tests", "repair",
                             f"repair attempt {attempts}: {len(accepted)} file(s) changed")

    def _step_docs(self, sid: str) -> str | Outcome:
        from workbench.safety.redact import scan_text
        from workbench.scaffold import apply_plan

        summary = self._scaffold_step(sid, "docs")
        # The approved plan is everything Workbench will write: the scaffold and the
        # integration files (CI, devcontainer, release) committed after it.
        full = self.plan(sid)
        self.store.put_output(sid, "docs", "plan_sha256", full.sha256)
        if not self.is_approved(sid, GATE_PLAN):
            later = sum(1 for f in full.files.values() if f.step in INTEGRATION_FILE_STEPS)
            return self._gate(sid, "docs", GATE_PLAN, full.sha256, {
                "files": len(full.files), "bytes": full.total_bytes, "integration_files": later,
                "paths": sorted(full.files),
            })
        plan = full.for_steps(SCAFFOLD_STEPS)
        secrets = [f for path, pf in sorted(full.files.items()) for f in scan_text(pf.content, path)]
        if secrets:
            first = secrets[0]
            raise StepFailed("docs", f"{first.path}:{first.line}: looks like a secret ({first.kind}: "
                                     f"{first.masked}); remove it from the spec or model output")
        session = self._session(sid)
        target = Path(session["out_dir"])
        if self.store.get_output(sid, "docs", "applying") == full.sha256 and _matches(plan, target):
            pass  # applied before a crash, not yet recorded: nothing to do again
        else:
            self.store.put_output(sid, "docs", "applying", full.sha256)
            apply_plan(plan, target)
        self.store.audit(sid, "workbench", "docs", "plan_applied",
                         f"applied {len(plan.files)} files to {session['out_dir']}",
                         payload={"sha256": plan.sha256, "files": len(plan.files)})
        self._prepare_monitor(sid, target)
        return f"{summary}; applied {len(plan.files)} files ({plan.total_bytes:,} bytes)"

    # ------------------------------------------------------------------ steps: integrate
    def _project(self, sid: str) -> Path:
        return Path(self._session(sid)["out_dir"])

    def _commit(self, sid: str, step: str, message: str) -> str:
        from workbench.integrate import git

        root = self._project(sid)
        done = git.head_for_step(root, step, sid)
        if done is not None:  # killed after committing, before the step was recorded
            return done
        self._write_manifest(sid, root)
        sha = git.commit_all(root, message, step=step, session_id=sid,
                             audit=self.store.chain_manifest(sid))
        self.store.audit(sid, self._agent_actor(step), step, "commit", f"{sha[:12]} {message}",
                         payload={"commit": sha})
        return sha

    def _write_manifest(self, sid: str, root: Path) -> None:
        from workbench.safety.paths import write_file

        manifest = self.store.chain_manifest(sid)
        approval = self.store.get_approval(sid, GATE_SPEC)
        manifest = {**manifest, "spec_sha256": approval["sha256"] if approval else None,
                    "workbench": _version()}
        write_file(root, ".workbench/manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")

    def _step_git(self, sid: str) -> str:
        from workbench.integrate import git

        spec = self._approved_spec(sid)
        root = self._project(sid)
        if not (root / ".git").is_dir():
            git.init(root)
        sha = self._commit(sid, "git", f"Scaffold {spec.name} from its approved spec")
        return f"git init; commit {sha[:12]}"

    def _integration_step(self, sid: str, step: str, what: str) -> str:
        from workbench.integrate import ci
        from workbench.safety.paths import cleanup_temp_files
        from workbench.scaffold import write_plan_files

        cleanup_temp_files(self._project(sid))  # leftovers of a run killed mid-write

        self._approved_spec(sid)
        full = self.plan(sid)
        appr = self.store.get_approval(sid, GATE_PLAN)
        if appr is None or appr["sha256"] != full.sha256:
            raise StepFailed(step, "the files to write are not the approved plan; step back to docs")
        plan = full.for_steps({step})
        if not plan.files:
            return f"no {what} requested by the spec"
        ci.validate_plan_files(plan, step, lint_ahead=full.for_steps(INTEGRATION_FILE_STEPS))
        # a workflow actionlint could not check is said so, never counted as a pass
        unlinted = ci.actionlint_note() if any(ci.schema_for(p) == "vendor.github-workflows"
                                               for p in plan.files) else ""
        if unlinted:
            self.store.audit(sid, self._agent_actor(step), step, "ci_validation", unlinted,
                             payload={"actionlint": "not run"})
        write_plan_files(plan, self._project(sid), {step})
        sha = self._commit(sid, step, f"Add {what}")
        text = f"{len(plan.files)} file(s) validated and committed ({sha[:12]})"
        return f"{text}; {unlinted}" if unlinted else text

    def _step_cicd(self, sid: str) -> str:
        return self._integration_step(sid, "cicd", "CI configuration")

    def _step_codespace(self, sid: str) -> str:
        return self._integration_step(sid, "codespace", "devcontainer")

    def _step_deploy(self, sid: str) -> str:
        return self._integration_step(sid, "deploy", "release workflow") + "; no remote push (needs explicit approval)"

    def _prepare_monitor(self, sid: str, root: Path) -> None:
        """Start the monitor's install now, so it overlaps committing and validating CI."""
        from workbench.integrate import monitor

        monitor.discard(self._prepared.pop(sid, None))
        spec = self._approved_spec(sid)
        if self.options.run_monitor and spec.template != "bash-cli":
            self._prepared[sid] = monitor.prepare_in_background(
                root, self.options, dependencies=spec.data.get("dependencies") or [])

    def _guard_verified(self, sid: str, guard, after_what: str, check=None):
        """Run `check()` (if any), then verify the real tree is what Workbench wrote; a
        change (seen by the check or after it) is audited and fails the step naming it."""
        from workbench.integrate import monitor

        try:
            result = check() if check is not None else None
            guard.verify(after_what)
        except monitor.TreeChanged as exc:
            self.store.audit(sid, "workbench", guard.step, "tree_changed", exc.reason,
                             payload={"root": str(guard.root)})
            raise
        return result

    def _take_prepared(self, sid: str):
        future = self._prepared.pop(sid, None)
        if future is None:
            return None
        try:
            return future.result(timeout=self.options.test_timeout + 60)
        except Exception:  # noqa: BLE001 - the monitor installs again and reports what fails
            return None

    def _step_monitor(self, sid: str) -> str:
        from workbench.integrate import monitor

        if not self.options.run_monitor:
            return "skipped (disabled)"
        spec = self._approved_spec(sid)
        prepared = self._take_prepared(sid)
        guard = monitor.TreeGuard(self._project(sid), "monitor")
        results = self._guard_verified(sid, guard, "the monitor's checks", lambda: monitor.check_project(
            self._project(sid), spec.template, self.options,
            on_output=lambda line: self.emit(ev.STEP_PROGRESS, sid, "monitor", line),
            prepared=prepared, dependencies=spec.data.get("dependencies") or []))
        failed = [r for r in results if r.exit_code != 0 and not r.skipped]
        for r in results:
            # a check that could not run is recorded as unknown (NULL), never as a pass
            self.store.record_run(sid, "monitor", r.kind, r.command, None if r.skipped else r.exit_code,
                                  r.duration_s, r.output[-20000:], r.sandbox)
            self.store.audit(sid, self._agent_actor("monitor"), "monitor", "test_run",
                             f"{r.kind}: {r.summary} (sandbox: {r.sandbox}, limits: {r.limits or 'none'})",
                             payload={"exit_code": r.exit_code, "skipped": r.skipped, "limits": r.limits,
                                      "timed_out": r.timed_out})
            if r.timed_out:
                self.emit(ev.STEP_PROGRESS, sid, "monitor",
                          f"{r.kind} timed out after {self.options.test_timeout:.0f} s", notice=True)
        text = "; ".join(f"{r.kind} {'not run: ' if r.skipped else ''}{r.summary}" for r in results)
        if any(r.skipped for r in results):
            text += " (UNVERIFIED: a check could not run)"
        text = _with_actionlint_note(text, self._project(sid))
        if failed:
            raise StepFailed("monitor", f"{failed[0].kind} failed: {failed[0].summary}")
        return text or "nothing to check"


def _with_actionlint_note(text: str, root: Path) -> str:
    """The monitor's report names workflows actionlint could not check."""
    from workbench.integrate import ci

    workflows = root / ".github" / "workflows"
    note = ci.actionlint_note() if workflows.is_dir() and any(workflows.glob("*.y*ml")) else ""
    return f"{text}; {note}" if note else text


def finding_id(f: dict) -> str:
    """A finding's stable id: the same finding in a later review has the same id."""
    import hashlib

    key = json.dumps([f.get("source"), f.get("severity"), f.get("location"), f.get("text")])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def _finding_fields(f: dict) -> dict:
    return {k: f.get(k, "") for k in ("id", "severity", "location", "text", "suggestion", "source")}


class session_lock:
    """An advisory lock per session beside the database, held while a process runs it."""

    def __init__(self, store, sid: str):
        path = getattr(store, "path", None)
        self.file = (Path(path).parent / "locks" / f"{sid}.lock") if path else None
        self.fd = None

    def __enter__(self):
        import fcntl
        import os

        if self.file is None:
            return self
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self.fd, 32).decode(errors="replace").strip() or "another process"
            os.close(self.fd)
            self.fd = None
            raise UsageError(f"session {self.file.stem[:12]} is being run by pid {holder}; "
                             "wait for it to finish") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())
        return self

    def __exit__(self, *exc):
        import os

        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def refuse_secrets(text: str, source: str, error) -> None:
    """A spec holding something that looks like a key is refused, the value masked."""
    from workbench.safety.redact import scan_text

    found = scan_text(text, source)
    if found:
        f = found[0]
        raise error(f"{source}:{f.line}: looks like a secret ({f.kind}: {f.masked}); "
                    "keys belong in the environment, never in a spec")


def _version() -> str:
    from workbench import __version__

    return __version__


def _matches(plan, target: Path) -> bool:
    """Does `target` hold exactly the plan's files (an apply that finished)?"""
    try:
        return all((target / p).read_text("utf-8") == f.content for p, f in plan.files.items())
    except (OSError, UnicodeDecodeError):
        return False


def _enclosing_repo(out: Path) -> Path:
    """The existing repository the new project is created in, if any (else the folder above)."""
    cur = out.parent
    while True:
        if (cur / ".git").exists():
            return cur
        if cur.parent == cur:
            return out.parent
        cur = cur.parent


def _project_context(root: Path) -> str:
    parts = []
    for name in ("README.md", "pyproject.toml"):
        p = root / name
        if p.is_file():
            try:
                parts.append(f"### {name}\n\n" + p.read_text("utf-8", errors="replace")[:4000])
            except OSError:
                pass
    return "\n\n".join(parts)


def _similar_specs(store, request: str) -> list[str]:
    try:
        from workbench.store.learning import similar_specs
    except ImportError:
        return []
    try:
        return [s["text"] if isinstance(s, dict) else str(s) for s in similar_specs(store, request, limit=2)]
    except Exception:  # noqa: BLE001 - examples are a help, never a failure
        return []
