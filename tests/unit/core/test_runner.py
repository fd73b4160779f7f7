"""How a turn's events reach the store: gathered into batches in a burst, but never
held back when the turn ends, asks, or an approval waits on them."""

from __future__ import annotations

import anyio
import pytest

from agentdeck.agents.testing import Ask, FakeAgent, Say
from agentdeck.bus import Bus
from agentdeck.config import Settings
from agentdeck.core import Respond, runner
from agentdeck.model import EventKind, NewEvent, Task, TaskStatus, now
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


async def test_an_end_that_arrives_while_a_batch_is_saved_is_not_held_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The turn's end arrives while the batch before it is being written: the next batch
    is stored as soon as that write is done, not a gathering window later."""
    monkeypatch.setattr(runner, "COALESCE_SECONDS", FOREVER)
    writing, release = anyio.Event(), anyio.Event()
    batches: list[list[str]] = []

    class SlowFirstWrite:
        async def save(self, task: Task, batch: list[NewEvent], columns: object) -> int:
            batches.append([str(e.kind) for e in batch])
            if len(batches) == 1:
                writing.set()
                await release.wait()
            return len(batches)

    turn = runner.TurnRunner(SlowFirstWrite(), Bus())  # type: ignore[arg-type]
    stamp = now()
    task = Task("t-race", "race", TaskStatus.IN_PROGRESS, "fake", "/p", "/p", stamp, stamp)
    stored = runner._Stored()
    send, receive = anyio.create_memory_object_stream[NewEvent](100)
    summary = runner._Summary(task, resumed=False)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(turn._persist, task, receive, summary, (), stored)
            send.send_nowait(NewEvent(EventKind.MESSAGE, {"text": "first"}, 1))
            await writing.wait()
            for event in (
                NewEvent(EventKind.MESSAGE, {"text": "last"}, 1),
                NewEvent(EventKind.TURN_FINISHED, {"success": True}, 1),
            ):
                send.send_nowait(event)
            stored.hurry.set()  # as the runner's emitter does for a turn's end
            release.set()
            while len(batches) < 2:
                await anyio.wait_all_tasks_blocked()
            send.close()
    assert batches == [["message"], ["message", "turn_finished"]]
