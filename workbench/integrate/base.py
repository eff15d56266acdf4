"""The stored base: exactly what Workbench generated last time, kept in the project's git.

After the first apply (the `git` step of `new`) and after every `evolve`, the files
Workbench rendered (the whole approved plan: scaffold, CI, devcontainer, release;
before the developer's edits) are committed on `refs/workbench/base`, a ref that holds
only Workbench's output. It is written with git's plumbing (`hash-object`,
`update-index` on a private index, `write-tree`, `commit-tree`, `update-ref`): no
hook, filter or fsmonitor runs, the working tree, the real index and HEAD are never
touched. The commit's trailers say which spec version it was rendered from:

    Workbench base: csv2json at spec v2

    Workbench-Spec-Version: 2
    Workbench-Spec-Sha256: 9f2c...
    Workbench-Session: 4be1...
    Workbench-Template: python-cli
    Workbench-Commit: <the project commit it went with>
    Generated-by: Workbench 0.1.0

The base is never re-derived: a later Workbench or template upgrade renders the
*new* generation differently, but the base still holds what was generated then.
A project made before the base existed falls back to its "Scaffold NAME" commit
(with the files the cicd, codespace and deploy commits added), said in `Base.note`.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from workbench.errors import UsageError, WorkbenchError
from workbench.lifecycle.steps import INTEGRATION_FILE_STEPS
from workbench.safety import fs

BASE_REF = "refs/workbench/base"
INTEGRATION_STEPS = INTEGRATION_FILE_STEPS
#: Files Workbench rewrites on every commit (the audit manifest): never merged.
BOOKKEEPING = frozenset({".workbench/manifest.json"})


class GitFailed(WorkbenchError):
    exit_code = 1


@dataclass(frozen=True)
class Base:
    """The stored base of a project: path -> (text, mode), and what it was rendered from."""

    files: dict[str, tuple[str, int]]
    commit: str
    source: str  # "ref" (refs/workbench/base) or "scaffold" (the fallback)
    spec_version: int = 1
    spec_sha256: str = ""
    session: str = ""
    template: str = ""
    note: str = ""
    trailers: dict[str, str] = field(default_factory=dict)

    @property
    def spec_text(self) -> str | None:
        entry = self.files.get("docs/spec.md")
        return entry[0] if entry else None


def git(args: list[str], root: Path, *, input: bytes | None = None, env: dict | None = None,
        check: bool = True) -> subprocess.CompletedProcess:
    """`git <overrides> args` in `root` with the isolated environment, bytes in and out."""
    from workbench.safety.gitsafe import git_config_overrides, safe_git_env

    full_env = safe_git_env()
    if env:
        full_env.update(env)
    try:
        p = subprocess.run(["git", *git_config_overrides(), *args], cwd=os.fspath(root), env=full_env,
                           input=input, capture_output=True, timeout=120,
                           stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitFailed("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitFailed(f"git {' '.join(args[:2])} did not finish within 120 s") from None
    if check and p.returncode != 0:
        lines = (p.stderr or p.stdout).decode("utf-8", "replace").strip().splitlines()
        raise GitFailed(f"git {' '.join(args[:2])} failed: {lines[-1] if lines else p.returncode}")
    return p


def rev(root: Path, name: str) -> str | None:
    p = git(["rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"], root, check=False)
    if p.returncode != 0:
        return None
    return p.stdout.decode().strip() or None


def tree_files(root: Path, commit: str) -> dict[str, tuple[str, int]]:
    """Every regular file of `commit`'s tree: path -> (text, mode 0o644/0o755)."""
    listing = git(["ls-tree", "-r", "-z", "--full-tree", commit], root).stdout.decode("utf-8", "surrogateescape")
    entries = []
    for rec in listing.split("\0"):
        if not rec:
            continue
        meta, _, path = rec.partition("\t")
        mode, kind, sha = meta.split()
        if kind == "blob" and mode in ("100644", "100755"):
            entries.append((path, sha, 0o755 if mode == "100755" else 0o644))
    blobs = cat_blobs(root, [sha for _, sha, _ in entries])
    return {path: (blobs[sha], mode) for path, sha, mode in entries}


def cat_blobs(root: Path, shas: list[str]) -> dict[str, str]:
    """The text of many blobs in one `git cat-file --batch`."""
    if not shas:
        return {}
    unique = list(dict.fromkeys(shas))
    out = git(["cat-file", "--batch"], root, input="".join(f"{s}\n" for s in unique).encode()).stdout
    texts, pos = {}, 0
    for sha in unique:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].split()
        size = int(header[2])
        data = out[nl + 1: nl + 1 + size]
        texts[sha] = data.decode("utf-8", "surrogateescape")
        pos = nl + 1 + size + 1
    return texts


