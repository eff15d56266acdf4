"""The store's timestamps, in one place: how one is written (UTC, microseconds, `Z`) and
read back. A leaf module, so the database (db) and the readers (metrics) share it without
importing each other."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(dt: datetime) -> str:
    """The stored form of a time (a naive one is taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    # (strftime's "%Y-%m-%dT%H:%M:%S.%fZ", the same text, at half the cost: every audit
    # event is stamped with it)
    return dt.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_ts(value: str) -> datetime:
    """Parse a stored timestamp."""
    return datetime.fromisoformat(value)
