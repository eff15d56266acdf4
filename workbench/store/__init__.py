"""The store: the only code that writes the Workbench database (see db.py)."""

from workbench.store.audit import GENESIS, VerifyResult, compact_diff, line_edit_distance
from workbench.store.db import Store, StoreBusy, StoreError, parse_since
from workbench.store.schema import SCHEMA_VERSION

__all__ = [
    "GENESIS",
    "SCHEMA_VERSION",
    "Store",
    "StoreBusy",
    "StoreError",
    "VerifyResult",
    "compact_diff",
    "line_edit_distance",
    "parse_since",
]
