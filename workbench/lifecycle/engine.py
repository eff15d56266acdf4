"""The lifecycle engine: an explicit state machine over the sixteen steps.

It knows nothing about any UI. Views (the TUI, the headless runner) subscribe to
its events. Its state lives in the store, so a session survives a restart and
is resumed by calling `run` again. Gates are real: nothing after the spec gate
runs until that exact spec version (by sha256) is approved, and nothing reaches
disk until that exact plan (by sha256) is approved.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.errors import StepFailed, UsageError, WorkbenchError
from workbench.identity import human
from workbench.lifecycle import events as ev
from workbench.lifecycle.common import Options, Outcome, refuse_secrets
from workbench.lifecycle.findings import finding_fields, finding_id
from workbench.lifecycle.lock import session_lock
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
    Step,
    agent_actor,
    index,
)
from workbench.llm.base import AgentContext, AgentProvider, AgentReport, Finding, ModelOutputError
from workbench.safety.redact import redact


class Engine:
    def __init__(self, store, provider: AgentProvider, on_event: ev.EventSink = ev.ignore,
                 options: Options | None = None):
        self.store = store
        self.provider = provider
        if getattr(provider, "store", False) is None:
            provider.store = store  # the model calls are recorded in the engine's store
        self.on_event = on_event
        self.options = options or Options()
        self.cancel = threading.Event()
        # The monitor's install, started in the background once the project is applied
        # (lifecycle.checks.WorkAhead, made by the step that first needs it).
        self.work_ahead: Any = None
        self._specs: dict[str, Any] = {}  # the parsed spec of the latest version asked for
        self._notes: dict[tuple[str, str], list[str]] = {}  # what the step's line must also say

    def close(self) -> None:
        """Drop work started ahead that no step took (its temporary files go)."""
        if self.work_ahead is not None:
            self.work_ahead.close()

    # ------------------------------------------------------------------ helpers
    def emit(self, kind: str, sid: str, step: str | None = None, message: str = "", **data) -> None:
        self.on_event(ev.make(kind, sid, step, message, **data))

    def _set_step(self, sid: str, step: str, status: str, message: str = "") -> None:
        """Every state change goes through here, so every view hears of it."""
        self.store.set_step(sid, step, status, message)
        self.emit(ev.STATUS_CHANGED, sid, step, message, status=status)

    def findings_changed(self, sid: str) -> None:
        found = self.findings(sid)
        self.emit(ev.FINDINGS_CHANGED, sid, "review", f"{len(found)} finding(s)",
                  open=sum(1 for f in found if f["status"] == "open"), total=len(found))

    def session(self, sid: str) -> dict:
        """The session's row (a UsageError, exit 2, when there is none)."""
        s = self.store.get_session(sid)
        if s is None:
            raise UsageError(f"no such session: {sid}")
        return s

    def ctx(self, sid: str, step: str) -> AgentContext:
        """The context of an agent call at `step`: its tokens and notices become events."""
        self.cancel.clear()
        return AgentContext(
            session_id=sid, step=step, cancel=self.cancel,
            on_token=lambda t: self.emit(ev.TOKEN, sid, step, t),
            on_notice=lambda m: self.emit(ev.STEP_PROGRESS, sid, step, m, notice=True),
            notes=self._notes.setdefault((sid, step), []),
            on_report=lambda r: self.audit_report(sid, step, r),
        )

    def audit_report(self, sid: str, step: str, report: AgentReport) -> None:
        """What an agent reported (a rejected reply, a re-ask, the review skipped): its
        reply is kept, redacted, for `workbench show SESSION rejected`, and the event audited.
        Recording never hides the call's real outcome."""
        try:
            if report.reply is not None:
                kept = {k: (redact(v) if isinstance(v, str) else v) for k, v in report.reply.items()}
                kept["reply"] = kept.get("reply", "")[:200_000]
                self.store.put_output(sid, step, "rejected", json.dumps(kept))
            self.store.audit(sid, report.actor or agent_actor(step), step, report.action,
                             report.summary, payload=report.payload or None)
        except Exception:  # noqa: BLE001 - the audit's own failure is not the agent's outcome
            pass

    def keep_near_draft(self, sid: str, exc: ModelOutputError) -> ModelOutputError:
        """A rejected draft that parses is kept as a spec version (source "rejected") the
        developer can open (`workbench show SESSION spec`), fix and give back with
        `workbench resume SESSION --spec FILE`; the error then says so. One that looks like
        it holds a key is not kept."""
        from workbench.safety.redact import scan_text
        from workbench.spec import parse_spec

        text = exc.near
        if not text:
            return exc
        try:
            spec = parse_spec(text, "spec.md")
            if scan_text(text, "spec.md"):
                return exc
            version = self.store.add_spec_version(sid, text, spec.sha256, "rejected",
                                                  agent_actor("spec"), model=exc.model)
            self.store.audit(sid, agent_actor("spec"), "spec", "draft_kept",
                             f"rejected draft kept as spec v{version} to fix by hand",
                             payload={"version": version, "sha256": spec.sha256, "error": exc.reason,
                                      "model": exc.model})
        except Exception:  # noqa: BLE001 - too broken to keep: the reply is still in `show rejected`
            return exc
        short = sid[:12]
        return ModelOutputError(
            f"{exc} (the draft is kept as spec v{version}: `workbench show {short} spec` to read it, "
            f"then `workbench resume {short} --spec FILE` with it fixed)", model=exc.model,
            reason=exc.reason, output=exc.output, rejected=exc.rejected)

    def json_output(self, sid: str, step: str, kind: str, default=None):
        raw = self.store.get_output(sid, step, kind)
        return json.loads(raw) if raw is not None else default

    # ------------------------------------------------------------------ public
    def start(self, request: str, out_dir: str | Path, spec_text: str | None = None,
              template: str | None = None, model: str | None = None,
              spec_source: str = "spec.md", read_context: bool | None = None) -> str:
        """Create a session. Nothing runs until `run`. `read_context`: whether the analysis
        may read the enclosing repository's README and pyproject (None: yes, the folder
        was chosen with `--out`; the TUI passes what the developer chose)."""
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
        raw = self.json_output(sid, "review", "findings", []) or []
        reviewed = int(self.store.get_output(sid, "review", "findings_version") or 0)
        decisions = self.json_output(sid, "review", "decisions", {}) or {}
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
        decisions = self.json_output(sid, "review", "decisions", {}) or {}
        decisions[f["id"]] = decision
        self.store.put_output(sid, "review", "decisions", json.dumps(decisions, sort_keys=True))

    def dismiss_finding(self, sid: str, ref: str | int, reason: str = "", actor: str | None = None) -> dict:
        """Dismiss a finding (with a reason, recorded in the audit log)."""
        f = self._open_finding(sid, ref, "dismiss a finding")
        who = actor or f"human:{human()}"
        reason = redact(reason.strip())
        self._decide(sid, f, status="dismissed", reason=reason, actor=who)
        self.store.audit(sid, who, "review", "finding_dismissed",
                         f"dismissed finding {f['n']} ({f['severity']} at {f['location']})"
                         + (f": {reason}" if reason else ""),
                         payload={"finding": finding_fields(f), "reason": reason})
        self.findings_changed(sid)
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
        text = agents.apply_finding(self.ctx(sid, "spec"), current["text"], finding)
        if text == current["text"]:
            why = ("the offline model applies only structural fixes (a missing help text or "
                   "section) and cannot write this for you" if agents.label == "offline"
                   else f"{agents.label} left the spec unchanged")
            raise UsageError(f"finding {f['n']}: {why}; edit the spec yourself (workbench show "
                             f"{sid[:12]} spec > spec.md, then resume --spec spec.md), or dismiss "
                             "the finding with your reason")
        refuse_secrets(text, "the revised spec", UsageError)
        # yaml: off the start-up of the views that import the engine
        from workbench.spec import parse_spec

        parse_spec(text, "spec.md")  # a revision that does not parse is refused (exit 2)
        version = self._new_spec_version(sid, text, "finding", agent_actor("spec"),
                                         finding=finding_fields(f), model=agents.label)
        self._decide(sid, f, status="applied", version=version["version"], actor=who)
        self.store.audit(sid, who, "review", "finding_applied",
                         f"applied finding {f['n']} ({f['severity']} at {f['location']}) with "
                         f"{agents.label}: spec v{version['version']}",
                         payload={"finding": finding_fields(f), "sha256": version["sha256"]})
        self.findings_changed(sid)
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
            out = self.session(sid)["out_dir"]
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
        from workbench.scaffold import render_plan  # jinja2: off the views' start-up

        spec = self.approved_spec(sid, required=False)
        overrides = self.json_output(sid, "implementation", "files", {}) or {}
        return render_plan(spec, steps=steps, overrides=overrides)

    # ------------------------------------------------------------------ run loop
    def run(self, sid: str, until: str | None = None) -> Outcome:
        """Run pending steps in order until a gate, a failure, `until` or the end.

        One process at a time runs a session: a second one is refused (exit 2)."""
        self.session(sid)
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
        handler = _handler(BY_ID[step])
        self._set_step(sid, step, RUNNING)
        self.store.update_session(sid, current_step=step, status="running")
        self.emit(ev.STEP_STARTED, sid, step, BY_ID[step].title)
        started = time.monotonic()
        self._notes.pop((sid, step), None)
        calls_before = self._last_call_id(sid)
        try:
            result = handler(self, sid)
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
        tokens, cost, model = self._usage_since(sid, step, calls_before)
        self.store.audit(sid, "workbench", step, "step_done", message,
                         payload={"seconds": round(time.monotonic() - started, 3)},
                         tokens=tokens, cost=cost)
        self.emit(ev.STEP_DONE, sid, step, message, tokens=tokens, cost=cost, model=model)
        return None

    def _last_call_id(self, sid: str) -> int:
        calls = self.store.list_model_calls(sid)
        return calls[-1]["id"] if calls else 0

    def _usage_since(self, sid: str, step: str, after_id: int) -> tuple[int | None, float | None, str | None]:
        """Tokens, cost and the model that answered, of this step's model calls (cost None
        when any price is unknown; the model of its last call that succeeded)."""
        calls = [c for c in self.store.list_model_calls(sid) if c["id"] > after_id and c["step"] == step]
        if not calls:
            return None, None, None
        tokens = sum((c["prompt_tokens"] or 0) + (c["completion_tokens"] or 0) for c in calls)
        costs = [c["cost"] for c in calls]
        answered = [c["model"] for c in calls if c.get("outcome") == "ok"]
        return tokens, (None if any(c is None for c in costs) else sum(costs)), \
            (answered[-1] if answered else None)

    def _fail(self, sid: str, step: str, reason: str) -> Outcome:
        reason = redact(reason.strip().splitlines()[0] if reason.strip() else "failed")
        self._set_step(sid, step, FAILED, reason)
        self.store.update_session(sid, status="failed")
        self.store.audit(sid, "workbench", step, "failure", reason)
        self.emit(ev.STEP_FAILED, sid, step, reason)
        return Outcome("failed", sid, step, message=f"step {step} failed: {reason}")

    def gate(self, sid: str, step: str, gate: str, sha: str, summary: dict) -> Outcome:
        """Stop at a gate: the step waits for approval of exactly `sha`."""
        self._set_step(sid, step, WAITING, f"waiting for approval of {gate} {sha[:12]}")
        self.store.update_session(sid, status="waiting")
        self.emit(ev.GATE, sid, step, f"approve {gate} {sha[:12]}", gate=gate, sha256=sha, **summary)
        return Outcome("gate", sid, step, gate=gate, sha256=sha,
                       message=f"waiting for approval of the {gate} ({sha[:12]})", data=summary)


    # ------------------------------------------------------------------ for the step handlers
    def approved_spec(self, sid: str, required: bool = True):
        """The parsed spec of the approved version (or, unless `required`, the newest one)."""
        from workbench.spec import parse_spec  # yaml: off the views' start-up

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

    def project(self, sid: str) -> Path:
        """The session's project folder."""
        return Path(self.session(sid)["out_dir"])


_HANDLERS: dict[str, Callable[[Engine, str], str | Outcome]] = {}


def _handler(step: Step) -> Callable[[Engine, str], str | Outcome]:
    """A step's handler, as the step table names it (`module:function`). A phase's module
    is imported when its first step runs: it brings the scaffold (jinja2), the sandbox and
    git, none of which a view needs to start."""
    fn = _HANDLERS.get(step.id)
    if fn is None:
        module, _, name = step.handler.partition(":")
        fn = _HANDLERS[step.id] = getattr(importlib.import_module(module), name)
    return fn


__all__ = ["Engine", "Options", "Outcome", "finding_fields", "finding_id", "refuse_secrets",
           "session_lock"]
