"""Audit tampering by someone who can write the database but not the key file.

Each attack rewrites the SQLite file directly (as any local process could) and must
make `workbench audit verify` exit non-zero, naming the first bad entry. On the chain
without a key, every one of these passed as "intact"."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.store import GENESIS, Store
from workbench.store.audit import event_hash

from .conftest import ROOT, clean_env

COLS = "id, ts, session_id, actor, step, action, summary, payload, tokens, cost, prev_hash"


def _verify(home: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "workbench", "audit", "verify", *extra],
                          capture_output=True, text=True, env=clean_env(home), cwd=ROOT,
                          timeout=120, check=False)


@pytest.fixture
def log(wb_home, monkeypatch):
    """A log of 12 events over two sessions, written with the key in wb_home."""
    monkeypatch.setenv("WORKBENCH_HOME", str(wb_home))
    with Store(wb_home / "workbench.db") as s:
        a = s.create_session("tool a", "/a")
        b = s.create_session("tool b", "/b")
        for i in range(12):
            s.audit(a if i % 3 else b, "agent:gpt" if i % 2 else "human:ann", "spec", "draft",
                    f"event {i + 1}", payload={"n": i + 1})
    return wb_home, a, b


def _rechain(db: Path, *, edit=None, drop=(), mac="keep") -> None:
    """Rewrite the log as a forger would: change or drop events, renumber, and recompute
    every hash so that the chain is valid again. `mac`: keep the old MACs, strip them
    (NULL), or `forge` them (HMAC with a guessed key)."""
    import hashlib
    import hmac

    raw = sqlite3.connect(db, isolation_level=None)
    rows = [list(r) for r in raw.execute(f"SELECT {COLS}, hash, mac FROM events ORDER BY id")]
    rows = [r for r in rows if r[0] not in drop]
    raw.execute("DELETE FROM events")
    prev = GENESIS
    changed = False
    for n, r in enumerate(rows, 1):
        if edit and r[0] in edit:
            r[6] = edit[r[0]]
        content = (n, *r[1:10], prev)
        prev = event_hash(content)
        changed = changed or prev != r[11]
        tag = r[12] if not changed else {  # events before the first change keep theirs
            "keep": r[12], "strip": None,
            "forge": hmac.new(b"guess", b"wbmac1:" + prev.encode(), hashlib.sha256).hexdigest(),
        }[mac]
        raw.execute(f"INSERT INTO events ({COLS}, hash, mac) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*content, prev, tag))
    raw.close()


def _assert_broken(out: subprocess.CompletedProcess, event: int | None, *words: str) -> None:
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    if event is not None:
        assert f"BROKEN at event {event}:" in out.stderr, out.stderr
    for w in words:
        assert w in out.stderr, out.stderr


def test_an_intact_log_verifies_and_says_what_it_cannot_prove(log):
    home, _, _ = log
    out = _verify(home)
    assert out.returncode == 0, out.stderr
    assert "12 event(s) verified (12 keyed, 0 unkeyed)" in out.stdout
    assert "cannot prove" in out.stdout and "whoever can read the key" in out.stdout
    key = home / "audit.key"
    assert (key.stat().st_mode & 0o777) == 0o600
    assert len(key.read_text().strip()) == 64


@pytest.mark.parametrize("mac", ["keep", "strip", "forge"])
def test_a_forged_event_with_a_recomputed_chain_is_caught(log, mac):
    home, _, _ = log
    _rechain(home / "workbench.db", edit={5: "approved by nobody"}, mac=mac)
    _assert_broken(_verify(home), 5, "MAC")


@pytest.mark.parametrize("mac", ["keep", "strip", "forge"])
def test_a_rewritten_chain_without_an_event_is_caught(log, mac):
    home, _, _ = log
    _rechain(home / "workbench.db", drop={3}, mac=mac)
    _assert_broken(_verify(home), 3, "MAC")


def test_stripping_every_mac_after_a_rewrite_is_caught(log):
    home, _, _ = log
    _rechain(home / "workbench.db", edit={1: "x"}, mac="strip")
    _assert_broken(_verify(home), 1, "MAC was removed")


def test_a_dropped_tail_is_caught_by_the_head_outside_the_database(log):
    home, _, _ = log
    raw = sqlite3.connect(home / "workbench.db", isolation_level=None)
    raw.execute("DELETE FROM events WHERE id > 9")
    raw.close()
    _assert_broken(_verify(home), 10, "removed from its tail", str(home / "audit-heads.json"))


def test_a_replaced_database_is_caught(log):
    home, _, _ = log
    for p in home.glob("workbench.db*"):
        p.unlink()
    with Store(home / "workbench.db") as s:  # a fresh, valid, keyed log of 2 events
        sid = s.create_session("innocent", "/i")
        s.audit(sid, "human:ann", "request", "request", "nothing to see")
        s.audit(sid, "human:ann", "spec", "edit", "nothing to see")
    _assert_broken(_verify(home), 3, "removed from its tail")


def test_a_database_rolled_back_to_an_older_copy_is_caught(log):
    """Every event of the older copy is genuine (valid MACs): only the head kept outside
    the database, moved forward at each commit, shows what is missing."""
    import shutil

    home, a, _ = log
    db = home / "workbench.db"
    with Store(db) as s:
        s.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copy(db, home / "old.db")
        for i in range(3):
            s.audit(a, "agent:gpt", "spec", "draft", f"later {i}")
    for p in home.glob("workbench.db*"):
        p.unlink()
    shutil.copy(home / "old.db", db)
    _assert_broken(_verify(home), 13, "removed from its tail", str(home / "audit-heads.json"))


def test_an_edited_head_file_is_caught(log):
    home, _, _ = log
    heads = home / "audit-heads.json"
    data = json.loads(heads.read_text())
    (entry,) = data.values()
    entry["id"] = 9  # pretend the log was shorter, to hide a truncation
    heads.write_text(json.dumps(data))
    _assert_broken(_verify(home), None, "does not match its MAC: the head file was edited")


def test_a_dropped_tail_is_caught_by_a_projects_commit_trailers(log, tmp_path, monkeypatch):
    """Even with the head file gone, each Workbench commit carries the session's head."""
    from workbench.integrate import git

    home, a, _ = log
    project = tmp_path / "proj"
    project.mkdir()
    (project / "README.md").write_text("hi\n")
    git.init(project)
    with Store(home / "workbench.db") as s:
        sha = git.commit_all(project, "Scaffold", step="git", session_id=a,
                             audit=s.chain_manifest(a))
        head = s.chain_manifest(a)
        s.audit(a, "agent:infra", "git", "commit", f"{sha[:12]} Scaffold")
    message = subprocess.run(["git", "log", "-1", "--format=%B"], cwd=project, text=True,
                             capture_output=True, check=True).stdout
    assert f"Workbench-Audit-Head: {head['session_head_hash']}\n" in message
    assert f"Workbench-Audit-Count: {head['session_event_count']}\n" in message
    ok = _verify(home, "--project", str(project))
    assert ok.returncode == 0 and "matches 1 project(s)" in ok.stdout, ok.stderr
    assert "whoever can rewrite that project's history" in ok.stdout
    # the attacker can also write the config directory's head file, not the project
    (home / "audit-heads.json").unlink()
    raw = sqlite3.connect(home / "workbench.db", isolation_level=None)
    raw.execute("DELETE FROM events WHERE id >= 12")
    raw.close()
    assert _verify(home).returncode == 0  # nothing left outside the database says otherwise ...
    out = _verify(home, "--project", str(project))  # ... but the project's commit does
    _assert_broken(out, None, f"commit {sha[:12]} of {project}", "is not in the log")


