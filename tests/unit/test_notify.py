"""Restart summaries: one message for every task a restart resumes, one for those the
crash-loop guard holds, never one per task."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from agentdeck.agents.base import TurnRequest
from agentdeck.agents.testing import FakeAgent, Hang, Step
from agentdeck.app import Deck
from agentdeck.config import Settings
from agentdeck.model import TaskStatus
from agentdeck.notify import SendResult
from support.core import create, running, task_in
from support.waiting import wait_until

pytestmark = pytest.mark.anyio


class Sent:
    """A sender that keeps every message (title, body, type)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, str]] = []

    def __call__(self, url: str, title: str, body: str, kind: str, timeout: float) -> SendResult:
        self.messages.append((title, body, kind))
        return SendResult(True)


def hangs(request: TurnRequest) -> list[Step]:
    return [Hang()]


@asynccontextmanager
async def deck(settings: Settings, sent: Sent) -> AsyncIterator[Deck]:
    """A server's core and push notifier, stopped at the end like a crash (no stop)."""
    server = Deck(settings, agents={"fake": FakeAgent(script=hangs)})
    server.push.sender = sent
    async with anyio.create_task_group() as tg:
        await tg.start(server.push.run)
        await tg.start(server.core.run)
        try:
            yield server
        finally:
            tg.cancel_scope.cancel()
    server.core.close()


async def test_ten_cut_tasks_make_one_summary(core_settings: Settings) -> None:
    settings = core_settings.model_copy(
        update={
            "max_running": 10,
            "notify": core_settings.notify.model_copy(update={"urls": ["json://localhost/x"]}),
        }
    )
    async with running(settings, FakeAgent(script=hangs)) as core:
        ids = [(await create(core, f"job {i}", "work")).id for i in range(10)]
        for task_id in ids:
            await task_in(core, task_id, TaskStatus.IN_PROGRESS)
    sent = Sent()
    async with deck(settings, sent) as server:
        await task_in(server.core, ids[0], TaskStatus.IN_PROGRESS)  # the first resumes
        await wait_until(lambda: sent.messages, 10)
        await anyio.wait_all_tasks_blocked()
    titles = [title for title, _, _ in sent.messages]
    assert titles == ["agentdeck restarted: 10 tasks interrupted — resuming"]
    body = sent.messages[0][1]
    assert all(f"task://{task_id}" in body for task_id in ids)


async def test_the_crash_loop_guard_sends_one_needs_you(core_settings: Settings) -> None:
    settings = core_settings.model_copy(
        update={
            "auto_resume_limit": 1,
            "notify": core_settings.notify.model_copy(update={"urls": ["json://localhost/x"]}),
        }
    )
    async with running(settings, FakeAgent(script=hangs)) as core:
        task = await create(core, "crashy", "work")
        await task_in(core, task.id, TaskStatus.IN_PROGRESS)
    sent = Sent()
    async with deck(settings, sent):
        await wait_until(lambda: sent.messages, 10)
        await anyio.wait_all_tasks_blocked()
    assert [(t, k) for t, _, k in sent.messages] == [
        ("agentdeck restarted: task crashy interrupted — needs you", "warning")
    ]
    assert "cut by 1 server crash in a row" in sent.messages[0][1]


def test_a_failing_acceptance_check_is_told_as_needing_you() -> None:
    from agentdeck.config import NotifySettings
    from agentdeck.model import Event, Task, now
    from agentdeck.notify import compose

    stamp = now()
    task = Task("t-1", "gated", TaskStatus.WAITING, "fake", "/p", "/p", stamp, stamp, turns=3)
    task.accept_command = ["pytest", "-q"]
    task.gate = {"passed": False, "turn": 3, "output": "1 failed\n", "exit_code": 1}
    status = Event("t-1", 9, stamp, 3, "status", {"from": "in_progress", "to": "waiting"})
    title, body = compose(NotifySettings(), task, "turn_finished", status)
    assert title == "agentdeck: gated — waiting, the acceptance check fails (needs you)"
    assert "check: pytest -q: 1 failed" in body
    task.gate = {**task.gate, "passed": True}
    assert (
        compose(NotifySettings(), task, "turn_finished", status)[0] == "agentdeck: gated — waiting"
    )
