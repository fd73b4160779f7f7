"""Unattended work through the real Claude Code against the fake model: budgets that
pause and ask, acceptance gates that re-prompt, usage limits that park and resume,
dependencies that wait for a merge or cancel the chain, and steering a running turn."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest

from agentdeck.config import Settings
from agentdeck.core import ContinueTask, Core, Merge, PendingDecision, Respond
from agentdeck.core.budget import CONTINUE_PROMPT
from agentdeck.core.usage_limits import RESUME_PROMPT
from agentdeck.errors import InvalidTransition
from agentdeck.model import TaskStatus, now
from fakes.fake_anthropic import FakeAnthropic
from support.core import configured, create, events_of, task_in
from support.git import git, init_repo
from support.waiting import until

pytestmark = pytest.mark.anyio

TURN = 60.0  # a generous deadline for a few real Claude Code turns


async def decision(core: Core, task_id: str, after: str = "") -> PendingDecision:
    """The task's pending decision, once there is one other than the one ``after`` names."""

    async def check() -> PendingDecision | None:
        mine = [p for p in core.pending().pending if p.task_id == task_id]
        return mine[0] if mine and mine[0].request_id != after else None

    found: PendingDecision = await until(core, check, TURN)
    return found


def user_texts(fake: FakeAnthropic) -> list[str]:
    """The last user message's text of every main request the fake model answered."""
    out = []
    for request in fake.message_requests():
        content = request["body"]["messages"][-1]["content"]
        blocks = [content] if isinstance(content, str) else content
        out.append(" ".join(b if isinstance(b, str) else str(b.get("text", "")) for b in blocks))
    return out


async def test_a_budget_pauses_asks_and_goes_on_when_allowed_or_waits_when_denied(
    settings: Settings, project: Path, fake_model: FakeAnthropic
) -> None:
    init_repo(project)
    async with configured(settings) as core:
        probe = await create(core, "probe", "SAY hi", isolation="none")
        one_call = (await task_in(core, probe.id, TaskStatus.WAITING, timeout=TURN)).input_tokens
        # Two writes (a call each), then a slow answer: the second call crosses the limit,
        # and once raised by as much the limit leaves room for one more call.
        limit = int(one_call * 1.6)
        steps = "WRITE work.txt hello\nWRITE more.txt more\nDELAY 5\nSAY done"
        task = await create(core, "costly", steps, max_tokens=limit)
        asked = await decision(core, task.id)
        assert asked.kind == "budget" and asked.decisions == ["allow", "deny"]
        assert asked.input["kind"] == "tokens" and asked.input["limit_tokens"] == limit
        paused = await core.get(task.id)
        assert paused.status == TaskStatus.INPUT_REQUIRED
        assert paused.git is not None and paused.git.worktree_path
        assert paused.input_tokens >= 2 * one_call  # what the stopped turn used is counted
        assert (Path(paused.git.worktree_path) / "work.txt").read_text() == "hello"

        await core.respond(Respond(id=task.id, decision="allow"))
        goes_on = await task_in(core, task.id, TaskStatus.WAITING, timeout=TURN)
        assert goes_on.max_tokens == 2 * limit and goes_on.session_id == paused.session_id
        assert goes_on.result_text and goes_on.result_text.startswith("Done.")
        assert any(CONTINUE_PROMPT in text for text in user_texts(fake_model))

        # The next turn's first call crosses twice the first amount: asked again.
        more = "WRITE extra.txt x\nDELAY 5\nSAY more"
        await core.continue_(ContinueTask(id=task.id, instructions=more))
        again = await decision(core, task.id, after=asked.request_id)
        assert again.kind == "budget" and again.input["limit_tokens"] == 2 * limit
        await core.respond(Respond(id=task.id, decision="deny"))
        denied = await task_in(core, task.id, TaskStatus.WAITING, timeout=TURN)
        assert denied.status_reason and denied.status_reason.startswith("paused at its budget")
        assert denied.git is not None
        assert "work.txt" in git(project, "ls-tree", "--name-only", denied.git.branch)


def check(prints: str) -> list[str]:
    """An acceptance check: passes once fixed.txt exists, else prints ``prints`` and fails."""
    code = (
        "import pathlib, sys\n"
        "if pathlib.Path('fixed.txt').exists(): print('fixed'); sys.exit(0)\n"
        f"print({prints!r}); sys.exit(3)\n"
    )
    return [sys.executable, "-c", code]


async def test_a_gate_reprompts_the_conversation_and_merge_respects_its_verdict(
    settings: Settings, project: Path, fake_model: FakeAnthropic
) -> None:
    init_repo(project)
    async with configured(settings) as core:
        # The failing check's output reaches the model as the next instruction: here it
        # tells the fake model to write the file the check wants.
        fixes = await create(
            core, "fixed", "SAY first try", accept_command=check("FAIL\nWRITE fixed.txt ok")
        )
        never = await create(core, "never", "SAY never", accept_command=check("FAIL: no"))
        passed = await task_in(core, fixes.id, TaskStatus.WAITING, timeout=TURN)
        assert passed.gate is not None and passed.gate["passed"] and passed.gate["attempt"] == 1
        assert passed.turns == 2 and passed.status_reason == (
            "turn finished; the acceptance check passed"
        )
        failed = await task_in(core, never.id, TaskStatus.WAITING, timeout=2 * TURN)
        gates = [
            (e.data["passed"], e.data["attempt"]) for e in await events_of(core, never.id, "gate")
        ]
        assert gates == [(False, 0), (False, 1), (False, 2)] and failed.turns == 3
        assert sum("FAIL: no" in text for text in user_texts(fake_model)) == 2
        with pytest.raises(InvalidTransition, match="acceptance check failed"):
            await core.merge(Merge(id=never.id))
        merged = await core.merge(Merge(id=fixes.id))
        assert merged.git is not None and "fixed.txt" in git(project, "ls-files")


