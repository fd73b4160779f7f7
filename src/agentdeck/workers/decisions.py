"""Approvals across machines: a worker's turn waits, the user answers at the front.

A worker's `Decisions` open each request with a relay into the ``decisions`` table (one
row per request, the first answer wins by its primary key) and write the request as a
``permission_request`` event, as on one machine. The front keeps a *mirror* of each
request its workers wait on (`Mirror.sync`, run on every change the workers make,
before the change is published), so every face (`Core.pending`, `respond_task`, REST,
links, pushes, MCP elicitation and Tasks) sees it as a local one. An answer at the
front goes through the same relay; the table announces it on the changes channel and
the worker settles its request with the recorded answer (`settle_answered`). A timeout
on the worker is recorded the same way, so the front and the worker agree on which
answer came first.
"""

from __future__ import annotations

import logging

import anyio

from agentdeck.core.approvals import Answer, Approvals, Pending, Relay
from agentdeck.model import EventKind, TaskStatus
from agentdeck.store.base import Store
from agentdeck.workers.registry import Registry

log = logging.getLogger(__name__)

_RECENT = 50  # permission requests read back per look at a task


def relay_through(registry: Registry) -> Relay:
    """A relay that records each answer in the shared ``decisions`` table."""

    async def relay(pending: Pending, answer: Answer) -> Answer:
        first = await registry.answer(pending.id, pending.task_id, answer.to_dict())
        return Answer.from_dict(first)

    return relay


async def settle_answered(registry: Registry, approvals: Approvals, task_id: str) -> None:
    """On a worker: settle the task's open requests that have a recorded answer."""
    waiting = approvals.for_task(task_id)
    if not waiting:
        return
    recorded = await registry.answers([p.id for p in waiting])
    for pending in waiting:
        if pending.id in recorded and pending.answer is None:
            Approvals.settle(pending, Answer.from_dict(recorded[pending.id]))


class Mirror:
    """The front's copy of the requests its workers wait on (see the module)."""

    def __init__(self, store: Store, registry: Registry, approvals: Approvals) -> None:
        self.store = store
        self.registry = registry
        self.approvals = approvals
        self.relay = relay_through(registry)
        self._asking: dict[str, anyio.CancelScope] = {}
        self._group: anyio.abc.TaskGroup | None = None

    async def run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Hold the task group that asks clients (e.g. by elicitation) about mirrored requests."""
        async with anyio.create_task_group() as tg:
            self._group = tg
            task_status.started()
            await anyio.sleep_forever()

    async def sync(self, task_id: str, status: str | None) -> None:
        """Bring the task's mirrored requests in line with the store after a change."""
        mirrored = {p.id: p for p in self.approvals.for_task(task_id)}
        if status is None or (status != TaskStatus.INPUT_REQUIRED and not mirrored):
            return
        requests: dict[str, Pending] = {}
        if status == TaskStatus.INPUT_REQUIRED:
            task = await self.store.get(task_id)
            events = await self.store.last_events(task_id, _RECENT, [EventKind.PERMISSION_REQUEST])
            for event in events:
                if task is not None and event.turn == task.turns:
                    pending = Pending.from_dict(event.data, relay=self.relay)
                    requests[pending.id] = pending
            for request_id in await self.registry.answers(list(requests)):
                del requests[request_id]
        for request_id, pending in mirrored.items():
            if request_id not in requests:
                self._close(pending)
        for request_id, pending in requests.items():
            if request_id not in mirrored:
                self.approvals.add(pending)
                self._ask(pending)

    def _ask(self, pending: Pending) -> None:
        """Ask the clients that asked to be asked about this task (as `Decisions` does)."""
        askers = self.approvals.askers(pending.task_id)
        if not askers or self._group is None:
            return
        scope = anyio.CancelScope()
        self._asking[pending.id] = scope

        async def ask() -> None:
            try:
                with scope:
                    async with anyio.create_task_group() as tg:
                        for asker in askers:
                            tg.start_soon(self.approvals.ask_one, asker, pending)
            finally:
                self._asking.pop(pending.id, None)

        self._group.start_soon(ask)

    def _close(self, pending: Pending) -> None:
        self.approvals.close(pending)
        scope = self._asking.pop(pending.id, None)
        if scope is not None:
            scope.cancel()
