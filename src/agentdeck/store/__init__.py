"""Durable state behind one interface (`Store`); SQLite on one machine."""

from __future__ import annotations

from pathlib import Path

from agentdeck.store.base import AuditStore, Store, TaskStore, TokenStore
from agentdeck.store.sqlite import SCHEMA_VERSION, SqliteStore


def open_store(path: Path | None) -> Store:
    """The store at ``path`` (SQLite), migrated to this version's schema.

    ``None``: a store in memory, gone when closed (for checks that must leave no state).
    """
    return SqliteStore(path or Path(":memory:"))


__all__ = [
    "SCHEMA_VERSION",
    "AuditStore",
    "SqliteStore",
    "Store",
    "TaskStore",
    "TokenStore",
    "open_store",
]
