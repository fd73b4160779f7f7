"""The front door on a fake agent: commands, queries, watching, refusals."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from agentdeck.agents.base import Capabilities
from agentdeck.agents.testing import FakeAgent, Hang, Listen, Say
from agentdeck.config import Settings
from agentdeck.core import Clean, ContinueTask, Core, TaskQuery
from agentdeck.errors import InvalidInput, InvalidTransition, NotFound, ProjectNotAllowed
from agentdeck.model import TaskStatus
from support.core import continue_, create, events_of, running, task_in
from support.waiting import WAIT, until

pytestmark = pytest.mark.anyio


async def test_a_task_runs_continues_and_ends(core_settings: Settings) -> None:
    agent = FakeAgent()
    async with running(core_settings, agent) as core:
        task = await create(core, "Echo", "hello")
        done = await task_in(core, task.id, TaskStatus.WAITING)
        assert done.result_text == "hello" and done.session_id == f"fake-{task.id}"
        assert (await core.get(done.session_id)).id == task.id  # found by its session too
        _, queued = await continue_(core, task.id, "again")
        assert not queued
        await task_in(core, task.id, TaskStatus.WAITING)
        assert agent.requests[1].resume_session_id == done.session_id
        ended = await core.end(task.id)
        assert ended.status == TaskStatus.COMPLETED and ended.ended_at is not None
        detail = await core.task(task.id)
        assert detail.turns == 2 and detail.queued_instructions == 0
        assert [e.kind for e in await events_of(core, task.id, "turn_finished")] == [
            "turn_finished"
        ] * 2
        report = await core.report(task.id)
        assert report.logs_count == detail.logs_count and len(report.recent_logs) == 5
        with pytest.raises(InvalidTransition, match="create a new task"):
            await continue_(core, task.id, "more")


async def test_refusals_name_the_problem(core_settings: Settings, tmp_path: Path) -> None:
    async with running(core_settings) as core:
        with pytest.raises(InvalidInput, match="unknown agent 'nope'"):
            await create(core, "t", "x", agent="nope")
        with pytest.raises(ProjectNotAllowed, match="outside the allowed roots"):
            await create(core, "t", "x", project_path=str(tmp_path))
        with pytest.raises(NotFound, match="t-missing"):
            await core.cancel("t-missing")
        with pytest.raises(InvalidInput, match="cursor"):
            await core.tasks(TaskQuery(cursor="not-ours"))
        with pytest.raises(InvalidTransition, match="ran in place"):
            await core.diff((await create(core, "t", "x")).id)
        assert (await core.counts()).total == 1  # refused requests created nothing


async def test_cancel_stops_a_hanging_turn(core_settings: Settings) -> None:
    hang = Hang()
    agent = FakeAgent(steps=[hang])
    async with running(core_settings, agent) as core:
        task = await create(core, "Hang", "wait")
        with anyio.fail_after(WAIT):
            await hang.reached.wait()
        assert core.running_task_ids() == [task.id]
        cancelled = await core.cancel(task.id)
        assert cancelled.status == TaskStatus.CANCELLED
        assert agent.cancelled == 1 and core.running_task_ids() == []


async def test_steer_queues_behind_a_turn_without_the_capability(core_settings: Settings) -> None:
    hang = Hang()
    async with running(core_settings, FakeAgent(steps=[hang])) as core:
        task = await create(core, "Hang", "wait")
        with anyio.fail_after(WAIT):
            await hang.reached.wait()
        steered, delivered = await core.steer(ContinueTask(id=task.id, instructions="faster"))
        assert not delivered and steered.queue == ["faster"]
        await core.cancel(task.id)


async def test_steer_goes_into_the_running_turn_of_an_agent_that_takes_it(
    core_settings: Settings,
) -> None:
    listen = Listen()
    agent = FakeAgent(
        script=lambda request: [listen] if request.turn == 1 else [Say(request.instructions)],
        capabilities=Capabilities(steer=True),
    )
    async with running(core_settings, agent) as core:
        task = await create(core, "Listen", "wait for a word")
        with anyio.fail_after(WAIT):
            await listen.reached.wait()
        steered, delivered = await core.steer(ContinueTask(id=task.id, instructions="faster"))
        assert delivered and steered.queue == []
        done = await task_in(core, task.id, TaskStatus.WAITING)
        assert done.result_text == "faster" and done.turns == 1
        logged = [e.data for e in await events_of(core, task.id, "log")]
        assert {"source": "steer", "text": "faster"} in logged
        # Between turns the inbox is closed: the words start the next turn instead.
        _, now = await core.steer(ContinueTask(id=task.id, instructions="later"))
        assert now
        await until(core, lambda: _turns_done(core, task.id, 2))
        assert (await core.get(task.id)).result_text == "later"


async def test_watch_after_a_seq_misses_nothing(core_settings: Settings) -> None:
    async with running(core_settings) as core:
        task = await create(core, "Echo", "hi")
        await task_in(core, task.id, TaskStatus.WAITING)
        # The task changed before anyone watched: watching after seq 0 says so at once.
        async with core.watch(task.id, after=0) as changes:
            with anyio.fail_after(WAIT):
                change = await changes.get()
        assert change.task_id == task.id and change.last_seq >= 1
        last = (await core.events(task.id)).last_seq
        async with core.watch(task.id, after=last) as changes:
            await core.end(task.id)
            with anyio.fail_after(WAIT):
                change = await changes.get()
        assert change.status == "completed" and change.last_seq > last


async def test_clean_deletes_only_what_ended(core_settings: Settings) -> None:
    async with running(core_settings) as core:
        kept = await create(core, "Kept", "hi")
        gone = await create(core, "Gone", "hi")
        for task in (kept, gone):
            await task_in(core, task.id, TaskStatus.WAITING)
        await core.end(gone.id)
        assert [t.id for t in await core.clean(Clean(keep_recent=True))] == []
        dry = await core.clean(Clean(keep_recent=False, dry_run=True))
        assert [t.id for t in dry] == [gone.id] and (await core.counts()).total == 2
        deleted = await core.clean(Clean(keep_recent=False))
        assert [t.id for t in deleted] == [gone.id]
        assert [t.id for t in (await core.tasks()).tasks] == [kept.id]


async def test_the_task_document_stays_bounded_as_history_grows(core_settings: Settings) -> None:
    """task://{id} holds counters and the newest activity, whatever the history's length."""
    from agentdeck.agents.testing import Event, Say
    from agentdeck.core.api import RECENT_LOGS, RECENT_TOOL_CALLS
    from agentdeck.core.documents import MAX_OUTPUT_CHARS

    calls = RECENT_TOOL_CALLS + 30
    steps: list[Event | Say] = []
    for i in range(calls):
        steps.append(
            Event("tool_call", {"id": f"c{i}", "name": "Bash", "input": {"command": f"echo {i}"}})
        )
        steps.append(Event("tool_result", {"id": f"c{i}", "output": "x" * (MAX_OUTPUT_CHARS + i)}))
    steps.append(Event("tool_call", {"id": "e", "name": "Edit", "input": {"file_path": "/p/a.py"}}))
    steps.append(Say("done"))
    async with running(core_settings, FakeAgent(steps=steps)) as core:
        task = await create(core, "Busy", "go")
        await task_in(core, task.id, TaskStatus.WAITING)
        detail = await core.task(task.id)
        assert detail.tool_invocations_count == calls + 1 and detail.commands_count == calls
        assert len(detail.tool_invocations) == RECENT_TOOL_CALLS
        assert (
            detail.tool_invocations[-1].id == "e"
            and detail.tool_invocations[0].id == f"c{calls - RECENT_TOOL_CALLS + 1}"
        )
        assert detail.files_affected == ["/p/a.py"]
        assert len(detail.logs) <= RECENT_LOGS < detail.logs_count
        last_command = detail.commands_executed[-1]
        assert last_command.command == f"echo {calls - 1}"
        assert last_command.output.endswith(
            f"[{MAX_OUTPUT_CHARS + calls - 1} characters; whole in the events]"
        )
        page = await core.events(task.id, after=0, limit=10)
        assert page.more and page.last_seq == 10  # the rest is paged, whole
        assert detail.events_uri == f"task://{task.id}/events?after=0"


