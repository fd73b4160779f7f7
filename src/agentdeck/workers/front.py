"""The front's side of scale-out: dispatch pending turns to workers, fan out what they
write, and reap dead workers.

`RemoteScheduler` takes the place of the core's `Scheduler` when the front runs with
``dispatch = "workers"`` (and a PostgreSQL ``database_url``). It has the same face to the
core (``run``, ``wake``, ``stop``, ``running``): ``running`` stays empty, since no turn
runs in the front, so `Core.cancel` moves the task to ``cancelled`` in the store and the
worker, told by NOTIFY, stops the agent.

- **Dispatch.** Pending tasks, oldest first, each to the least-loaded live worker that
  has its agent and a root holding its project (`registry.choose`). A task whose
  conversation lives on a worker (it has a session id) goes back to that worker, unless
  that worker is gone and the task can travel (`agentdeck.workers.travel`). A task
  no live worker can serve, or whose workers are full, stays ``pending`` with its
  ``status_reason`` saying so. Each dispatch opens a row with a new attempt number and
  defers one procrastinate job on the worker's queue (``queueing_lock`` = the task).
- **Fan-out.** Every task write by a worker arrives by LISTEN/NOTIFY and is published on
  the front's bus, so MCP subscriptions, SSE and push see remote turns as local ones.
- **Approvals.** Requests a worker's turn waits on are mirrored into the front's
  approvals before their change is published, and answered through the shared record
  (`agentdeck.workers.decisions`).
- **Reaper.** A worker silent for ``heartbeat_timeout_seconds`` is dead; its running
  tasks become ``interrupted`` with the worker named in ``status_reason``
  (``update_task`` resumes them, on that worker once it is back).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import anyio

from agentdeck.bus import Bus, Change
from agentdeck.config import Settings
from agentdeck.core import dependencies
from agentdeck.core.approvals import Approvals
from agentdeck.core.lifecycle import Lifecycle
from agentdeck.core.runner import TurnControl
from agentdeck.errors import InvalidTransition, NotFound
from agentdeck.model import Task, TaskStatus
from agentdeck.store.postgres import PostgresStore
from agentdeck.workers.decisions import Mirror
from agentdeck.workers.registry import Registry, WorkerInfo, choose, ensure_queue_schema
from agentdeck.workers.worker import TASK_NAME, queue_app, queue_of

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between two looks at capacity and heartbeats


class RemoteScheduler:
    """Sends turns to workers instead of running them (see the module)."""

    def __init__(
        self,
        settings: Settings,
        store: PostgresStore,
        life: Lifecycle,
        bus: Bus,
        approvals: Approvals,
    ) -> None:
        assert settings.database_url
        self.url: str = settings.database_url
        self.settings = settings
        self.store = store
        self.life = life
        self.bus = bus
        self.registry = Registry(settings.database_url)
        self.mirror = Mirror(store, self.registry, approvals)
        self.running: dict[str, TurnControl] = {}  # never filled: turns run on workers
        self._wakeup = anyio.Event()
        self._stopping = False
        self._app = queue_app(settings.database_url)
        self._job = self._app.task(name=TASK_NAME)(_never_here)

    def stop(self) -> dict[str, TurnControl]:
        self._stopping = True
        return {}

    def wake(self) -> None:
        self._wakeup.set()

    async def workers(self) -> list[WorkerInfo]:
        return await self.registry.workers(self.settings.heartbeat_timeout_seconds)

    async def refusal(
        self, agent: str, project_path: str, labels: dict[str, str], worker: str | None
    ) -> str | None:
        """Why no registered live worker could ever run such a task (None: one can, maybe
        once it has a free slot)."""
        workers = await self.workers()
        found, why = choose(workers, agent, project_path, labels=labels, worker=worker)
        kind, _, text = why.partition(": ")
        if found is not None or kind != "none":
            return None
        live = [w for w in workers if w.state == "alive"]
        listed = "; ".join(
            f"{w.name} (agents {', '.join(w.agents)}; roots {', '.join(w.roots)}; labels "
            f"{', '.join(f'{k}={v}' for k, v in w.labels.items()) or 'none'})"
            for w in live
        )
        return f"no worker can run this task: {text}. Live workers: {listed or 'none'}"

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        await anyio.to_thread.run_sync(ensure_queue_schema, self.url)
        try:
            async with self._app.open_async(), anyio.create_task_group() as tg:
                await tg.start(self.mirror.run)
                listening = anyio.Event()
                tg.start_soon(self._fan_out, listening.set)
                await listening.wait()
                await self._mirror_waiting()
                tg.start_soon(self._wake_on_changes)
                tg.start_soon(self._tick)
                task_status.started()
                while True:
                    with contextlib.suppress(Exception):
                        await self._reap()
                    if not self._stopping:
                        try:
                            await self._dispatch()
                        except Exception:
                            log.exception("dispatching turns to workers failed")
                    await self._wakeup.wait()
                    self._wakeup = anyio.Event()
        finally:
            self.registry.close()

    async def _mirror_waiting(self) -> None:
        """Mirror the requests workers already wait on (a front that just started)."""
        for task in await self.store.list_tasks(statuses=[TaskStatus.INPUT_REQUIRED]):
            try:
                await self.mirror.sync(task.id, str(task.status))
            except Exception:
                log.exception("mirroring the decisions of %s failed", task.id)

    async def _tick(self) -> None:
        while True:
            await anyio.sleep(TICK)
            self.wake()

    async def _fan_out(self, ready: Any) -> None:
        """Publish what other processes (workers) wrote, as they commit."""
        while True:
            try:
                async for change in self.store.changes(ready=ready):
                    if change["what"] == "answered":
                        continue  # a decision recorded: the worker's own write follows
                    try:
                        await self.mirror.sync(change["task_id"], change["status"])
                    except Exception:
                        log.exception("mirroring the decisions of %s failed", change["task_id"])
                    self.bus.publish(
                        Change(
                            change["task_id"],
                            change["what"],
                            change["status"],
                            change["last_seq"],
                        )
                    )
            except Exception:
                log.exception("listening to the database failed; listening again")
                await anyio.sleep(TICK)

    async def _wake_on_changes(self) -> None:
        async with self.bus.listen() as changes:
            async for change in changes:
                if change.status is not None:
                    self.wake()

    async def _dispatch(self) -> None:
        pending = await self.store.list_tasks(statuses=[TaskStatus.PENDING], oldest_first=True)
        if not pending:
            return
        open_ = await self.registry.open_dispatches()
        workers = await self.workers()
        for task in pending:
            if task.id in open_:
                continue
            if task.depends_on and not await dependencies.settle(self.life, task):
                continue
            home, gone = await self._home(task, workers)
            only = task.worker or home
            worker, why = choose(
                workers, task.agent, task.project_path, labels=task.labels, worker=only
            )
            if worker is None:
                await self._note(task.id, _reason(why, only))
                continue
            attempt = await self.registry.dispatch(task.id, worker.name)
            if attempt is None:
                continue
            worker.load += 1
            sent = f"sent to worker {worker.name}"
            if gone and worker.name != gone:
                sent += f" (worker {gone} is gone; the branch and the conversation travelled)"
            await self._note(task.id, sent, worker.name)
            job = self._job.configure(queue=queue_of(worker.name), queueing_lock=task.id)
            with contextlib.suppress(Exception):  # AlreadyEnqueued: that job will do
                await job.defer_async(task_id=task.id, attempt=attempt)

    async def _home(self, task: Task, workers: list[WorkerInfo]) -> tuple[str | None, str | None]:
        """The worker a task must go back to (the one holding its conversation), and the
        worker it left because that one is gone and the task can travel."""
        if not task.session_id:
            return None, None
        last = await self.registry.last_worker(task.id)
        if last is None or any(w.name == last and w.state == "alive" for w in workers):
            return last, None
        if await self.registry.travel(task.id) is None:
            return last, None
        return None, last

    async def _note(self, task_id: str, reason: str, on_worker: str | None = None) -> None:
        """Say why a pending task waits (or where it went), once."""
        with contextlib.suppress(NotFound):
            async with self.life.editing(task_id) as task:
                moved = on_worker is not None and task.on_worker != on_worker
                if moved or (task.status == TaskStatus.PENDING and task.status_reason != reason):
                    task.on_worker = on_worker or task.on_worker
                    if task.status == TaskStatus.PENDING:
                        task.status_reason = reason
                    await self.life.save(task)

    async def _reap(self) -> None:
        timeout = self.settings.heartbeat_timeout_seconds
        for worker, task_ids in await self.registry.reap(timeout):
            for task_id in task_ids:
                with contextlib.suppress(NotFound, InvalidTransition):
                    async with self.life.editing(task_id) as task:
                        if task.status not in (TaskStatus.IN_PROGRESS, TaskStatus.INPUT_REQUIRED):
                            continue
                        task.interrupted_by = "crash"
                        reason = (
                            f"worker {worker} stopped answering (no heartbeat for {timeout:g} s):"
                            " the turn was interrupted; update_task resumes it"
                        )
                        await self.life.transition(task, TaskStatus.INTERRUPTED, reason)


def _reason(why: str, only: str | None) -> str:
    kind, _, text = why.partition(": ")
    if only and kind == "none":
        return f"waiting for worker {only}, which holds its conversation: {text}"
    return text


async def _never_here(task_id: str, attempt: int) -> None:  # pragma: no cover
    raise RuntimeError("turns run on workers, not in the front")
