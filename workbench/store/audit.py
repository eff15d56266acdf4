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

Keyed MACs (see docs/audit.md). A chain alone proves nothing against someone who can
write the database: they edit an event and recompute every hash after it. So each
event also carries `mac` = HMAC-SHA256(key, "wbmac1:" + its hash), with the key in a
0600 file beside config.toml (`audit.key`, never in the database). Because the hash
covers the previous hash, one valid MAC vouches for the whole chain before it. The
newest head of each database is also kept beside the key (`audit-heads.json`, itself
MAC'd), which catches a dropped tail, and in each Workbench commit's trailers.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import UsageError

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
    keyed: int = 0  # events whose MAC was checked against the key
    unkeyed: int = 0  # events written before the MAC existed
    notes: tuple[str, ...] = ()  # what this verification cannot prove

    def __bool__(self) -> bool:
        return self.ok


# ---------------------------------------------------------------- keyed MACs

KEY_FILE = "audit.key"
HEADS_FILE = "audit-heads.json"
MAC_TAG = b"wbmac1:"
_NUM_WIDTH = 20  # the width of an id in a head record (an SQLite integer has <= 19 digits)
_KEY_RE = re.compile(r"[0-9a-f]{64}")


class AuditKeyError(UsageError):
    """The audit key file (or the head file beside it) cannot be trusted or used."""


def key_dir() -> Path:
    """Where the audit key lives: the config directory, beside config.toml."""
    from workbench.paths import config_path

    return config_path().parent


class Keyring:
    """The audit key (`audit.key`) and the heads recorded outside the database.

    The key file is made on first use: written to a private temporary file (O_EXCL,
    0600), then linked into place, which fails if another process was first, so a
    reader never sees half a key. A key file that is a symlink, not a regular file,
    not ours, or readable or writable by anyone else is refused (AuditKeyError)."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        self.key_path = self.dir / KEY_FILE
        self.heads_path = self.dir / HEADS_FILE
        self._template: Any = None
        self._fd: int | None = None  # the key file, held open; its flock orders head updates
        self._heads_fd: int | None = None
        self._heads_ino: tuple[int, int] | None = None  # (st_ino, st_dev) of _heads_fd
        # where record_head last wrote its record: (db, fd, offset, length, the pattern
        # of a record of db, the record's text up to the hash)
        self._heads_slot: tuple | None = None

    # -------------------------------------------------------------- the key
    def load(self, create: bool) -> bool:
        """Load the key (creating it when missing and `create`); whether one is loaded."""
        if self._template is not None:
            return True
        fd = self._open_key()
        if fd is None:
            if not create:
                return False
            self._create_key()
            fd = self._open_key()
            if fd is None:  # pragma: no cover - removed as soon as made
                raise AuditKeyError(f"{self.key_path}: the audit key vanished while it was made")
        try:
            raw = os.read(fd, 256).decode("ascii", "replace").strip()
        except OSError as exc:
            os.close(fd)
            raise AuditKeyError(f"{self.key_path}: cannot read the audit key: "
                                f"{exc.strerror or exc}") from None
        if not _KEY_RE.fullmatch(raw):
            os.close(fd)
            raise AuditKeyError(f"{self.key_path}: not a Workbench audit key (expected 64 hex "
                                "digits); move it away only if you accept that the events "
                                "keyed with it can no longer be checked")
        self._fd = fd
        self._template = hmac.new(bytes.fromhex(raw), MAC_TAG, hashlib.sha256)
        return True

    def _open_key(self) -> int | None:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self.key_path, flags)
        except FileNotFoundError:
            if self.key_path.is_symlink():  # a dangling symlink
                raise AuditKeyError(f"{self.key_path}: the audit key file is a symlink; "
                                    "refusing it") from None
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise AuditKeyError(f"{self.key_path}: the audit key file is a symlink; "
                                    "refusing it") from None
            raise AuditKeyError(f"{self.key_path}: cannot open the audit key: "
                                f"{exc.strerror or exc}") from None
        st = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(st.st_mode):
            problem = "is not a regular file"
        elif hasattr(os, "geteuid") and st.st_uid != os.geteuid():
            problem = f"belongs to another user (uid {st.st_uid})"
        elif st.st_mode & 0o077:
            problem = (f"has mode {stat.S_IMODE(st.st_mode):04o}, open to other users; "
                       f"run: chmod 600 {self.key_path}")
        if problem:
            os.close(fd)
            raise AuditKeyError(f"{self.key_path}: refusing the audit key file: it {problem}")
        return fd

    def _create_key(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o600)
            try:
                os.write(fd, (secrets.token_hex(32) + "\n").encode("ascii"))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, self.key_path)  # atomic, and fails if another process was first
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
            from workbench.safety.paths import fsync_path

            fsync_path(self.dir, directory=True)
        except OSError as exc:
            raise AuditKeyError(f"{self.key_path}: cannot create the audit key: "
                                f"{exc.strerror or exc}") from None

    def mac(self, chain_hash: str) -> str:
        m = self._template.copy()
        m.update(chain_hash.encode("ascii"))
        return m.hexdigest()

    def close(self) -> None:
        for fd in (self._fd, self._heads_fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._heads_fd = self._heads_ino = self._heads_slot = None
        self._template = None

    # -------------------------------------------------------------- heads
    def _head_mac(self, db: str, entry: dict) -> str:
        return self.mac(f"head:{db}:{entry['id']}:{entry['hash']}:{entry['keyed_since']}")

    def _read_heads(self) -> dict:
        # O_NONBLOCK: a FIFO put in the file's place must not wait for a writer forever
        flags = (os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
                 | getattr(os, "O_CLOEXEC", 0))
        try:
            fd = os.open(self.heads_path, flags)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise AuditKeyError(f"{self.heads_path}: cannot read the audit heads: "
                                f"{exc.strerror or exc}") from None
        self._regular(fd)
        with os.fdopen(fd, "rb") as fh:
            data = self._read_locked(fh)
        try:
            heads = json.loads(data)
        except ValueError:
            raise AuditKeyError(f"{self.heads_path}: the audit head file is not valid JSON "
                                "(edited or damaged)") from None
        if not isinstance(heads, dict):
            raise AuditKeyError(f"{self.heads_path}: the audit head file is not a JSON object")
        return heads

    def _read_locked(self, fh) -> bytes:
        """The head file's content, read under a shared flock on the key file (through a
        descriptor of its own: the writers' exclusive one must not be converted), so a
        record being rewritten in place is never read half-written."""
        lock = None
        if self._fd is not None:
            import fcntl

            try:
                lock = os.open(self.key_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
                               | getattr(os, "O_CLOEXEC", 0))
                fcntl.flock(lock, fcntl.LOCK_SH)
            except OSError:  # the key file moved meanwhile: read without the lock
                if lock is not None:
                    os.close(lock)
                lock = None
        try:
            return fh.read(_MAX_HEADS_BYTES)
        finally:
            if lock is not None:
                os.close(lock)  # releases the flock

    def head(self, db: str) -> dict | None:
        """The newest head recorded for database `db` (a real path), checked against its
        MAC; None when none was recorded. Raises AuditKeyError when it was edited."""
        entry = self._read_heads().get(db)
        if entry is None:
            return None
        try:
            entry = {"id": int(entry["id"]), "hash": str(entry["hash"]),
                     "keyed_since": int(entry["keyed_since"]), "mac": str(entry["mac"])}
        except (KeyError, TypeError, ValueError):
            raise AuditKeyError(f"{self.heads_path}: the head recorded for {db} is malformed "
                                "(edited or damaged)") from None
        if self._template is not None and not hmac.compare_digest(
                entry["mac"], self._head_mac(db, entry)):
            raise AuditKeyError(f"{self.heads_path}: the head recorded for {db} does not match "
                                "its MAC: the head file was edited")
        return entry

    def record_head(self, db: str, first_id: int, last_id: int, last_hash: str) -> None:
        """Record `last_id`/`last_hash` as the newest head of `db`, unless a newer one is
        already recorded (heads only move forward; a lower one is kept for verify to see).

        Each entry is written as a record of fixed width (its numbers padded with spaces,
        which JSON ignores), so an append rewrites only its own record in place: one
        pwrite of ~250 bytes at the offset this Keyring found it at, after checking that
        the record is still there (another process may have rewritten the file). Any
        other case (the first append of this Keyring, a file rewritten or replaced, an
        older Workbench's compact file) re-reads the whole file and rewrites it, padded
        to at least its old length: a killed process leaves the old or the new content,
        and nothing is renamed (a rename per append costs ~10x more). Not fsynced, like
        the database's own commits (WAL, synchronous=NORMAL)."""
        import fcntl

        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            fd = self._heads_file()
            if not self._record_in_place(fd, db, first_id, last_id, last_hash):
                self._rewrite_heads(fd, db, first_id, last_id, last_hash)
        except OSError as exc:
            raise AuditKeyError(f"{self.heads_path}: cannot record the audit head: "
                                f"{exc.strerror or exc}") from None
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _head_record(self, db: str, entry: dict) -> bytes:
        """`"db":{...}`, the entry's numbers padded to a fixed width."""
        return (f'{json.dumps(db)}:{{"hash":{json.dumps(entry["hash"])},'
                f'"id":{entry["id"]:<{_NUM_WIDTH}d},'
                f'"keyed_since":{entry["keyed_since"]:<{_NUM_WIDTH}d},'
                f'"mac":{json.dumps(entry["mac"])}}}').encode()

    def _record_in_place(self, fd: int, db: str, first_id: int, last_id: int,
                         last_hash: str) -> bool:
        """The fast path of record_head: whether the head is recorded (or was newer)."""
        slot = self._heads_slot
        if slot is None or slot[0] != db or slot[1] != fd:
            return False
        offset, length, pattern = slot[2:5]
        raw = os.pread(fd, length + 1, offset - 1)
        found = pattern.fullmatch(raw, 1, length + 1) if raw[:1] in (b"{", b",") else None
        if found is None:  # rewritten by another process: our record moved
            return False
        if int(found.group(1)) >= last_id:
            return True
        keyed_since = int(found.group(2))
        tag = self.mac(f"head:{db}:{last_id}:{last_hash}:{keyed_since}")
        record = (f'{slot[5]}{last_hash}","id":{last_id:<{_NUM_WIDTH}d},"keyed_since":'
                  f'{keyed_since:<{_NUM_WIDTH}d},"mac":"{tag}"}}').encode()
        if len(record) != length or pattern.fullmatch(record) is None:
            return False  # an unusual hash: the slow path writes it
        os.pwrite(fd, record, offset)
        return True

    def _rewrite_heads(self, fd: int, db: str, first_id: int, last_id: int,
                       last_hash: str) -> None:
        old_text = _pread_all(fd, _MAX_HEADS_BYTES)
        if len(old_text) > _MAX_HEADS_BYTES:
            raise AuditKeyError(f"{self.heads_path}: the audit head file is too large (over "
                                f"{_MAX_HEADS_BYTES} bytes): damaged or edited; move it away to "
                                "start recording heads again")
        try:
            heads = json.loads(old_text) if old_text.strip() else {}
        except ValueError:
            heads = None
        if not isinstance(heads, dict):
            raise AuditKeyError(f"{self.heads_path}: the audit head file is damaged or was "
                                "edited; move it away to start recording heads again")
        old = heads.get(db)
        entry = None
        keyed_since = first_id
        if isinstance(old, dict):
            try:
                if int(old["id"]) >= last_id:
                    entry = old  # a newer head is recorded: keep it (and its record)
                else:
                    keyed_since = int(old["keyed_since"])
            except (KeyError, TypeError, ValueError):
                pass
        if entry is None:
            entry = {"id": last_id, "hash": last_hash, "keyed_since": keyed_since}
            entry["mac"] = self._head_mac(db, entry)
        heads[db] = entry
        parts, offset, slot = [], 1, None
        for other in sorted(heads):
            if other != db and not os.path.isdir(os.path.dirname(other)):
                continue  # a database whose directory is gone
            value = heads[other]
            try:
                record = self._head_record(other, value)
            except (KeyError, TypeError, ValueError):  # another writer's shape: kept as is
                record = (json.dumps(other) + ":"
                          + json.dumps(value, sort_keys=True, separators=(",", ":"))).encode()
            if other == db:
                slot = (offset, len(record))
            parts.append(record)
            offset += len(record) + 1
        data = b"{" + b",".join(parts) + b"}"
        if len(data) < len(old_text):
            data += b" " * (len(old_text) - len(data))
        os.pwrite(fd, data, 0)
        self._heads_slot = None
        if slot is not None:
            prefix = json.dumps(db) + ':{"hash":"'
            pattern = re.compile(re.escape(prefix.encode())
                                 + rb'[0-9a-f]{64}","id":([0-9]+) *,'
                                 rb'"keyed_since":([0-9]+) *,"mac":"[0-9a-f]{64}"\}')
            if pattern.fullmatch(data, slot[0], slot[0] + slot[1]):
                self._heads_slot = (db, fd, slot[0], slot[1], pattern, prefix)

    def _heads_file(self) -> int:
        """The head file, open for writing (reopened if it was replaced meanwhile)."""
        fd = self._heads_fd
        if fd is not None:
            try:
                st = os.lstat(self.heads_path)
                if (st.st_ino, st.st_dev) == self._heads_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)
            self._heads_fd = self._heads_ino = self._heads_slot = None
        try:
            fd = os.open(self.heads_path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK
                         | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o600)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise AuditKeyError(f"{self.heads_path}: the audit head file is a symlink; "
                                    "refusing it") from None
            raise
        st = self._regular(fd)
        self._heads_fd, self._heads_ino = fd, (st.st_ino, st.st_dev)
        return fd

    def _regular(self, fd: int) -> os.stat_result:
        """fstat of the open head file; a FIFO, device or directory there is refused."""
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise AuditKeyError(f"{self.heads_path}: the audit head file is not a regular file; "
                                "refusing it")
        return st


_MAX_HEADS_BYTES = 8_000_000  # ~30,000 databases' records; more is damage, never read whole


def _pread_all(fd: int, limit: int) -> bytes:
    """The file's content, at most `limit` + 1 bytes (the caller refuses more)."""
    chunks, offset = [], 0
    while offset <= limit:
        chunk = os.pread(fd, min(1 << 16, limit + 1 - offset), offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


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