async def test_a_usage_limit_parks_three_tasks_that_resume_in_order_in_their_sessions(
    settings: Settings, fake_model: FakeAnthropic
) -> None:
    # The API says when to retry: long enough for all three to reach the limit before the
    # first one's time comes (and far sooner than the default wait, so it is what counts).
    fake_model.rate_limited = 8
    async with configured(settings.model_copy(update={"usage_limit_jitter_seconds": 0.0})) as core:
        ids = [(await create(core, f"t{i}", f"SAY t{i}", isolation="none")).id for i in range(3)]
        parked = [await task_in(core, i, TaskStatus.PARKED, timeout=TURN) for i in ids]
        for t in parked:
            assert t.resume_at and t.status_reason and t.status_reason.startswith("parked until")
            assert timedelta(0) < t.resume_at - now() <= timedelta(seconds=8) and t.session_id
        fake_model.rate_limited = None  # the limit resets
        done = [await task_in(core, i, TaskStatus.WAITING, timeout=TURN) for i in ids]
        assert all(t.resume_at is None and t.turns == 2 for t in done)
        assert [t.session_id for t in done] == [t.session_id for t in parked]
        resumed = [(await events_of(core, i, "turn_started"))[-1] for i in ids]
        assert all(r.data["instructions"] == RESUME_PROMPT for r in resumed)
        assert [r.data["resume"] for r in resumed] == [t.session_id for t in parked]
        # One at a time, in the order their times came.
        by_time = sorted(range(3), key=lambda k: str(parked[k].resume_at))
        starts = [resumed[k].ts for k in by_time]
        ends = [(await events_of(core, ids[k], "turn_finished"))[-1].ts for k in by_time]
        assert starts[1] >= ends[0] and starts[2] >= ends[1]


async def test_a_merged_chain_runs_in_order_and_a_failure_cancels_the_rest(
    settings: Settings, project: Path
) -> None:
    init_repo(project)
    async with configured(settings) as core:
        a = await create(core, "A", "WRITE a.txt a\nSAY wrote a")
        b = await create(core, "B", "BASH ls", depends_on=[a.id], start_after="merged")
        await task_in(core, a.id, TaskStatus.WAITING, timeout=TURN)
        held = await core.get(b.id)
        assert held.status == TaskStatus.PENDING and held.blocked_by == [a.id]
        await core.merge(Merge(id=a.id))
        listed = await task_in(core, b.id, TaskStatus.WAITING, timeout=TURN)
        assert listed.result_text and "a.txt" in listed.result_text  # from the merged base

        x = await create(core, "X", "ERROR 400 this request is broken", isolation="none")
        y = await create(core, "Y", "SAY y", depends_on=[x.id], isolation="none")
        z = await create(core, "Z", "SAY z", depends_on=[y.id], isolation="none")
        assert (await task_in(core, x.id, TaskStatus.FAILED, timeout=TURN)).error
        gone_y = await task_in(core, y.id, TaskStatus.CANCELLED)
        gone_z = await task_in(core, z.id, TaskStatus.CANCELLED)
        assert gone_y.status_reason == f"cancelled: its dependency {x.id} (X) failed"
        assert gone_z.status_reason == f"cancelled: its dependency {y.id} (Y) cancelled"


async def test_a_steer_reaches_the_running_turn_at_its_next_step(
    settings: Settings, fake_model: FakeAnthropic
) -> None:
    async with configured(settings) as core:
        # Sent while a tool runs: Claude Code hands it to the model with the tool result.
        busy = await create(core, "busy", "BASH sleep 3\nSAY first", isolation="none")
        await until(core, lambda: _has_event(core, busy.id, "tool_call"), TURN)
        steered, now = await core.steer(ContinueTask(id=busy.id, instructions="SAY second"))
        assert now and steered.queue == []
        done = await task_in(core, busy.id, TaskStatus.WAITING, timeout=TURN)
        assert done.turns == 1 and done.result_text and done.result_text.startswith("second")
        logs = [e.data for e in await events_of(core, busy.id, "log")]
        assert {"source": "steer", "text": "SAY second"} in logs
        assert any(log.get("read") for log in logs)

        # Sent while the model writes its last answer: a follow-up in the same turn.
        last = await create(core, "last", "DELAY 3\nSAY first", isolation="none")
        await until(core, lambda: _has_event(core, last.id, "session"), TURN)
        _, now = await core.steer(ContinueTask(id=last.id, instructions="SAY second"))
        assert now
        done = await task_in(core, last.id, TaskStatus.WAITING, timeout=TURN)
        assert done.turns == 1 and done.result_text and done.result_text.startswith("second")
        assert len(await events_of(core, last.id, "turn_finished")) == 1
        totals = [
            e.data for e in await events_of(core, last.id, "usage") if not e.data.get("partial")
        ]
        assert len(totals) == 2 and done.input_tokens == sum(u["input_tokens"] for u in totals)


async def _has_event(core: Core, task_id: str, kind: str) -> bool:
    return bool(await events_of(core, task_id, kind))
