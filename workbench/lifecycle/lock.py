"""One process at a time runs a session: an advisory lock per session beside the database."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from workbench.errors import UsageError
from workbench.safety.fs import make_dirs


class session_lock:
    """An advisory lock per session beside the database, held while a process runs it."""

    def __init__(self, store, sid: str):
        path = getattr(store, "path", None)
        self.file = (Path(path).parent / "locks" / f"{sid}.lock") if path else None
        self.fd = None

    def __enter__(self):
        if self.file is None:
            return self
        make_dirs(self.file.parent)
        self.fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(self.fd, 32).decode(errors="replace").strip() or "another process"
            os.close(self.fd)
            self.fd = None
            raise UsageError(f"session {self.file.stem[:12]} is being run by pid {holder}; "
                             "wait for it to finish") from None
        os.ftruncate(self.fd, 0)
        os.write(self.fd, str(os.getpid()).encode())
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
