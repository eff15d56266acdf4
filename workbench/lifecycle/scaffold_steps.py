"""The scaffold phase's step handlers: structure, dependencies, configuration, tests
(the generated tests in the sandbox, and the repair loop) and docs (the plan gate, then
the apply). Each is `step_<id>(engine, session_id)`, named by the step table."""

from __future__ import annotations

import json
from pathlib import Path

from workbench.errors import StepFailed
from workbench.integrate import lint, monitor
from workbench.lifecycle import events as ev
from workbench.lifecycle.checks import guard_verified, work_ahead
from workbench.lifecycle.common import Outcome
from workbench.lifecycle.design_steps import accept_model_files
from workbench.lifecycle.steps import GATE_PLAN, INTEGRATION_FILE_STEPS, SCAFFOLD_STEPS, agent_actor
from workbench.safety.redact import scan_text
from workbench.safety.sandbox import for_prompt
from workbench.scaffold import apply_plan


def scaffold_step(eng, sid: str, step: str) -> str:
    """Render the step's part of the plan (nothing is written) and say what it holds."""
    plan = eng.plan(sid, steps={step})
    eng.approved_spec(sid)
    files = sorted(plan.files)
    eng.store.put_output(sid, step, "files", json.dumps(files))
    eng.emit(ev.STEP_PROGRESS, sid, step, f"{len(files)} file(s) planned", files=files)
    return f"{len(files)} file(s) planned: " + ", ".join(files[:6]) + (" …" if len(files) > 6 else "")


def step_structure(eng, sid: str) -> str:
    return scaffold_step(eng, sid, "structure")


def step_dependencies(eng, sid: str) -> str:
    return scaffold_step(eng, sid, "dependencies")


def step_configuration(eng, sid: str) -> str:
    return scaffold_step(eng, sid, "configuration")


def step_tests(eng, sid: str) -> str:
    summary = scaffold_step(eng, sid, "tests")
    spec = eng.approved_spec(sid)
    agents = eng.provider.for_step("tests")
    options = eng.options
    # The tests run on a throwaway copy; a project already on disk must stay as it is.
    guard = monitor.TreeGuard(eng.project(sid), "tests")
    attempts, ahead = 0, False
    offline = getattr(agents, "label", "offline") == "offline"
    runs = 1 if offline else options.repair_attempts + 1
    while True:
        plan = eng.plan(sid, steps=set(SCAFFOLD_STEPS))
        tidied = lint.tidy(plan)  # ruff format + safe fixes of the model-owned files; what is left fails
        if tidied.changed:
            eng.store.put_output(sid, "implementation", "files", json.dumps(
                {**eng.json_output(sid, "implementation", "files", {}), **tidied.changed}))
            plan = eng.plan(sid, steps=set(SCAFFOLD_STEPS))
        if not ahead and tidied.failure is None:  # the monitor's install, ahead (its packaging is final)
            work_ahead(eng).start_plan(sid, plan, spec)
            ahead = True
        result = tidied.failure or monitor.run_generated_tests(
            plan, spec.template, options,
            on_output=lambda line: eng.emit(ev.STEP_PROGRESS, sid, "tests", line),
            dependencies=spec.data.get("dependencies") or [])
        eng.store.record_run(sid, "tests", "tests", result.command,
                             None if result.skipped else result.exit_code,
                             result.duration_s, result.output[-20000:], result.sandbox)
        eng.store.audit(sid, "workbench", "tests", "test_run",
                        f"generated tests: {result.summary} (sandbox: {result.sandbox}, "
                        f"limits: {result.limits or 'none'})",
                        payload={"exit_code": result.exit_code, "attempt": attempts,
                                 "limits": result.limits, "timed_out": result.timed_out})
        guard_verified(eng.store, sid, guard, "the generated tests")
        if result.timed_out:
            eng.emit(ev.STEP_PROGRESS, sid, "tests",
                     f"generated tests timed out after {options.test_timeout:.0f} s "
                     f"(run {attempts + 1} of {runs})", notice=True)
        if result.skipped:
            return f"{summary}; tests not run: {result.summary}"
        if result.exit_code == 0:
            return f"{summary}; generated tests pass ({result.summary})"
        if offline or attempts >= options.repair_attempts:
            raise StepFailed("tests", f"generated tests fail after {attempts} repair attempt(s): {result.summary}")
        attempts += 1
        eng.emit(ev.STEP_PROGRESS, sid, "tests",
                 f"generated tests fail ({result.summary}); repair attempt {attempts} of "
                 f"{options.repair_attempts}", notice=True)
        owned = {p: f.content for p, f in plan.files.items() if f.model_owned}
        fixed = agents.repair(eng.ctx(sid, "tests"), spec.text, owned, for_prompt(result.output))
        accepted = accept_model_files(eng.store, sid, "tests", owned, fixed)
        merged = {**eng.json_output(sid, "implementation", "files", {}), **accepted}
        eng.store.put_output(sid, "implementation", "files", json.dumps(merged))
        eng.store.audit(sid, agent_actor("tests"), "tests", "repair",
                        f"repair attempt {attempts}: {len(accepted)} file(s) changed")


def step_docs(eng, sid: str) -> str | Outcome:
    summary = scaffold_step(eng, sid, "docs")
    # The approved plan is everything Workbench will write: the scaffold and the
    # integration files (CI, devcontainer, release) committed after it.
    full = eng.plan(sid)
    eng.store.put_output(sid, "docs", "plan_sha256", full.sha256)
    if not eng.is_approved(sid, GATE_PLAN):
        later = sum(1 for f in full.files.values() if f.step in INTEGRATION_FILE_STEPS)
        return eng.gate(sid, "docs", GATE_PLAN, full.sha256, {
            "files": len(full.files), "bytes": full.total_bytes, "integration_files": later,
            "paths": sorted(full.files),
        })
    plan = full.for_steps(SCAFFOLD_STEPS)
    secrets = [f for path, pf in sorted(full.files.items()) for f in scan_text(pf.content, path)]
    if secrets:
        first = secrets[0]
        raise StepFailed("docs", f"{first.path}:{first.line}: looks like a secret ({first.kind}: "
                                 f"{first.masked}); remove it from the spec or model output")
    session = eng.session(sid)
    target = Path(session["out_dir"])
    if eng.store.get_output(sid, "docs", "applying") == full.sha256 and matches(plan, target):
        pass  # applied before a crash, not yet recorded: nothing to do again
    else:
        eng.store.put_output(sid, "docs", "applying", full.sha256)
        apply_plan(plan, target)
    eng.store.audit(sid, "workbench", "docs", "plan_applied",
                    f"applied {len(plan.files)} files to {session['out_dir']}",
                    payload={"sha256": plan.sha256, "files": len(plan.files)})
    work_ahead(eng).start(sid, target, eng.approved_spec(sid))
    return f"{summary}; applied {len(plan.files)} files ({plan.total_bytes:,} bytes)"


def matches(plan, target: Path) -> bool:
    """Does `target` hold exactly the plan's files (an apply that finished)?"""
    try:
        return all((target / p).read_text("utf-8") == f.content for p, f in plan.files.items())
    except (OSError, UnicodeDecodeError):
        return False
