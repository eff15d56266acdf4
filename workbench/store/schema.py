"""The database schema as an ordered list of migrations.

`PRAGMA user_version` holds the schema version and `PRAGMA application_id` marks
the file as a Workbench database. Migration N takes a database at version N-1 to
version N; they only ever add (tables, columns, indexes), so a newer Workbench
opens an older database and keeps every row. Never edit a released migration:
append a new one.

Migrations use sqlite-utils for the tables and indexes and run inside the
store's `BEGIN IMMEDIATE` transaction.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

# "WkBn" as a big-endian 32-bit integer: marks the file as ours.
APPLICATION_ID = 0x576B426E


def _v1(db: sqlite_utils.Database) -> None:
    """Sessions, steps, versioned outputs, spec versions, approvals, the audit chain."""
    db["sessions"].create(
        {
            "id": str,
            "request": str,
            "out_dir": str,
            "template": str,
            "model": str,
            "status": str,
            "current_step": str,
            "created": str,
            "updated": str,
        },
        pk="id",
        not_null={"request", "out_dir", "status", "created", "updated"},
    )
    db["sessions"].create_index(["created"], index_name="idx_sessions_created")
    db["steps"].create(
        {
            "session_id": str,
            "step": str,
            "status": str,
            "message": str,
            "attempts": int,
            "started": str,
            "finished": str,
            "updated": str,
        },
        pk=("session_id", "step"),
        not_null={"session_id", "step", "status", "attempts"},
        defaults={"attempts": 0, "message": ""},
    )
    db["outputs"].create(
        {
            "id": int,
            "session_id": str,
            "step": str,
            "kind": str,
            "version": int,
            "content": str,
            "created": str,
        },
        pk="id",
        not_null={"session_id", "step", "kind", "version", "content"},
    )
    db["outputs"].create_index(
        ["session_id", "step", "kind", "version"], unique=True, index_name="idx_outputs_key"
    )
    db["spec_versions"].create(
        {
            "id": int,
            "session_id": str,
            "version": int,
            "text": str,
            "sha256": str,
            "source": str,
            "actor": str,
            "created": str,
        },
        pk="id",
        not_null={"session_id", "version", "text", "sha256"},
    )
    db["spec_versions"].create_index(
        ["session_id", "version"], unique=True, index_name="idx_spec_versions_key"
    )
    db["spec_versions"].create_index(["sha256"], index_name="idx_spec_versions_sha")
    db["approvals"].create(
        {
            "id": int,
            "session_id": str,
            "gate": str,
            "sha256": str,
            "actor": str,
            "created": str,
        },
        pk="id",
        not_null={"session_id", "gate", "sha256", "actor"},
    )
    db["approvals"].create_index(["session_id", "gate", "id"], index_name="idx_approvals_key")
    # The audit chain. `id` is assigned by the store (max+1 inside the write lock)
    # and is part of the hashed content, so renumbering or reordering is caught.
    db["events"].create(
        {
            "id": int,
            "ts": str,
            "session_id": str,
            "actor": str,
            "step": str,
            "action": str,
            "summary": str,
            "payload": str,  # canonical JSON text, redacted
            "tokens": int,
            "cost": float,
            "prev_hash": str,
            "hash": str,
        },
        pk="id",
        not_null={"ts", "actor", "action", "prev_hash", "hash"},
    )
    for cols in (["session_id", "id"], ["action", "id"], ["step", "id"], ["ts"]):
        db["events"].create_index(cols, index_name="idx_events_" + "_".join(cols))


def _v2(db: sqlite_utils.Database) -> None:
    """Model calls, sandbox runs, the step history, and the model behind a spec version."""
    db["model_calls"].create(
        {
            "id": int,
            "ts": str,
            "session_id": str,
            "step": str,
            "model": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "cost": float,  # NULL = unknown, never 0
            "latency_s": float,
            "outcome": str,
            "error": str,
        },
        pk="id",
        not_null={"ts", "model", "outcome"},
    )
    db["model_calls"].create_index(["session_id", "step"], index_name="idx_model_calls_session")
    db["model_calls"].create_index(["model"], index_name="idx_model_calls_model")
    db["runs"].create(
        {
            "id": int,
            "ts": str,
            "session_id": str,
            "step": str,
            "kind": str,
            "command": str,
            "exit_code": int,
            "duration_s": float,
            "output": str,
            "sandbox": str,
        },
        pk="id",
        not_null={"ts", "kind"},
    )
    db["runs"].create_index(["session_id", "step", "kind"], index_name="idx_runs_session")
    db["runs"].create_index(["step"], index_name="idx_runs_step")
    # Every status transition of a step, so metrics see every attempt, not just the last.
    db["step_log"].create(
        {
            "id": int,
            "ts": str,
            "session_id": str,
            "step": str,
            "status": str,
            "message": str,
            "attempt": int,
        },
        pk="id",
        not_null={"ts", "session_id", "step", "status"},
    )
    db["step_log"].create_index(["session_id", "step", "id"], index_name="idx_step_log_key")
    db["spec_versions"].add_column("model", str)


def _v3(db: sqlite_utils.Database) -> None:
    """The knowledge base of approved specs, searchable with FTS5."""
    db["knowledge"].create(
        {
            "id": int,
            "session_id": str,
            "sha256": str,
            "name": str,
            "summary": str,
            "template": str,
            "model": str,
            "text": str,
            "created": str,
        },
        pk="id",
        not_null={"sha256", "text"},
    )
    db["knowledge"].create_index(["sha256"], unique=True, index_name="idx_knowledge_sha")
    db["knowledge"].enable_fts(
        ["name", "summary", "text"], fts_version="FTS5", create_triggers=True, tokenize="porter"
    )


def _v4(db: sqlite_utils.Database) -> None:
    """A keyed MAC beside each audit event's chain hash (audit.py): HMAC-SHA256 with a
    key kept outside the database. Events written before it have none ("unkeyed")."""
    db["events"].add_column("mac", str)


MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)
