"""The audit chain: canonical content, hashing, verification helpers, redaction.

Each event's hash is the sha256 of the compact canonical JSON array

    ["wb1", id, ts, session_id, actor, step, action, summary, payload, tokens, cost, prev_hash]

(UTF-8, no whitespace, non-ASCII kept as is, floats as Python's repr). `payload`
is the stored JSON text itself, so the hash covers exactly the stored bytes.
`prev_hash` is the previous event's hash (GENESIS for the first), which chains the
events: an edited event fails its own hash, a deleted or reordered one breaks the
link of the event after it. A truncated tail is caught against the manifest a
project records: its session's newest event hash and event count
(see `Store.chain_manifest`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

HASH_TAG = "wb1"
GENESIS = "0" * 64

# Column order of the hashed content (after the tag), as selected from `events`.
HASHED_COLUMNS = (
    "id",
    "ts",
    "session_id",
    "actor",
    "step",
    "action",
    "summary",
    "payload",
    "tokens",
    "cost",
    "prev_hash",
)


def _no_default(obj: Any) -> Any:
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


try:  # the C encoder, built once: the hot path of append and verify
    from json.encoder import c_encode_basestring as _c_str
    from json.encoder import c_make_encoder as _c_make

    if _c_make is None or _c_str is None:  # pragma: no cover - no C speedups
        raise ImportError
    _c_enc = _c_make(None, _no_default, _c_str, None, ":", ",", False, False, False)

    def _encode_array(values: tuple) -> str:
        return "".join(_c_enc(values, 0))

except ImportError:  # pragma: no cover
    _py_enc = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode

    def _encode_array(values: tuple) -> str:
        return _py_enc(values)


_canon = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, sort_keys=True, allow_nan=False
).encode


def canonical_json(obj: Any) -> str:
    """Compact, key-sorted JSON: the form payloads are stored in."""
    return _canon(obj)


def event_hash(row: tuple) -> str:
    """Hash of one event: `row` holds the HASHED_COLUMNS values in order."""
    return hashlib.sha256(_encode_array((HASH_TAG, *row)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


# ---------------------------------------------------------------- redaction

_FALLBACK_PATTERNS = [
    re.compile(p)
    for p in (
        r"sk-ant-[A-Za-z0-9_\-]{16,}",
        r"sk-(?:proj-)?[A-Za-z0-9_\-]{16,}",
        r"AIza[0-9A-Za-z_\-]{30,}",
        r"gh[pousr]_[A-Za-z0-9]{30,}",
        r"github_pat_[A-Za-z0-9_]{30,}",
        r"xox[abprs]-[A-Za-z0-9\-]{10,}",
        r"AKIA[0-9A-Z]{16}",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----",
        r"(?i)bearer\s+[A-Za-z0-9._\-]{20,}",
    )
]
_FALLBACK_ASSIGN = re.compile(
    r"(?i)\b([A-Z0-9_]*(?:API_KEY|SECRET|TOKEN|PASSWORD)[A-Z0-9_]*)(\s*[=:]\s*)(['\"]?)([^\s'\"]{6,})"
)


def _fallback_redact(text: str) -> str:
    """Used only while workbench.safety.redact does not exist."""
    for pat in _FALLBACK_PATTERNS:
        text = pat.sub("[REDACTED]", text)
    return _FALLBACK_ASSIGN.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}[REDACTED]", text)


_redactor = None


def redactor():
    """`workbench.safety.redact.redact` when it exists, else the local fallback."""
    global _redactor
    if _redactor is None:
        try:
            from workbench.safety.redact import redact as _r
        except ImportError:
            _r = _fallback_redact
        _redactor = _r
    return _redactor


def redact_text(text: str | None) -> str | None:
    if not text:
        return text
    return redactor()(text)


_SEP = "\n\x00\x1e\x00\n"


def redact_many(texts: list[str]) -> list[str]:
    """Redact several strings with one call of the redactor (it is not free: it
    looks at the environment each time). Falls back to one call per string when a
    match crossed a separator."""
    if not texts:
        return texts
    if len(texts) == 1:
        return [redactor()(texts[0]) if texts[0] else texts[0]]
    joined = _SEP.join(texts)
    out = redactor()(joined)
    if out == joined:
        return texts
    parts = out.split(_SEP)
    if len(parts) == len(texts):
        return parts
    return [redactor()(t) if t else t for t in texts]


def _collect(value: Any, into: list[str]) -> None:
    if isinstance(value, str):
        into.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            into.append(str(k))
            _collect(v, into)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _collect(v, into)
    elif value is None or isinstance(value, (bool, int, float)):
        return
    else:
        into.append(str(value))


def _rebuild(value: Any, it) -> Any:
    if isinstance(value, str):
        return next(it)
    if isinstance(value, dict):
        out = {}
        for v in value.values():
            key = next(it)  # the key comes first, then its value's strings
            out[key] = _rebuild(v, it)
        return out
    if isinstance(value, (list, tuple)):
        return [_rebuild(v, it) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return next(it)


def redact_event(actor: str, summary: str, payload: Any) -> tuple[str, str, Any]:
    """Redact an event's actor, summary and payload with one redactor call."""
    strings = [actor, summary]
    _collect(payload, strings)
    clean = redact_many(strings)
    if clean is strings:
        return actor, summary, payload
    it = iter(clean[2:])
    return clean[0], clean[1], _rebuild(payload, it)


def redact_value(value: Any) -> Any:
    """Redact every string inside a JSON-like value (keys included)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {str(redact_text(str(k))): redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact_text(str(value))


# ---------------------------------------------------------------- diffs

def compact_diff(old: str, new: str, context: int = 1, max_lines: int = 200) -> str:
    """A short unified diff for `edit` events (truncated to max_lines)."""
    lines = list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), "before", "after", n=context, lineterm=""
        )
    )
    if len(lines) > max_lines:
        dropped = len(lines) - max_lines
        lines = lines[:max_lines] + [f"... {dropped} more diff lines"]
    return "\n".join(lines)


def line_edit_distance(a: str, b: str) -> int:
    """Levenshtein distance counted in lines (insert, delete, replace = 1 each)."""
    x, y = a.splitlines(), b.splitlines()
    # strip the common prefix and suffix: most approvals change little
    while x and y and x[0] == y[0]:
        x.pop(0)
        y.pop(0)
    while x and y and x[-1] == y[-1]:
        x.pop()
        y.pop()
    if not x or not y:
        return max(len(x), len(y))
    if len(x) * len(y) > 4_000_000:  # too large for the exact DP: difflib's estimate
        dist = 0
        for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, x, y, autojunk=False).get_opcodes():
            if op != "equal":
                dist += max(i2 - i1, j2 - j1)
        return dist
    prev = list(range(len(y) + 1))
    for i, xi in enumerate(x, 1):
        cur = [i] + [0] * len(y)
        for j, yj in enumerate(y, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (xi != yj))
        prev = cur
    return prev[-1]