def commit_message(root: Path, commit: str) -> str:
    return git(["log", "-1", "--format=%B", commit], root).stdout.decode("utf-8", "replace")


def parse_trailers(message: str) -> dict[str, str]:
    out = {}
    for line in message.splitlines():
        key, sep, value = line.partition(": ")
        if sep and (key.startswith("Workbench-") or key == "Generated-by"):
            out[key] = value.strip()
    return out


def write_tree(root: Path, files: dict[str, tuple[str, int]]) -> str:
    """A git tree of exactly `files`, written with a private index (the real one untouched)."""
    with tempfile.TemporaryDirectory(prefix="workbench-base-") as tmp:
        paths = sorted(files)
        blob_dir = Path(tmp) / "blobs"
        fs.make_dir(blob_dir)
        names = []
        for i, path in enumerate(paths):  # outside the project: a scratch copy for hash-object
            name = blob_dir / str(i)
            fs.write_bytes(name, files[path][0].encode("utf-8", "surrogateescape"))
            names.append(str(name))
        shas = git(["hash-object", "-w", "--no-filters", "--stdin-paths"], root,
                   input=("\n".join(names) + "\n").encode()).stdout.decode().split() if names else []
        index = Path(tmp) / "index"
        env = {"GIT_INDEX_FILE": str(index)}
        info = "".join(f"{'100755' if files[p][1] & 0o111 else '100644'} {sha}\t{p}\0"
                       for p, sha in zip(paths, shas, strict=True))
        git(["update-index", "-z", "--add", "--index-info"], root, input=info.encode("utf-8", "surrogateescape"),
            env=env)
        return git(["write-tree"], root, env=env).stdout.decode().strip()


def record(root: Path, files: dict[str, tuple[str, int]], *, name: str, spec_version: int, spec_sha256: str,
           session_id: str, template: str, project_commit: str = "", tree: str | None = None,
           parent: str | None = None) -> str:
    """Commit `files` (or an existing `tree`) on refs/workbench/base; returns the commit.
    `parent`: the ref's tip as the caller just read it ("" for none; None: read it here)."""
    from workbench import __version__

    root = Path(root)
    tree = tree or write_tree(root, {p: v for p, v in files.items() if p not in BOOKKEEPING})
    if parent is None:
        parent = rev(root, BASE_REF)
    message = (f"Workbench base: {name} at spec v{spec_version}\n\n"
               f"Workbench-Spec-Version: {spec_version}\n"
               f"Workbench-Spec-Sha256: {spec_sha256}\n"
               f"Workbench-Session: {session_id}\n"
               f"Workbench-Template: {template}\n"
               + (f"Workbench-Commit: {project_commit}\n" if project_commit else "")
               + f"Generated-by: Workbench {__version__}\n")
    args = ["commit-tree", tree, *(["-p", parent] if parent else [])]
    commit = git(args, root, input=message.encode()).stdout.decode().strip()
    git(["update-ref", "-m", "workbench: record base", BASE_REF, commit, parent or ""], root)
    return commit


NEW_STEPS = ("git", *INTEGRATION_STEPS)  # the commits of `new`: each holds only what Workbench wrote


@dataclass(frozen=True)
class Known:
    """What `record_commit` reads of a commit, handed over by the code that just made it
    (`git.commit_all`): the tree without BOOKKEEPING, the manifest's and the spec's bytes."""

    tree: str
    manifest: bytes | None
    spec: bytes | None


def record_commit(root: Path, commit: str, session_id: str, known: Known | None = None) -> str:
    """After a commit of `new` (scaffold, CI, devcontainer, release): its tree is what
    Workbench generated, so it becomes the base (the audit manifest left out). The spec
    it was rendered from is the one the manifest names, spec v1."""
    import json

    root = Path(root)
    if known is None:
        known = _known(root, commit)
    spec_sha, name, template = "", "", ""
    if known.manifest is not None:
        try:
            spec_sha = json.loads(known.manifest).get("spec_sha256") or ""
        except ValueError:
            spec_sha = ""
    if known.spec is not None:
        try:
            from workbench.spec import parse_spec

            parsed = parse_spec(known.spec.decode("utf-8"), "docs/spec.md")
            name, template = parsed.name, parsed.template
        except Exception:  # noqa: BLE001 - the trailers are a help; the tree is what counts
            pass
    current, current_tree = _tip(root)
    if current and current_tree == known.tree:
        return current
    return record(root, {}, name=name or root.name, spec_version=1, spec_sha256=spec_sha,
                  session_id=session_id, template=template, project_commit=commit, tree=known.tree,
                  parent=current or "")


