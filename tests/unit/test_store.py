"""The store: sessions, steps, outputs, specs, approvals, runs; opening, migrating,
refusing bad files; two processes writing at once."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from workbench.errors import UsageError
from workbench.store import SCHEMA_VERSION, Store, StoreError
from workbench.store.schema import APPLICATION_ID, MIGRATIONS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "wb.db")
    yield s
    s.close()


def test_creates_parent_dirs_and_uses_wal(tmp_path):
    path = tmp_path / "a" / "b" / "workbench.db"
    with Store(path) as s:
        assert path.is_file()
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
        assert s.schema_version() == SCHEMA_VERSION
        assert s.conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


def test_session_roundtrip(store):
    sid = store.create_session("a csv tool", Path("/tmp/out"), template="python-cli", model="gpt")
    assert len(sid) == 32 and int(sid, 16) >= 0
    s = store.get_session(sid)
    assert s["request"] == "a csv tool" and s["out_dir"] == "/tmp/out"
    assert s["template"] == "python-cli" and s["model"] == "gpt"
    assert s["status"] == "new" and s["current_step"] is None
    assert set(s) == {"id", "request", "out_dir", "template", "model", "status", "created",
                      "updated", "current_step"}
    store.update_session(sid, status="running", current_step="spec")
    s2 = store.get_session(sid)
    assert (s2["status"], s2["current_step"]) == ("running", "spec")
    assert s2["updated"] >= s["updated"]
    with pytest.raises(ValueError):
        store.update_session(sid, bogus=1)
    assert store.get_session("nope") is None
    other = store.create_session("second", "/tmp/o2")
    assert [x["id"] for x in store.list_sessions()] == [other, sid]
    assert [x["id"] for x in store.list_sessions(limit=1)] == [other]
    assert store.find_sessions(sid[:6]) == [sid]


def test_steps_attempts_and_timestamps(store):
    sid = store.create_session("r", "/o")
    store.set_step(sid, "spec", "pending")
    assert store.get_steps(sid)["spec"] == {"status": "pending", "message": "", "attempts": 0,
                                            "started": None, "finished": None}
    store.set_step(sid, "spec", "running")
    st = store.get_steps(sid)["spec"]
    assert st["attempts"] == 1 and st["started"] and st["finished"] is None
    store.set_step(sid, "spec", "failed", "model timed out")
    st = store.get_steps(sid)["spec"]
    assert st["status"] == "failed" and st["message"] == "model timed out" and st["finished"]
    store.set_step(sid, "spec", "running")
    store.set_step(sid, "spec", "done", "drafted")
    st = store.get_steps(sid)["spec"]
    assert st["attempts"] == 2 and st["status"] == "done" and st["finished"] >= st["started"]
    assert [h["status"] for h in store.step_history(sid, "spec")] == [
        "pending", "running", "failed", "running", "done"]


def test_outputs_are_versioned_never_overwritten(store):
    sid = store.create_session("r", "/o")
    assert store.get_output(sid, "spec", "draft") is None
    assert store.put_output(sid, "spec", "draft", "one") == 1
    assert store.put_output(sid, "spec", "draft", "two") == 2
    assert store.put_output(sid, "spec", "notes", "n") == 1
    assert store.get_output(sid, "spec", "draft") == "two"
    assert store.get_output(sid, "spec", "draft", version=1) == "one"
    assert store.get_output(sid, "spec", "draft", version=3) is None
    assert [(o["kind"], o["version"]) for o in store.list_outputs(sid)] == [
        ("draft", 1), ("draft", 2), ("notes", 1)]


def test_spec_versions_and_approvals(store):
    sid = store.create_session("r", "/o")
    assert store.get_spec_version(sid) is None
    sha1 = hashlib.sha256(b"v1").hexdigest()
    assert store.add_spec_version(sid, "v1", sha1, "draft", "agent:gpt", model="gpt") == 1
    assert store.add_spec_version(sid, "v2", None, "edit", "human:ann") == 2
    latest = store.get_spec_version(sid)
    assert latest["version"] == 2 and latest["text"] == "v2"
    assert latest["sha256"] == hashlib.sha256(b"v2").hexdigest()
    first = store.get_spec_version(sid, 1)
    assert {k: first[k] for k in ("version", "text", "sha256", "source", "actor")} == {
        "version": 1, "text": "v1", "sha256": sha1, "source": "draft", "actor": "agent:gpt"}
    assert first["created"]
    assert [v["version"] for v in store.list_spec_versions(sid)] == [1, 2]
    assert store.get_approval(sid, "spec") is None
    store.add_approval(sid, "spec", sha1, "human:ann")
    store.add_approval(sid, "spec", latest["sha256"], "human:bob")
    a = store.get_approval(sid, "spec")
    assert a["sha256"] == latest["sha256"] and a["actor"] == "human:bob" and a["created"]
    assert store.get_approval(sid, "plan") is None


def test_model_calls_cost_unknown_is_null_and_runs_redacted(store):
    sid = store.create_session("r", "/o")
    store.record_model_call(sid, "spec", "gpt", 10, 20, None, 1.0, "ok")
    store.record_model_call(sid, "spec", "gpt", 10, 20, 0.5, 1.0, "error",
                            error="401 for key sk-ant-abcdefghijklmnopqrstuvwxyz0123")
    calls = store.list_model_calls(sid)
    assert calls[0]["cost"] is None
    assert calls[1]["cost"] == 0.5
    assert "abcdefghijklmnop" not in calls[1]["error"]
    store.record_run(sid, "monitor", "tests", ["pytest", "-q"], 0, 1.5,
                     "x" * 70_000 + " OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz", "bwrap")
    run = store.list_runs(sid, "monitor")[0]
    assert run["command"] == "pytest -q" and run["exit_code"] == 0
    assert len(run["output"]) <= 64_000 + 100
    assert "abcdefghijklmnopqrst" not in run["output"]


def test_threads_share_one_store(store):
    sid = store.create_session("r", "/o")

    def work(n):
        for i in range(100):
            store.audit(sid, f"agent:{n}", "spec", "draft", f"{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count_events() == 400
    assert store.verify_chain().ok


def test_batch_rolls_back_everything_on_error(store):
    sid = store.create_session("r", "/o")
    with pytest.raises(RuntimeError), store.batch():
        store.audit(sid, "human:a", "spec", "edit", "one")
        store.put_output(sid, "spec", "draft", "x")
        raise RuntimeError("boom")
    assert store.count_events() == 0
    assert store.get_output(sid, "spec", "draft") is None
    with store.batch():
        store.audit(sid, "human:a", "spec", "edit", "one")
        store.audit(sid, "human:a", "spec", "edit", "two")
    assert store.count_events() == 2 and store.verify_chain().ok


# ------------------------------------------------------------------ opening bad files

def _snapshot(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in path.parent.iterdir()}


@pytest.mark.parametrize("content", [
    b"this is not a database at all, just text\n" * 200,
    b"SQLite format 3\x00" + b"\xff" * 4000,
    bytes(range(256)) * 64,
])
def test_corrupt_file_is_one_clear_error_and_nothing_changes(tmp_path, content):
    path = tmp_path / "workbench.db"
    path.write_bytes(content)
    before = _snapshot(path)
    with pytest.raises(UsageError) as err:
        Store(path)
    assert str(path) in str(err.value)
    assert "not a Workbench database" in str(err.value)
    assert isinstance(err.value, StoreError) and err.value.exit_code == 2
    assert _snapshot(path) == before


def test_foreign_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.commit()
    conn.close()
    before = _snapshot(path)
    with pytest.raises(StoreError) as err:
        Store(path)
    assert str(path) in str(err.value) and "another program" in str(err.value)
    assert _snapshot(path) == before


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "wb.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as err:
        Store(path)
    assert "newer Workbench" in str(err.value) and str(path) in str(err.value)


def test_directory_path_is_refused(tmp_path):
    with pytest.raises(StoreError) as err:
        Store(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_empty_file_is_initialised(tmp_path):
    path = tmp_path / "wb.db"
    path.write_bytes(b"")
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION


def test_cli_reports_corrupt_db_on_one_line(tmp_path):
    (tmp_path / "workbench.db").write_bytes(b"garbage" * 1000)
    out = subprocess.run(
        [sys.executable, "-m", "workbench", "audit", "verify"],
        capture_output=True, text=True, check=False, cwd=REPO,
        env={"WORKBENCH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert str(tmp_path / "workbench.db") in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------ migrations

def test_migrates_a_version_1_database_keeping_its_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn, execute_plugins=False)
    MIGRATIONS[0](db)  # the schema as Workbench 0.1 wrote it
    conn.execute("PRAGMA user_version = 1")
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.close()
    # an old Workbench had written a session, a spec version and audit events
    with Store(tmp_path / "scratch.db") as scratch:  # compute a valid chain the old way
        sid = scratch.create_session("old request", "/old")
        scratch.audit(sid, "human:ann", "request", "request", "old event 1")
        scratch.audit(sid, "human:ann", "spec", "edit", "old event 2", payload={"diff": "-a\n+b"})
        events = scratch.conn.execute(
            "SELECT id, ts, session_id, actor, step, action, summary, payload, tokens, cost, "
            "prev_hash, hash FROM events ORDER BY id").fetchall()
        session = scratch.conn.execute(
            "SELECT id, request, out_dir, template, model, status, current_step, created, "
            "updated FROM sessions").fetchone()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", session)
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events)
    conn.execute("INSERT INTO spec_versions (session_id, version, text, sha256, source, actor, "
                 "created) VALUES (?, 1, 'old spec', ?, 'draft', 'agent:x', '2026-01-01')",
                 (sid, hashlib.sha256(b"old spec").hexdigest()))
    conn.commit()
    conn.close()

    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.get_session(sid)["request"] == "old request"
        assert s.get_spec_version(sid)["text"] == "old spec"
        assert s.get_spec_version(sid)["model"] is None
        assert s.count_events() == 2 and s.verify_chain().ok
        # new features work on the migrated database
        s.audit(sid, "human:ann", "spec", "edit", "new event")
        s.record_model_call(sid, "spec", "gpt", 1, 2, None, 0.1, "ok")
        s.set_step(sid, "spec", "running")
        s.add_approval(sid, "spec", hashlib.sha256(b"old spec").hexdigest(), "human:ann")
        from workbench.store.learning import knowledge_count

        assert knowledge_count(s) == 1
        assert s.verify_chain().checked == 3
    with Store(path) as s:  # reopening is a no-op
        assert s.count_events() == 3


# ------------------------------------------------------------------ two processes

_WRITER = textwrap.dedent("""
    import sys
    from workbench.store import Store
    path, name, n, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    s = Store(path)
    sid = s.create_session("proc " + name, "/tmp/" + name)
    for i in range(n):
        if batch and i % 50 == 0:
            s.audit_many([dict(session_id=sid, actor="agent:" + name, step="spec", action="draft",
                               summary=f"{name} {i}.{j}", payload={"i": i, "j": j})
                          for j in range(batch)])
        s.audit(sid, "agent:" + name, "spec", "draft", f"{name} {i}", payload={"i": i})
        if i % 100 == 0:
            s.put_output(sid, "spec", "draft", f"{name} {i}")
            s.set_step(sid, "spec", "running")
    s.close()
    print(sid)
