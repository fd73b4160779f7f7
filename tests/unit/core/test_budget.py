"""Budgets: at the limit the agent is paused and the user asked (kind budget); allow
raises the limit by its first amount and the conversation goes on, deny leaves the task
waiting; the work done so far is committed either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentdeck.agents.base import TurnRequest
from agentdeck.agents.testing import Event, FakeAgent, Hang, Say, Step
from agentdeck.config import Settings
from agentdeck.core import ContinueTask, Core, PendingDecision, Respond
from agentdeck.core.budget import CONTINUE_PROMPT, price
from agentdeck.model import TaskStatus
from support.core import create, events_of, running, task_in
from support.git import git, init_repo
from support.waiting import until

pytestmark = pytest.mark.anyio

MODEL = "claude-sonnet-4-5"


def spends(tokens: int) -> Event:
    """A provisional usage report of one assistant message (as Claude Code sends them)."""
    data: dict[str, Any] = {"partial": True, "message_id": "m-1", "model": MODEL}
    return Event("usage", {**data, "input_tokens": tokens, "output_tokens": 0})


def works_then_spends(request: TurnRequest) -> list[Step]:
    """Writes work.txt, then spends 20k input tokens ($0.06) and would go on for ever; told
    to carry on, it finishes."""
    if request.instructions == CONTINUE_PROMPT:
        return [Say("carried on")]
    (Path(request.cwd) / "work.txt").write_text("work\n")
    return [spends(20_000), Hang()]


async def budget_decision(core: Core, task_id: str) -> PendingDecision:
    async def check() -> PendingDecision | None:
        waiting = [p for p in core.pending().pending if p.task_id == task_id]
        return waiting[0] if waiting else None

    found: PendingDecision = await until(core, check)
    return found


def test_prices_come_from_the_table() -> None:
    assert price(MODEL, {"input_tokens": 1_000_000}) == pytest.approx(3.0)
    assert price("claude-opus-4-5-20251101", {"output_tokens": 1_000_000}) == 25.0
    assert price(MODEL, {"cache_read_tokens": 1_000_000}) == pytest.approx(0.3)


async def test_allow_raises_the_budget_and_the_turn_goes_on(core_settings: Settings) -> None:
    agent = FakeAgent(script=works_then_spends)
    async with running(core_settings, agent) as core:
        task = await create(core, "costly", "work", max_cost_usd=0.05, isolation="none")
        pending = await budget_decision(core, task.id)
        assert pending.kind == "budget" and pending.decisions == ["allow", "deny"]
        assert pending.input["limit_usd"] == 0.05 and pending.input["spent_usd"] >= 0.06
        paused = await core.get(task.id)
        assert paused.status == TaskStatus.INPUT_REQUIRED
        await core.respond(Respond(id=task.id, decision="allow"))
        done = await task_in(core, task.id, TaskStatus.WAITING)
        assert done.max_cost_usd == 0.1 and done.result_text == "carried on"
        assert agent.requests[-1].resume_session_id == f"fake-{task.id}"
        finished = [e.data for e in await events_of(core, task.id, "turn_finished")]
        assert "budget" in finished[0] and finished[0]["cancelled"] is False


async def test_deny_leaves_the_task_waiting_with_its_work_committed(
    core_settings: Settings, project: Path
) -> None:
    init_repo(project)
    async with running(core_settings, FakeAgent(script=works_then_spends)) as core:
        task = await create(core, "costly", "work", max_tokens=10_000)
        pending = await budget_decision(core, task.id)
        assert pending.input["kind"] == "tokens" and pending.input["limit_tokens"] == 10_000
        await core.respond(Respond(id=task.id, decision="deny"))
        done = await task_in(core, task.id, TaskStatus.WAITING)
        assert done.status_reason is not None
        assert done.status_reason.startswith("paused at its budget: it used 20,000 of its")
        assert done.input_tokens == 20_000  # the stopped turn's use is counted, not lost
        assert done.git is not None
        assert "work.txt" in git(project, "ls-tree", "--name-only", done.git.branch)


async def test_a_task_over_budget_asks_before_its_next_turn(core_settings: Settings) -> None:
    usage = {"input_tokens": 5, "output_tokens": 5, "cost_usd": 0.5}  # reported at the end
    agent = FakeAgent(usage=usage, capabilities=None)
    async with running(core_settings, agent) as core:
        task = await create(core, "t", "one", max_cost_usd=0.1, isolation="none")
        await task_in(core, task.id, TaskStatus.WAITING)
        await core.continue_(ContinueTask(id=task.id, instructions="two"))
        await budget_decision(core, task.id)
        await core.respond(Respond(id=task.id, decision="deny"))
        done = await task_in(core, task.id, TaskStatus.WAITING)
        assert len(agent.requests) == 1  # the second turn never ran
        assert done.queue == ["two"]  # and its instructions are kept


async def test_a_turn_cancelled_before_its_totals_keeps_what_it_used(
    core_settings: Settings,
) -> None:
    """No budget to watch: the provisional usage is priced only when the turn stops
    without the agent's totals, and the task keeps it."""
    async with running(core_settings, FakeAgent(steps=[spends(20_000), Hang()])) as core:
        task = await create(core, "no budget", "work", isolation="none")

        async def spent() -> bool:
            usage = await events_of(core, task.id, "usage")
            return bool(usage)

        await until(core, spent)
        await core.cancel(task.id)
        done = await task_in(core, task.id, TaskStatus.CANCELLED)
        assert done.input_tokens == 20_000
        assert done.cost_usd == pytest.approx(price(MODEL, {"input_tokens": 20_000}))
