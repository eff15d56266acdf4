"""One writer of the database: only workbench/store/db.py executes SQL that writes, and the
modules that compute over the database (metrics, learning) read through the public reader
API (`Store.read`, `Store.read_dicts`), which SQLite itself keeps read-only. An AST check,
beside test_one_writer.py (files) and test_import_hygiene.py."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

import pytest

from tests.support.codegraph import modules

_WRITES = (r"\b(INSERT|REPLACE)\s+(OR\s+\w+\s+)?INTO\b|\bUPDATE\s+[\w\"]+\s+SET\b|\bDELETE\s+FROM\b"
           r"|\bCREATE\s+(TEMP\w*\s+|UNIQUE\s+|VIRTUAL\s+)?(TABLE|INDEX|VIEW|TRIGGER)\b"
           r"|\bDROP\s+(TABLE|INDEX|VIEW|TRIGGER)\b|\bALTER\s+TABLE\b|\bATTACH\s+DATABASE\b"
           r"|\bPRAGMA\s+\w+\s*=|\bVACUUM\b|\bREINDEX\b")
#: SQL that writes, in a string anywhere (the project writes SQL keywords in capitals)
WRITE_SQL = re.compile(_WRITES)
#: ... and in any case in what is handed to execute()
WRITE_SQL_ANY_CASE = re.compile(_WRITES, re.I)
EXECUTE = {"execute", "executemany", "executescript"}
#: sqlite-utils table methods that change a database (`db["t"].insert(...)`)
TABLE_WRITES = {"insert", "insert_all", "upsert", "upsert_all", "create", "create_index",
                "enable_fts", "add_column", "transform", "drop", "delete", "delete_where", "update"}
PRIVATE = {"_q", "_dicts", "_one", "_write", "_now", "_begin", "_insert_knowledge"}

#: What may write the database besides db.py, and why.
ALLOWED = {
    "workbench.store.db": "the one writer",
    "workbench.store.schema": "the migrations: table definitions that only db.py runs, inside "
                              "its own transaction, while it opens the database",
}


def _strings(node: ast.AST) -> Iterator[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value
        elif isinstance(sub, ast.JoinedStr):
            yield "".join(v.value for v in sub.values if isinstance(v, ast.Constant))


def db_writes(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Each statement that writes the database, or reaches into the store's privates."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and WRITE_SQL.search(node.value):
            yield node.lineno, f"write SQL {WRITE_SQL.search(node.value).group(0)!r}"
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE and not (
                isinstance(node.value, ast.Name) and node.value.id == "self"):
            yield node.lineno, f"the store's private {node.attr}"
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        f = node.func
        if f.attr in EXECUTE and f.attr == "executescript":
            yield node.lineno, "executescript"
        elif f.attr in EXECUTE and node.args and any(WRITE_SQL_ANY_CASE.search(t) for t in _strings(node.args[0])):
            yield node.lineno, f"{f.attr} of write SQL"
        elif f.attr in TABLE_WRITES and isinstance(f.value, ast.Subscript):
            yield node.lineno, f"sqlite-utils table.{f.attr}"


def test_only_the_store_writes_the_database():
    found = []
    for name, path in modules().items():
        if name in ALLOWED:
            continue
        for line, what in db_writes(ast.parse(path.read_text("utf-8"))):
            found.append(f"{path.name}:{line}: {what} ({name})")
    assert found == [], "the database written outside store/db.py:\n" + "\n".join(found)


def test_the_check_sees_what_it_forbids():
    code = ('store.conn.execute("INSERT INTO knowledge (text) VALUES (?)", (t,))\n'
            'with store._write():\n    pass\n'
            'db["events"].delete_where("id > 3")\n'
            'conn.execute(f"UPDATE steps SET status = {s!r}")\n'
            'conn.execute("PRAGMA journal_mode = delete")\n'
            'rows = store.read("SELECT count(*) FROM knowledge")\n'
            'conn.execute("PRAGMA quick_check")\n')
    whats = [w for _, w in db_writes(ast.parse(code))]
    assert sorted(w for w in whats if w.startswith("write SQL")) == [
        "write SQL 'INSERT INTO'", "write SQL 'PRAGMA journal_mode ='", "write SQL 'UPDATE steps SET'"]
    assert whats.count("execute of write SQL") == 3
    assert "the store's private _write" in whats and "sqlite-utils table.delete_where" in whats
    assert all(line <= 6 for line, _ in db_writes(ast.parse(code)))  # not the read, not quick_check


@pytest.mark.parametrize("sql", [
    "DELETE FROM events",
    "UPDATE sessions SET status = 'done'",
    "INSERT INTO knowledge (sha256, text, created) VALUES ('x', 'y', 'z')",
    "WITH t AS (SELECT 1) DELETE FROM steps",
    "CREATE TABLE evil (x)",
    "PRAGMA user_version = 99",
    "PRAGMA wal_checkpoint",
    "ATTACH DATABASE ':memory:' AS other",
])
def test_the_reader_api_refuses_any_write(tmp_path, sql):
    import sqlite3

    from workbench.store import Store

    with Store(tmp_path / "wb.db") as s:
        sid = s.create_session("r", tmp_path)
        s.audit(sid, "human:x", "request", "note", "one event")
        state = "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM sqlite_master), " \
                "(SELECT count(*) FROM steps), (SELECT group_concat(status) FROM sessions)"
        before = tuple(s.read(state)[0]), s.read("PRAGMA user_version")[0][0]
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            s.read(sql)
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            s.read_dicts(sql)
        assert (tuple(s.read(state)[0]), s.read("PRAGMA user_version")[0][0]) == before
        s.audit(sid, "human:x", "request", "note", "the store still writes")  # the authorizer is gone
        assert s.read_dicts("SELECT count(*) AS n FROM events") == [{"n": 2}]
