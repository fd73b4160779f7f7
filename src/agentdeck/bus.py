"""In-process pub/sub of task changes, one bounded queue per listener.

The store is the truth; the bus only says *that* something changed. A listener
that falls behind loses the oldest changes and is told so (``overflowed``), and
re-reads the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import anyio


@dataclass(frozen=True)
class Change:
    """Task ``task_id`` was created, updated or deleted.

    ``status`` is set when the status may have changed (None: only new events).
    """

    task_id: str
    what: Literal["created", "updated", "deleted"]
    status: str | None = None
    last_seq: int = 0


class Listener:
    """One subscriber's bounded queue."""

    def __init__(self, maxlen: int, task_id: str | None = None) -> None:
        self.task_id = task_id  # only this task's changes (None: every task's)
        self._items: deque[Change] = deque(maxlen=maxlen)
        self._ready = anyio.Event()
        self.overflowed = False

    def put(self, change: Change) -> None:
        if len(self._items) == self._items.maxlen:
            self.overflowed = True
        self._items.append(change)
        self._ready.set()

    async def get(self) -> Change:
        while not self._items:
            await self._ready.wait()
            self._ready = anyio.Event()
        return self._items.popleft()

    async def settle(self) -> None:
        """Wait until at least one change is queued, then drop every queued change (for a
        watcher that re-reads the store whatever changed)."""
        await self.get()
        self._items.clear()
        self.overflowed = False

    def __aiter__(self) -> AsyncIterator[Change]:
        return self

    async def __anext__(self) -> Change:
        return await self.get()


class Bus:
    """Fan-out of `Change` to every listener; publishing never blocks."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._listeners: set[Listener] = set()
        self._maxlen = maxlen

    def publish(self, change: Change) -> None:
        for listener in list(self._listeners):
            if listener.task_id is None or listener.task_id == change.task_id:
                listener.put(change)

    @asynccontextmanager
    async def listen(self, task_id: str | None = None) -> AsyncIterator[Listener]:
        listener = Listener(self._maxlen, task_id)
        self._listeners.add(listener)
        try:
            yield listener
        finally:
            self._listeners.discard(listener)
