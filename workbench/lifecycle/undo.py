"""undo: revert Workbench's last change to a project (an evolve or an integration step)
as a new revert commit. History is never rewritten.

Workbench's last change is the newest commit on HEAD's first-parent history whose
`Workbench-Step` trailer is an evolve or an integration step and that no later undo
commit reverts ("This reverts commit SHA." in its body, as `git revert` writes it).
The revert is a 3-way merge by git per file (integrate/merge.py): base = that commit's
tree, ours = HEAD, theirs = its parent's tree, so the developer's later commits are kept;
where they touch the same lines, undo refuses and names the files. `plan()` previews
(the diff against the tree); `apply()` writes the files through the write gateway and
commits. Undoing an evolve also moves refs/workbench/base back to the base before it
(a new base commit with the earlier tree, never a rewrite).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workbench.errors import UsageError, WorkbenchError
from workbench.identity import human
from workbench.lifecycle import events as ev

UNDOABLE = ("evolve", "cicd", "codespace", "deploy")
UNDO_STEP = "undo"


class UndoConflict(WorkbenchError):
    exit_code = 1


@dataclass
class UndoPlan:
    root: Path
    commit: str
    subject: str
    step: str
    session: str
    head: str
    merge: object  # TreeMerge

    @property
    def changes(self):
        return self.merge.changed

    @property
    def diff(self) -> str:
        from workbench.integrate.merge import preview

        return preview(self.merge)


class Undo:
    def __init__(self, store, on_event: ev.EventSink = ev.ignore):
        self.store = store
        self.on_event = on_event

    def last_change(self, root: Path) -> tuple[str, dict[str, str], str]:
        from workbench.integrate import base as base_mod

        out = base_mod.git(["log", "--first-parent", "--format=%H%x1f%s%x1f%B%x1e", "HEAD"], root).stdout
        reverted: set[str] = set()
        for record in out.decode("utf-8", "replace").split("\x1e"):
            sha, _, rest = record.strip("\n").partition("\x1f")
            subject, _, body = rest.partition("\x1f")
            if not sha:
                continue
            t = base_mod.parse_trailers(body)
            step = t.get("Workbench-Step")
            for line in body.splitlines():
                if line.startswith("This reverts commit ") and step == UNDO_STEP:
                    reverted.add(line.removeprefix("This reverts commit ").rstrip(".").strip())
            if step in UNDOABLE and sha not in reverted:
                return sha, t, subject
            if step == "git":
                break
        raise UsageError(f"DIR {root}: nothing to undo (no evolve or integration commit of Workbench's "
                         "that is not undone already; the scaffold itself is not undone)")

    def plan(self, root: str | Path) -> UndoPlan:
        from workbench.integrate import base as base_mod
        from workbench.integrate import merge as merge_mod

        root = Path(root).expanduser().resolve()
        if not (root / ".git").exists():
            raise UsageError(f"DIR {root}: not a git repository")
        from workbench.lifecycle.evolve import interrupted, repair_base

        stopped = interrupted(self.store, root)  # an evolve killed while writing: completed, said so
        if stopped:
            raise UsageError(stopped)
        repair_base(self.store, root)  # a commit whose base update was cut off
        dirty = base_mod.dirty_paths(root)
        if dirty:
            raise UsageError(f"DIR {root}: the working tree has uncommitted changes ({', '.join(dirty[:5])}); "
                             f"commit them or stash them (git -C {root} stash -u), then undo")
        sha, t, subject = self.last_change(root)
        parent = base_mod.rev(root, f"{sha}^")
        changed = base_mod.tree_files(root, sha)
        before = base_mod.tree_files(root, parent) if parent else {}
        ours = base_mod.tree_files(root, "HEAD")
        merge = merge_mod.merge_trees(changed, ours, before, root)
        conflicts = merge.conflicts
        if conflicts:
            names = ", ".join(f"{f.path} ({f.conflict_reason})" for f in conflicts)
            raise UndoConflict(f"cannot undo {sha[:12]} {subject!r}: your later commits change the same lines "
                               f"in {names}; revert by hand (git revert {sha[:12]}) or leave it")
        return UndoPlan(root, sha, subject, t.get("Workbench-Step", ""), t.get("Workbench-Session", ""),
                        base_mod.rev(root, "HEAD") or "", merge)

    def _session(self, plan: UndoPlan) -> str:
        if plan.session and self.store.get_session(plan.session) is not None:
            return plan.session
        return self.store.create_session(f"undo {plan.commit[:12]}", plan.root)

    def apply(self, plan: UndoPlan) -> str:
        from workbench.integrate import base as base_mod
        from workbench.integrate import git
        from workbench.safety.paths import remove_file, write_file

        if base_mod.rev(plan.root, "HEAD") != plan.head or base_mod.dirty_paths(plan.root):
            raise UsageError(f"DIR {plan.root}: the project changed since the preview; run undo again")
        sid = self._session(plan)
        who = f"human:{human()}"
        self.store.audit(sid, who, UNDO_STEP, "undo_approved", f"undo {plan.commit[:12]} {plan.subject}",
                         payload={"commit": plan.commit, "files": plan.merge.statuses()})
        for f in plan.changes:
            if f.result is None:
                remove_file(plan.root, f.path)
            else:
                write_file(plan.root, f.path, f.result[0].encode("utf-8", "surrogateescape"), f.result[1])
        base_mod.forget(plan.root, [f.path for f in plan.changes if f.result is None])
        subject = f'Undo "{plan.subject}"\n\nThis reverts commit {plan.commit}.'
        earlier = self._earlier_base(plan) if plan.step == "evolve" else None
        extra = base_mod.base_trailers(*earlier) if earlier else None  # repairable if cut off (base.repair)
        sha = git.commit_all(plan.root, subject, step=UNDO_STEP, session_id=sid,
                             audit=self.store.chain_manifest(sid), extra_trailers=extra)
        self.store.audit(sid, "agent:infrastructure", UNDO_STEP, "commit", f"{sha[:12]} undo {plan.commit[:12]}",
                         payload={"commit": sha, "reverted": plan.commit})
        if earlier:
            from workbench.lifecycle.evolve import crash_point

            crash_point("undo-base")
            self._rewind_base(plan, sid, sha, earlier)
        self.on_event(ev.make(ev.UNDONE, sid, None, f"{sha[:12]} reverts {plan.commit[:12]}",
                              commit=sha, reverted=plan.commit))
        return sha

    def _earlier_base(self, plan: UndoPlan) -> tuple[str, int, str, str] | None:
        """The base before the evolve being undone: (tree, spec version, spec sha256, template)."""
        from workbench.integrate import base as base_mod

        root = plan.root
        out = base_mod.git(["log", "--format=%H%x1f%B%x1e", base_mod.BASE_REF], root, check=False).stdout
        records = [r.strip("\n").partition("\x1f") for r in out.decode("utf-8", "replace").split("\x1e")]
        chain = [(s, base_mod.parse_trailers(b)) for s, _, b in records if s]
        for i, (_s, t) in enumerate(chain):
            if t.get("Workbench-Commit") == plan.commit and i + 1 < len(chain):
                prev, pt = chain[i + 1]
                tree = base_mod.git(["rev-parse", f"{prev}^{{tree}}"], root).stdout.decode().strip()
                v = pt.get("Workbench-Spec-Version", "1")
                return (tree, int(v) if v.isdigit() else 1, pt.get("Workbench-Spec-Sha256", ""),
                        pt.get("Workbench-Template", ""))
        return None

    def _rewind_base(self, plan: UndoPlan, sid: str, sha: str, earlier: tuple[str, int, str, str]) -> None:
        """The base goes back to the one before the undone evolve (a new base commit)."""
        from workbench.integrate import base as base_mod

        tree, version, spec_sha, template = earlier
        new = base_mod.record(plan.root, {}, name=plan.root.name, spec_version=version, spec_sha256=spec_sha,
                              session_id=sid, template=template, project_commit=sha, tree=tree)
        self.store.audit(sid, "workbench", UNDO_STEP, "base_recorded",
                         f"refs/workbench/base -> {new[:12]} (back to spec v{version})", payload={"base": new})
