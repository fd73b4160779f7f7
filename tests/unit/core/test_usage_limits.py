"""Usage limits: tasks park instead of failing, their agent is held, and they resume in
order, each in its own session, once the limit resets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentdeck.agents.base import TurnRequest
from agentdeck.agents.testing import Fail, FakeAgent, Say, Step
from agentdeck.config import Settings
from agentdeck.core import Core
from agentdeck.core.usage_limits import RESUME_PROMPT, detect
from agentdeck.model import TaskStatus
from support.core import create, events_of, running, task_in

pytestmark = pytest.mark.anyio

LIMITED = 'API Error: 429 {"type":"rate_limit_error"} retry-after: 1'


def limited_once(request: TurnRequest) -> list[Step]:
    """The first turn ends on a rate limit (reset in 1 s); the resumed one works."""
    if request.instructions == RESUME_PROMPT:
        return [Say(f"resumed {request.task_id}")]
    return [Fail(LIMITED)]


def test_the_forms_agents_report_are_recognised() -> None:
    before = datetime.now(UTC)
    epoch = int((before + timedelta(hours=2)).timestamp())
    at = detect({"result_text": f"Claude AI usage limit reached|{epoch}"}, 900)
    assert at is not None and at.resets_at.timestamp() == epoch
    rate = detect({"error": LIMITED}, 900)
    assert rate is not None and 0 < (rate.resets_at - before).total_seconds() < 5
    clock = detect({"result_text": "You've hit your limit · resets 3pm (Europe/Paris)"}, 900)
    assert clock is not None and clock.resets_at.astimezone().hour == 15
    assert clock.resets_at > before
    told = detect({"usage_limit": {"retry_after_seconds": 60, "message": "UsageLimitExceeded"}}, 1)
    assert told is not None and told.message == "UsageLimitExceeded"
    vague = detect({"error": "429 Too Many Requests"}, 900)
    assert vague is not None and (vague.resets_at - before).total_seconds() >= 899
    assert detect({"error": "API Error: 529 model is overloaded"}, 900) is None


async def test_three_limited_tasks_park_and_resume_in_order(core_settings: Settings) -> None:
    settings = core_settings.model_copy(
        update={"max_running": 3, "usage_limit_jitter_seconds": 0.0}
    )
    agent = FakeAgent(script=limited_once)
    async with running(settings, agent) as core:
        ids = [(await create(core, f"t{i}", "work", isolation="none")).id for i in range(3)]
        parked = [await task_in(core, i, TaskStatus.PARKED, TaskStatus.WAITING) for i in ids]
        assert all(t.status == TaskStatus.PARKED or t.turns == 2 for t in parked)
        assert parked[0].status_reason is not None
        assert parked[0].status_reason.startswith("parked until ")
        done = [await task_in(core, i, TaskStatus.WAITING) for i in ids]
        # One at a time, in the order their times came (the order they were parked in).
        due = {i: await _resume_at(core, i) for i in ids}
        resumed = [r for r in agent.requests if r.instructions == RESUME_PROMPT]
        assert [r.task_id for r in resumed] == sorted(ids, key=lambda i: due[i])
        assert all(r.resume_session_id == f"fake-{r.task_id}" for r in resumed)
        assert all(t.result_text == f"resumed {t.id}" and t.resume_at is None for t in done)


async def test_fail_keeps_the_old_way(core_settings: Settings) -> None:
    async with running(core_settings, FakeAgent(script=limited_once)) as core:
        task = await create(core, "t", "work", on_usage_limit="fail", isolation="none")
        failed = await task_in(core, task.id, TaskStatus.FAILED)
        assert "429" in (failed.error or "")


async def _resume_at(core: Core, task_id: str) -> str:
    notes = [e.data for e in await events_of(core, task_id, "log")]
    return next(n["resume_at"] for n in notes if n.get("source") == "usage_limit")
