"""The integrate phase's step handlers: git, cicd, codespace, deploy (each commits once,
recognised by its trailers after a crash) and monitor (the project's own checks in the
sandbox). Each is `step_<id>(engine, session_id)`, named by the step table."""

from __future__ import annotations

import json
from pathlib import Path

from workbench import __version__
from workbench.errors import StepFailed
from workbench.integrate import ci, git, monitor
from workbench.lifecycle import events as ev
from workbench.lifecycle.checks import guard_verified, work_ahead
from workbench.lifecycle.steps import GATE_PLAN, GATE_SPEC, INTEGRATION_FILE_STEPS, agent_actor
from workbench.safety.paths import cleanup_temp_files, write_file
from workbench.scaffold import write_plan_files


def commit(eng, sid: str, step: str, message: str) -> str:
    """Commit the project for `step` (once: a commit made before a crash is found again)."""
    root = eng.project(sid)
    done = git.head_for_step(root, step, sid)
    if done is not None:  # killed after committing, before the step was recorded
        return done
    cleanup_temp_files(root)  # a temporary of a write killed before its rename: never committed
    _write_manifest(eng.store, sid, root)
    sha = git.commit_all(root, message, step=step, session_id=sid,
                         audit=eng.store.chain_manifest(sid))
    eng.store.audit(sid, agent_actor(step), step, "commit", f"{sha[:12]} {message}",
                    payload={"commit": sha})
    return sha


def _write_manifest(store, sid: str, root: Path) -> None:
    manifest = store.chain_manifest(sid)
    approval = store.get_approval(sid, GATE_SPEC)
    manifest = {**manifest, "spec_sha256": approval["sha256"] if approval else None,
                "workbench": __version__}
    write_file(root, ".workbench/manifest.json", json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def step_git(eng, sid: str) -> str:
    spec = eng.approved_spec(sid)
    root = eng.project(sid)
    if not (root / ".git").is_dir():
        git.init(root)
    sha = commit(eng, sid, "git", f"Scaffold {spec.name} from its approved spec")
    return f"git init; commit {sha[:12]}"


def integration_step(eng, sid: str, step: str, what: str) -> str:
    """Write the step's files of the approved plan (validated first), and commit them."""
    cleanup_temp_files(eng.project(sid))  # leftovers of a run killed mid-write

    eng.approved_spec(sid)
    full = eng.plan(sid)
    appr = eng.store.get_approval(sid, GATE_PLAN)
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
        eng.store.audit(sid, agent_actor(step), step, "ci_validation", unlinted,
                        payload={"actionlint": "not run"})
    write_plan_files(plan, eng.project(sid), {step})
    sha = commit(eng, sid, step, f"Add {what}")
    text = f"{len(plan.files)} file(s) validated and committed ({sha[:12]})"
    return f"{text}; {unlinted}" if unlinted else text


def step_cicd(eng, sid: str) -> str:
    return integration_step(eng, sid, "cicd", "CI configuration")


def step_codespace(eng, sid: str) -> str:
    return integration_step(eng, sid, "codespace", "devcontainer")


def step_deploy(eng, sid: str) -> str:
    return integration_step(eng, sid, "deploy", "release workflow") + "; no remote push (needs explicit approval)"


def step_monitor(eng, sid: str) -> str:
    options = eng.options
    if not options.run_monitor:
        return "skipped (disabled)"
    spec = eng.approved_spec(sid)
    prepared = work_ahead(eng).take(sid)
    root = eng.project(sid)
    guard = monitor.TreeGuard(root, "monitor")
    results = guard_verified(eng.store, sid, guard, "the monitor's checks", lambda: monitor.check_project(
        root, spec.template, options,
        on_output=lambda line: eng.emit(ev.STEP_PROGRESS, sid, "monitor", line),
        prepared=prepared, dependencies=spec.data.get("dependencies") or []))
    failed = [r for r in results if r.exit_code != 0 and not r.skipped]
    for r in results:
        # a check that could not run is recorded as unknown (NULL), never as a pass
        eng.store.record_run(sid, "monitor", r.kind, r.command, None if r.skipped else r.exit_code,
                             r.duration_s, r.output[-20000:], r.sandbox)
        eng.store.audit(sid, agent_actor("monitor"), "monitor", "test_run",
                        f"{r.kind}: {r.summary} (sandbox: {r.sandbox}, limits: {r.limits or 'none'})",
                        payload={"exit_code": r.exit_code, "skipped": r.skipped, "limits": r.limits,
                                 "timed_out": r.timed_out})
        if r.timed_out:
            eng.emit(ev.STEP_PROGRESS, sid, "monitor",
                     f"{r.kind} timed out after {options.test_timeout:.0f} s", notice=True)
    text = "; ".join(f"{r.kind} {'not run: ' if r.skipped else ''}{r.summary}" for r in results)
    if any(r.skipped for r in results):
        text += " (UNVERIFIED: a check could not run)"
    text = _with_actionlint_note(text, root)
    if failed:
        raise StepFailed("monitor", f"{failed[0].kind} failed: {failed[0].summary}")
    return text or "nothing to check"


def _with_actionlint_note(text: str, root: Path) -> str:
    """The monitor's report names workflows actionlint could not check."""
    workflows = root / ".github" / "workflows"
    note = ci.actionlint_note() if workflows.is_dir() and any(workflows.glob("*.y*ml")) else ""
    return f"{text}; {note}" if note else text
