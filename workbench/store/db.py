"""`Store`: the only code that writes the Workbench SQLite database.

* WAL journal, a busy timeout, and every write inside `BEGIN IMMEDIATE`, retried
  while another process holds the write lock: two Workbench processes on one
  database lose nothing and never surface "database is locked".
* Schema version in `PRAGMA user_version`, the file marked as ours with
  `PRAGMA application_id`; migrations (schema.py) bring an older database up to
  date. A corrupt, foreign or newer file raises `StoreError` (a UsageError) naming
  the path, before anything in it is changed.
* The audit chain (audit.py): hash-chained, redacted events; `verify_chain`,
  `chain_manifest`, `verify_against_manifest`.

Reads never take the write lock. One `Store` may be shared between threads (a
lock serialises its connection). The store never imports textual, rich or litellm.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from hashlib import sha256 as _sha256
from pathlib import Path
from typing import Any, Self

import sqlite_utils

from workbench.errors import UsageError, WorkbenchError
from workbench.store import audit as _audit
from workbench.store.audit import GENESIS, VerifyResult, event_hash
from workbench.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION
from workbench.store.timeutil import iso, parse_ts  # noqa: F401 - parse_ts re-exported

SESSION_FIELDS = ("request", "out_dir", "template", "model", "status", "current_step")
_EVENT_COLS = (
    "id, ts, session_id, actor, step, action, summary, payload, tokens, cost, prev_hash, hash"
)
_EVENT_KEYS = tuple(c.strip() for c in _EVENT_COLS.split(","))
_INSERT_EVENT = (f"INSERT INTO events ({_EVENT_COLS}, mac) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
MAX_RUN_OUTPUT = 64_000
MAX_SUMMARY = 4_000
MANIFEST_FORMAT = "workbench-audit-manifest/2"
# The canonical JSON of an event up to and including `tokens` and the comma after it,
# assembled by SQLite (see verify_chain).
_FAST_PREFIX = (
    "'[\"wb1\",' || id || ',' || json_quote(ts) || ',' || json_quote(session_id) || ',' || "
    "json_quote(actor) || ',' || json_quote(step) || ',' || json_quote(action) || ',' || "
    "json_quote(summary) || ',' || json_quote(payload) || ',' || json_quote(tokens) || ','"
)


class StoreError(UsageError):
    """The database file cannot be used (corrupt, foreign, newer, unreadable)."""


class StoreDamaged(WorkbenchError):
    """The database is damaged (`PRAGMA quick_check` fails, or SQLite says it is
    malformed): one line naming the file and how to recover, exit 1."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(
            f"database {path} is damaged: {problem} (fix: move it away and start afresh, or "
            f"recover its rows with `sqlite3 {path} .recover | sqlite3 recovered.db`)", 1)


# `PRAGMA quick_check` runs at every open of a database up to this size (it costs
# ~80 ms at 100 MB); `workbench audit verify` always runs the full integrity_check.
QUICK_CHECK_AT_OPEN_BYTES = 256 * 1024 * 1024
_last_path: str | None = None  # the database most recently opened (for describe_db_error)


def _read_only_reason(path: Path) -> str | None:
    """Why the database (or the directory holding it, where SQLite writes its WAL and
    shared-memory files) cannot be written, or None."""
    target = path.parent
    try:
        if os.statvfs(target).f_flag & os.ST_RDONLY:
            return f"{target} is on a read-only file system"
    except OSError:
        return None
    if not os.access(target, os.W_OK | os.X_OK):
        return f"the directory {target} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"the file {path} is not writable"
    return None


def describe_db_error(exc: sqlite3.DatabaseError, path: str | os.PathLike | None = None) -> WorkbenchError:
    """A one-line error for a SQLite failure that reached the command line."""
    where = Path(path or _last_path or "workbench.db")
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    reason = _read_only_reason(where) if str(where) != ":memory:" else None
    if reason or "readonly" in text.replace("-", "").replace(" ", "").lower():
        return StoreError(f"database {where} is read-only ({reason or text}); nothing was changed "
                          "(fix: make it writable, or set WORKBENCH_HOME to a writable directory)")
    if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
        return StoreBusy(f"database {where} is busy ({text}); another Workbench process holds it")
    return StoreDamaged(where, text)


class StoreBusy(WorkbenchError):
    """Another process held the write lock for longer than we are willing to wait."""


_iso = iso  # the time helpers live in store/timeutil.py (parse_ts is re-exported here)


