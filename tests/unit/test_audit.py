"""The audit chain: tampering is caught and named, truncation is caught against the
project's manifest, payloads are redacted, listing filters and pages, the CLI."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from workbench.errors import UsageError
from workbench.store import GENESIS, Store, compact_diff, parse_since
from workbench.store.audit import canonical_json, event_hash, line_edit_distance

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _private_key_dir(tmp_path, monkeypatch):
    """The audit key and heads live beside config.toml: here, a private WORKBENCH_HOME."""
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path))


@pytest.fixture
def chain(tmp_path):
    """A store with two sessions and 10 events; returns (store, path, sid_a, sid_b)."""
    path = tmp_path / "wb.db"
    s = Store(path)
    a = s.create_session("tool a", "/a")
    b = s.create_session("tool b", "/b")
    for i in range(10):
        sid = a if i % 2 == 0 else b
        s.audit(sid, "human:Ann <ann@example.com>" if i % 3 == 0 else "agent:gpt", "spec",
                "edit" if i % 3 == 0 else "draft", f"event {i + 1}", payload={"n": i + 1},
                tokens=i * 10 or None, cost=0.001 * i if i else None)
    yield s, path, a, b
    s.close()


COLS = "id, ts, session_id, actor, step, action, summary, payload, tokens, cost, prev_hash, hash"


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_intact_chain_verifies(chain):
    s, _, _, _ = chain
    r = s.verify_chain()
    assert r.ok and r.checked == 10 and r.first_bad_id is None and bool(r)
    assert s.audit_head() == s.get_event(10)["hash"]
    assert s.get_event(1)["prev_hash"] == GENESIS
    for i in range(2, 11):
        assert s.get_event(i)["prev_hash"] == s.get_event(i - 1)["hash"]


def test_empty_chain_verifies(tmp_path):
    with Store(tmp_path / "e.db") as s:
        assert s.verify_chain().ok and s.verify_chain().checked == 0
        assert s.audit_head() == GENESIS


def test_hash_is_sha256_of_canonical_json_with_previous_hash(chain):
    import hashlib

    s, *_ = chain
    e = s.get_event(3)
    payload = canonical_json(e["payload"])
    content = ["wb1", e["id"], e["ts"], e["session_id"], e["actor"], e["step"], e["action"],
               e["summary"], payload, e["tokens"], e["cost"], e["prev_hash"]]
    text = json.dumps(content, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(text.encode()).hexdigest() == e["hash"]
    assert event_hash(tuple(content[1:])) == e["hash"]


@pytest.mark.parametrize("column,value", [
    ("summary", "event 5 (quietly changed)"),
    ("actor", "human:Mallory"),
    ("payload", '{"n":555}'),
    ("ts", "2020-01-01T00:00:00.000000Z"),
    ("cost", 99.0),
    ("tokens", 1),
    ("action", "approve"),
])
def test_edited_event_is_named(chain, column, value):
    s, path, _, _ = chain
    _raw(path).execute(f"UPDATE events SET {column} = ? WHERE id = 5", (value,))
    r = s.verify_chain()
    assert not r.ok and r.first_bad_id == 5 and r.checked == 4
    assert "event 5" in r.reason and "edited" in r.reason


def test_edited_event_with_recomputed_own_hash_is_caught_by_its_mac(chain):
    s, path, _, _ = chain
    e = s.get_event(5)
    forged = (5, e["ts"], e["session_id"], e["actor"], e["step"], e["action"], "forged",
              canonical_json(e["payload"]), e["tokens"], e["cost"], e["prev_hash"])
    _raw(path).execute("UPDATE events SET summary = 'forged', hash = ? WHERE id = 5",
                       (event_hash(forged),))
    r = s.verify_chain()
    assert not r.ok and r.first_bad_id == 5 and "does not match its MAC" in r.reason


@pytest.mark.parametrize("victim,named", [(1, 2), (4, 5), (9, 10)])
def test_deleted_event_is_caught(chain, victim, named):
    s, path, _, _ = chain
    _raw(path).execute("DELETE FROM events WHERE id = ?", (victim,))
    r = s.verify_chain()
    assert not r.ok and r.first_bad_id == named
    assert "deleted" in r.reason


def test_deleted_and_renumbered_events_are_caught(chain):
    s, path, _, _ = chain
    raw = _raw(path)
    raw.execute("DELETE FROM events WHERE id = 4")
    raw.execute("UPDATE events SET id = id - 1 WHERE id > 4")
    r = s.verify_chain()
    assert not r.ok and r.first_bad_id == 4


def test_reordered_events_are_caught(chain):
    s, path, _, _ = chain
    raw = _raw(path)
    raw.execute("UPDATE events SET id = -6 WHERE id = 6")
    raw.execute("UPDATE events SET id = 6 WHERE id = 7")
    raw.execute("UPDATE events SET id = 7 WHERE id = -6")
    r = s.verify_chain()
    assert not r.ok and r.first_bad_id == 6
    assert "reordered" in r.reason


def test_reordered_content_is_caught(chain):
    """Swap everything but the ids (contents moved between rows)."""
    s, path, _, _ = chain
    raw = _raw(path)
    cols = "ts, session_id, actor, step, action, summary, payload, tokens, cost, prev_hash, hash"
    r3 = raw.execute(f"SELECT {cols} FROM events WHERE id = 3").fetchone()
    r4 = raw.execute(f"SELECT {cols} FROM events WHERE id = 4").fetchone()
    sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
    raw.execute(f"UPDATE events SET {sets} WHERE id = 3", r4)
    raw.execute(f"UPDATE events SET {sets} WHERE id = 4", r3)
    r = s.verify_chain()
    assert not r.ok and r.first_bad_id == 3


def test_appending_after_tampering_keeps_the_break_visible(chain):
    s, path, a, _ = chain
    _raw(path).execute("UPDATE events SET summary = 'x' WHERE id = 2")
    s.audit(a, "human:ann", "spec", "edit", "later")
    assert s.verify_chain().first_bad_id == 2


# ------------------------------------------------------------------ manifest

def _write_manifest(s: Store, sid: str, root: Path) -> Path:
    p = root / ".workbench" / "manifest.json"
    p.parent.mkdir(parents=True)
    p.write_text(json.dumps(s.chain_manifest(sid)))
    return p


def test_chain_manifest_fields(chain):
    s, _, a, b = chain
    m = s.chain_manifest(a)
    assert m == {"format": "workbench-audit-manifest/2", "session": a, "session_event_count": 5,
                 "session_head_hash": s.get_event(9)["hash"]}
    # nothing in it tells how much else happened in this Workbench
    for i in range(50):
        s.audit(b, "agent:gpt", "spec", "draft", f"other work {i}")
    s.audit(None, "workbench", None, "note", "no session")
    assert s.chain_manifest(a) == m


def test_format_1_manifests_are_still_verified(chain, tmp_path):
    s, path, a, _ = chain
    v1 = {"format": "workbench-audit-manifest/1", "session": a, "head_id": 10,
          "head_hash": s.get_event(10)["hash"], "event_count": 5}
    assert s.verify_against_manifest(v1).ok
    _raw(path).execute("DELETE FROM events WHERE id >= 9")
    r = s.verify_against_manifest(v1)
    assert not r.ok and "removed from its tail" in r.reason


def test_truncated_log_is_caught_against_manifest(chain, tmp_path):
    s, path, a, _ = chain
    manifest = _write_manifest(s, a, tmp_path / "project")
    assert s.verify_against_manifest(manifest).ok
    s.audit(a, "agent:infra", "git", "commit", "after the manifest")  # growth is fine
    assert s.verify_against_manifest(manifest).ok
    # truncate: remove the newest events, including the head recorded in the manifest
    _raw(path).execute("DELETE FROM events WHERE id >= 9")
    r = s.verify_chain()  # the head recorded beside the key sees the clean truncation
    assert not r.ok and r.first_bad_id == 9 and "removed from its tail" in r.reason
    (tmp_path / "audit-heads.json").unlink()  # ... and without it, the manifest does
    assert s.verify_chain().ok
    r = s.verify_against_manifest(manifest)
    assert not r.ok
    assert "is not in the log, which ends at event 8: events were removed" in r.reason
    assert str(manifest) in r.reason and r.first_bad_id == 9


def test_rewritten_log_is_caught_against_manifest(chain, tmp_path):
    """Someone rebuilds a valid chain without one event: the head hash differs."""
    s, path, a, _ = chain
    manifest = _write_manifest(s, a, tmp_path / "p")
    raw = _raw(path)
    rows = raw.execute("SELECT id, ts, session_id, actor, step, action, summary, payload, "
                       "tokens, cost FROM events WHERE id != 3 ORDER BY id").fetchall()
    raw.execute("DELETE FROM events")
    prev = GENESIS
    for i, r in enumerate(rows, 1):
        content = (i, *r[1:], prev)
        prev = event_hash(content)
        raw.execute(f"INSERT INTO events ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*content, prev))
    raw.execute(f"INSERT INTO events ({COLS}) VALUES (10, '2026', NULL, 'x', NULL, 'pad', '', "
                "NULL, NULL, NULL, ?, ?)",
                (prev, event_hash((10, "2026", None, "x", None, "pad", "", None, None, None,
                                   prev))))
    r = s.verify_chain()  # no MACs on the rebuilt rows: caught without any manifest
    assert not r.ok and r.first_bad_id == 1 and "MAC was removed" in r.reason
    assert not s.verify_against_manifest(manifest).ok
    # someone who could also remove the key and head files: the project's manifest still sees it
    (tmp_path / "audit.key").unlink()
    (tmp_path / "audit-heads.json").unlink()
    s.close()
    s = Store(path)
    assert s.verify_chain().ok
    r = s.verify_against_manifest(manifest)
    assert not r.ok and "rebuilt" in r.reason
    s.close()


def test_bad_manifest_is_a_usage_error(chain, tmp_path):
    s, *_ = chain
    bad = tmp_path / "m.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError) as err:
        s.verify_against_manifest(bad)
    assert str(bad) in str(err.value)
    bad.write_text('{"head_id": 3}')
    with pytest.raises(UsageError):
        s.verify_against_manifest(bad)


# ------------------------------------------------------------------ redaction, payloads

def test_secrets_are_redacted_before_storing(tmp_path):
    secret = "sk-ant-api03-" + "A1b2C3d4E5f6" * 4
    with Store(tmp_path / "r.db") as s:
        sid = s.create_session("r", "/o")
        e = s.audit(sid, "human:ann", "spec", "edit", f"pasted {secret} by mistake",
                    payload={"diff": f"+api_key = {secret}", "nested": [secret, 3, None],
                             secret: "as a key"})
        assert e["payload"]["nested"][1:] == [3, None]
        raw = s.conn.execute("SELECT summary, payload FROM events").fetchone()
        assert secret not in raw[0] and secret not in raw[1]
        assert s.verify_chain().ok
    assert secret.encode() not in (tmp_path / "r.db").read_bytes()


def test_payload_roundtrip_and_validation(tmp_path):
    with Store(tmp_path / "p.db") as s:
        e = s.audit(None, "workbench", None, "plan_applied", "applied",
                    payload={"files": ["a", "b"], "bytes": 10, "ok": True, "ratio": 0.5,
                             "unicode": "héllo {{ x }}"})
        got = s.get_event(e["id"])
        assert got["payload"] == {"files": ["a", "b"], "bytes": 10, "ok": True, "ratio": 0.5,
                                  "unicode": "héllo {{ x }}"}
        assert got["session_id"] is None and got["step"] is None
        with pytest.raises(ValueError):
            s.audit(None, "", "spec", "x", "no actor")
        with pytest.raises(ValueError):
            s.audit(None, "a", "spec", "x", "nan cost", cost=float("nan"))
        assert s.count_events() == 1


def test_compact_diff_and_line_distance():
    old = "a\nb\nc\nd\ne\n"
    new = "a\nb\nC\nd\ne\nf\n"
    diff = compact_diff(old, new)
    assert "-c" in diff and "+C" in diff and "+f" in diff and "\n a\n" not in diff
    assert line_edit_distance(old, new) == 2
    assert line_edit_distance("x\ny\n", "x\ny\n") == 0
    assert line_edit_distance("", "a\nb\n") == 2
    assert line_edit_distance("a\nb\nc\n", "b\nc\n") == 1
    big = compact_diff("\n".join(map(str, range(1000))), "", max_lines=20)
    assert len(big.splitlines()) == 21 and "more diff lines" in big


# ------------------------------------------------------------------ listing

def test_list_events_filters_and_pages(tmp_path):
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    now = [t0]
    with Store(tmp_path / "l.db", clock=lambda: now[0]) as s:
        a = s.create_session("a", "/a")
        b = s.create_session("b", "/b")
        for i in range(1, 31):
            now[0] = t0 + timedelta(minutes=i)
            s.audit(a if i <= 20 else b, "human:Ann <ann@x>" if i % 5 == 0 else "agent:gpt",
                    "approval" if i % 5 == 0 else "spec", "approve" if i % 5 == 0 else "draft",
                    f"e{i}", payload={"gate": "spec", "sha256": f"{i:064x}"} if i % 5 == 0 else None)
        page = s.list_events(limit=7)
        assert [e["id"] for e in page] == list(range(30, 23, -1))
        page2 = s.list_events(limit=7, before_id=page[-1]["id"])
        assert [e["id"] for e in page2] == list(range(23, 16, -1))
        # walk every page
        seen, before = [], None
        while True:
            p = s.list_events(limit=4, before_id=before)
            if not p:
                break
            seen += [e["id"] for e in p]
            before = p[-1]["id"]
        assert seen == list(range(30, 0, -1))
        assert {e["session_id"] for e in s.list_events(session=b, limit=100)} == {b}
        assert len(s.list_events(session=b, limit=100)) == 10
        assert len(s.list_events(session=a[:8], limit=100)) == 20
        approvals = s.list_events(action="approve", limit=100)
        assert [e["id"] for e in approvals] == [30, 25, 20, 15, 10, 5]
        assert approvals[0]["actor"] == "human:Ann <ann@x>"
        assert approvals[0]["payload"]["sha256"] == f"{30:064x}"
        assert len(s.list_events(actor="ann", limit=100)) == 6
        assert len(s.list_events(actor="ANN@X", limit=100)) == 6
        assert len(s.list_events(step="spec", limit=100)) == 24
        assert len(s.list_events(action=["approve", "draft"], limit=100)) == 30
        since = s.list_events(since="2026-03-01T12:25:00Z", limit=100)
        assert [e["id"] for e in since] == [30, 29, 28, 27, 26, 25]
        now[0] = t0 + timedelta(minutes=31)
        assert s.count_events(since=parse_since("3m", now=now[0])) == 3
        assert len(s.list_events(session=a, action="approve", since="2026-03-01T12:12Z",
                                 limit=100)) == 2
        exported = list(s.iter_events(chunk=7))
        assert [e["id"] for e in exported] == list(range(1, 31))


def test_actor_filter_folds_unicode_case(tmp_path):
    with Store(tmp_path / "u.db") as s:
        s.audit(None, "human:Ännä Ölund <a@b>", None, "x", "unicode actor")
        s.audit(None, "agent:GPT", None, "x", "ascii actor")
        assert len(s.list_events(actor="ännä ölund")) == 1
        assert len(s.list_events(actor="ÄNNÄ")) == 1
        assert [e["summary"] for e in s.list_events(actor="gpt")] == ["ascii actor"]


def test_parse_since():
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now=now) == "2026-03-01T10:00:00.000000Z"
    assert parse_since("7d", now=now) == "2026-02-22T12:00:00.000000Z"
    assert parse_since("2026-02-01") == "2026-02-01T00:00:00.000000Z"
    assert parse_since("2026-02-01T05:00:00+02:00") == "2026-02-01T03:00:00.000000Z"
    assert parse_since(None) is None
    with pytest.raises(UsageError):
        parse_since("last tuesday")


# ------------------------------------------------------------------ CLI

def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args], capture_output=True, text=True, check=False, cwd=REPO,
        env={"WORKBENCH_HOME": str(home), "PATH": "/usr/bin:/bin", "HOME": str(home),
             "COLUMNS": "200"},
        timeout=120,
    )


@pytest.fixture
def home(tmp_path):
    with Store(tmp_path / "workbench.db") as s:
        sid = s.create_session("csv tool", "/out")
        s.audit(sid, "human:Ann <ann@x>", "request", "request", "asked for a csv tool")
        s.audit(sid, "agent:gpt", "spec", "draft", "spec v1 drafted", tokens=1200, cost=0.02)
        s.audit(sid, "human:Ann <ann@x>", "approval", "approve", "approved spec version",
                payload={"gate": "spec", "sha256": "ab" * 32})
    return tmp_path


def test_cli_audit_list_and_approval_record(home):
    out = _cli(home, "audit", "list")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("3\t") and "request" in lines[2]
    out = _cli(home, "audit", "list", "--action", "approve")
    assert out.returncode == 0
    (line,) = out.stdout.strip().splitlines()
    assert "Ann <ann@x>" in line and "ab" * 32 in line and "approval" in line
    out = _cli(home, "audit", "list", "--actor", "agent", "--limit", "5")
    assert len(out.stdout.strip().splitlines()) == 1 and "$0.0200" in out.stdout
    out = _cli(home, "audit", "list", "--since", "not-a-time")
    assert out.returncode == 2 and "--since" in out.stderr and "Traceback" not in out.stderr


def test_cli_audit_verify_exit_codes(home, tmp_path):
    out = _cli(home, "audit", "verify")
    assert out.returncode == 0 and "3 event(s)" in out.stdout
    project = tmp_path / "proj"
    with Store(home / "workbench.db") as s:
        sid = s.list_sessions()[0]["id"]
        _write_manifest(s, sid, project)
    assert _cli(home, "audit", "verify", "--manifest", str(project)).returncode == 0
    _raw(home / "workbench.db").execute("DELETE FROM events WHERE id = 3")
    out = _cli(home, "audit", "verify")
    assert out.returncode == 1 and "removed from its tail" in out.stderr  # the head file ...
    out = _cli(home, "audit", "verify", "--manifest", str(project))
    assert out.returncode == 1 and "event 3" in out.stderr  # ... and caught with it
    _raw(home / "workbench.db").execute("UPDATE events SET summary = 'nothing' WHERE id = 1")
    out = _cli(home, "audit", "verify")
    assert out.returncode == 1
    assert "event 1" in out.stderr and "edited" in out.stderr


def test_cli_audit_export(home, tmp_path):
    out = _cli(home, "audit", "export", "--format", "jsonl")
    assert out.returncode == 0
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert rows[2]["payload"] == {"gate": "spec", "sha256": "ab" * 32}
    assert rows[1]["tokens"] == 1200 and rows[1]["hash"] and rows[1]["prev_hash"] == rows[0]["hash"]
    target = tmp_path / "audit.csv"
    out = _cli(home, "audit", "export", "--format", "csv", "--output", str(target),
               "--action", "approve")
    assert out.returncode == 0
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 1 and rows[0]["action"] == "approve" and rows[0]["id"] == "3"
    assert json.loads(rows[0]["payload"])["sha256"] == "ab" * 32
    # an exported row carries what an outside verifier needs to recompute its hash
    r = rows[0]
    content = (3, r["ts"], r["session_id"], r["actor"], r["step"], r["action"], r["summary"],
               r["payload"], None, None, r["prev_hash"])
    assert event_hash(content) == r["hash"]


# ------------------------------------------------------------------ keyed MACs, heads

def test_every_event_carries_the_hmac_of_its_hash(chain, tmp_path):
    import hashlib
    import hmac

    s, path, _, _ = chain
    key = bytes.fromhex((tmp_path / "audit.key").read_text().strip())
    for event_id, h, mac in _raw(path).execute("SELECT id, hash, mac FROM events"):
        assert mac == hmac.new(key, b"wbmac1:" + h.encode(), hashlib.sha256).hexdigest(), event_id
    r = s.verify_chain()
    assert r.ok and r.keyed == 10 and r.unkeyed == 0


def test_heads_only_move_forward(tmp_path):
    from workbench.store.audit import Keyring

    k = Keyring(tmp_path)
    k.load(create=True)
    k.record_head("/db", 1, 5, "a" * 64)
    k.record_head("/db", 1, 3, "b" * 64)  # an older writer finishing late
    assert k.head("/db")["id"] == 5 and k.head("/db")["hash"] == "a" * 64
    k.record_head("/db", 6, 9, "c" * 64)
    assert k.head("/db") | {"mac": ""} == {"id": 9, "hash": "c" * 64, "keyed_since": 1, "mac": ""}
    k.close()


def _old_heads_file(k, heads: dict) -> bytes:
    """The head file as the previous version wrote it: compact JSON, keys sorted."""
    out = {}
    for db, (last, h, since) in heads.items():
        entry = {"id": last, "hash": h, "keyed_since": since}
        entry["mac"] = k._head_mac(db, entry)
        out[db] = entry
    return json.dumps(out, sort_keys=True, separators=(",", ":")).encode()


def test_a_head_file_of_the_previous_version_still_verifies_and_moves_on(chain, tmp_path):
    s, path, a, _ = chain
    keys, db = s._keys(), s._db_id()
    heads = tmp_path / "audit-heads.json"
    other = str(tmp_path / "other" / "w.db")
    (tmp_path / "other").mkdir()
    old = _old_heads_file(keys, {db: (10, s.get_event(10)["hash"], 1),
                                 other: (7, "b" * 64, 2)})
    heads.write_bytes(old)
    s.close()
    with Store(path) as s2:  # a new process: reads the old format ...
        assert s2.verify_chain().ok
        s2.audit(a, "agent:gpt", "spec", "draft", "after the upgrade")
        s2.audit(a, "agent:gpt", "spec", "draft", "again")  # ... its second append is in place
        assert len(heads.read_bytes()) >= len(old)
        assert '"id":12 ' in heads.read_text()  # rewritten as fixed-width records
        data = json.loads(heads.read_bytes())  # still JSON, as the previous version reads it
        assert {k: (v["id"], v["keyed_since"]) for k, v in data.items()} == {
            db: (12, 1), other: (7, 2)}
        assert data[other]["mac"] == json.loads(old)[other]["mac"]
        assert s2.verify_chain().ok
        raw = _raw(path)
        raw.execute("DELETE FROM events WHERE id = 12")  # a dropped tail is still caught
        raw.close()
        r = s2.verify_chain()
        assert not r.ok and r.first_bad_id == 12 and "removed from its tail" in r.reason


def test_a_head_record_moved_by_another_writer_is_found_again(tmp_path):
    """Two keyrings (two processes) share the head file; each rewrites its own record in
    place until the other moves it (a new database sorted before it)."""
    from workbench.store.audit import Keyring

    k1, k2 = Keyring(tmp_path), Keyring(tmp_path)
    k1.load(create=True)
    k2.load(create=True)
    dbs = [str(tmp_path / n) for n in ("b.db", "a.db", "c.db")]
    k1.record_head(dbs[0], 1, 1, "1" * 64)
    k1.record_head(dbs[0], 1, 2, "2" * 64)  # in place
    k2.record_head(dbs[1], 1, 5, "5" * 64)  # sorted first: moves dbs[0]'s record
    k1.record_head(dbs[0], 1, 3, "3" * 64)
    k2.record_head(dbs[0], 1, 4, "4" * 64)  # another writer of the same database
    k1.record_head(dbs[0], 1, 3, "9" * 64)  # late, and older: not recorded
    k2.record_head(dbs[2], 4, 6, "6" * 64)
    k1.record_head(dbs[0], 1, 7, "7" * 64)
    assert [(k1.head(d)["id"], k1.head(d)["hash"][0], k1.head(d)["keyed_since"])
            for d in dbs] == [(7, "7", 1), (5, "5", 1), (6, "6", 4)]
    text = (tmp_path / "audit-heads.json").read_text()
    assert json.loads(text) == json.loads(text.rstrip())  # padding only
    (tmp_path / "audit-heads.json").write_text(text.replace('"id":7 ', '"id":8 '))
    with pytest.raises(UsageError, match="does not match its MAC"):
        k2.head(dbs[0])  # an edit of a record in place is caught
    k1.close()
    k2.close()


def test_an_in_memory_log_says_it_proves_only_the_chain():
    with Store(":memory:") as s:
        s.audit(None, "workbench", None, "note", "x")
        r = s.verify_chain()
        assert r.ok and r.keyed == 0 and "only the chain was checked" in r.notes[0]


def test_commit_trailers_carry_the_session_head(chain):
    from workbench.integrate.git import trailers

    s, _, a, _ = chain
    text = trailers("git", a, s.chain_manifest(a))
    assert f"Workbench-Audit-Head: {s.get_event(9)['hash']}\n" in text
    assert "Workbench-Audit-Count: 5\n" in text
    assert "Workbench-Audit" not in trailers("git", a)
