"""The cost ledger, and tasks whose agents report no cost: null, never $0."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdeck.agents.base import Capabilities
from agentdeck.agents.testing import FakeAgent
from agentdeck.config import Settings
from agentdeck.model import TaskStatus
from support.core import create, running, task_in

pytestmark = pytest.mark.anyio

PRICED = {"input_tokens": 100, "output_tokens": 10, "cost_usd": 0.25}
TOKENS_ONLY = {"input_tokens": 40, "output_tokens": 4, "cost_usd": 0.0}


async def test_the_ledger_sums_by_project_agent_and_day(
    core_settings: Settings, project: Path
) -> None:
    priced = FakeAgent("priced", usage=PRICED)
    silent = FakeAgent("silent", usage=TOKENS_ONLY, capabilities=Capabilities(cost=False))
    async with running(core_settings, priced, silent) as core:
        for agent in ("priced", "priced", "silent"):
            task = await create(core, "t", "go", agent=agent, isolation="none")
            await task_in(core, task.id, TaskStatus.WAITING)
        quiet = (await core.tasks()).tasks[0]
        assert quiet.agent == "silent" and quiet.cost_usd is None  # n/a, not $0
        assert (await core.task(quiet.id)).cost_usd is None

        ledger = await core.costs()
        assert ledger.total.tasks == 3 and ledger.total.cost_usd == 0.5
        assert ledger.total.tasks_without_cost == 1
        assert ledger.total.input_tokens == 240
        agents = {line.key: line for line in ledger.by_agent}
        assert agents["priced"].cost_usd == 0.5 and agents["silent"].cost_usd is None
        assert agents["silent"].input_tokens == 40
        assert [line.key for line in ledger.by_project] == [str(project)]
        assert len(ledger.by_day) == 1 and ledger.by_day[0].tasks == 3