""")


def test_two_processes_append_thousands_none_lost(tmp_path):
    path = tmp_path / "shared.db"
    Store(path).close()
    n = 2000
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), name, str(n), str(batch)],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, batch in (("alpha", 0), ("beta", 5))
    ]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_out, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert "locked" not in err
    with Store(path) as s:
        per_beta_batches = (n // 50) * 5
        assert s.count_events() == n + n + per_beta_batches
        for name, extra in (("alpha", 0), ("beta", per_beta_batches)):
            events = s.list_events(actor="agent:" + name, limit=10 ** 6)
            assert len(events) == n + extra
            singles = {e["summary"] for e in events if "." not in e["summary"]}
            assert singles == {f"{name} {i}" for i in range(n)}
        result = s.verify_chain()
        assert result.ok and result.checked == s.count_events()
        head = s._keys().head(s._db_id())  # the head outside the database kept up with both
        assert head["id"] == s.count_events() and head["hash"] == s.audit_head()
        ids = [r[0] for r in s.conn.execute("SELECT id FROM events ORDER BY id")]
        assert ids == list(range(1, len(ids) + 1))
        sid_alpha = results[0][0].strip()
        assert s.get_output(sid_alpha, "spec", "draft") == "alpha 1900"
        assert s.get_steps(sid_alpha)["spec"]["attempts"] == n // 100


def test_clock_injection(tmp_path):
    t0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    now = [t0]
    with Store(tmp_path / "c.db", clock=lambda: now[0]) as s:
        sid = s.create_session("r", "/o")
        s.set_step(sid, "spec", "running")
        now[0] = t0 + timedelta(seconds=90)
        s.set_step(sid, "spec", "done")
        st = s.get_steps(sid)["spec"]
        assert st["started"] == "2026-01-02T03:04:05.000000Z"
        assert st["finished"] == "2026-01-02T03:05:35.000000Z"


_OPENER = textwrap.dedent("""
    import sys
    from workbench.store import Store
    s = Store(sys.argv[1])
    sid = s.create_session("racer", "/r")
    for i in range(50):
        s.audit(sid, "agent:" + sys.argv[2], "spec", "draft", str(i))
    s.close()
