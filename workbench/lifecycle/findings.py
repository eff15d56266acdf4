"""Review findings: a stable id per finding, and the fields the audit log keeps of one."""

from __future__ import annotations

import hashlib
import json

FIELDS = ("id", "severity", "location", "text", "suggestion", "source")


def finding_id(f: dict) -> str:
    """A finding's stable id: the same finding in a later review has the same id."""
    key = json.dumps([f.get("source"), f.get("severity"), f.get("location"), f.get("text")])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]


def finding_fields(f: dict) -> dict:
    return {k: f.get(k, "") for k in FIELDS}
