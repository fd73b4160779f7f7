"""Driving a `Core` directly: create tasks, read events, wait for a status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from agentdeck.agents import Agent
from agentdeck.agents.testing import FakeAgent
from agentdeck.config import Settings
from agentdeck.core import ContinueTask, Core, CreateTask, EventItem
from agentdeck.model import Task, TaskStatus
from support.waiting import WAIT, until


async def create(core: Core, title: str, instructions: str, **options: Any) -> Task:
    return await core.create(CreateTask(title=title, instructions=instructions, **options))


async def continue_(core: Core, task_id: str, instructions: str) -> tuple[Task, bool]:
    return await core.continue_(ContinueTask(id=task_id, instructions=instructions))


async def events_of(core: Core, task_id: str, *kinds: str) -> list[EventItem]:
    """Every event of the task (of ``kinds``, if given), in order."""
    out: list[EventItem] = []
    after = 0
    while True:
        page = await core.events(task_id, after, kinds=list(kinds) or None)
        out.extend(page.events)
        if not page.more:
            return out
        after = page.last_seq


async def task_in(core: Core, task_id: str, *statuses: TaskStatus, timeout: float = WAIT) -> Task:
    """The task once its status is one of ``statuses``."""

    async def check() -> Task | None:
        task = await core.get(task_id)
        return task if task.status in statuses else None

    task: Task = await until(core, check, timeout)
    return task


@asynccontextmanager
async def running(settings: Settings, *agents: Agent) -> AsyncIterator[Core]:
    """A core on ``agents`` (default: one `FakeAgent`), recovered and scheduling."""
    async with run(Core(settings, agents={a.name: a for a in agents or (FakeAgent(),)})) as core:
        yield core


@asynccontextmanager
async def configured(settings: Settings) -> AsyncIterator[Core]:
    """A core on the agents ``settings`` configure (the real CLIs), recovered and scheduling."""
    async with run(Core(settings)) as core:
        yield core


@asynccontextmanager
async def run(core: Core) -> AsyncIterator[Core]:
    """``core`` running for the block, closed after."""
    try:
        async with anyio.create_task_group() as tg:
            await tg.start(core.run)
            try:
                yield core
            finally:
                tg.cancel_scope.cancel()
    finally:
        core.close()
