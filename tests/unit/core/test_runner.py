"""How a turn's events reach the store: gathered into batches in a burst, but never
held back when the turn ends, asks, or an approval waits on them."""

from __future__ import annotations

import pytest

from agentdeck.agents.testing import Ask, FakeAgent, Say
from agentdeck.config import Settings
from agentdeck.core import Respond, runner
from agentdeck.model import TaskStatus
from support.core import create, events_of, running, task_in

pytestmark = pytest.mark.anyio
FOREVER = 600.0  # a gathering window no test outlives: only not waiting passes


async def test_a_burst_is_stored_at_once_when_the_turn_ends(
    core_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "COALESCE_SECONDS", FOREVER)
    said = [f"line {i}" for i in range(200)]
    async with running(core_settings, FakeAgent(steps=[Say(s) for s in said])) as core:
        task = await create(core, "Burst", "talk")
        await task_in(core, task.id, TaskStatus.WAITING)
        messages = [e.data["text"] for e in await events_of(core, task.id, "message")]
        assert messages == said


async def test_an_approval_does_not_wait_for_the_gathering_window(
    core_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "COALESCE_SECONDS", FOREVER)
    settings = core_settings.model_copy(update={"approval_policy": "ask"})
    steps = [Say("first"), Say("then"), Ask("Bash", {"command": "make"}), Say("built")]
    async with running(settings, FakeAgent(steps=steps)) as core:
        task = await create(core, "Build", "make it")
        await task_in(core, task.id, TaskStatus.INPUT_REQUIRED)
        pending = core.pending().pending[0]
        await core.respond(Respond(id=task.id, request_id=pending.request_id, decision="allow"))
        await task_in(core, task.id, TaskStatus.WAITING)
        messages = [e.data["text"] for e in await events_of(core, task.id, "message")]
        assert messages == ["first", "then", "built"]
