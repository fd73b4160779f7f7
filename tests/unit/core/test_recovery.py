"""After a crash or a stop, cut turns resume by themselves in the same agent session;
auto_resume false and the crash-loop guard leave them to the user."""

from __future__ import annotations

import anyio
import pytest

from agentdeck.agents.base import TurnRequest
from agentdeck.agents.testing import FakeAgent, Hang, Say, Step
from agentdeck.config import Settings
from agentdeck.core import Core
from agentdeck.model import TaskStatus
from support.core import create, events_of, running, task_in

pytestmark = pytest.mark.anyio


def hangs_first(request: TurnRequest) -> list[Step]:
    """The first turn hangs until it is cut; a resumed one finishes."""
    return [Hang()] if request.resume_session_id is None else [Say("carried on")]


def always_hangs(request: TurnRequest) -> list[Step]:
    return [Hang()]


async def crash_mid_turn(settings: Settings, agent: FakeAgent, **options: object) -> str:
    """A task whose turn is running when the core dies without a stop (a crash)."""
    async with running(settings, agent) as core:
        task = await create(core, "cut", "do the work", **options)
        await task_in(core, task.id, TaskStatus.IN_PROGRESS)
        await _session_known(core, task.id)
        return task.id


async def _session_known(core: Core, task_id: str) -> None:
    with anyio.fail_after(10):
        async with core.watch(task_id) as changes:  # watching before looking: no change slips by
            while (await core.get(task_id)).session_id is None:
                await changes.settle()


async def test_a_turn_cut_by_a_crash_resumes_in_the_same_session(
    core_settings: Settings,
) -> None:
    task_id = await crash_mid_turn(core_settings, FakeAgent(script=hangs_first))
    agent = FakeAgent(script=hangs_first)
    async with running(core_settings, agent) as core:
        done = await task_in(core, task_id, TaskStatus.WAITING)
        assert done.turns == 2 and done.result_text == "carried on"
        resumed = agent.requests[0]
        assert resumed.resume_session_id == f"fake-{task_id}"
        assert "previous turn was cut off" in resumed.instructions
        assert "crashed" in resumed.instructions
        notes = [e.data for e in await events_of(core, task_id, "log")]
        assert any(n.get("source") == "auto_resume" for n in notes)
        statuses = [e.data["to"] for e in await events_of(core, task_id, "status")]
        assert statuses[-4:] == ["interrupted", "pending", "in_progress", "waiting"]
        assert done.crash_cuts == 0  # the resumed turn ended normally


async def test_auto_resume_false_stays_interrupted(core_settings: Settings) -> None:
    task_id = await crash_mid_turn(core_settings, FakeAgent(script=hangs_first), auto_resume=False)
    agent = FakeAgent(script=hangs_first)
    async with running(core_settings, agent) as core:
        await anyio.wait_all_tasks_blocked()
        task = await core.get(task_id)
        assert task.status == TaskStatus.INTERRUPTED and not agent.requests
        assert task.status_reason is not None and "auto-resume is off" in task.status_reason


async def test_the_crash_loop_guard_stops_resuming_after_three_cuts(
    core_settings: Settings,
) -> None:
    task_id = await crash_mid_turn(core_settings, FakeAgent(script=always_hangs))
    for cuts in (1, 2):  # each resumed turn is cut by another crash
        async with running(core_settings, FakeAgent(script=always_hangs)) as core:
            task = await task_in(core, task_id, TaskStatus.IN_PROGRESS)
            assert task.crash_cuts == cuts
    agent = FakeAgent(script=always_hangs)
    async with running(core_settings, agent) as core:
        held = core.recovery.held
        assert [t.id for t in held] == [task_id]
        task = await core.get(task_id)
        assert task.status == TaskStatus.INTERRUPTED and task.crash_cuts == 3
        assert task.status_reason is not None and "3 server crashes in a row" in task.status_reason
        await anyio.wait_all_tasks_blocked()
        assert not agent.requests
    async with running(core_settings, agent) as core:  # and later starts leave it too
        await anyio.wait_all_tasks_blocked()
        assert not agent.requests and not core.recovery.held


async def test_a_stop_interrupts_the_turn_and_the_next_start_resumes_it(
    core_settings: Settings,
) -> None:
    async with running(core_settings, FakeAgent(script=hangs_first)) as core:
        task = await create(core, "stopped", "do the work")
        await task_in(core, task.id, TaskStatus.IN_PROGRESS)
        await _session_known(core, task.id)
        assert await core.stop() == [task.id]
        stopped = await core.get(task.id)
        assert stopped.status == TaskStatus.INTERRUPTED and stopped.interrupted_by == "stop"
        assert stopped.status_reason is not None
        assert stopped.status_reason.startswith("server stopping")
        assert stopped.crash_cuts == 0
    agent = FakeAgent(script=hangs_first)
    async with running(core_settings, agent) as core:
        done = await task_in(core, task.id, TaskStatus.WAITING)
        assert "was stopped" in agent.requests[0].instructions and done.turns == 2


async def test_resumes_run_one_at_a_time(core_settings: Settings) -> None:
    settings = core_settings.model_copy(update={"max_running": 4})
    async with running(settings, FakeAgent(script=always_hangs)) as core:
        ids = [(await create(core, f"t{i}", "work")).id for i in range(2)]
        for task_id in ids:
            await task_in(core, task_id, TaskStatus.IN_PROGRESS)
    async with running(settings, FakeAgent(script=always_hangs)) as core:
        first = await task_in(core, ids[0], TaskStatus.IN_PROGRESS)
        await anyio.wait_all_tasks_blocked()
        assert (await core.get(ids[1])).status == TaskStatus.INTERRUPTED  # waits its turn
        await core.cancel(first.id)
        await task_in(core, ids[1], TaskStatus.IN_PROGRESS)
