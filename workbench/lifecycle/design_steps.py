"""The design phase's step handlers: request, analysis, spec, review, approval and
implementation. Each is `step_<id>(engine, session_id)`, named by the step table
(`workbench.lifecycle.steps`), and returns the step's line, or an `Outcome` at a gate."""

from __future__ import annotations

import json
from pathlib import Path

from workbench import identity
from workbench.errors import StepFailed
from workbench.integrate import ci
from workbench.lifecycle import events as ev
from workbench.lifecycle.common import Outcome, refuse_secrets
from workbench.lifecycle.repository import context_read, enclosing_repo, project_context
from workbench.lifecycle.steps import GATE_SPEC, INTEGRATION_FILE_STEPS, agent_actor
from workbench.llm.base import Finding, ModelOutputError
from workbench.safety.paths import UnsafePath, check_relative
from workbench.scaffold import render_plan, template_ids
from workbench.spec import parse_spec, validation_errors
from workbench.store.learning import similar_specs


def step_request(eng, sid: str) -> str:
    session = eng.session(sid)
    eng.store.put_output(sid, "request", "request", session["request"])
    eng.store.audit(sid, f"human:{identity.human()}", "request", "request",
                    session["request"][:200], payload={"request": session["request"]})
    return "request captured"


def step_analysis(eng, sid: str) -> str:
    session = eng.session(sid)
    agents = eng.provider.for_step("analysis")
    root = enclosing_repo(Path(session["out_dir"]))
    chosen = eng.store.get_output(sid, "request", "read_context") != "no"
    context = project_context(root) if chosen else ""
    text = agents.analyse(eng.ctx(sid, "analysis"), session["request"], context)
    eng.store.put_output(sid, "analysis", "analysis", text)
    eng.store.audit(sid, agent_actor("analysis"), "analysis", "analysis", "request analysed",
                    payload={"model": agents.label})
    read = context_read(root, context)
    return f"request analysed (read as context: {', '.join(read)} in {root})" if read \
        else "request analysed"


def step_spec(eng, sid: str) -> str:
    given = eng.store.get_output(sid, "request", "given_spec")
    if given is not None:
        source = eng.store.get_output(sid, "request", "given_spec_source") or "spec.md"
        spec = parse_spec(given, source)
        actor = f"human:{identity.human()}"
        version = eng.store.add_spec_version(sid, given, spec.sha256, "file", actor)
        eng.store.audit(sid, actor, "spec", "draft", f"spec v{version} from {source}",
                        payload={"sha256": spec.sha256})
        eng.emit(ev.TOKEN, sid, "spec", given)
        return f"spec v{version} from {source}"
    session = eng.session(sid)
    agents = eng.provider.for_step("spec")
    analysis = eng.store.get_output(sid, "analysis", "analysis") or ""
    examples = _similar_specs(eng.store, session["request"])
    try:
        text = agents.draft_spec(eng.ctx(sid, "spec"), session["request"], analysis, examples)
    except ModelOutputError as exc:
        raise eng.keep_near_draft(sid, exc) from None
    refuse_secrets(text, "the drafted spec", lambda m: StepFailed("spec", m))
    spec = parse_spec(text, "spec.md")
    actor = agent_actor("spec")
    version = eng.store.add_spec_version(sid, text, spec.sha256, "draft", actor,
                                         model=getattr(agents, "label", "offline"))
    eng.store.put_output(sid, "spec", "draft", text)
    eng.store.audit(sid, actor, "spec", "draft", f"spec v{version} drafted by {agents.label}",
                    payload={"sha256": spec.sha256, "examples": len(examples), "model": agents.label})
    return f"spec v{version} drafted ({spec.sha256[:12]})"


def step_review(eng, sid: str) -> str:
    current = eng.store.get_spec_version(sid)
    if current is None:
        raise StepFailed("review", "there is no spec to review")
    spec = parse_spec(current["text"], "spec.md")
    errors = validation_errors(spec, template_ids())
    findings = [Finding("error", e.field or "front matter", f"line {e.line}: {e.detail}",
                        source="validator") for e in errors]
    eng.store.put_output(sid, "review", "findings_version", str(current["version"]))
    if errors:
        eng.store.put_output(sid, "review", "findings", json.dumps([f.as_dict() for f in findings]))
        eng.findings_changed(sid)
        raise StepFailed("review", str(errors[0]) + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
    agents = eng.provider.for_step("review")
    findings += agents.review(eng.ctx(sid, "review"), current["text"])
    eng.store.put_output(sid, "review", "findings", json.dumps([f.as_dict() for f in findings]))
    eng.store.audit(sid, agent_actor("review"), "review", "review",
                    f"{len(findings)} finding(s) on spec v{current['version']}",
                    payload={"findings": [f.as_dict() for f in findings], "model": agents.label})
    eng.findings_changed(sid)
    return f"spec valid; {len(findings)} review finding(s)"


def step_approval(eng, sid: str) -> str | Outcome:
    current = eng.store.get_spec_version(sid)
    if eng.is_approved(sid, GATE_SPEC):
        return f"spec v{current['version']} approved ({current['sha256'][:12]})"
    spec = parse_spec(current["text"])
    return eng.gate(sid, "approval", GATE_SPEC, current["sha256"], {
        "version": current["version"], "name": spec.front.get("name"),
        "summary": spec.front.get("summary"),
    })


def step_implementation(eng, sid: str) -> str:
    spec = eng.approved_spec(sid)
    plan = render_plan(spec)
    # The CI files follow from the approved spec alone: lint them now, in the
    # background, while the model writes code (the cicd step reuses the verdicts).
    ci.prevalidate(plan.for_steps(INTEGRATION_FILE_STEPS))
    owned = {p: f.content for p, f in plan.files.items() if f.model_owned}
    agents = eng.provider.for_step("implementation")
    result = agents.implement(eng.ctx(sid, "implementation"), spec.text, owned)
    accepted = accept_model_files(eng.store, sid, "implementation", owned, result)
    eng.store.put_output(sid, "implementation", "files", json.dumps(accepted))
    changed = sum(1 for p, c in accepted.items() if owned.get(p) != c)
    return f"{len(owned)} model-owned file(s), {changed} written by {agents.label}"


def accept_model_files(store, sid: str, step: str, owned: dict, result: dict) -> dict:
    """The files of a model's reply that are model-owned (by a safe relative path); each
    other one is refused and the refusal audited."""
    accepted = {}
    for path, content in (result or {}).items():
        try:
            check_relative(path)
        except UnsafePath as exc:
            store.audit(sid, agent_actor(step), step, "refused", str(exc))
            continue
        if path not in owned:
            store.audit(sid, agent_actor(step), step, "refused",
                        f"refused {path!r}: not a model-owned file")
            continue
        accepted[path] = content
    return accepted


def _similar_specs(store, request: str) -> list[str]:
    try:
        return [s["text"] if isinstance(s, dict) else str(s) for s in similar_specs(store, request, limit=2)]
    except Exception:  # noqa: BLE001 - examples are a help, never a failure
        return []
