"""Acceptance gates: a failing check re-prompts the same conversation with its output,
at most accept_retries times; the verdict is on the task, and merge respects it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agentdeck.agents.base import TurnRequest
from agentdeck.agents.testing import FakeAgent, Say, Step
from agentdeck.config import Settings
from agentdeck.core import Merge
from agentdeck.errors import InvalidTransition
from agentdeck.model import TaskStatus
from support.core import create, events_of, running, task_in
from support.git import init_repo

pytestmark = pytest.mark.anyio

# Passes once fixed.txt exists in the working directory; says so either way.
CHECK = [
    sys.executable,
    "-c",
    "import pathlib, sys; ok = pathlib.Path('fixed.txt').exists(); "
    "print('fixed' if ok else 'FAIL: fixed.txt is missing'); sys.exit(0 if ok else 3)",
]


def fixes_when_told(request: TurnRequest) -> list[Step]:
    """Writes fixed.txt only when a failing check is reported to it."""
    if "acceptance check" in request.instructions:
        (Path(request.cwd) / "fixed.txt").write_text("ok\n")
        return [Say("fixed it")]
    return [Say("done")]


def never_fixes(request: TurnRequest) -> list[Step]:
    """Works (work.txt), but never what the check wants."""
    (Path(request.cwd) / "work.txt").write_text(f"turn {request.turn}\n")
    return [Say("tried")]


async def test_a_gate_that_keeps_failing_is_retried_then_needs_you(
    core_settings: Settings, project: Path
) -> None:
    init_repo(project)
    agent = FakeAgent(script=never_fixes)
    async with running(core_settings, agent) as core:
        task = await create(core, "gated", "work", accept_command=CHECK)
        done = await task_in(core, task.id, TaskStatus.WAITING)
        assert len(agent.requests) == 3  # the turn and 2 re-prompts (the default)
        retry = agent.requests[1]
        assert "FAIL: fixed.txt is missing" in retry.instructions
        assert retry.resume_session_id == f"fake-{task.id}"  # the same conversation
        gates = [e.data for e in await events_of(core, task.id, "gate")]
        assert [(g["passed"], g["exit_code"], g["attempt"]) for g in gates] == [
            (False, 3, 0), (False, 3, 1), (False, 3, 2)
        ]  # fmt: skip
        statuses = [e.data["to"] for e in await events_of(core, task.id, "status")]
        assert statuses.count("in_progress") == 1  # it stayed in progress throughout
        assert done.gate is not None and done.gate["passed"] is False
        assert done.status_reason is not None and "still fails" in done.status_reason
        with pytest.raises(InvalidTransition, match="acceptance check failed"):
            await core.merge(Merge(id=task.id))
        merged = await core.merge(Merge(id=task.id, force=True))
        assert merged.git is not None and merged.git.merge_commit


async def test_a_gate_that_passes_on_the_first_retry(
    core_settings: Settings, project: Path
) -> None:
    agent = FakeAgent(script=fixes_when_told)
    async with running(core_settings, agent) as core:
        task = await create(
            core, "gated", "work", accept_command=CHECK, accept_retries=1, isolation="none"
        )
        done = await task_in(core, task.id, TaskStatus.WAITING)
        assert len(agent.requests) == 2 and done.turns == 2
        assert done.gate is not None and done.gate["passed"] and done.gate["attempt"] == 1
        assert done.gate["output"].strip() == "fixed"
        assert done.status_reason == "turn finished; the acceptance check passed"


async def test_the_gate_comes_from_the_repository_settings(
    core_settings: Settings, project: Path
) -> None:
    init_repo(project, f"[accept]\ncommand = {json.dumps(CHECK)}\nretries = 0\n")
    agent = FakeAgent(script=never_fixes)
    async with running(core_settings, agent) as core:
        task = await create(core, "gated", "work")
        assert task.accept_command == CHECK and task.accept_retries == 0
        done = await task_in(core, task.id, TaskStatus.WAITING)
        assert len(agent.requests) == 1 and done.gate is not None
        assert done.gate["passed"] is False


async def test_a_gate_that_cannot_start_says_why(core_settings: Settings) -> None:
    async with running(core_settings, FakeAgent(script=never_fixes)) as core:
        task = await create(
            core, "gated", "work", accept_command=["no-such-check-xyz"], accept_retries=0
        )
        done = await task_in(core, task.id, TaskStatus.WAITING)
        assert done.gate is not None and done.gate["exit_code"] is None
        assert "could not start" in done.gate["error"]