""")


def test_processes_racing_to_create_a_new_database(tmp_path):
    path = tmp_path / "fresh" / "workbench.db"
    procs = [subprocess.Popen([sys.executable, "-c", _OPENER, str(path), str(k)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    with Store(path) as s:
        assert s.count_events() == 200 and s.verify_chain().ok
        assert len(s.list_sessions()) == 4
        assert s.schema_version() == SCHEMA_VERSION


def test_a_first_migration_committed_while_another_store_checks_the_file(tmp_path, monkeypatch):
    """The check that the file is ours reads one snapshot: when another process's first
    migration commits between its reads, it must not see that process's tables without
    its application id (CI once failed the racing test above on just that)."""
    from workbench.store import db as db_module

    path = tmp_path / "workbench.db"
    with sqlite3.connect(path) as raw:  # a racer has just created the file, in WAL mode
        raw.execute("PRAGMA journal_mode = WAL")
    raced: list[str] = []
    real_connect = sqlite3.connect

    class Racing(sqlite3.Connection):
        def execute(self, sql, *args):
            cursor = super().execute(sql, *args)
            if not raced:  # right after this store's first read, the other one migrates
                raced.append(sql)
                Store(path).close()
            return cursor

    monkeypatch.setattr(db_module.sqlite3, "connect",
                        lambda *a, **kw: real_connect(*a, factory=Racing, **kw))
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
    assert raced and "application_id" in raced[0]
