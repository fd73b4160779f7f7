"""Requests: each limit once, and refusals that say what was wrong and what is accepted."""

from __future__ import annotations

import pytest

from agentdeck.core import INSTRUCTIONS_MAX, TITLE_MAX, CreateTask, Respond, TaskQuery, parse
from agentdeck.errors import InvalidInput


def refusal(model: type, data: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse(model, data)
    return caught.value


def test_a_good_request_is_normalized() -> None:
    request = parse(CreateTask, {"title": "  Add auth  ", "instructions": "  keep spaces  "})
    assert request.title == "Add auth"  # titles are trimmed
    assert request.instructions == "  keep spaces  "  # what the user typed reaches the agent


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        ({"instructions": "x"}, "title is required"),
        ({"title": "   ", "instructions": "x"}, "title must not be empty"),
        ({"title": "t" * (TITLE_MAX + 1), "instructions": "x"}, f"at most {TITLE_MAX}"),
        ({"title": "t", "instructions": "x" * (INSTRUCTIONS_MAX + 1)}, str(INSTRUCTIONS_MAX)),
        ({"title": "t", "instructions": "x", "colour": "red"}, "unknown argument 'colour'"),
        ({"title": "t", "instructions": "x", "max_turns": "3"}, "max_turns"),
        ({"title": "t", "instructions": "x", "policy": "yolo"}, "policy"),
        ({"title": "t", "instructions": "x", "model": " "}, "model must not be empty"),
    ],
)
def test_create_refusals(data: dict[str, object], phrase: str) -> None:
    error = refusal(CreateTask, data)
    assert phrase in error.message
    assert (
        error.message.endswith(")") and "accepted arguments: title, instructions" in error.message
    )
    assert all({"field", "problem", "type"} <= set(d) for d in error.details)


def test_every_problem_is_named_at_once() -> None:
    error = refusal(Respond, {"decision": "maybe", "extra": 1})
    assert "id is required" in error.message
    assert "decision" in error.message and "unknown argument 'extra'" in error.message
    assert len(error.details) == 3


def test_task_queries_are_bounded() -> None:
    assert parse(TaskQuery, {}).limit == 1000
    assert "limit" in refusal(TaskQuery, {"limit": 0}).message
    assert "statuses" in refusal(TaskQuery, {"statuses": ["sleeping"]}).message