def test_without_the_key_file_verify_says_a_recomputed_chain_is_undetectable(log):
    home, _, _ = log
    (home / "audit.key").unlink()
    (home / "audit-heads.json").unlink()
    raw = sqlite3.connect(home / "workbench.db", isolation_level=None)
    raw.execute("UPDATE events SET mac = NULL")  # every MAC, or the gap would show
    raw.close()
    _rechain(home / "workbench.db", edit={5: "forged"})
    out = _verify(home)
    assert out.returncode == 0
    assert "without the key file, a rewrite with a recomputed chain is undetectable" in out.stdout


@pytest.mark.parametrize("attack", ["group-readable", "world-writable", "symlink", "dangling"])
def test_a_key_file_that_others_could_read_or_swap_is_refused(log, tmp_path, attack):
    home, _, _ = log
    key = home / "audit.key"
    if attack == "group-readable":
        key.chmod(0o640)
    elif attack == "world-writable":
        key.chmod(0o602)
    else:
        elsewhere = tmp_path / "attacker.key"
        os.rename(key, elsewhere)
        if attack == "dangling":
            elsewhere.unlink()
        key.symlink_to(elsewhere)
    out = _verify(home)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert str(key) in out.stderr
    assert ("chmod 600" in out.stderr) if "able" in attack else ("symlink" in out.stderr)


def test_an_old_unkeyed_log_is_migrated_and_said_to_be_unkeyed(wb_home, monkeypatch, tmp_path):
    """Events from before the MAC keep verifying, as "unkeyed", with a plain note; events
    after it are keyed, and their MACs cover the old chain too."""
    monkeypatch.setenv("WORKBENCH_HOME", str(wb_home))
    db = wb_home / "workbench.db"
    with Store(db) as s:
        sid = s.create_session("old", "/o")
        for i in range(3):
            s.audit(sid, "human:ann", "spec", "edit", f"old {i}")
    raw = sqlite3.connect(db, isolation_level=None)  # as an older Workbench left it
    raw.execute("UPDATE events SET mac = NULL")
    raw.close()
    (wb_home / "audit-heads.json").unlink()
    out = _verify(wb_home)
    assert out.returncode == 0 and "(0 keyed, 3 unkeyed)" in out.stdout
    assert "written before the MAC was introduced" in out.stdout
    with Store(db) as s:
        s.audit(sid, "human:ann", "spec", "edit", "new")
    out = _verify(wb_home)
    assert out.returncode == 0 and "(1 keyed, 3 unkeyed)" in out.stdout, out.stderr
    assert "covered only through event 4's MAC" in out.stdout
    _rechain(db, edit={2: "rewritten old event"}, mac="keep")  # rewriting the old part
    _assert_broken(_verify(wb_home), 4, "MAC")


def test_two_processes_making_the_key_at_once_agree_on_one(tmp_path):
    code = ("import sys; from workbench.store import Store\n"
            "s = Store(sys.argv[1]); sid = s.create_session('r', '/r')\n"
            "[s.audit(sid, 'agent:x', 'spec', 'draft', str(i)) for i in range(30)]\n"
            "s.close()\n")
    home = tmp_path / "h"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(home / f"db{k}" / "w.db")],
                              env=clean_env(home), cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for k in range(4)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    assert [p.name for p in home.iterdir() if p.name.startswith(".audit.key")] == []
    heads = json.loads((home / "audit-heads.json").read_text())
    assert len(heads) == 4 and all(h["id"] == 30 for h in heads.values())
    for k in range(4):
        out = _verify(home, "--db", str(home / f"db{k}" / "w.db"))
        assert out.returncode == 0 and "(30 keyed, 0 unkeyed)" in out.stdout, out.stderr
