"""The store interface: what the core needs from durable state, whatever the database.

`SqliteStore` implements it for one machine; a PostgreSQL store for several machines
implements the same Protocols, and the core does not change. Rules every
implementation keeps: an event is committed before `save`/`append` return; a task's
event ``seq`` is 1, 2, 3 … with no gaps; every event's ``id`` (one cursor for all
tasks) grows in commit order and is never reused; ``save`` writes only the named
columns; the task's `Tally` is updated in the transaction that appends the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from agentdeck.model import Event, NewEvent, Tally, Task, TaskSnapshot, TaskStatus


class TaskStore(Protocol):
    """Tasks and their append-only events."""

    async def insert_task(self, task: Task, events: Sequence[NewEvent] = ()) -> int: ...

    async def save(
        self, task: Task, events: Sequence[NewEvent] = (), columns: Iterable[str] | None = None
    ) -> int: ...

    async def append(self, task_id: str, events: Sequence[NewEvent]) -> int: ...

    async def get(self, task_id: str) -> Task | None: ...

    def exclusive(self, task_id: str) -> AbstractAsyncContextManager[None]:
        """Hold ``task_id`` against other processes' writers for one block (a no-op
        where one process owns the store)."""
        ...

    async def find_by_session(self, session_id: str) -> Task | None: ...

    async def list_tasks(
        self,
        *,
        statuses: Iterable[TaskStatus] | None = None,
        limit: int | None = None,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> list[Task]: ...

    async def count_by_status(self) -> dict[str, int]: ...

    async def statistics(self) -> dict[str, Any]: ...

    async def ledger(self) -> list[dict[str, Any]]: ...

    async def count_with_session(self) -> int: ...

    def size_bytes(self) -> int: ...

    async def delete(self, task_id: str) -> bool: ...

    async def events(
        self,
        task_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        kinds: Iterable[str] | None = None,
    ) -> list[Event]: ...

    async def events_after(
        self, after_id: int, task_id: str | None = None, limit: int = 500
    ) -> list[Event]: ...

    async def last_event_id(self) -> int: ...

    async def last_events(self, task_id: str, n: int, kinds: Iterable[str]) -> list[Event]: ...

    async def tally(self, task_id: str) -> Tally: ...

    async def snapshot(
        self, task_id: str, tool_calls: int, recent: int, kinds: Iterable[str]
    ) -> TaskSnapshot | None: ...

    async def count_events(self, task_id: str | None = None, kinds: Iterable[str] = ()) -> int: ...


class TokenStore(Protocol):
    """Access tokens: rows of plain columns; only a token's sha256 is ever stored."""

    async def add_token(self, row: dict[str, Any]) -> bool: ...

    async def token_by_hash(self, digest: str) -> dict[str, Any] | None: ...

    async def list_tokens(self) -> list[dict[str, Any]]: ...

    async def has_tokens(self) -> bool: ...

    async def revoke_token(self, name: str, when: str) -> bool: ...

    async def touch_token(self, name: str, when: str) -> None: ...


class AuditStore(Protocol):
    """The audit log of mutating calls."""

    async def add_audit(self, row: dict[str, Any]) -> int: ...

    async def finish_audit(self, entry_id: int, outcome: str, task_id: str | None) -> None: ...

    async def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]: ...


class Store(TaskStore, TokenStore, AuditStore, Protocol):
    """Everything agentdeck keeps durably."""

    @property
    def schema_version(self) -> int: ...

    def close(self) -> None: ...
