"""Every change to a task's lifecycle: re-read under one lock, checked, saved, published.

No stale copy can overwrite a concurrent change: a mutation opens
``async with lifecycle.editing(task_id) as task``, which holds the lock (and the
store's per-task hold, which on PostgreSQL keeps out the other processes: the front,
the workers) and hands out a fresh copy from the store; only that copy is saved, and
only the lifecycle's columns (`COLUMNS`). A running turn writes the summary columns on its own
(`agentdeck.core.runner.SUMMARY_COLUMNS`), so neither undoes the other.
Entering a status runs its entry actions in one place, `transition`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import anyio

from agentdeck.bus import Bus, Change
from agentdeck.errors import InvalidTransition, NotFound
from agentdeck.model import EventKind, NewEvent, Task, TaskStatus, can_transition, now
from agentdeck.store import TaskStore

COLUMNS = (
    "status",
    "queue",
    "turns",
    "started_at",
    "ended_at",
    "error",
    "updated_at",
    "git",
    "cwd",  # where the agent runs: moves with the worktree (another worker's)
    "always_allow",
    "status_reason",
    "interrupted_by",
    "crash_cuts",
    "gate",
    "blocked_by",
    "max_cost_usd",
    "max_tokens",
    "resume_at",
    "on_worker",
)


class Lifecycle:
    """The one writer of lifecycle columns."""

    def __init__(self, store: TaskStore, bus: Bus) -> None:
        self.store = store
        self.bus = bus
        self._lock = anyio.Lock()

    @asynccontextmanager
    async def editing(self, task_id: str) -> AsyncIterator[Task]:
        """The task, fresh from the store, with the lock held until the block ends (and
        the store's hold on it against other processes: a front and its workers)."""
        async with self._lock, self.store.exclusive(task_id):
            task = await self.store.get(task_id)
            if task is None:
                raise NotFound(f"no task with id {task_id!r}", {"id": task_id})
            yield task

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        """The lock alone (for changes that span several tasks)."""
        async with self._lock:
            yield

    async def insert(self, task: Task, events: Sequence[NewEvent]) -> Task:
        seq = await self.store.insert_task(task, events)
        self.bus.publish(Change(task.id, "created", str(task.status), seq))
        return task

    async def save(self, task: Task, events: Sequence[NewEvent] = ()) -> Task:
        """Write the lifecycle columns and ``events`` at once; publish the change.

        Call it only on a copy from `editing`, inside its block."""
        task.updated_at = now()
        seq = await self.store.save(task, events, COLUMNS)
        self.bus.publish(Change(task.id, "updated", str(task.status), seq))
        return task

    async def append(self, task_id: str, events: Sequence[NewEvent]) -> None:
        """Record events that change no column, and publish them."""
        try:
            seq = await self.store.append(task_id, events)
        except KeyError:
            raise NotFound(f"no task with id {task_id!r}", {"id": task_id}) from None
        self.bus.publish(Change(task_id, "updated", None, seq))

    async def delete(self, task_id: str) -> bool:
        if await self.store.delete(task_id):
            self.bus.publish(Change(task_id, "deleted", None))
            return True
        return False

    async def transition(
        self, task: Task, to: TaskStatus, reason: str, events: Sequence[NewEvent] = ()
    ) -> Task:
        """Move ``task`` to ``to`` (if allowed), run the status's entry actions, save.

        Entry actions: a final status records ``ended_at`` and drops queued
        instructions; ``failed`` keeps its reason as the task's ``error``;
        ``in_progress`` records the first start.
        """
        if not can_transition(task.status, to):
            raise InvalidTransition(
                f"task {task.id} cannot go from {task.status} to {to}",
                {"id": task.id, "status": str(task.status), "to": str(to)},
            )
        change = NewEvent(
            EventKind.STATUS,
            {"from": str(task.status), "to": str(to), "reason": reason},
            task.turns,
        )
        task.status = to
        task.status_reason = reason
        if to != TaskStatus.INTERRUPTED:
            task.interrupted_by = None
        if to.terminal:
            task.ended_at = task.ended_at or now()
            task.queue.clear()
        if to == TaskStatus.FAILED:
            task.error = task.error or reason
        if to == TaskStatus.IN_PROGRESS:
            task.started_at = task.started_at or now()
        return await self.save(task, [*events, change])