_REL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str | datetime | None, now: datetime | None = None) -> str | None:
    """`since` filter -> stored timestamp form. Accepts a datetime, an ISO date or
    time (`2026-11-24`, `2026-11-24T05:00`, `...Z`), or a relative age (`30m`, `2h`,
    `7d`, `1w`). Raises UsageError for anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return _iso(value)
    m = _REL.match(value)
    if m:
        now = now or datetime.now(UTC)
        delta = timedelta(**{_UNITS[m.group(2).lower()]: float(m.group(1))})
        return _iso(now - delta)
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(
            f"--since {value!r}: expected an ISO date/time (2026-11-24, 2026-11-24T05:00Z) "
            "or an age such as 30m, 2h, 7d"
        ) from None
    return _iso(dt)


class Store:
    """Open (creating and migrating) the database at `path`."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        clock: Callable[[], datetime] | None = None,
        busy_timeout: float = 30.0,
        max_wait: float = 600.0,
    ):
        self.path = Path(path)
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._max_wait = max_wait
        self._lock = threading.RLock()
        self._depth = 0
        self._closed = False
        memory = str(path) == ":memory:"
        if not memory:
            if self.path.exists() and not self.path.is_file():
                raise StoreError(f"{self.path}: is not a file (expected a Workbench database)")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot create its directory: {exc}") from None
        try:
            self.conn = sqlite3.connect(
                str(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the database: {exc}") from None
        try:
            self._check_file()
            self._configure()
            self.db = sqlite_utils.Database(self.conn, execute_plugins=False)
            self._migrate()
            if not memory and self.path.stat().st_size <= QUICK_CHECK_AT_OPEN_BYTES:
                self.check_integrity()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise describe_db_error(exc, self.path) from None
        except BaseException:
            self.conn.close()
            raise
        global _last_path
        if not memory:
            _last_path = str(self.path)

    # ------------------------------------------------------------------ opening
    def _check_file(self) -> None:
        """Refuse a file that is not ours, before changing anything in it."""
        try:
            # One statement, so one snapshot: read one at a time, another process's first
            # migration could commit in between (no id yet, then its tables: "another
            # program's file").
            app_id, version, tables = self.conn.execute(
                "SELECT (SELECT application_id FROM pragma_application_id),"
                " (SELECT user_version FROM pragma_user_version),"
                " (SELECT count(*) FROM sqlite_master WHERE type = 'table')"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            if str(self.path) != ":memory:" and _read_only_reason(self.path):
                raise describe_db_error(exc, self.path) from None
            raise StoreError(
                f"{self.path}: not a Workbench database (corrupt or not SQLite: {exc}); "
                "move it away or set WORKBENCH_HOME to another directory"
            ) from None
        if version < 0:
            raise StoreError(
                f"{self.path}: schema version {version} is not one Workbench ever wrote (the file "
                "is damaged or was changed by hand); nothing was changed - move it away or set "
                "WORKBENCH_HOME to another directory"
            )
        if app_id == 0 and not tables and version == 0:
            return  # a new, empty database
        if app_id != APPLICATION_ID:
            raise StoreError(
                f"{self.path}: not a Workbench database (a SQLite file of another program); "
                "nothing was changed - move it away or set WORKBENCH_HOME to another directory"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: written by a newer Workbench (schema version {version}, this "
                f"version knows up to {SCHEMA_VERSION}); upgrade Workbench to open it"
            )

    def _configure(self) -> None:
        self.conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        deadline = time.monotonic() + self._max_wait
        while True:
            try:
                mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                break
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise StoreError(f"{self.path}: cannot open the database: {exc}") from None
                time.sleep(0.05)
        if str(self.path) != ":memory:" and mode.lower() != "wal":  # pragma: no cover
            raise StoreError(f"{self.path}: cannot switch the database to WAL mode ({mode})")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.create_function("wb_casefold", 1, _casefold, deterministic=True)
        self.conn.execute("PRAGMA foreign_keys = OFF")

    def _migrate(self) -> None:
        if self.schema_version() == SCHEMA_VERSION:
            return
        with self._write():
            current = self.schema_version()  # another process may have migrated meanwhile
            if current > SCHEMA_VERSION:  # pragma: no cover - raced by a newer Workbench
                raise StoreError(f"{self.path}: written by a newer Workbench (schema {current})")
            for number in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[number - 1](self.db)
                self.conn.execute(f"PRAGMA user_version = {number}")
            self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def integrity_problems(self, full: bool = False) -> list[str]:
        """What `PRAGMA quick_check` (or, with `full`, `integrity_check`, which also
        compares every index with its table) finds wrong; [] when the file is sound."""
        pragma = "integrity_check" if full else "quick_check"
        with self._lock:
            try:
                rows = self.conn.execute(f"PRAGMA {pragma}(20)").fetchall()
            except sqlite3.DatabaseError as exc:
                return [str(exc)]
        found = []
        for (text,) in rows:
            found += [ln.strip() for ln in str(text).splitlines()
                      if ln.strip() and ln.strip() not in ("ok", "*** in database main ***")]
        return found

    def check_integrity(self, full: bool = False) -> None:
        """Raise `StoreDamaged` (exit 1) naming the first problem, if any."""
        problems = self.integrity_problems(full)
        if problems:
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise StoreDamaged(self.path, problems[0][:200] + more)

    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self.conn.close()
                keys = self.__dict__.get("_keyring")
                if keys:
                    keys.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def _write(self) -> Iterator[None]:
        """One `BEGIN IMMEDIATE` transaction (nested uses join the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._begin()
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self._pending_head = None
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self._retry_busy(lambda: self.conn.execute("COMMIT"), "commit")
            except BaseException:
                self._pending_head = None
                raise
            if self._pending_head is not None:
                self._record_head()

    def batch(self):
        """Group several writes into one transaction: `with store.batch(): ...`.

        Everything inside commits together or not at all, and appends are much
        faster than one transaction each."""
        return self._write()

    def _begin(self) -> None:
        self._retry_busy(lambda: self.conn.execute("BEGIN IMMEDIATE"), "begin a write")

    def _retry_busy(self, op: Callable[[], Any], what: str) -> None:
        deadline = time.monotonic() + self._max_wait
        delay = 0.005
        while True:
            try:
                op()
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                if time.monotonic() > deadline:
                    if what == "commit" and self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise StoreBusy(
                        f"{self.path}: another Workbench process kept the database busy for "
                        f"more than {self._max_wait:.0f}s; could not {what}"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def _now(self) -> str:
        if self._clock is None:
            return _iso(datetime.now(UTC))
        value = self._clock()
        if isinstance(value, (int, float)):
            value = datetime.fromtimestamp(value, UTC)
        return _iso(value)

    def _q(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, tuple(params)).fetchall()

    def _dicts(self, sql: str, params: Iterable[Any] = ()) -> list[dict]:
        with self._lock:
            cur = self.conn.execute(sql, tuple(params))
            keys = [d[0] for d in cur.description]
            return [dict(zip(keys, row)) for row in cur.fetchall()]

    def _one(self, sql: str, params: Iterable[Any] = ()) -> dict | None:
        rows = self._dicts(sql, params)
        return rows[0] if rows else None

    # ------------------------------------------------------------------ the reader API
    def read(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """One read-only statement's rows, for the modules that compute over the database
        (metrics, learning): SQLite itself refuses any statement that would write
        (an authorizer allows only reads for its duration), so only this class writes."""
        with self._lock:
            self.conn.set_authorizer(_read_only)
            try:
                return self.conn.execute(sql, tuple(params)).fetchall()
            finally:
                self.conn.set_authorizer(None)

    def read_dicts(self, sql: str, params: Iterable[Any] = ()) -> list[dict]:
        """`read`, each row as a dict of its column names."""
        with self._lock:
            self.conn.set_authorizer(_read_only)
            try:
                cur = self.conn.execute(sql, tuple(params))
                keys = [d[0] for d in cur.description]
                return [dict(zip(keys, row)) for row in cur.fetchall()]
            finally:
                self.conn.set_authorizer(None)

    # ------------------------------------------------------------------ sessions
    def create_session(
        self, request: str, out_dir: str | os.PathLike, template: str | None = None,
        model: str | None = None,
    ) -> str:
        sid = uuid.uuid4().hex
        with self._write():
            now = self._now()
            self.conn.execute(
                "INSERT INTO sessions (id, request, out_dir, template, model, status, "
                "current_step, created, updated) VALUES (?, ?, ?, ?, ?, 'new', NULL, ?, ?)",
                (sid, request, str(out_dir), template, model, now, now),
            )
        return sid

    def get_session(self, session_id: str) -> dict | None:
        return self._one(
            "SELECT id, request, out_dir, template, model, status, created, updated, "
            "current_step FROM sessions WHERE id = ?",
            (session_id,),
        )

    def update_session(self, session_id: str, **fields: Any) -> None:
        unknown = set(fields) - set(SESSION_FIELDS)
        if unknown:
            raise ValueError(f"unknown session field(s): {', '.join(sorted(unknown))}")
        with self._write():
            now = self._now()
            sets = ", ".join(f"{k} = ?" for k in fields)
            params = [str(v) if k == "out_dir" and v is not None else v for k, v in fields.items()]
            cur = self.conn.execute(
                f"UPDATE sessions SET {sets}{', ' if sets else ''}updated = ? WHERE id = ?",
                (*params, now, session_id),
            )
            if cur.rowcount == 0:
                raise KeyError(f"no session {session_id}")

    def list_sessions(self, limit: int = 50, status: str | None = None) -> list[dict]:
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        return self._dicts(
            "SELECT id, request, out_dir, template, model, status, created, updated, "
            f"current_step FROM sessions {where} ORDER BY created DESC, rowid DESC LIMIT ?",
            (*params, int(limit)),
        )

    def find_sessions(self, prefix: str) -> list[str]:
        """Session ids starting with `prefix` (for short ids typed by a user)."""
        rows = self._q(
            "SELECT id FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT 20",
            (prefix, prefix + "\uffff"),
        )
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ steps
    def set_step(self, session_id: str, step: str, status: str, message: str = "") -> dict:
        with self._write():
            now = self._now()
            row = self.conn.execute(
                "SELECT attempts, started, finished FROM steps WHERE session_id = ? AND step = ?",
                (session_id, step),
            ).fetchone()
            attempts, started, finished = row if row else (0, None, None)
            if status == "running":
                attempts, started, finished = attempts + 1, now, None
            elif status in ("done", "failed"):
                finished = now
            elif status == "pending":
                started, finished = None, None
            else:  # waiting (or any other state): in progress
                finished = None
            self.conn.execute(
                "INSERT INTO steps (session_id, step, status, message, attempts, started, "
                "finished, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (session_id, step) DO UPDATE SET status = excluded.status, "
                "message = excluded.message, attempts = excluded.attempts, "
                "started = excluded.started, finished = excluded.finished, "
                "updated = excluded.updated",
                (session_id, step, status, message or "", attempts, started, finished, now),
            )
            self.conn.execute(
                "INSERT INTO step_log (ts, session_id, step, status, message, attempt) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (now, session_id, step, status, message or "", attempts),
            )
            self.conn.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))
        return {"status": status, "message": message or "", "attempts": attempts,
                "started": started, "finished": finished}

    def get_steps(self, session_id: str) -> dict[str, dict]:
        rows = self._q(
            "SELECT step, status, message, attempts, started, finished FROM steps "
            "WHERE session_id = ? ORDER BY rowid",
            (session_id,),
        )
        return {
            r[0]: {"status": r[1], "message": r[2], "attempts": r[3], "started": r[4],
                   "finished": r[5]}
            for r in rows
        }

    def step_history(self, session_id: str, step: str | None = None) -> list[dict]:
        """Every status transition, oldest first."""
        sql = "SELECT id, ts, step, status, message, attempt FROM step_log WHERE session_id = ?"
        params: list[Any] = [session_id]
        if step:
            sql += " AND step = ?"
            params.append(step)
        return self._dicts(sql + " ORDER BY id", params)

    # ------------------------------------------------------------------ outputs
    def put_output(self, session_id: str, step: str, kind: str, content: str) -> int:
        if not isinstance(content, str):
            raise TypeError("content must be str")
        with self._write():
            version = self.conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM outputs "
                "WHERE session_id = ? AND step = ? AND kind = ?",
                (session_id, step, kind),
            ).fetchone()[0]
            self.conn.execute(
                "INSERT INTO outputs (session_id, step, kind, version, content, created) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, step, kind, version, content, self._now()),
            )
        return version

    def get_output(
        self, session_id: str, step: str, kind: str, version: int | None = None
    ) -> str | None:
        if version is None:
            rows = self._q(
                "SELECT content FROM outputs WHERE session_id = ? AND step = ? AND kind = ? "
                "ORDER BY version DESC LIMIT 1",
                (session_id, step, kind),
            )
        else:
            rows = self._q(
                "SELECT content FROM outputs WHERE session_id = ? AND step = ? AND kind = ? "
                "AND version = ?",
                (session_id, step, kind, int(version)),
            )
        return rows[0][0] if rows else None

    def list_outputs(self, session_id: str, step: str | None = None) -> list[dict]:
        """Metadata of every stored output version (no content)."""
        sql = ("SELECT step, kind, version, length(content) AS chars, created FROM outputs "
               "WHERE session_id = ?")
        params: list[Any] = [session_id]
        if step:
            sql += " AND step = ?"
            params.append(step)
        return self._dicts(sql + " ORDER BY id", params)

    # ------------------------------------------------------------------ spec versions
    def add_spec_version(
        self, session_id: str, text: str, sha256: str | None, source: str, actor: str,
        model: str | None = None,
    ) -> int:
        """Store a new spec version; returns its number (1, 2, ...).

        `source`: "draft" (a model's draft: pass `model`), "edit" (the developer),
        "file" (--spec), "finding" (a review finding applied)."""
        sha = sha256 or _sha256(text.encode("utf-8")).hexdigest()
        with self._write():
            version = self.conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM spec_versions WHERE session_id = ?",
                (session_id,),
            ).fetchone()[0]
            self.conn.execute(
                "INSERT INTO spec_versions (session_id, version, text, sha256, source, actor, "
                "created, model) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, version, text, sha, source, actor, self._now(), model),
            )
        return version

    _SPEC_COLS = "version, text, sha256, source, actor, created, model"

    def get_spec_version(self, session_id: str, version: int | None = None) -> dict | None:
        if version is None:
            return self._one(
                f"SELECT {self._SPEC_COLS} FROM spec_versions WHERE session_id = ? "
                "ORDER BY version DESC LIMIT 1",
                (session_id,),
            )
        return self._one(
            f"SELECT {self._SPEC_COLS} FROM spec_versions WHERE session_id = ? AND version = ?",
            (session_id, int(version)),
        )

    def find_spec_version(self, session_id: str, sha256: str) -> dict | None:
        """The latest version of this session's spec with that hash."""
        return self._one(
            f"SELECT {self._SPEC_COLS} FROM spec_versions WHERE session_id = ? AND sha256 = ? "
            "ORDER BY version DESC LIMIT 1",
            (session_id, sha256),
        )

    def list_spec_versions(self, session_id: str) -> list[dict]:
        return self._dicts(
            f"SELECT {self._SPEC_COLS} FROM spec_versions WHERE session_id = ? ORDER BY version",
            (session_id,),
        )

    # ------------------------------------------------------------------ approvals
    def add_approval(self, session_id: str, gate: str, sha256: str, actor: str) -> dict:
        """Record an approval. Approving the spec gate also adds that spec version to
        the knowledge base of approved specs (learning.py). The audit event for it
        is the caller's: `audit(..., action="approve", payload={"gate", "sha256"})`."""
        with self._write():
            now = self._now()
            cur = self.conn.execute(
                "INSERT INTO approvals (session_id, gate, sha256, actor, created) "
                "VALUES (?, ?, ?, ?, ?)",
                (session_id, gate, sha256, actor, now),
            )
            if gate == "spec":
                spec = self.find_spec_version(session_id, sha256)
                if spec is not None:
                    session = self.get_session(session_id) or {}
                    self._insert_knowledge(session_id, spec["text"], sha256,
                                           spec.get("model") or session.get("model"), now)
        return {"id": cur.lastrowid, "session_id": session_id, "gate": gate, "sha256": sha256,
                "actor": actor, "created": now}

    def get_approval(self, session_id: str, gate: str) -> dict | None:
        return self._one(
            "SELECT id, session_id, gate, sha256, actor, created FROM approvals "
            "WHERE session_id = ? AND gate = ? ORDER BY id DESC LIMIT 1",
            (session_id, gate),
        )

    def list_approvals(self, session_id: str | None = None) -> list[dict]:
        sql = "SELECT id, session_id, gate, sha256, actor, created FROM approvals"
        if session_id:
            return self._dicts(sql + " WHERE session_id = ? ORDER BY id", (session_id,))
        return self._dicts(sql + " ORDER BY id")

    # ------------------------------------------------------------------ audit chain
    _pending_head: tuple[int, int, str] | None = None  # (first id, last id, hash) to record

    def _keys(self) -> _audit.Keyring | None:
        """The audit key and heads beside config.toml (none for an in-memory database)."""
        keys = self.__dict__.get("_keyring", False)
        if keys is False:
            keys = None if str(self.path) == ":memory:" else _audit.Keyring(_audit.key_dir())
            self._keyring = keys
        return keys

    def _db_id(self) -> str:
        db_id = self.__dict__.get("_db_real")
        if db_id is None:
            db_id = self._db_real = os.path.realpath(self.path)
        return db_id

    def _record_head(self) -> None:
        """After a commit: the newest head goes to the head file, outside the database."""
        first, last, head = self._pending_head
        self._pending_head = None
        self._keyring.record_head(self._db_id(), first, last, head)

    @staticmethod
    def _prepare(
        session_id: str | None, actor: str, step: str | None, action: str, summary: str,
        payload: Any = None, tokens: int | None = None, cost: float | None = None,
    ) -> tuple:
        if not actor or not isinstance(actor, str):
            raise ValueError("audit: actor is required")
        if not action or not isinstance(action, str):
            raise ValueError("audit: action is required")
        if tokens is not None:
            tokens = int(tokens)
        if cost is not None:
            cost = float(cost)
            if not math.isfinite(cost):
                raise ValueError("audit: cost must be finite or None")
        actor, summary, payload = _audit.redact_event(actor, str(summary or ""), payload)
        payload_text = None if payload is None else _audit.canonical_json(payload)
        return (session_id, actor, step, action, summary[:MAX_SUMMARY], payload_text,
                tokens, cost)

    def _append(self, prepared: list[tuple]) -> list[dict]:
        """Append prepared events; the caller holds the write transaction."""
        keys = self._keys()
        mac = keys.mac if keys is not None and keys.load(create=True) else None
        head = self.conn.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        last_id, prev = head if head else (0, GENESIS)
        first_id = last_id + 1
        now = self._now()
        rows = []
        for sid, actor, step, action, summary, payload, tokens, cost in prepared:
            last_id += 1
            content = (last_id, now, sid, actor, step, action, summary, payload, tokens, cost,
                       prev)
            prev = event_hash(content)
            rows.append((*content, prev, None if mac is None else mac(prev)))
        if len(rows) == 1:  # one transaction per event: execute costs less than executemany
            self.conn.execute(_INSERT_EVENT, rows[0])
        else:
            self.conn.executemany(_INSERT_EVENT, rows)
        if mac is not None:
            pending = self._pending_head
            self._pending_head = (pending[0] if pending else first_id, last_id, prev)
        return [_event_dict(r[:-1]) for r in rows]

    def audit(
        self, session_id: str | None, actor: str, step: str | None, action: str, summary: str,
        payload: Any = None, tokens: int | None = None, cost: float | None = None,
    ) -> dict:
        """Append one hash-chained event (payload and summary redacted of secrets)."""
        prepared = self._prepare(session_id, actor, step, action, summary, payload, tokens, cost)
        with self._write():
            return self._append([prepared])[0]

    def audit_many(self, events: Iterable[dict]) -> list[dict]:
        """Append several events in one transaction. Each dict has the keyword
        arguments of `audit` (session_id, actor, step, action, summary, payload, ...)."""
        prepared = [
            self._prepare(
                e.get("session_id"), e["actor"], e.get("step"), e["action"], e.get("summary", ""),
                e.get("payload"), e.get("tokens"), e.get("cost"),
            )
            for e in events
        ]
        if not prepared:
            return []
        with self._write():
            return self._append(prepared)

    def audit_head(self) -> str:
        rows = self._q("SELECT hash FROM events ORDER BY id DESC LIMIT 1")
        return rows[0][0] if rows else GENESIS

    def get_event(self, event_id: int) -> dict | None:
        rows = self._q(f"SELECT {_EVENT_COLS} FROM events WHERE id = ?", (int(event_id),))
        return _event_dict(rows[0]) if rows else None

    @staticmethod
    def _filters(
        session: str | None = None, step: str | None = None, actor: str | None = None,
        action: str | Iterable[str] | None = None, since: str | datetime | None = None,
        until: str | datetime | None = None,
    ) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        if session:
            if len(session) < 32:  # a short id typed by a user: prefix match
                where.append("session_id >= ? AND session_id < ?")
                params += [session, session + "\uffff"]
            else:
                where.append("session_id = ?")
                params.append(session)
        if step:
            where.append("step = ?")
            params.append(step)
        if actor:
            if actor.isascii():  # SQLite's lower() folds ASCII only, fast
                where.append("instr(lower(actor), lower(?)) > 0")
                params.append(actor)
            else:
                where.append("instr(wb_casefold(actor), ?) > 0")
                params.append(actor.casefold())
        if action:
            actions = [action] if isinstance(action, str) else list(action)
            where.append(f"action IN ({', '.join('?' * len(actions))})")
            params += actions
        since_ts = parse_since(since)
        if since_ts:
            where.append("ts >= ?")
            params.append(since_ts)
        until_ts = parse_since(until)
        if until_ts:
            where.append("ts < ?")
            params.append(until_ts)
        return where, params

    def list_events(
        self, session: str | None = None, step: str | None = None, actor: str | None = None,
        action: str | Iterable[str] | None = None, since: str | datetime | None = None,
        limit: int = 50, before_id: int | None = None, *, session_id: str | None = None,
        until: str | datetime | None = None,
    ) -> list[dict]:
        """One page of events, newest first. Page on with `before_id=<last id of the
        page>` (keyset pagination: as fast on the millionth page as on the first).
        `actor` matches case-insensitively anywhere in the actor; `since` takes an ISO
        time or an age (`2h`, `7d`); a session id shorter than 32 chars is a prefix."""
        where, params = self._filters(session or session_id, step, actor, action, since, until)
        if before_id is not None:
            where.append("id < ?")
            params.append(int(before_id))
        sql = f"SELECT {_EVENT_COLS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(max(0, int(limit)))
        return [_event_dict(r) for r in self._q(sql, params)]

    def iter_events(
        self, session: str | None = None, step: str | None = None, actor: str | None = None,
        action: str | Iterable[str] | None = None, since: str | datetime | None = None,
        *, until: str | datetime | None = None, chunk: int = 5000,
    ) -> Iterator[dict]:
        """Every matching event, oldest first, fetched in pages (for export)."""
        where, params = self._filters(session, step, actor, action, since, until)
        after = 0
        while True:
            sql = f"SELECT {_EVENT_COLS} FROM events WHERE " + " AND ".join([*where, "id > ?"])
            rows = self._q(sql + " ORDER BY id LIMIT ?", (*params, after, chunk))
            for r in rows:
                yield _event_dict(r)
            if len(rows) < chunk:
                return
            after = rows[-1][0]

    def count_events(self, session: str | None = None, **filters: Any) -> int:
        where, params = self._filters(session, **filters)
        sql = "SELECT count(*) FROM events" + (" WHERE " + " AND ".join(where) if where else "")
        return self._q(sql, params)[0][0]

    def verify_chain(self) -> VerifyResult:
        """Walk the whole chain. Catches an edited event (its hash no longer matches its
        content) and a deleted or reordered one (the next event's link is broken). With
        the audit key (audit.py), the newest keyed event's MAC must match its hash: it
        covers the whole chain before it, so an event forged or rewritten with a
        recomputed chain fails it (then every MAC is checked, to name the first bad
        event); no event after a keyed one may lack its MAC; and the head recorded
        outside the database must still be in the log, which catches a dropped tail.
        `notes` say what could not be proven.

        Fast path: SQLite assembles the canonical JSON up to `cost` (json_quote escapes
        strings exactly as Python's encoder does); Python appends cost (float repr) and
        prev_hash and hashes. Any row whose fast form does not match is recomputed with
        the reference encoder (`event_hash`) before it is called bad, so correctness
        never depends on SQLite's formatting."""
        keys = self._keys()
        has_key = keys is not None and keys.load(create=False)
        try:
            head = keys.head(self._db_id()) if keys is not None else None
        except _audit.AuditKeyError as exc:
            return VerifyResult(False, 0, None, str(exc))
        walked = self._walk_chain(head)
        result, last_id, head_seen, first_keyed, newest_keyed, unkeyed = walked
        if has_key:
            # (a failed VerifyResult is falsy: no `or` between them)
            if result is not None:  # a broken link: a forged MAC before it comes first
                bad = self._first_bad_mac(keys, result.first_bad_id)
                return result if bad is None else bad
            if newest_keyed is not None and keys.mac(newest_keyed[1]) != newest_keyed[2]:
                bad = self._first_bad_mac(keys, None)
                assert bad is not None  # the newest keyed event itself fails the scan
                return bad
        elif result is not None:
            return result
        checked = last_id and self.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        if head is not None:
            where = keys.heads_path
            if head["id"] > last_id:
                return VerifyResult(
                    False, checked, last_id + 1,
                    f"the log ends at event {last_id}, but {where} recorded event {head['id']} "
                    "as its newest: events were removed from its tail (or the database replaced)")
            if head_seen != head["hash"]:
                return VerifyResult(
                    False, checked, head["id"],
                    f"event {head['id']} is not the head recorded in {where}: the log was "
                    "rewritten")
        notes = self._verify_notes(keys, has_key, head, last_id, first_keyed, unkeyed)
        keyed = checked - unkeyed if has_key else 0
        what = f"{checked} event(s) intact"
        if keyed:
            what += f", {keyed} keyed"
        if unkeyed:
            what += f", {unkeyed} unkeyed"
        return VerifyResult(True, checked, None, what, keyed=keyed, unkeyed=unkeyed,
                            notes=tuple(notes))

    def _walk_chain(self, head: dict | None) -> tuple:
        """One pass over the events: (failure or None, last id, the hash of the event the
        head file names, first keyed id, (id, hash, mac) of the newest keyed event,
        unkeyed count)."""
        keyed_since = head["keyed_since"] if head else None
        head_id = head["id"] if head else 0
        head_seen = None
        expected_prev = GENESIS
        checked = unkeyed = 0
        first_keyed = newest_keyed = None
        last_id = 0
        sha = _audit.hashlib.sha256
        with self._lock:
            cur = self.conn.execute(f"SELECT id, {_FAST_PREFIX}, cost, prev_hash, hash, mac "
                                    "FROM events ORDER BY id")
            try:
                while True:
                    rows = cur.fetchmany(10_000)
                    if not rows:
                        break
                    for event_id, prefix, cost, prev, stored, tag in rows:
                        if prev != expected_prev:
                            return (VerifyResult(False, checked, event_id,
                                                 _link_reason(event_id, last_id)),
                                    last_id, None, first_keyed, newest_keyed, unkeyed)
                        digest = None
                        if prefix is not None:
                            text = (prefix + ("null" if cost is None else repr(cost)) + ',"'
                                    + prev + '"]')
                            digest = sha(text.encode("utf-8")).hexdigest()
                        if digest != stored:
                            try:
                                digest = self._reference_hash(event_id)
                                why = "was edited: its content no longer matches its hash"
                            except (TypeError, ValueError) as exc:
                                why = f"holds a value of a wrong type: {exc}"
                            if digest != stored:
                                return (VerifyResult(False, checked, event_id,
                                                     f"event {event_id} {why}"),
                                        last_id, None, first_keyed, newest_keyed, unkeyed)
                        if tag is None:
                            since = first_keyed or (
                                keyed_since if keyed_since and event_id >= keyed_since else None)
                            if since:
                                return (VerifyResult(
                                    False, checked, event_id,
                                    f"event {event_id} has no MAC, but the events from "
                                    f"{since} on are keyed: its MAC was removed (a rewrite "
                                    "with a recomputed chain)"),
                                    last_id, None, first_keyed, newest_keyed, unkeyed)
                            unkeyed += 1
                        else:
                            if first_keyed is None:
                                first_keyed = event_id
                            newest_keyed = (event_id, stored, tag)
                        if event_id == head_id:
                            head_seen = stored
                        expected_prev = stored
                        last_id = event_id
                        checked += 1
            finally:
                cur.close()
        return None, last_id, head_seen, first_keyed, newest_keyed, unkeyed

    def _first_bad_mac(self, keys, before: int | None) -> VerifyResult | None:
        """The first event (before `before`) whose MAC does not match its hash."""
        sql = "SELECT id, hash, mac FROM events WHERE mac IS NOT NULL"
        params: tuple = ()
        if before is not None:
            sql += " AND id < ?"
            params = (before,)
        with self._lock:
            for event_id, stored, tag in self.conn.execute(sql + " ORDER BY id", params):
                if not isinstance(stored, str) or keys.mac(stored) != tag:
                    checked = self.conn.execute("SELECT count(*) FROM events WHERE id < ?",
                                                (event_id,)).fetchone()[0]
                    return VerifyResult(
                        False, checked, event_id,
                        f"event {event_id} does not match its MAC: it was forged or rewritten "
                        "with a recomputed chain (or the audit key file was replaced)")
        return None

    @staticmethod
    def _verify_notes(keys, has_key: bool, head: dict | None, last_id: int,
                      first_keyed: int | None, unkeyed: int) -> list[str]:
        """What a successful verification could not prove, in plain words."""
        if keys is None:
            return ["an in-memory log has no key and no head outside it: only the chain was "
                    "checked, and a rewrite with a recomputed chain is undetectable"]
        notes = []
        if not has_key:
            notes.append(f"no audit key file ({keys.key_path}): MACs were not checked; without "
                         "the key file, a rewrite with a recomputed chain is undetectable")
        if unkeyed and first_keyed:
            notes.append(f"{unkeyed} event(s) before event {first_keyed} were written before the "
                         "MAC was introduced: they are chained but not keyed, and covered only "
                         f"through event {first_keyed}'s MAC over the chain")
        elif unkeyed:
            notes.append(f"{unkeyed} event(s) were written before the MAC was introduced: "
                         "chained but not keyed, so a rewrite of them with a recomputed chain "
                         "is undetectable")
        if head is None:
            if last_id:
                notes.append("no head of this log is recorded outside the database: a dropped "
                             "tail is caught only against a project's commits (--project) or "
                             "manifest")
        elif last_id > head["id"]:
            notes.append(f"events after {head['id']} are newer than the head recorded in "
                         f"{keys.heads_path} (a run stopped before recording it): their removal "
                         "would not be seen")
        if has_key:
            notes.append(f"the key and head files in {keys.dir} are trusted: whoever can read "
                         "the key can forge a log that verifies")
        return notes

    def _reference_hash(self, event_id: int) -> str:
        row = self.conn.execute(
            "SELECT id, ts, session_id, actor, step, action, summary, payload, tokens, cost, "
            "prev_hash FROM events WHERE id = ?", (event_id,)).fetchone()
        return event_hash(row)

    # ------------------------------------------------------------------ manifest
    def chain_manifest(self, session_id: str) -> dict:
        """What the generated project records in `.workbench/manifest.json`: this
        session's newest event (its hash) and how many events the session has.

        Nothing about the rest of the log (no global event ids or counts): a project
        shared with others does not reveal how much else its author's Workbench did."""
        with self._lock:
            count, last = self.conn.execute(
                "SELECT count(*), max(id) FROM events WHERE session_id = ?", (session_id,)
            ).fetchone()
            head = (self.conn.execute("SELECT hash FROM events WHERE id = ?", (last,)).fetchone()[0]
                    if last else GENESIS)
        return {
            "format": MANIFEST_FORMAT,
            "session": session_id,
            "session_event_count": count,
            "session_head_hash": head,
        }

    def verify_against_manifest(self, manifest: str | os.PathLike | dict) -> VerifyResult:
        """Verify the chain, then check that it still holds everything the manifest
        saw: catches a log truncated or rebuilt after the manifest was written.
        (Format 1 manifests, which named global event ids, are still read.)"""
        where = "the manifest"
        if not isinstance(manifest, dict):
            where = str(manifest)
            try:
                manifest = json.loads(Path(manifest).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise UsageError(f"{where}: cannot read the manifest: {exc}") from None
        if not isinstance(manifest, dict):
            raise UsageError(f"{where}: not a Workbench audit manifest")
        if str(manifest.get("format", "")).endswith("/1"):
            return self._verify_manifest_v1(manifest, where)
        try:
            session = str(manifest["session"])
            head_hash = str(manifest["session_head_hash"])
            count = int(manifest["session_event_count"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(
                f"{where}: not a Workbench audit manifest (missing or bad {exc})"
            ) from None
        result = self.verify_chain()
        if not result.ok or count == 0:
            return result
        return self._session_head_matches(result, session, head_hash, count, where)

    def verify_against_commits(self, commits: list[dict], where: str,
                               chain: VerifyResult | None = None) -> VerifyResult:
        """Verify the chain (or take `chain`, its result), then check each Workbench
        commit's audit head (`integrate.git.audit_heads`: the session's newest event
        hash and count when the commit was made) against the log."""
        result = chain if chain is not None else self.verify_chain()
        if not result.ok:
            return result
        with_head = [c for c in commits if c.get("head") and c.get("count") is not None]
        for c in with_head:
            r = self._session_head_matches(result, c["session"], c["head"], c["count"],
                                           f"commit {c['commit'][:12]} of {where}")
            if not r.ok:
                return r
        notes = list(result.notes)
        if len(with_head) < len(commits):
            notes.append(f"{len(commits) - len(with_head)} Workbench commit(s) of {where} carry "
                         "no audit head (made before heads were recorded): nothing to compare")
        notes.append(f"the commits of {where} show only that the log still holds what they saw: "
                     "whoever can rewrite that project's history can change them")
        return replace(result, reason=f"{result.reason}; matches {len(with_head)} commit(s) of "
                                      f"{where}", notes=tuple(notes))

    def _session_head_matches(self, result: VerifyResult, session: str, head_hash: str,
                              count: int, where: str) -> VerifyResult:
        """The session's newest event recorded elsewhere is still in the log, with as many
        events of the session up to it as were recorded."""
        if count == 0:
            return result
        row = self._q("SELECT id, session_id FROM events WHERE hash = ?", (head_hash,))
        if not row or row[0][1] != session:
            last = self._q("SELECT max(id) FROM events")[0][0] or 0
            return VerifyResult(
                False, result.checked, last + 1,
                f"the newest event of session {session[:12]} recorded in {where} "
                f"({head_hash[:12]}) is not in the log, which ends at event {last}: events "
                "were removed or the log rebuilt",
            )
        return self._session_count_matches(result, session, row[0][0], count, where)

    def _verify_manifest_v1(self, manifest: dict, where: str) -> VerifyResult:
        try:
            session = manifest["session"]
            head_id = int(manifest["head_id"])
            head_hash = str(manifest["head_hash"])
            count = int(manifest["event_count"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(
                f"{where}: not a Workbench audit manifest (missing or bad {exc})"
            ) from None
        result = self.verify_chain()
        if not result.ok:
            return result
        if head_id == 0:
            return result
        row = self._q("SELECT hash FROM events WHERE id = ?", (head_id,))
        if not row:
            last = self._q("SELECT max(id) FROM events")[0][0] or 0
            return VerifyResult(
                False, result.checked, head_id,
                f"event {head_id} recorded in {where} is missing: the log ends at event {last}, "
                "events were removed from its tail",
            )
        if row[0][0] != head_hash:
            return VerifyResult(
                False, result.checked, head_id,
                f"event {head_id} does not carry the head hash recorded in {where}: "
                "the log was rewritten",
            )
        return self._session_count_matches(result, session, head_id, count, where)

    def _session_count_matches(self, result: VerifyResult, session: str, head_id: int, count: int,
                               where: str) -> VerifyResult:
        """The last check against a manifest: the session still has the events it had."""
        have = self._q(
            "SELECT count(*) FROM events WHERE session_id = ? AND id <= ?", (session, head_id)
        )[0][0]
        if have != count:
            return VerifyResult(
                False, result.checked, head_id,
                f"session {session[:12]} has {have} event(s) up to event {head_id}, {where} "
                f"recorded {count}",
            )
        return replace(result, reason=f"{result.reason}; matches {where}")

    # ------------------------------------------------------------------ model calls, runs
    def record_model_call(
        self, session_id: str | None, step: str | None, model: str, prompt_tokens: int | None,
        completion_tokens: int | None, cost: float | None, latency_s: float | None,
        outcome: str, error: str | None = None,
    ) -> int:
        """`cost` None means unknown (never recorded as 0)."""
        if cost is not None:
            cost = float(cost)
            if not math.isfinite(cost):
                cost = None
        with self._write():
            cur = self.conn.execute(
                "INSERT INTO model_calls (ts, session_id, step, model, prompt_tokens, "
                "completion_tokens, cost, latency_s, outcome, error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._now(), session_id, step, model,
                 None if prompt_tokens is None else int(prompt_tokens),
                 None if completion_tokens is None else int(completion_tokens),
                 cost, latency_s, outcome, _audit.redact_text(error)),
            )
        return cur.lastrowid

    def record_run(
        self, session_id: str | None, step: str | None, kind: str, command: str | list,
        exit_code: int | None, duration_s: float | None, output: str | None,
        sandbox: str | None,
    ) -> int:
        """A command run in (or outside) the sandbox; output is redacted and only its
        last 64k characters are kept."""
        if isinstance(command, (list, tuple)):
            command = " ".join(str(c) for c in command)
        output = (output or "")[-MAX_RUN_OUTPUT:]
        with self._write():
            cur = self.conn.execute(
                "INSERT INTO runs (ts, session_id, step, kind, command, exit_code, duration_s, "
                "output, sandbox) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._now(), session_id, step, kind, _audit.redact_text(command), exit_code,
                 duration_s, _audit.redact_text(output), None if sandbox is None else str(sandbox)),
            )
        return cur.lastrowid

    def list_model_calls(self, session_id: str | None = None) -> list[dict]:
        sql = "SELECT * FROM model_calls"
        if session_id:
            return self._dicts(sql + " WHERE session_id = ? ORDER BY id", (session_id,))
        return self._dicts(sql + " ORDER BY id")

    def list_runs(self, session_id: str | None = None, step: str | None = None) -> list[dict]:
        where, params = [], []
        if session_id:
            where.append("session_id = ?")
            params.append(session_id)
        if step:
            where.append("step = ?")
            params.append(step)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        return self._dicts(sql + " ORDER BY id", params)

    # ------------------------------------------------------------------ the knowledge base
    def add_knowledge(self, text: str, sha256: str | None = None, session_id: str | None = None,
                      model: str | None = None) -> None:
        """File a spec in the knowledge base of approved specs (an approval at the spec gate
        does it; this is for adding one by hand). A spec already there is left as it is."""
        sha = sha256 or _sha256(text.encode("utf-8")).hexdigest()
        with self._write():
            self._insert_knowledge(session_id, text, sha, model, self._now())

    def _insert_knowledge(self, session_id: str | None, text: str, sha256: str,
                          model: str | None, created: str) -> None:
        """Inside a write transaction: the spec, with its name, summary and template."""
        front = _front_matter(text)
        self.conn.execute(
            "INSERT INTO knowledge (session_id, sha256, name, summary, template, model, text, "
            "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
            (session_id, sha256, str(front.get("name") or ""), str(front.get("summary") or ""),
             str(front.get("template") or ""), model, text, created),
        )


# What a read through the reader API may do: read tables, select, call functions (bm25).
_READ_ACTIONS = {sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT, sqlite3.SQLITE_FUNCTION,
                 getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


# Pragmas that only read when given no value (FTS5 asks data_version itself).
_READ_PRAGMAS = {"data_version", "user_version", "application_id", "schema_version", "page_count",
                 "page_size", "freelist_count", "journal_mode", "table_info", "table_xinfo",
                 "index_list", "index_info", "foreign_key_list"}


def _read_only(action: int, arg1, arg2, *_rest) -> int:
    if action in _READ_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and arg2 is None and str(arg1).lower() in _READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _front_matter(text: str) -> dict:
    """A spec's front matter as a dict ({} when it has none or it does not parse: such a
    spec is still searchable text)."""
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    try:
        import yaml

        data = yaml.safe_load(text[3:end])
    except Exception:  # noqa: BLE001 - a spec we cannot parse is still searchable text
        return {}
    return data if isinstance(data, dict) else {}


def _casefold(value: Any) -> str:
    return value.casefold() if isinstance(value, str) else ""


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def _link_reason(event_id: int, last_id: int) -> str:
    if last_id == 0:
        return (f"event {event_id} does not link to the start of the chain: an event before it "
                "was deleted, or events were reordered")
    return (f"event {event_id} does not link to event {last_id} before it: an event between "
            "them was deleted, or events were reordered")


def _event_dict(row: tuple) -> dict:
    d = dict(zip(_EVENT_KEYS, row))
    if d["payload"] is not None:
        try:
            d["payload"] = json.loads(d["payload"])
        except (TypeError, ValueError):
            pass  # an edited row: verify will say so; show it as stored
    return d
