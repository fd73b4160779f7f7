"""The lifecycle cannot lose an update: commands that arrive while a turn is being
prepared, or while the task changes status, are all kept.

Each race is run many times on a real git repository whose worktree setup command
blocks on a FIFO until the test opens it, so the command lands exactly while the
worktree is being prepared. The agent is the in-memory `FakeAgent`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import anyio
import pytest

from agentdeck.agents.testing import Ask, FakeAgent, Gate
from agentdeck.config import Settings
from agentdeck.core import Core, Respond
from agentdeck.model import TaskStatus
from agentdeck.proctree import alive_members
from support.core import continue_, create, events_of, running, task_in
from support.git import init_repo
from support.waiting import WAIT, wait_until

pytestmark = pytest.mark.anyio

ROUNDS = 50


def gated_setup(project: Path) -> Path:
    """Make ``project`` a repository whose setup waits for a writer on ``gate.fifo``."""
    gate = project.parent / "gate.fifo"
    command = ["python3", "-c", f"open({str(gate)!r}).read()"]
    init_repo(project, f"setup = {json.dumps(command)}\n")
    return gate


async def release(gate: Path) -> None:
    """Let one blocked setup go on (opening the FIFO waits for its reader)."""

    def open_and_close() -> None:
        fd = os.open(gate, os.O_WRONLY)
        os.close(fd)

    with anyio.fail_after(WAIT):
        await anyio.to_thread.run_sync(open_and_close, abandon_on_cancel=True)


async def test_update_during_worktree_preparation_is_never_lost(
    core_settings: Settings, project: Path
) -> None:
    gate = gated_setup(project)
    agent = FakeAgent()
    async with running(core_settings, agent) as core:
        for n in range(ROUNDS):
            os.mkfifo(gate)
            task = await create(core, f"round {n}", f"first {n}")
            await task_in(core, task.id, TaskStatus.IN_PROGRESS)  # preparing its worktree
            _, queued = await continue_(core, task.id, f"second {n}")
            assert queued  # a turn is under way: the instructions wait for it
            await release(gate)
            done = await task_in(core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
            gate.unlink()
            assert done.status == TaskStatus.WAITING, done.error
            assert done.turns == 2 and done.queue == []
            seen = [r.instructions for r in agent.requests if r.task_id == task.id]
            assert seen == [f"first {n}", f"second {n}"]
            assert done.git is not None and done.git.worktree_path is not None


async def test_cancel_during_worktree_preparation_stops_setup(
    core_settings: Settings, project: Path
) -> None:
    gate = gated_setup(project)
    os.mkfifo(gate)
    agent = FakeAgent()
    async with running(core_settings, agent) as core:
        for n in range(ROUNDS // 5):
            task = await create(core, f"round {n}", "never runs")
            await task_in(core, task.id, TaskStatus.IN_PROGRESS)
            with anyio.fail_after(WAIT):  # not CANCEL_WAIT: the setup is stopped at once
                cancelled = await core.cancel(task.id)
            assert cancelled.status == TaskStatus.CANCELLED
            assert cancelled.ended_at is not None and cancelled.queue == []
            assert alive_members(None, marker=task.id) == []  # the setup command is gone
            kinds = [e.kind for e in await events_of(core, task.id, "turn_started")]
            assert kinds == []
    assert agent.requests == []


async def test_respond_and_update_during_a_status_change(
    core_settings: Settings, project: Path
) -> None:
    """The answer and new instructions race the move to ``input_required``: both land."""
    agent = FakeAgent(script=lambda r: [Ask("Bash", {"command": "ls"})] if r.turn == 1 else [])
    settings = core_settings.model_copy(update={"approval_policy": "ask"})
    async with running(settings, agent) as core:
        for n in range(ROUNDS):
            task = await create(core, f"round {n}", "ask first")
            await answer_at_once(core, task.id)
            _, queued = await continue_(core, task.id, f"then {n}")
            done = await task_in(core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
            assert done.status == TaskStatus.WAITING, done.error
            assert done.turns == 2 if queued else done.turns >= 1
            assert core.pending().count == 0
            statuses = [e.data["to"] for e in await events_of(core, task.id, "status")]
            assert statuses[-1] == "waiting" and "input_required" in statuses
            seen = [r.instructions for r in agent.requests if r.task_id == task.id]
            assert seen == ["ask first", f"then {n}"]
    assert agent.answers == [(True, "")] * ROUNDS


async def answer_at_once(core: Core, task_id: str) -> None:
    """Allow the task's first decision as soon as it is open, often before the task's
    move to ``input_required`` is saved (the request opens first)."""
    open_ = await wait_until(
        lambda: [p for p in core.pending().pending if p.task_id == task_id],
        timeout=WAIT,
        interval=0.001,
    )
    await core.respond(Respond(id=task_id, decision="allow", request_id=open_[0].request_id))


async def test_a_decision_held_by_a_gate_is_kept_across_updates(
    core_settings: Settings, project: Path
) -> None:
    """Instructions sent while the agent waits on the user are queued, then run."""
    gate = Gate()
    agent = FakeAgent(
        script=lambda r: [Ask("Bash", {"command": "make"}), gate] if r.turn == 1 else []
    )
    settings = core_settings.model_copy(update={"approval_policy": "ask"})
    async with running(settings, agent) as core:
        task = await create(core, "held", "build it")
        await task_in(core, task.id, TaskStatus.INPUT_REQUIRED)
        _, queued = await continue_(core, task.id, "and test it")
        assert queued
        await core.respond(Respond(id=task.id, decision="allow"))
        with anyio.fail_after(WAIT):
            await gate.reached.wait()
        gate.open()
        done = await task_in(core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
    assert done.status == TaskStatus.WAITING and done.turns == 2
    assert [r.instructions for r in agent.requests] == ["build it", "and test it"]


async def test_two_processes_editing_one_task_on_postgresql_lose_no_update(
    postgres_url: str,
) -> None:
    """A front and workers are stores on one database: while one is inside ``editing``
    another's ``editing`` of the same task waits (an advisory lock), so each
    read-modify-write sees the last one's result; a third editing another task is not
    held up."""
    import psycopg

    from agentdeck.bus import Bus
    from agentdeck.core.lifecycle import Lifecycle
    from agentdeck.model import Task, now
    from agentdeck.store.postgres import PostgresStore

    def waiting_for_a_lock() -> bool:
        with psycopg.connect(postgres_url) as db:
            row = db.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
        return bool(row and row[0])

    stores = [PostgresStore(postgres_url) for _ in range(3)]
    try:
        front, worker, other = (Lifecycle(store, Bus()) for store in stores)
        for task_id in ("t-1", "t-2"):
            stamp = now()
            await stores[0].insert_task(Task(
                id=task_id, title="t", status=TaskStatus.PENDING, agent="claude",
                project_path="/p", cwd="/p", created_at=stamp, updated_at=stamp,
            ))  # fmt: skip

        async def one_more_turn(life: Lifecycle) -> None:
            async with life.editing("t-1") as task:
                task.turns += 1
                await life.save(task)

        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as group, front.editing("t-1") as held:
                group.start_soon(one_more_turn, worker)
                await wait_until(waiting_for_a_lock)
                async with other.editing("t-2"):  # another task: not held up
                    pass
                held.turns += 1
                await front.save(held)
        kept = await stores[1].get("t-1")
        assert kept is not None and kept.turns == 2  # neither increment lost
    finally:
        for store in stores:
            store.close()
