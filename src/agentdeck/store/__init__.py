"""Durable state behind one interface (`Store`); SQLite on one machine, PostgreSQL for several."""

from __future__ import annotations

from pathlib import Path

from agentdeck.store.base import AuditStore, Store, TaskStore, TokenStore
from agentdeck.store.sqlite import SCHEMA_VERSION, SqliteStore

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(url: str | None) -> bool:
    return bool(url) and str(url).startswith(_POSTGRES_SCHEMES)


def open_store(path: Path | None, database_url: str | None = None) -> Store:
    """The store, migrated to this version's schema.

    ``database_url`` (``postgresql://…``, from ``AGENTDECK_DATABASE_URL`` or ``database_url``
    in the config): PostgreSQL, shared by the front and its workers. Otherwise SQLite at
    ``path``; ``None``: a store in memory, gone when closed (for checks that must leave no
    state).
    """
    if database_url:
        if not is_postgres_url(database_url):
            raise ValueError(f"database_url must be a postgresql:// URL, not {database_url!r}")
        from agentdeck.store.postgres import PostgresStore  # psycopg only when it is used

        return PostgresStore(database_url)
    return SqliteStore(path or Path(":memory:"))


__all__ = [
    "SCHEMA_VERSION",
    "AuditStore",
    "SqliteStore",
    "Store",
    "TaskStore",
    "TokenStore",
    "is_postgres_url",
    "open_store",
]