async def test_secrets_typed_by_the_user_are_masked_where_stored_not_for_the_agent(
    core_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_PASSWORD", "hunter2-secret")
    token = "adk_" + "x1" * 20
    agent = FakeAgent()
    async with running(core_settings, agent) as core:
        task = await create(core, "deploy with hunter2-secret", f"use {token} to log in")
        assert task.title == "deploy with ***"
        await task_in(core, task.id, TaskStatus.WAITING)
        assert (await core.task(task.id)).description == "deploy with ***"
        started = await events_of(core, task.id, "turn_started")
        assert started[0].data["instructions"] == "use *** to log in"
        assert agent.requests[0].instructions == f"use {token} to log in"  # as typed


async def test_a_decision_is_recorded_after_the_tool_call_it_is_about(
    core_settings: Settings,
) -> None:
    from agentdeck.agents.testing import Ask
    from agentdeck.core import Respond

    settings = core_settings.model_copy(update={"approval_policy": "ask"})
    async with running(settings, FakeAgent(steps=[Ask("Bash", {"command": "make"})])) as core:
        task = await create(core, "Build", "make it")
        await task_in(core, task.id, TaskStatus.INPUT_REQUIRED)
        kinds = [e.kind for e in await events_of(core, task.id)]
        assert "tool_call" in kinds and "permission_request" in kinds, kinds
        assert kinds.index("turn_started") < kinds.index("tool_call")
        assert kinds.index("tool_call") < kinds.index("permission_request"), kinds
        pending = core.pending().pending[0]
        await core.respond(Respond(id=task.id, request_id=pending.request_id, decision="allow"))
        await task_in(core, task.id, TaskStatus.WAITING)


async def _turns_done(core: Core, task_id: str, turns: int) -> bool:
    task = await core.get(task_id)
    return task.status == TaskStatus.WAITING and task.turns == turns