def _known(root: Path, commit: str) -> Known:
    """`Known` read back from a commit with git's plumbing (a private index)."""
    listing = git(["ls-tree", "-r", "-z", "--full-tree", commit], root).stdout
    keep = [rec for rec in listing.split(b"\0")
            if rec and rec.partition(b"\t")[2].decode("utf-8", "surrogateescape") not in BOOKKEEPING]
    blobs = []
    for path in (".workbench/manifest.json", "docs/spec.md"):
        p = git(["cat-file", "blob", f"{commit}:{path}"], root, check=False)
        blobs.append(p.stdout if p.returncode == 0 else None)
    with tempfile.TemporaryDirectory(prefix="workbench-base-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        info = b"".join(_index_line(rec) for rec in keep)
        git(["update-index", "-z", "--add", "--index-info"], root, input=info, env=env)
        tree = git(["write-tree"], root, env=env).stdout.decode().strip()
    return Known(tree, *blobs)


def _tip(root: Path) -> tuple[str | None, str | None]:
    """refs/workbench/base's commit and tree (None, None when it does not exist), one git."""
    out = git(["for-each-ref", "--format=%(objectname) %(tree)", BASE_REF], root).stdout.decode().split()
    return (out[0], out[1]) if len(out) == 2 else (None, None)


def _index_line(ls_tree_record: bytes) -> bytes:
    meta, _, path = ls_tree_record.partition(b"\t")
    mode, _kind, sha = meta.split()
    return mode + b" " + sha + b"\t" + path + b"\0"


def record_plan(root: Path, plan, spec, *, spec_version: int, session_id: str, project_commit: str = "") -> str:
    """Record a Plan (the whole approved generation) as the base."""
    return record(root, {p: (f.content, f.mode) for p, f in plan.files.items()}, name=spec.name,
                  spec_version=spec_version, spec_sha256=spec.sha256, session_id=session_id,
                  template=spec.template, project_commit=project_commit)


def read(root: Path) -> Base:
    """The project's stored base; for a project made before the base existed, its
    "Scaffold NAME" commit (and the files its integration commits added), with a note."""
    root = Path(root)
    commit = rev(root, BASE_REF)
    if commit is not None:
        t = parse_trailers(commit_message(root, commit))
        version = t.get("Workbench-Spec-Version", "1")
        return Base(tree_files(root, commit), commit, "ref",
                    int(version) if version.isdigit() else 1, t.get("Workbench-Spec-Sha256", ""),
                    t.get("Workbench-Session", ""), t.get("Workbench-Template", ""), trailers=t)
    return _fallback(root)


BASE_TREE = "Workbench-Base-Tree"  # a trailer of evolve and undo commits: the base they set


def base_trailers(tree: str, spec_version: int, spec_sha256: str, template: str = "") -> dict[str, str]:
    """The trailers a project commit carries when it moves the base (evolve, undo): the
    base's tree and spec, so a crash between the commit and `record` can be repaired."""
    return {BASE_TREE: tree, "Workbench-Base-Spec-Version": str(spec_version),
            "Workbench-Base-Spec-Sha256": spec_sha256, "Workbench-Base-Template": template}


def repair(root: Path) -> str | None:
    """Bring refs/workbench/base up to the newest Workbench commit that set a base when a
    crash (kill -9) came between that commit and the base update; returns what was done
    (None: the ref is current). Only the newest base-setting commit on HEAD's first-parent
    history counts (an evolve or undo commit with a `Workbench-Base-Tree` trailer, or a
    commit of `new`); an older evolve without the trailer is left alone, and so is a ref
    already at that commit or past it."""
    root = Path(root)
    if rev(root, "HEAD") is None:
        return None
    newest = None
    for sha, t in reversed(_workbench_commits(root)):
        step = t.get("Workbench-Step")
        if BASE_TREE in t or step in NEW_STEPS or step == "evolve":
            newest = (sha, t)
            break
    if newest is None:
        return None
    sha, t = newest
    if BASE_TREE not in t and t.get("Workbench-Step") not in NEW_STEPS:
        return None  # an evolve made before the trailer existed: nothing to repair from
    tip = rev(root, BASE_REF)
    if tip is not None:
        at = parse_trailers(commit_message(root, tip)).get("Workbench-Commit", "")
        if at == sha or (at and git(["merge-base", "--is-ancestor", sha, at], root, check=False).returncode == 0):
            return None
        tip_tree = git(["rev-parse", f"{tip}^{{tree}}"], root).stdout.decode().strip()
        if BASE_TREE in t and tip_tree == t[BASE_TREE]:
            return None
    if BASE_TREE not in t:
        new = record_commit(root, sha, t.get("Workbench-Session", ""))
    else:
        if git(["cat-file", "-e", f"{t[BASE_TREE]}^{{tree}}"], root, check=False).returncode != 0:
            raise GitFailed(f"{root}: commit {sha[:12]} names the base tree {t[BASE_TREE][:12]}, which the "
                            "repository does not have")
        v = t.get("Workbench-Base-Spec-Version", "1")
        new = record(root, {}, name=root.name, spec_version=int(v) if v.isdigit() else 1,
                     spec_sha256=t.get("Workbench-Base-Spec-Sha256", ""),
                     session_id=t.get("Workbench-Session", ""), template=t.get("Workbench-Base-Template", ""),
                     project_commit=sha,
                     tree=t[BASE_TREE])
    if new == tip:
        return None
    return (f"{BASE_REF} lagged behind {sha[:12]} (an interrupted run stopped between its commit and the "
            f"base update): moved to {new[:12]}, the base that commit set")


def _workbench_commits(root: Path) -> list[tuple[str, dict[str, str]]]:
    """Workbench's commits on HEAD's first-parent history, oldest first, with their trailers."""
    out = git(["log", "--first-parent", "--reverse", "--format=%H%x1f%B%x1e", "HEAD"], root,
              check=False).stdout.decode("utf-8", "replace")
    commits = []
    for record_ in out.split("\x1e"):
        sha, _, body = record_.strip("\n").partition("\x1f")
        t = parse_trailers(body)
        if sha and "Workbench-Step" in t:
            commits.append((sha, t))
    return commits


def _fallback(root: Path) -> Base:
    commits = _workbench_commits(root)
    scaffold = next(((sha, t) for sha, t in commits if t.get("Workbench-Step") == "git"), None)
    if scaffold is None:
        raise UsageError(f"{root}: not a project Workbench made (no {BASE_REF} and no "
                         "\"Scaffold\" commit with Workbench trailers)")
    sha, t = scaffold
    files = tree_files(root, sha)
    session = t.get("Workbench-Session", "")
    for later, lt in commits:  # the CI, devcontainer and release files came in their own commits
        if lt.get("Workbench-Session") == session and lt.get("Workbench-Step") in INTEGRATION_STEPS:
            added = git(["diff-tree", "--no-commit-id", "-r", "-z", "--name-only", "--diff-filter=A",
                         f"{later}^", later], root).stdout.decode("utf-8", "surrogateescape")
            later_files = tree_files(root, later)
            for path in filter(None, added.split("\0")):
                if path in later_files:
                    files[path] = later_files[path]
    for path in BOOKKEEPING:
        files.pop(path, None)
    return Base(files, sha, "scaffold", 1, "", session, note=(
        f"no {BASE_REF} (a project made before Workbench stored its base): merging against the "
        f"Scaffold commit {sha[:12]} and the files its integration commits added; edits committed "
        "in between count as Workbench's"))


def head_files(root: Path) -> dict[str, tuple[str, int]]:
    """`ours`: the files of HEAD (the tree as the developer committed it)."""
    head = rev(Path(root), "HEAD")
    if head is None:
        raise UsageError(f"{root}: the repository has no commit yet")
    files = tree_files(Path(root), head)
    for path in BOOKKEEPING:
        files.pop(path, None)
    return files


def dirty_paths(root: Path) -> list[str]:
    """Uncommitted changes, untracked files included (ignored files are not)."""
    out = git(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"], Path(root)).stdout
    return sorted({rec[3:].decode("utf-8", "replace") for rec in out.split(b"\0") if len(rec) > 3})


def forget(root: Path, paths: list[str]) -> None:
    """Drop removed files from the index before `git.commit_all` (which only adds), so the
    commit records their removal (`update-index --force-remove`: plumbing, no hook)."""
    if paths:
        git(["update-index", "-z", "--force-remove", "--stdin"], Path(root),
            input=b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths))
