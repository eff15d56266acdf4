"""Git for generated projects, through GitPython, with no hook, filter or fsmonitor ever run.

Files are staged and committed by GitPython's own index code (`index.add`,
`index.commit(skip_hooks=True)`), which runs no hooks, clean filters or fsmonitor;
new objects (blobs, trees, commits) are written as loose objects in this process
(`_ObjectDB`), not by one `git hash-object` per file; the git subprocesses that
remain see an isolated configuration (`workbench.safety.gitsafe`). The author is the
user's git identity, or a clear fallback built from the OS user.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from workbench import __version__
from workbench.errors import WorkbenchError
from workbench.identity import human


class SecretInTree(WorkbenchError):
    exit_code = 1


def _env() -> dict[str, str]:
    from workbench.safety.gitsafe import isolate_process_env, safe_git_env

    # GitPython merges os.environ into every git it starts: drop inherited GIT_* first.
    isolate_process_env()
    return safe_git_env()


@functools.cache
def _object_db():
    """GitPython's object database, writing new objects in-process (zlib + sha1, as
    gitdb does) instead of starting `git hash-object` for each; loose objects are read
    in-process too, anything else (a pack) through git as before."""
    from git.db import GitCmdObjectDB
    from gitdb.db import LooseObjectDB
    from gitdb.exc import BadObject

    class ObjectDB(GitCmdObjectDB):
        def store(self, istream):
            return LooseObjectDB.store(self, istream)

        def info(self, binsha):
            try:
                return LooseObjectDB.info(self, binsha)
            except BadObject:
                return super().info(binsha)

        def stream(self, binsha):
            try:
                return LooseObjectDB.stream(self, binsha)
            except BadObject:
                return super().stream(binsha)

    return ObjectDB


def _repo(root: Path):
    import git

    repo = git.Repo(root, odbt=_object_db())
    repo.git.update_environment(**{k: v for k, v in _env().items() if k.startswith("GIT_")})
    return repo


def init(root: Path) -> None:
    """`git init -b main` with an isolated configuration; hooks are never installed or run."""
    import git

    env = _env()
    git.Git(str(root)).execute(
        ["git", "-c", "core.hooksPath=/dev/null", "-c", "init.templateDir=",
         "init", "--quiet", "--initial-branch=main", str(root)],
        env=env,
    )
    # Nothing is written into the repository's own config: the user's hooks keep working
    # for their commits; Workbench's commits are protected by the environment above.


def trailers(step: str, session_id: str, audit: dict | None = None, extra: dict | None = None) -> str:
    """The commit trailers. `audit` (a `Store.chain_manifest`) adds the session's audit
    head: the hash of its newest event and its event count, so `workbench audit verify
    --project DIR` can check that the log still holds what each commit saw."""
    text = (f"Generated-by: Workbench {__version__}\n"
            f"Workbench-Step: {step}\n"
            f"Workbench-Session: {session_id}\n")
    if audit is not None:
        text += (f"Workbench-Audit-Head: {audit['session_head_hash']}\n"
                 f"Workbench-Audit-Count: {int(audit['session_event_count'])}\n")
    for key, value in (extra or {}).items():  # e.g. Workbench-Base-Tree (integrate.base.repair)
        text += f"{key}: {value}\n"
    return text


def audit_heads(root: Path) -> list[dict]:
    """Every Workbench commit of the project at `root`, oldest first: `commit`, `step`,
    `session`, and `head`/`count` (None for a commit made before heads were recorded)."""
    from workbench.safety.gitsafe import GitUnsafe, run_git

    if not (Path(root) / ".git").exists():
        raise GitUnsafe(f"{root}: not a git repository (no .git)")
    out = run_git(["log", "--reverse", "--format=%H%x1f%B%x1e", "--grep=^Workbench-Session: "],
                  root).stdout
    commits = []
    for record in out.split("\x1e"):
        sha, _, body = record.strip("\n").partition("\x1f")
        if not sha:
            continue
        fields = {}
        for line in body.splitlines():
            key, sep, value = line.partition(": ")
            if sep and key.startswith("Workbench-"):
                fields[key] = value.strip()
        if "Workbench-Session" not in fields:
            continue
        count = fields.get("Workbench-Audit-Count", "")
        commits.append({"commit": sha, "step": fields.get("Workbench-Step"),
                        "session": fields["Workbench-Session"],
                        "head": fields.get("Workbench-Audit-Head"),
                        "count": int(count) if count.isdigit() else None})
    return commits


def _tracked_files(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink():
                continue
            out.append(full.relative_to(root).as_posix())
    return out


def scan_for_secrets(root: Path) -> None:
    """Stop before a commit when the tree holds something that looks like a secret."""
    from workbench.safety.redact import scan_tree

    found = scan_tree(root)
    if found:
        f = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise SecretInTree(f"refusing to commit: {f.path}:{f.line} looks like a secret "
                           f"({f.kind}: {f.masked}){more}")


def commit_all(root: Path, subject: str, *, step: str, session_id: str,
               audit: dict | None = None, extra_trailers: dict | None = None) -> str:
    """Stage every file of the project and commit it; return the commit sha. `audit`
    (the session's `chain_manifest`) puts its audit head in the trailers."""
    import git

    scan_for_secrets(root)
    repo = _repo(root)
    ignored = set()
    files = _tracked_files(root)
    if files:
        try:
            ignored = set(repo.ignored(*files))
        except git.GitCommandError:
            ignored = set()
    to_add = [f for f in files if f not in ignored]
    repo.index.add(to_add)
    who = human()
    actor = git.Actor(who.name, who.email)
    message = f"{subject}\n\n{trailers(step, session_id, audit, extra_trailers)}"
    commit = repo.index.commit(message, author=actor, committer=actor, skip_hooks=True)
    from workbench.integrate import base

    try:
        if step in base.NEW_STEPS:  # what Workbench generated, kept on refs/workbench/base (evolve merges on it)
            base.record_commit(root, commit.hexsha, session_id, known=_base_of(repo, commit))
    finally:
        repo.close()
    return commit.hexsha


def _base_of(repo, commit):
    """What `base.record_commit` would read back from the commit, from the index just
    committed: the tree without the bookkeeping files (written in-process) and the texts
    of the manifest and the spec (None when absent)."""
    from git.index.fun import write_tree_from_cache

    from workbench.integrate import base

    entries = [e for e in sorted(repo.index.entries.values(), key=lambda e: (e.path, e.stage))
               if e.path not in base.BOOKKEEPING]
    tree_sha, _ = write_tree_from_cache(entries, repo.odb, slice(0, len(entries)))
    by_path = {e.path: e for e in repo.index.entries.values()}

    def text(path: str) -> bytes | None:
        e = by_path.get(path)
        return repo.odb.stream(e.binsha).read() if e is not None else None

    return base.Known(tree=tree_sha.hex(), manifest=text(".workbench/manifest.json"),
                      spec=text("docs/spec.md"))


def head_for_step(root: Path, step: str, session_id: str) -> str | None:
    """The HEAD commit when it is this session's commit for `step` (a crash after committing)."""
    import git

    try:
        repo = _repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError, ValueError):
        return None
    try:
        head = repo.head.commit
        sha, message = head.hexsha, head.message
    except ValueError:
        return None
    finally:
        repo.close()
    marks = (f"Workbench-Step: {step}\n", f"Workbench-Session: {session_id}\n")
    return sha if all(m in message for m in marks) else None


def log(root: Path) -> list[str]:
    repo = _repo(root)
    return [c.summary for c in repo.iter_commits()]
