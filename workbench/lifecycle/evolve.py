"""evolve: bring a project Workbench made to a changed spec, keeping the developer's edits.

The flow (design.md, "The living spec"; docs/evolve.md):

1. `open(root, spec_file | request)`: the project is picked up from its docs/spec.md and
   what Workbench recorded in it (the stored base, integrate/base.py; the commit
   trailers). A dirty working tree is refused (exit 2). An evolve session is made in the
   store: spec v1 is the project's spec as last generated, v2 the new one (from the
   file, the working tree's docs/spec.md, or the Tool Builder agent turning a request
   into a revised spec; offline cannot, exit 2).
2. `drive(sid, policy)`: review and the spec gate run in the engine, exactly as in `new`
   (exit 3, approved by exact hash). Then the new generation ("theirs"): template-owned
   files re-rendered from the new spec; model-owned files updated by the agent from
   the spec diff and the files as they are now (offline: the template's render, so a
   new command gets the same placeholder as in `new` and the developer's bodies stay,
   by the merge). Every file is merged by git (integrate/merge.py: base = the stored
   base, ours = HEAD, theirs = the new generation). Conflicts stop the run (exit 1,
   each file named, the tree untouched; `write_conflicts` writes git's markers,
   uncommitted). The merged tree is checked in the sandbox on a throwaway copy (install,
   tests, linters; with a model, the repair loop) before the plan gate, whose hash
   covers the merged result (exit 3). Once approved, the changed files are written
   through the write gateway, committed in ONE commit "Evolve NAME to spec vN" (CI,
   devcontainer and release files re-rendered in it), and the base ref moves to the
   new generation. The audit log records every step.

The session service API the TUI needs: `EvolveService.open`, `.drive`, `.merge(sid)`
(the planned TreeMerge: per-file status, `result`, `ours`; `merge.preview(...)` is the
diff of each file's merged result against the tree) and the events `merge_planned`,
`conflict`, plus the engine's (gate, approved, step_*).
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import StepFailed, UsageError, WorkbenchError
from workbench.identity import human
from workbench.lifecycle import events as ev
from workbench.lifecycle.steps import (
    DONE,
    FAILED,
    GATE_PLAN,
    GATE_SPEC,
    INTEGRATION_FILE_STEPS,
    RUNNING,
    SCAFFOLD_STEPS,
    STEP_IDS,
    WAITING,
    index,
)

EVOLVE_STEP = "evolve"  # the Workbench-Step trailer of an evolve commit
MERGE_STEPS = SCAFFOLD_STEPS[: SCAFFOLD_STEPS.index("docs")]  # docs is rendered from the merged bodies


@dataclass
class Generation:
    """What evolve plans: the three trees and their merge."""

    spec: object
    base: object  # integrate.base.Base
    ours: dict
    theirs: dict
    merge: object  # integrate.merge.TreeMerge
    project_version: int
    steps: dict  # path -> the plan step its file belongs to


def _lock(store, sid: str):
    try:
        from workbench.lifecycle.lock import session_lock
    except ImportError:
        from workbench.lifecycle.engine import session_lock
    return session_lock(store, sid)


class EvolveService:
    def __init__(self, store, provider_for=None, on_event: ev.EventSink = ev.ignore, options=None):
        from workbench.lifecycle.session import SessionService

        self.store = store
        self.on_event = on_event
        self.sessions = SessionService(store, provider_for, on_event, options)
        self.options = options
        self._generations: dict[str, Generation] = {}
        self._prepared: dict[str, object] = {}  # sid -> Future of a monitor.PreparedEnv

    def close(self) -> None:
        self.sessions.close()

    # ------------------------------------------------------------------ helpers
    def emit(self, kind: str, sid: str, step: str | None = None, message: str = "", **data) -> None:
        self.on_event(ev.make(kind, sid, step, message, **data))

    def _mark(self, sid: str, step: str, status: str, message: str = "") -> None:
        self.store.set_step(sid, step, status, message)
        self.emit(ev.STATUS_CHANGED, sid, step, message, status=status)
        if status == DONE:
            self.emit(ev.STEP_DONE, sid, step, message)

    def record(self, sid: str) -> dict:
        raw = self.store.get_output(sid, "request", "evolve")
        if raw is None:
            raise UsageError(f"session {sid[:12]} is not an evolve session")
        return json.loads(raw)

    def _options(self):
        if self.options is None:
            from workbench.lifecycle.engine import Options

            self.options = Options()
        return self.options

    # ------------------------------------------------------------------ open
    def waiting_session(self, root: Path) -> str | None:
        """The newest evolve session of this project still waiting at a gate, made at HEAD."""
        from workbench.integrate import base as base_mod

        head = base_mod.rev(root, "HEAD")
        for s in self.store.list_sessions(limit=200):
            if s.get("out_dir") != str(root) or s.get("status") not in ("waiting", "failed"):
                continue
            raw = self.store.get_output(s["id"], "request", "evolve")
            if raw is not None and json.loads(raw).get("head") == head:
                return s["id"]
        return None

    def open(self, root: str | Path, *, spec_file: str | None = None, request: str | None = None,
             model: str | None = None, resume: bool = False) -> str:
        """The evolve session for `root` (a new one, or with `resume` and no new spec the
        one waiting at a gate). Refuses a dirty tree and a project Workbench did not make."""
        from workbench.integrate import base as base_mod
        from workbench.spec import load_spec, parse_spec

        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise UsageError(f"DIR {root}: no such directory")
        if not (root / ".git").exists():
            raise UsageError(f"DIR {root}: not a git repository; evolve works on a project Workbench made")
        stopped = interrupted(self.store, root)  # an apply killed before its commit: completed, said so
        if stopped:
            raise UsageError(stopped)
        repaired = repair_base(self.store, root)  # a commit whose base update was cut off
        base = base_mod.read(root)  # not a Workbench project: exit 2, said so
        from_tree = spec_file is None and request is None
        dirty = base_mod.dirty_paths(root)
        bad = [p for p in dirty if not (from_tree and p == "docs/spec.md")]
        if bad:
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise UsageError(
                f"DIR {root}: the working tree has uncommitted changes ({', '.join(bad[:5])}{more}); "
                f"commit them (git -C {root} add -A && git -C {root} commit -m ...) or stash them "
                f"(git -C {root} stash -u), then run evolve again")
        if resume and not request and spec_file is None:
            waiting = self.waiting_session(root)
            if waiting is not None:
                return waiting
        old_text = base.spec_text
        if old_text is None:
            raise UsageError(f"DIR {root}: the stored base has no docs/spec.md")
        old = parse_spec(old_text, "docs/spec.md (as last generated)")
        if spec_file is not None:
            new_text = load_spec(spec_file).raw.decode("utf-8")
            where = str(spec_file)
        elif request is not None:
            if not request.strip():
                raise UsageError("--request: must not be empty")
            new_text, where = None, "a request"
        else:
            path = root / "docs" / "spec.md"
            if not path.is_file():
                raise UsageError(f"DIR {root}: no docs/spec.md; give the new spec with --spec FILE")
            new_text = load_spec(path).raw.decode("utf-8")
            where = "docs/spec.md"
        if new_text is not None:
            from workbench.lifecycle.engine import refuse_secrets

            refuse_secrets(new_text, where, UsageError)
            parse_spec(new_text, where)
        if resume and new_text is not None:
            waiting = self.waiting_session(root)
            if waiting is not None and (self.store.get_spec_version(waiting) or {}).get("text") == new_text:
                return waiting
        label = f"evolve {old.name}: " + (request.strip() if request else f"spec from {where}")
        sid = self.sessions.start(label, root, template=old.template, model=model)
        engine = self.sessions.engine(sid)
        if request is not None and getattr(engine.provider.for_step("spec"), "label", "offline") == "offline":
            self.store.update_session(sid, status="failed")
            raise UsageError("--request: the offline model cannot turn a request into a spec change; "
                             f"edit the spec (docs/spec.md in {root}, or a copy) and run "
                             f"`workbench evolve {root} --spec FILE`, or configure a model (workbench models)")
        head = base_mod.rev(root, "HEAD")
        self.store.put_output(sid, "request", "evolve", json.dumps({
            "root": str(root), "head": head, "base": base.commit, "base_source": base.source,
            "base_note": base.note, "project_version": base.spec_version + 1, "from_tree": from_tree}))
        who = f"human:{human()}"
        self.store.audit(sid, who, "request", "evolve",
                         f"evolve {old.name} at {head[:12] if head else '?'} (base {base.commit[:12]}, "
                         f"{base.source}{': ' + base.note if base.note else ''})",
                         payload={"root": str(root), "head": head, "base": base.commit, "source": base.source})
        self._mark(sid, "request", DONE, f"evolve {old.name} ({where})")
        self._mark(sid, "analysis", DONE,
                   f"the project at {root}: spec v{base.spec_version} as last generated, base "
                   f"{base.commit[:12]} ({'refs/workbench/base' if base.source == 'ref' else 'fallback'})")
        self.store.add_spec_version(sid, old_text, old.sha256, "project", "workbench")
        self._mark(sid, "spec", DONE, f"spec v1: the project's spec v{base.spec_version}")
        for note in (repaired, base.note):
            if note:
                self.emit(ev.STEP_PROGRESS, sid, "analysis", note, notice=True)
        if new_text is None:
            new_text = self._revise_by_request(sid, engine, old_text, request)
        else:
            self.sessions.revise_spec(sid, new_text)
        return sid

    def _revise_by_request(self, sid: str, engine, old_text: str, request: str) -> str:
        """The Tool Builder agent turns the request into a revised spec (a new version)."""
        import hashlib

        from workbench.lifecycle.engine import refuse_secrets
        from workbench.llm.base import AgentContext, Finding
        from workbench.safety.redact import redact
        from workbench.spec import parse_spec

        agents = engine.provider.for_step("spec")
        ctx = AgentContext(session_id=sid, step="spec",
                           on_token=lambda t: self.emit(ev.TOKEN, sid, "spec", t),
                           on_notice=lambda m: self.emit(ev.STEP_PROGRESS, sid, "spec", m, notice=True),
                           on_report=lambda r: engine.audit_report(sid, "spec", r))
        ask = Finding("info", "the whole spec", f"The developer asks: {request.strip()}",
                      "Change the spec as the developer asks; keep everything else as it is.", "developer")
        text = agents.apply_finding(ctx, old_text, ask)
        if text == old_text:
            raise UsageError(f"--request: {agents.label} left the spec unchanged; edit it yourself and "
                             "run evolve with --spec FILE")
        refuse_secrets(text, "the revised spec", UsageError)
        parse_spec(text, "the revised spec")
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        version = self.store.add_spec_version(sid, text, sha, "request", "agent:tool_builder", model=agents.label)
        self.store.audit(sid, "agent:tool_builder", "spec", "revise",
                         f"spec v{version} revised by {agents.label} from the request",
                         payload={"request": redact(request), "sha256": sha, "model": agents.label})
        self.emit(ev.SPEC_VERSION_ADDED, sid, "spec", f"spec v{version} (revised from the request)",
                  version=version, sha256=sha, source="request")
        return text

    # ------------------------------------------------------------------ drive
    def drive(self, sid: str, policy=None, write_conflicts: bool = False):
        """Run to the next gate the policy does not approve, a failure, or the commit."""
        from workbench.lifecycle.engine import Outcome
        from workbench.lifecycle.session import Policy

        policy = policy or Policy()
        engine = self.sessions.engine(sid)
        approve = policy.approve
        while True:  # review and the spec gate: the engine's, as in `new`
            outcome = engine.run(sid, until="approval")
            if outcome.status == "gate":
                if approve is not None:
                    self.sessions.approve(sid, approve)
                    approve = None
                    continue
                if policy.yes:
                    engine.approve(sid, outcome.gate, outcome.sha256, actor=f"human:{human()} (--yes)")
                    continue
                return outcome
            if outcome.status == "failed":
                return outcome
            break
        with _lock(self.store, sid):
            try:
                return self._after_spec(sid, engine, approve, policy.yes, write_conflicts)
            except WorkbenchError as exc:
                if isinstance(exc, UsageError):
                    raise
                step = exc.step if isinstance(exc, StepFailed) else "docs"
                reason = exc.reason if isinstance(exc, StepFailed) else str(exc)
                self._mark(sid, step, FAILED, reason)
                self.store.update_session(sid, status="failed")
                self.store.audit(sid, "workbench", step, "failure", reason)
                self.emit(ev.STEP_FAILED, sid, step, reason)
                return Outcome("failed", sid, step, message=f"evolve failed at {step}: {reason}")

    def _after_spec(self, sid: str, engine, approve: str | None, yes: bool, write_conflicts: bool):
        rec = self.record(sid)
        root = Path(rec["root"])
        self._check_unchanged(root, rec, sid)
        self._prepare_ahead(sid, root)
        try:
            return self._merge_check_apply(sid, engine, root, rec, approve, yes, write_conflicts)
        finally:
            from workbench.integrate import monitor

            monitor.discard(self._prepared.pop(sid, None))

    def _prepare_ahead(self, sid: str, root: Path) -> None:
        """The checks' virtualenv and install, started in the background now (from HEAD's
        tree, clean: `_check_unchanged`) so they overlap the generation and the merge. The
        checks take it when the merged project's packaging is still what it installed
        (`monitor.check_project` compares the fingerprints), else they install afresh."""
        from workbench.integrate import monitor

        options = self._options()
        if not getattr(options, "run_monitor", True) or sid in self._prepared:
            return
        if self.store.get_output(sid, "monitor", "evolve_checked") is not None:
            return  # checked already (a run resumed at the plan gate): nothing to prepare
        spec = self.approved_spec(sid)
        if spec.template != "python-cli":
            return
        self._prepared[sid] = monitor.prepare_in_background(root, options,
                                                            spec.data.get("dependencies") or [])

    def _merge_check_apply(self, sid: str, engine, root: Path, rec: dict, approve: str | None, yes: bool,
                           write_conflicts: bool):
        from workbench.lifecycle.engine import Outcome

        gen = self.plan(sid)
        merge = gen.merge
        conflicts = [f.path for f in merge.conflicts]
        self.emit(ev.MERGE_PLANNED, sid, "docs",
                  f"{len(merge.changed)} file(s) change, {len(conflicts)} conflict(s)",
                  files=merge.statuses(), counts=merge.counts(), sha256=merge.sha256)
        for step in MERGE_STEPS:
            files = [p for p, s in merge.statuses().items() if (theirs_step(gen, p) == step)]
            self._mark(sid, step, DONE, f"{len(files)} file(s) merged" if files else "no change")
        if conflicts:
            return self._conflicts(sid, root, gen, write_conflicts)
        if not merge.changed:
            self._finish_without_change(sid, gen)
            return Outcome("done", sid, message=f"{gen.spec.name} is already at this spec: nothing to change")
        self._check(sid, engine, root, gen)
        gen = self._generations[sid]
        sha = gen.merge.sha256
        self.store.put_output(sid, "docs", "plan_sha256", sha)
        if not engine.is_approved(sid, GATE_PLAN):
            summary = {"files": len(gen.merge.changed), "statuses": gen.merge.statuses(),
                       "integration_files": sum(1 for f in gen.merge.changed
                                                if theirs_step(gen, f.path) in INTEGRATION_FILE_STEPS)}
            self.store.set_step(sid, "docs", WAITING, f"waiting for approval of plan {sha[:12]}")
            self.store.update_session(sid, status="waiting")
            if approve is not None:
                self.sessions.approve(sid, approve)
            elif yes:
                engine.approve(sid, GATE_PLAN, sha, actor=f"human:{human()} (--yes)")
            else:
                self.emit(ev.GATE, sid, "docs", f"approve plan {sha[:12]}", gate=GATE_PLAN, sha256=sha, **summary)
                return Outcome("gate", sid, "docs", gate=GATE_PLAN, sha256=sha,
                               message=f"waiting for approval of the plan ({sha[:12]})", data=summary)
        return self._apply(sid, root, gen, rec)

    def _check_unchanged(self, root: Path, rec: dict, sid: str) -> None:
        from workbench.integrate import base as base_mod

        head = base_mod.rev(root, "HEAD")
        if head != rec["head"]:
            raise UsageError(f"DIR {root}: HEAD moved since this evolve was planned ({rec['head'][:12]} -> "
                             f"{(head or '?')[:12]}); run `workbench evolve {root}` again")
        spec_text = (self.store.get_spec_version(sid) or {}).get("text")
        dirty = [p for p in base_mod.dirty_paths(root)
                 if not (rec.get("from_tree") and p == "docs/spec.md"
                         and _read(root / "docs/spec.md") == spec_text)]
        if dirty:
            raise UsageError(f"DIR {root}: the working tree changed since this evolve was planned "
                             f"({', '.join(dirty[:5])}); commit or stash it, then run evolve again")

    # ------------------------------------------------------------------ the generation and its merge
    def plan(self, sid: str) -> Generation:
        """The three trees and their merge for the approved spec (made once per session)."""
        gen = self._generations.get(sid)
        engine = self.sessions.engine(sid)
        spec = self.approved_spec(sid)
        if gen is not None and gen.spec.sha256 == spec.sha256:
            return gen
        gen = self._make_generation(sid, engine, spec)
        self._generations[sid] = gen
        return gen

    def _make_generation(self, sid: str, engine, spec, owned_override: dict | None = None) -> Generation:
        from workbench.integrate import base as base_mod
        from workbench.integrate import merge as merge_mod
        from workbench.scaffold import render_plan

        rec = self.record(sid)
        root = Path(rec["root"])
        base = base_mod.read(root)
        ours = base_mod.head_files(root)
        if rec.get("from_tree"):
            text = _read(root / "docs/spec.md")
            if text is not None:
                ours["docs/spec.md"] = (text, ours.get("docs/spec.md", ("", 0o644))[1])
        default = render_plan(spec)
        owned = owned_override or self._model_files(sid, engine, spec, base, ours, default)
        owned_merge = merge_mod.merge_trees({p: base.files[p] for p in owned if p in base.files},
                                            {p: ours[p] for p in owned if p in ours},
                                            {p: (c, default.files[p].mode) for p, c in owned.items()}, root)
        clean = {p: f.result[0] for p, f in owned_merge.files.items()
                 if f.status != merge_mod.CONFLICT and f.result is not None}
        rendered = default
        if any(default.files[p].content != c for p, c in clean.items() if p in default.files):
            try:  # the README says which bodies are still placeholders: it sees the merged bodies
                rendered = render_plan(spec, overrides=clean)
            except WorkbenchError:
                rendered = default
        theirs = {p: (f.content, f.mode) for p, f in rendered.files.items() if not f.model_owned}
        theirs.update({p: (c, default.files[p].mode) for p, c in owned.items()})
        merge = merge_mod.merge_trees(base.files, ours, theirs, root)
        return Generation(spec, base, ours, theirs, merge, int(rec["project_version"]),
                          {p: f.step for p, f in rendered.files.items()})

    def _model_files(self, sid: str, engine, spec, base, ours: dict, default) -> dict[str, str]:
        """theirs for the model-owned files: the agent's update of the files as they are now
        (offline: the template's render), kept per spec version so a resumed run reuses it."""
        import difflib

        from workbench.llm.base import AgentContext

        cached = self.store.get_output(sid, "implementation", "evolve_files")
        if cached is not None:
            data = json.loads(cached)
            if data.get("spec") == spec.sha256:
                return data["files"]
        owned = {p: f.content for p, f in default.files.items() if f.model_owned}
        agents = engine.provider.for_step("implementation")
        label = getattr(agents, "label", "offline")
        self._mark(sid, "implementation", RUNNING)
        self.emit(ev.STEP_STARTED, sid, "implementation", "the model-owned files, from the spec diff")
        if label == "offline":
            files = owned
            how = ("offline: the template's render (a new command gets its placeholder; your "
                   "bodies stay, by the merge)")
        else:
            current = {p: (ours[p][0] if p in ours else c) for p, c in owned.items()}
            old = base.spec_text or ""
            diff = "".join(difflib.unified_diff(old.splitlines(True), spec.text.splitlines(True),
                                                "spec (last generated)", "spec (approved now)"))
            ctx = AgentContext(session_id=sid, step="implementation",
                               on_token=lambda t: self.emit(ev.TOKEN, sid, "implementation", t),
                               on_notice=lambda m: self.emit(ev.STEP_PROGRESS, sid, "implementation", m,
                                                             notice=True),
                               on_report=lambda r: engine.audit_report(sid, "implementation", r))
            brief = (f"{spec.text}\n\n## What changed since the files were generated\n\nThe files below "
                     "are the project's code as it is now, with the developer's own edits: keep them. "
                     "Bring the code to the spec: add what the spec adds (new command bodies, option "
                     f"handling, their tests), change nothing else.\n\n```diff\n{diff}```\n")
            evolve_fn = getattr(agents, "evolve", None)
            result = evolve_fn(ctx, spec.text, diff, current) if evolve_fn else \
                agents.implement(ctx, brief, current)
            files = dict(current)
            for path, content in (result or {}).items():
                if path in owned and isinstance(content, str):
                    files[path] = content
                else:
                    self.store.audit(sid, "agent:tool_builder", "implementation", "refused",
                                     f"refused {path!r}: not a model-owned file")
            how = f"{sum(1 for p in files if files[p] != current.get(p))} file(s) updated by {label}"
        self.store.put_output(sid, "implementation", "evolve_files",
                              json.dumps({"spec": spec.sha256, "files": files}))
        self.store.audit(sid, "agent:tool_builder", "implementation", "evolve_files", how,
                         payload={"model": label, "files": sorted(files)})
        self._mark(sid, "implementation", DONE, how)
        return files

    def approved_spec(self, sid: str):
        from workbench.spec import parse_spec

        current = self.store.get_spec_version(sid)
        appr = self.store.get_approval(sid, GATE_SPEC)
        if current is None or appr is None or appr["sha256"] != current["sha256"]:
            raise StepFailed("approval", "the spec is not approved (gate not passed)")
        return parse_spec(current["text"], "spec.md")

    def merge(self, sid: str):
        return self.plan(sid).merge

    # ------------------------------------------------------------------ conflicts
    def _conflicts(self, sid: str, root: Path, gen: Generation, write: bool):
        from workbench.lifecycle.engine import Outcome
        from workbench.safety.paths import write_file

        conflicts = gen.merge.conflicts
        names = ", ".join(f"{f.path} ({f.conflict_reason})" for f in conflicts)
        if write:
            for f in gen.merge.changed:  # the whole merge, conflicts marked; nothing committed
                if f.result is None:
                    from workbench.safety.paths import remove_file

                    remove_file(root, f.path)
                else:
                    write_file(root, f.path, f.result[0].encode("utf-8", "surrogateescape"), f.result[1])
            message = (f"{len(conflicts)} conflicting file(s), markers written (uncommitted): {names}; "
                       "resolve them, commit, and the next evolve merges from there")
        else:
            message = (f"{len(conflicts)} conflicting file(s), nothing written: {names}; resolve by hand "
                       f"or run `workbench evolve {root} --write-conflicts` to get git's markers in the tree")
        self.store.audit(sid, "workbench", "docs", "conflict", message,
                         payload={"paths": [f.path for f in conflicts], "written": write})
        self.emit(ev.CONFLICT, sid, "docs", message, paths=[f.path for f in conflicts], written=write)
        self._mark(sid, "docs", FAILED, message)
        self.store.update_session(sid, status="failed")
        return Outcome("failed", sid, "docs", message=f"evolve stopped: {message}",
                       data={"conflicts": [f.path for f in conflicts], "written": write})

    # ------------------------------------------------------------------ checks
    def _check(self, sid: str, engine, root: Path, gen: Generation) -> None:
        """The merged tree's install, tests and linters, in the sandbox, on a throwaway
        copy; with a model, failures go to the repair loop (bounded)."""
        from workbench.integrate import monitor
        from workbench.safety.sandbox import for_prompt

        options = self._options()
        if not getattr(options, "run_monitor", True):
            self._mark(sid, "monitor", DONE, "skipped (disabled)")
            return
        done = self.store.get_output(sid, "monitor", "evolve_checked")
        if done == gen.merge.sha256:
            return
        agents = engine.provider.for_step("tests")
        offline = getattr(agents, "label", "offline") == "offline"
        attempts = 0
        while True:
            self._mark(sid, "monitor", RUNNING)
            self.emit(ev.STEP_STARTED, sid, "monitor", "checks of the merged project (sandbox)")
            guard = monitor.TreeGuard(root, "monitor")
            ahead = self._prepared.pop(sid, None)
            prepared = _prepared_env(ahead)
            with tempfile.TemporaryDirectory(prefix="workbench-evolve-") as tmp:
                copy = materialise(root, gen.merge, Path(tmp) / "project")
                results = monitor.check_project(
                    copy, gen.spec.template, options,
                    on_output=lambda line: self.emit(ev.STEP_PROGRESS, sid, "monitor", line),
                    prepared=prepared, dependencies=gen.spec.data.get("dependencies") or [])
            guard.verify("the checks of the merged project")
            for r in results:
                self.store.record_run(sid, "monitor", r.kind, r.command, None if r.skipped else r.exit_code,
                                      r.duration_s, r.output[-20000:], r.sandbox)
                self.store.audit(sid, "agent:learning", "monitor", "test_run",
                                 f"{r.kind}: {r.summary} (sandbox: {r.sandbox}, limits: {r.limits or 'none'})",
                                 payload={"exit_code": r.exit_code, "skipped": r.skipped})
            failed = [r for r in results if r.exit_code != 0 and not r.skipped]
            text = "; ".join(f"{r.kind} {'not run: ' if r.skipped else ''}{r.summary}" for r in results)
            if not failed:
                self.store.put_output(sid, "monitor", "evolve_checked", gen.merge.sha256)
                self._mark(sid, "monitor", DONE, text or "nothing to check")
                return
            if offline or attempts >= options.repair_attempts:
                raise StepFailed("monitor", f"the merged project's {failed[0].kind} failed after {attempts} "
                                            f"repair attempt(s): {failed[0].summary}")
            attempts += 1
            self.emit(ev.STEP_PROGRESS, sid, "monitor", f"{failed[0].kind} fails; repair attempt {attempts} of "
                                                        f"{options.repair_attempts}", notice=True)
            from workbench.llm.base import AgentContext

            owned = {p: gen.theirs[p][0] for p in json.loads(
                self.store.get_output(sid, "implementation", "evolve_files"))["files"]}
            merged = {p: (gen.merge.files[p].result or ("", 0))[0] for p in owned}
            ctx = AgentContext(session_id=sid, step="tests",
                               on_report=lambda r: engine.audit_report(sid, "tests", r))
            fixed = agents.repair(ctx, gen.spec.text, merged, for_prompt(failed[0].output)) or {}
            files = {**owned, **{p: c for p, c in fixed.items() if p in owned and isinstance(c, str)}}
            self.store.put_output(sid, "implementation", "evolve_files",
                                  json.dumps({"spec": gen.spec.sha256, "files": files}))
            self.store.audit(sid, "agent:tool_builder", "tests", "repair",
                             f"repair attempt {attempts}: {sum(1 for p in files if files[p] != owned[p])} file(s)")
            gen = self._make_generation(sid, engine, gen.spec, owned_override=files)
            self._generations[sid] = gen
            if gen.merge.conflicts:
                raise StepFailed("monitor", "the repair conflicts with your edits in "
                                            + ", ".join(f.path for f in gen.merge.conflicts))

    # ------------------------------------------------------------------ apply and commit
    def _apply(self, sid: str, root: Path, gen: Generation, rec: dict):
        from workbench.integrate import base as base_mod
        from workbench.integrate import git
        from workbench.lifecycle.engine import Outcome
        from workbench.safety.paths import remove_file, write_file

        changed = gen.merge.changed
        self.store.audit(sid, "workbench", "docs", "plan_applied",
                         f"writing {len(changed)} merged file(s) to {root}",
                         payload={"sha256": gen.merge.sha256, "files": gen.merge.statuses()})
        # The journal first (durable in the store): a run killed while writing leaves the
        # tree untouched or, completed from it by the next run, fully written (interrupted()).
        self.store.put_output(sid, "docs", JOURNAL, json.dumps({
            "root": str(root), "head": rec["head"], "sha256": gen.merge.sha256,
            "files": {f.path: (list(f.result) if f.result is not None else None) for f in changed}}))
        for i, f in enumerate(changed):
            if f.result is None:
                remove_file(root, f.path)
            else:
                write_file(root, f.path, f.result[0].encode("utf-8", "surrogateescape"), f.result[1])
            if i == 0:
                crash_point("apply")
        self._mark(sid, "docs", DONE, f"{len(changed)} file(s) written: " + ", ".join(
            f"{p} ({s})" for p, s in list(gen.merge.statuses().items())[:6]))
        write_file(root, ".workbench/manifest.json", json.dumps({
            **self.store.chain_manifest(sid), "spec_sha256": gen.spec.sha256,
            "spec_version": gen.project_version, "workbench": _version()}, indent=2, sort_keys=True) + "\n")
        base_mod.forget(root, [f.path for f in changed if f.result is None])
        # The new base's tree is written (objects only) before the commit, which names it in
        # its trailers: a crash before the ref moves is repaired by the next run (base.repair).
        base_tree = base_mod.write_tree(root, {p: v for p, v in gen.theirs.items() if p not in base_mod.BOOKKEEPING})
        subject = f"Evolve {gen.spec.name} to spec v{gen.project_version}"
        sha = git.commit_all(root, subject, step=EVOLVE_STEP, session_id=sid,
                             audit=self.store.chain_manifest(sid),
                             extra_trailers=base_mod.base_trailers(base_tree, gen.project_version, gen.spec.sha256,
                                                                   gen.spec.template))
        self.store.put_output(sid, "docs", JOURNAL, "")
        self.store.audit(sid, "agent:infrastructure", "git", "commit", f"{sha[:12]} {subject}",
                         payload={"commit": sha})
        self._mark(sid, "git", DONE, f"commit {sha[:12]} {subject}")
        for step in INTEGRATION_FILE_STEPS:
            n = sum(1 for f in changed if theirs_step(gen, f.path) == step)
            self._mark(sid, step, DONE, f"{n} file(s) re-rendered in {sha[:12]}" if n else "unchanged")
        crash_point("base")
        base_commit = base_mod.record(root, {}, name=gen.spec.name, spec_version=gen.project_version,
                                      spec_sha256=gen.spec.sha256, session_id=sid, template=gen.spec.template,
                                      project_commit=sha, tree=base_tree)
        self.store.audit(sid, "workbench", "git", "base_recorded",
                         f"refs/workbench/base -> {base_commit[:12]} (spec v{gen.project_version})",
                         payload={"base": base_commit, "commit": sha})
        if self.store.get_steps(sid).get("monitor", {}).get("status") != DONE:
            self._mark(sid, "monitor", DONE, "checked before the plan gate")
        self.store.update_session(sid, status="done")
        self.emit(ev.FINISHED, sid, None, f"{subject} ({sha[:12]})", status="done", exit_code=0)
        return Outcome("done", sid, message=f"{subject} ({sha[:12]})", data={"commit": sha, "base": base_commit})

    def _finish_without_change(self, sid: str, gen: Generation) -> None:
        for step in STEP_IDS[index("docs"):]:
            self._mark(sid, step, DONE, "nothing to change")
        self.store.audit(sid, "workbench", "docs", "evolve_noop", "the project already matches the spec")
        self.store.update_session(sid, status="done")


def _prepared_env(future):
    """The environment prepared ahead, or None (not started, or it failed: the checks
    then prepare their own)."""
    if future is None:
        return None
    try:
        return future.result()
    except Exception:  # noqa: BLE001 - the checks install afresh and report what fails
        return None


JOURNAL = "evolve_applying"  # store output (step docs): the files being written, until the commit
CRASH_ENV = "WORKBENCH_TEST_CRASH_AT"  # tests only: kill -9 this process at a named point


def crash_point(name: str) -> None:
    """For the crash-safety tests: SIGKILL this process here when WORKBENCH_TEST_CRASH_AT
    names this point ("apply": after the first file is written; "base": after the commit,
    before the base ref moves; "undo-base": the same in undo). Nothing else reads it."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def interrupted(store, root: Path) -> str | None:
    """Recover from an evolve killed while writing the project (before its commit).

    Its journal (the merged files, in the store) is found by project. When HEAD is still
    where that evolve started, every file is written again from it, so the tree is fully
    applied, uncommitted, and the message says so and what to do; returns it. A journal
    whose HEAD moved (the commit was made, or the developer committed since) is dropped.
    Returns None when there was nothing to recover."""
    from workbench.integrate import base as base_mod
    from workbench.safety.paths import remove_file, write_file

    root = Path(root)
    message = None
    for s in store.list_sessions(limit=200):
        if s.get("out_dir") != str(root):
            continue
        raw = store.get_output(s["id"], "docs", JOURNAL)
        if not raw:
            continue
        journal = json.loads(raw)
        store.put_output(s["id"], "docs", JOURNAL, "")
        if s.get("status") != "done":
            store.update_session(s["id"], status="failed")
        if journal.get("head") != base_mod.rev(root, "HEAD"):
            store.audit(s["id"], "workbench", "docs", "journal_dropped",
                        "an interrupted evolve's journal dropped: HEAD moved since")
            continue
        files = journal["files"]
        for path, entry in files.items():
            if entry is None:
                remove_file(root, path)
            else:
                write_file(root, path, entry[0].encode("utf-8", "surrogateescape"), int(entry[1]))
        base_mod.forget(root, [p for p, e in files.items() if e is None])
        message = (f"DIR {root}: an evolve (session {s['id'][:12]}) was interrupted while writing the project, "
                   f"before its commit; its {len(files)} merged file(s) are now all written, uncommitted "
                   f"(git -C {root} status). Keep them: git -C {root} add -A && git -C {root} commit -m ...; "
                   f"or set them aside: git -C {root} stash -u. Then run evolve again")
        store.audit(s["id"], "workbench", "docs", "apply_completed",
                    f"interrupted apply completed from its journal: {len(files)} file(s), uncommitted",
                    payload={"files": sorted(files), "sha256": journal.get("sha256")})
        break
    return message


def repair_base(store, root: Path) -> str | None:
    """refs/workbench/base brought up to the newest Workbench commit when a crash left it
    behind (integrate.base.repair), audited; returns what was done, or None."""
    from workbench.integrate import base as base_mod

    repaired = base_mod.repair(Path(root))
    if repaired:
        store.audit(None, "workbench", "git", "base_repaired", repaired, payload={"root": str(root)})
    return repaired


def theirs_step(gen: Generation, path: str) -> str | None:
    return gen.steps.get(path)


def materialise(root: Path, merge, dest: Path) -> Path:
    """A throwaway copy of the project with the merged result in it (for the checks)."""
    from workbench.integrate import monitor
    from workbench.safety.paths import remove_file, write_file

    monitor.copy_tree(root, dest)
    for f in merge.changed:
        if f.result is None:
            remove_file(dest, f.path)
        else:
            write_file(dest, f.path, f.result[0].encode("utf-8", "surrogateescape"), f.result[1], fsync=False)
    return dest


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _version() -> str:
    from workbench import __version__

    return __version__


__all__ = ["EVOLVE_STEP", "EvolveService", "Generation", "materialise", "GATE_SPEC"]
