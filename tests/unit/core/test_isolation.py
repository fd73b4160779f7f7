"""Commit messages of a task's turns."""

from __future__ import annotations

import pytest

from agentdeck.core.isolation import SUBJECT_LENGTH, commit_message
from agentdeck.model import Task, TaskStatus, now


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
