"""The 3-way merge of a project, file by file, done by git (`git merge-file`).

    base:   what Workbench generated last time (integrate.base, stored, never re-derived)
    ours:   the project as the developer committed it (HEAD)
    theirs: the new generation (templates re-rendered, model-owned files from the agent)

Workbench does not merge text itself. Per path it takes the trivial answers git's own
merges take (a side that did not change yields to the one that did; both made the same
change), and hands every real 3-way case to `git merge-file`, whose result (with the
standard `<<<<<<< ours` / `=======` / `>>>>>>> theirs` markers on a conflict) is used
as is. A file deleted on one side and changed on the other is a conflict too.

Statuses (`FileMerge.status`, stable; the `merge_planned` event carries them):
  unchanged   nobody changed it
  kept        only the developer changed it: their version stays
  updated     only the generation changed it: the new generation is taken
  merged      both changed it, git merged it cleanly
  same        both made the same change
  added       new in the generation
  deleted     the generation no longer has it and the developer did not change it
  conflict    git could not merge it (or modify/delete): `conflict_reason` says how
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from workbench.integrate.base import GitFailed, git
from workbench.safety import fs

Entry = tuple[str, int]  # (text, mode)

UNCHANGED, KEPT, UPDATED, MERGED, SAME, ADDED, DELETED, CONFLICT = (
    "unchanged", "kept", "updated", "merged", "same", "added", "deleted", "conflict")
CHANGES = (UPDATED, MERGED, ADDED, DELETED, CONFLICT)  # what changes the working tree


@dataclass(frozen=True)
class FileMerge:
    path: str
    status: str
    result: Entry | None  # None: the file is (to be) removed
    ours: Entry | None
    conflicts: int = 0
    conflict_reason: str = ""

    @property
    def changes_tree(self) -> bool:
        return self.result != self.ours


@dataclass
class TreeMerge:
    files: dict[str, FileMerge] = field(default_factory=dict)

    @property
    def conflicts(self) -> list[FileMerge]:
        return [f for f in self.files.values() if f.status == CONFLICT]

    @property
    def changed(self) -> list[FileMerge]:
        return [f for f in self.files.values() if f.changes_tree]

    def result(self) -> dict[str, Entry]:
        return {p: f.result for p, f in self.files.items() if f.result is not None}

    def statuses(self) -> dict[str, str]:
        return {p: f.status for p, f in sorted(self.files.items()) if f.status != UNCHANGED}

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files.values():
            out[f.status] = out.get(f.status, 0) + 1
        return out

    @property
    def sha256(self) -> str:
        """The merged result as it would change the tree: path, mode and content of every
        changed file (a removal as such). What the plan gate approves."""
        import hashlib

        h = hashlib.sha256()
        for f in sorted(self.changed, key=lambda f: f.path):
            h.update(f.path.encode("utf-8", "surrogateescape") + b"\0")
            if f.result is None:
                h.update(b"deleted\n")
            else:
                h.update(f"{f.result[1]:o}".encode() + b"\0")
                h.update(hashlib.sha256(f.result[0].encode("utf-8", "surrogateescape")).hexdigest().encode()
                         + b"\n")
        return h.hexdigest()


def merge_file(base: str, ours: str, theirs: str, *, cwd: Path | None = None,
               labels: tuple[str, str, str] = ("ours", "base", "theirs")) -> tuple[str, int]:
    """`git merge-file -p`: the merged text and the number of conflicts (0: clean)."""
    with tempfile.TemporaryDirectory(prefix="workbench-merge-") as tmp:
        names = []
        for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
            p = Path(tmp) / name
            fs.write_bytes(p, text.encode("utf-8", "surrogateescape"))
            names.append(str(p))
        args = ["merge-file", "-p"]
        for label in labels:
            args += ["-L", label]
        p = git([*args, *names], Path(cwd or tmp), check=False)
    if p.returncode < 0 or p.returncode > 127:
        raise GitFailed(f"git merge-file failed: {p.stderr.decode('utf-8', 'replace').strip()}")
    return p.stdout.decode("utf-8", "surrogateescape"), p.returncode


def merge_one(path: str, base: Entry | None, ours: Entry | None, theirs: Entry | None,
              cwd: Path | None = None) -> FileMerge:
    if ours == theirs:
        status = UNCHANGED if ours == base else SAME
        return FileMerge(path, status, ours, ours)
    if base == theirs:
        return FileMerge(path, KEPT, ours, ours)
    if base == ours:
        if theirs is None:
            return FileMerge(path, DELETED, None, ours)
        return FileMerge(path, ADDED if ours is None else UPDATED, theirs, ours)
    # both sides changed it, differently
    if ours is None or theirs is None:
        why = "you deleted it; the new generation changes it" if ours is None else \
            "you changed it; the new generation no longer has it"
        return FileMerge(path, CONFLICT, ours, ours, 1, why)
    text, conflicts = merge_file(base[0] if base else "", ours[0], theirs[0], cwd=cwd,
                                 labels=(f"ours ({path})", "base", f"theirs ({path})"))
    mode = theirs[1] if base is None or ours[1] == base[1] else ours[1]
    if conflicts:
        return FileMerge(path, CONFLICT, (text, mode), ours, conflicts,
                         f"{conflicts} conflicting hunk(s)" if base else "added on both sides, differently")
    return FileMerge(path, MERGED, (text, mode), ours)


def merge_trees(base: dict[str, Entry], ours: dict[str, Entry], theirs: dict[str, Entry],
                cwd: Path | None = None) -> TreeMerge:
    """Merge every path of the three trees. A path only the developer has (their own
    files) is theirs to keep: it is in `ours` and not in base or theirs: kept."""
    result = TreeMerge()
    for path in sorted(base.keys() | ours.keys() | theirs.keys()):
        result.files[path] = merge_one(path, base.get(path), ours.get(path), theirs.get(path), cwd)
    return result


def unified_diff(path: str, before: str | None, after: str | None, context: int = 3) -> str:
    """The change to `path` as a unified diff (a/ b/ names, /dev/null for a new or removed file)."""
    import difflib

    a = (before or "").splitlines(keepends=True)
    b = (after or "").splitlines(keepends=True)
    lines = difflib.unified_diff(a, b, "/dev/null" if before is None else f"a/{path}",
                                 "/dev/null" if after is None else f"b/{path}", n=context)
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def preview(merge: TreeMerge) -> str:
    """Each changed file's merged result as a diff against the tree (conflicts marked)."""
    parts = []
    for f in sorted(merge.changed, key=lambda f: f.path):
        head = f"# {f.path}: {f.status}" + (f" ({f.conflict_reason})" if f.conflict_reason else "")
        parts.append(head + "\n" + unified_diff(f.path, f.ours[0] if f.ours else None,
                                                f.result[0] if f.result else None))
    return "".join(parts)
