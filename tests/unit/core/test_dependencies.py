"""Dependencies: a task waits, blocked, for the tasks it depends on (done or merged),
and is cancelled, naming the dependency, when one can no longer be met."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdeck.agents.base import TurnRequest
from agentdeck.agents.testing import Fail, FakeAgent, Gate, Say, Step
from agentdeck.config import Settings
from agentdeck.core import Core, Merge
from agentdeck.errors import InvalidInput
from agentdeck.model import Task, TaskStatus
from support.core import create, running, task_in
from support.git import git, init_repo
from support.waiting import until

pytestmark = pytest.mark.anyio


class Scripted:
    """Instructions say what to do: ``hold`` (until released), ``fail``, ``write NAME``."""

    def __init__(self) -> None:
        self.gate = Gate()
        self.order: list[str] = []

    def __call__(self, request: TurnRequest) -> list[Step]:
        word, _, arg = request.instructions.partition(" ")
        self.order.append(request.task_id)
        if word == "hold":
            return [self.gate, Say("held")]
        if word == "fail":
            return [Fail("it broke")]
        if word == "write":
            (Path(request.cwd) / arg).write_text(f"{arg}\n")
            files = sorted(p.name for p in Path(request.cwd).iterdir() if p.suffix == ".txt")
            return [Say(" ".join(files))]
        return [Say("done")]


async def blocked_on(core: Core, task_id: str, reason: str) -> Task:
    """The task once the scheduler has recorded ``reason`` as what blocks it."""

    async def check() -> Task | None:
        task = await core.get(task_id)
        return task if task.status_reason == reason else None

    found: Task = await until(core, check)
    return found


async def test_a_chain_runs_in_order(core_settings: Settings) -> None:
    script = Scripted()
    settings = core_settings.model_copy(update={"max_running": 4})
    async with running(settings, FakeAgent(script=script)) as core:
        a = await create(core, "A", "hold", isolation="none")
        b = await create(core, "B", "go", depends_on=[a.id], isolation="none")
        c = await create(core, "C", "go", depends_on=[b.id], isolation="none")
        await task_in(core, a.id, TaskStatus.IN_PROGRESS)
        blocked = await blocked_on(core, b.id, f"blocked by {a.id} (in_progress, not done yet)")
        assert blocked.status == TaskStatus.PENDING and blocked.blocked_by == [a.id]
        script.gate.open()
        await task_in(core, c.id, TaskStatus.WAITING)
        assert script.order == [a.id, b.id, c.id]
        assert (await core.get(c.id)).blocked_by == []


async def test_merged_dependencies_start_from_the_merged_base(
    core_settings: Settings, project: Path
) -> None:
    init_repo(project)
    script = Scripted()
    async with running(core_settings, FakeAgent(script=script)) as core:
        a = await create(core, "A", "write a.txt")
        b = await create(core, "B", "write b.txt", depends_on=[a.id], start_after="merged")
        await task_in(core, a.id, TaskStatus.WAITING)
        waiting = await blocked_on(core, b.id, f"blocked by {a.id} (waiting, not merged yet)")
        assert waiting.status == TaskStatus.PENDING and waiting.blocked_by == [a.id]
        await core.merge(Merge(id=a.id))
        done = await task_in(core, b.id, TaskStatus.WAITING)
        assert done.result_text == "a.txt b.txt"  # A's work was in B's worktree
        assert "a.txt" in git(project, "ls-files")


async def test_a_failed_dependency_cancels_the_chain(core_settings: Settings) -> None:
    async with running(core_settings, FakeAgent(script=Scripted())) as core:
        a = await create(core, "A", "fail", isolation="none")
        b = await create(core, "B", "go", depends_on=[a.id], isolation="none")
        c = await create(core, "C", "go", depends_on=[b.id], isolation="none")
        gone_b = await task_in(core, b.id, TaskStatus.CANCELLED)
        gone_c = await task_in(core, c.id, TaskStatus.CANCELLED)
        assert gone_b.status_reason == f"cancelled: its dependency {a.id} (A) failed"
        assert gone_c.status_reason == f"cancelled: its dependency {b.id} (B) cancelled"
        with pytest.raises(InvalidInput, match="which is failed: it can never be met"):
            await create(core, "D", "go", depends_on=[a.id])
        with pytest.raises(InvalidInput, match="no such task"):
            await create(core, "E", "go", depends_on=["t-nope"])
