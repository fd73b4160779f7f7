"""`agentdeck worker`: runs the turns the front sends it, on the shared PostgreSQL store.

A worker is the core's turn machinery without its scheduler: the same `Lifecycle`,
`Decisions` and `Turn` (worktree, agent process group, gates, budgets), writing to the
shared store, whose NOTIFY tells the front. Turns arrive as procrastinate jobs on the
worker's own queue (``agentdeck.<name>``); each job names a task and an attempt, and the
worker runs it only if it claims that attempt (a duplicate delivery exits). While a
turn runs, the worker follows the store's changes: a task the front cancelled or ended
has its turn stopped here (its process group killed) within a notification's time, and
an approval answered at the front settles the request the turn waits on
(`agentdeck.workers.decisions`). After each turn it pushes the task's branch and keeps
Claude conversations in the shared store, so another worker can go on with the task
(`agentdeck.workers.travel`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
from dataclasses import dataclass, field
from typing import Any

import anyio
import procrastinate

from agentdeck.agents import build_agents
from agentdeck.agents.base import Agent
from agentdeck.bus import Bus
from agentdeck.config import Settings
from agentdeck.core.approvals import Decisions
from agentdeck.core.lifecycle import Lifecycle
from agentdeck.core.runner import TurnControl
from agentdeck.core.turn import Turn
from agentdeck.model import TaskStatus
from agentdeck.store.postgres import PostgresStore
from agentdeck.workers.decisions import relay_through, settle_answered
from agentdeck.workers.registry import Registry, ensure_queue_schema
from agentdeck.workers.sessions import PostgresSessionStore
from agentdeck.workers.travel import Travel

log = logging.getLogger(__name__)

TASK_NAME = "agentdeck.run_turn"


def queue_of(worker: str) -> str:
    return f"agentdeck.{worker}"


def queue_app(url: str) -> procrastinate.App:
    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))


@dataclass
class WorkerOptions:
    name: str = field(default_factory=socket.gethostname)
    labels: dict[str, str] = field(default_factory=dict)
    max_running: int = 2
    heartbeat_seconds: float | None = None  # default: a third of the timeout, at most 5 s


class Worker:
    """One worker process: registered, heartbeating, running the turns it claims."""

    def __init__(
        self, settings: Settings, options: WorkerOptions, agents: dict[str, Agent] | None = None
    ) -> None:
        if not settings.database_url:
            raise ValueError("a worker needs the shared database (--database-url)")
        self.settings = settings
        self.options = options
        self.url = settings.database_url
        self.store = PostgresStore(self.url)
        self.registry = Registry(self.url)
        self.sessions = PostgresSessionStore(self.url)
        self.agents = (
            build_agents(settings, session_store=self.sessions) if agents is None else agents
        )
        life = Lifecycle(self.store, Bus())
        relay = relay_through(self.registry)
        self.decisions = Decisions(life, settings.approval_timeout_seconds, relay)
        travel = Travel(options.name, settings.git_remote, self.registry, self.sessions)
        self.turn = Turn(
            settings,
            life,
            self.decisions,
            self.agents,
            remote=settings.git_remote or None,
            publish=travel.publish,
        )
        self.running: dict[str, TurnControl] = {}

    def close(self) -> None:
        self.registry.close()
        self.sessions.close()
        self.store.close()

    async def _available_agents(self) -> list[str]:
        names = []
        for name, agent in self.agents.items():
            with contextlib.suppress(Exception):
                if (await agent.probe()).available:
                    names.append(name)
        return sorted(names)

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Register, heartbeat, follow cancels and run jobs until cancelled."""
        await anyio.to_thread.run_sync(ensure_queue_schema, self.url)
        name = self.options.name
        await self.registry.register(
            name,
            self.options.labels,
            await self._available_agents(),
            [str(r) for r in self.settings.roots],
            self.options.max_running,
        )
        app = queue_app(self.url)

        @app.task(name=TASK_NAME, queue=queue_of(name))
        async def run_turn(task_id: str, attempt: int) -> None:
            await self._run_turn(task_id, attempt)

        try:
            async with app.open_async(), anyio.create_task_group() as tg:
                tg.start_soon(self._heartbeat)
                ready = anyio.Event()
                tg.start_soon(self._follow_front, ready.set)
                await ready.wait()
                tg.start_soon(self._jobs, app)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(Exception):
                    await self.registry.leave(name)

    async def _jobs(self, app: procrastinate.App) -> None:
        await app.run_worker_async(
            queues=[queue_of(self.options.name)],
            name=self.options.name,
            concurrency=self.options.max_running,
            install_signal_handlers=False,
            wait=True,
            listen_notify=True,
            fetch_job_polling_interval=1.0,
            delete_jobs="always",
        )

    async def _heartbeat(self) -> None:
        every = self.options.heartbeat_seconds or min(
            5.0, self.settings.heartbeat_timeout_seconds / 3
        )
        while True:
            with contextlib.suppress(Exception):  # a blip; the next beat retries
                await self.registry.heartbeat(self.options.name, len(self.running))
            await anyio.sleep(every)

    async def _follow_front(self, ready: Any) -> None:
        """Stop the turn of a task the front ended (cancelled, completed) or deleted, and
        settle the requests of a turn that the front answered."""
        async for change in self.store.changes(ready=ready):
            task_id = change["task_id"]
            control = self.running.get(task_id)
            if control is None:
                continue
            status = change["status"]
            if change["what"] == "deleted" or (status and TaskStatus(status).terminal):
                control.cancel("cancelled by the user")
            elif change["what"] == "answered":
                try:
                    await settle_answered(self.registry, self.decisions.open, task_id)
                except Exception:  # a blip: the turn's timeout still ends the wait
                    log.exception("reading the answers for %s failed", task_id)

    async def _run_turn(self, task_id: str, attempt: int) -> None:
        name = self.options.name
        if not await self.registry.claim(task_id, attempt, name):
            log.info("task %s attempt %s: not ours to run (a duplicate delivery)", task_id, attempt)
            return
        control = TurnControl()
        self.running[task_id] = control
        try:
            await self.turn.run(task_id, control)
        finally:
            self.running.pop(task_id, None)
            control.done.set()
            with anyio.CancelScope(shield=True):
                await self.registry.finish(task_id, attempt)
