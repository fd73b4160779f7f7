"""Commit messages of a task's turns."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdeck.agents.testing import FakeAgent
from agentdeck.config import Settings
from agentdeck.core.isolation import SUBJECT_LENGTH, commit_message
from agentdeck.errors import InvalidInput
from agentdeck.model import Task, TaskStatus, now
from support.core import create, events_of, running


def _task(turns: int) -> Task:
    stamp = now()
    return Task(
        id="t-c0ffee",
        title="Add JWT auth",
        status=TaskStatus.IN_PROGRESS,
        agent="fake",
        project_path="/p",
        cwd="/p",
        created_at=stamp,
        updated_at=stamp,
        turns=turns,
    )


def test_the_first_turn_is_committed_under_the_title() -> None:
    assert commit_message(_task(1), "do it") == "Add JWT auth\n\nagentdeck task t-c0ffee, turn 1"


def test_later_turns_are_committed_under_their_own_instructions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value")
    message = commit_message(_task(2), "\n  Now add refresh tokens (s3cr3t-value)\nand tests")
    assert message == "Now add refresh tokens (***)\n\nagentdeck task t-c0ffee, turn 2"
    long = commit_message(_task(3), "x" * 200).splitlines()[0]
    assert len(long) == SUBJECT_LENGTH and long.endswith("…")
    assert commit_message(_task(4), None).startswith("Add JWT auth\n")  # e.g. before a merge


@pytest.mark.anyio
async def test_a_git_project_without_git_on_path_warns_and_runs_in_place(
    core_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = core_settings.roots[0]
    (project / ".git").mkdir(exist_ok=True)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    async with running(core_settings, FakeAgent()) as core:
        task = await create(core, "t", "x")
        assert task.git is None  # in place
        logs = [e.data["text"] for e in await events_of(core, task.id, "log")]
        assert any("git is not on PATH" in text for text in logs), logs
        with pytest.raises(InvalidInput, match="git is not on PATH"):
            await create(core, "t", "x", isolation="worktree")
