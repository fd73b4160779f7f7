"""A psycopg connection pool whose blocking work runs in worker threads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

T = TypeVar("T")
Conn = psycopg.Connection[dict[str, Any]]


class Pooled:
    """Base of the workers' database helpers: ``_run(fn, *args)`` calls
    ``fn(connection, *args)`` in one transaction, off the event loop; rows are dicts."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 4) -> None:
        self.url = url
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url, min_size=min_size, max_size=max_size, kwargs={"row_factory": dict_row}, open=True
        )

    def close(self) -> None:
        self._pool.close()

    def _now(self, fn: Callable[..., T], *args: Any) -> T:
        with self._pool.connection() as conn:
            return fn(conn, *args)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(self._now, fn, *args)
