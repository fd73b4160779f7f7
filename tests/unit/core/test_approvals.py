"""Open requests and their first answer, on one machine and through a relay."""

from __future__ import annotations

import pytest

from agentdeck.core.approvals import Answer, Approvals, Pending
from agentdeck.errors import InvalidTransition

pytestmark = pytest.mark.anyio


class Record:
    """A stand-in for the shared decisions table: it keeps the first answer per request."""

    def __init__(self) -> None:
        self.first: dict[str, Answer] = {}

    async def relay(self, pending: Pending, answer: Answer) -> Answer:
        return self.first.setdefault(pending.id, answer)


def _open(approvals: Approvals, record: Record | None = None) -> Pending:
    return approvals.open(
        "t1", 1, "Bash", {"command": "ls"}, "Bash: ls", relay=record.relay if record else None
    )


async def test_the_first_answer_wins_and_a_later_one_is_refused_naming_it() -> None:
    approvals = Approvals()
    pending = _open(approvals)
    await approvals.answer(pending, Answer("allow", "", "rest:alice"))
    assert pending.settled.is_set() and pending.answer and pending.answer.by == "rest:alice"
    assert approvals.all() == []  # answered: no longer listed as waiting
    with pytest.raises(InvalidTransition, match=r"already settled \(allow by rest:alice\)"):
        await approvals.answer(pending, Answer("deny", "", "mcp"))


async def test_a_relayed_request_takes_the_answer_the_record_took_first() -> None:
    record = Record()
    approvals = Approvals()
    pending = _open(approvals, record)
    earlier = Answer("deny", "not now", "timeout")
    record.first[pending.id] = earlier  # e.g. the worker's timeout, recorded first
    with pytest.raises(InvalidTransition, match=r"already settled \(deny by timeout\)"):
        await approvals.answer(pending, Answer("allow", "", "user"))
    assert pending.answer == earlier


async def test_a_relayed_answer_that_is_first_settles_and_is_recorded() -> None:
    record = Record()
    approvals = Approvals()
    pending = _open(approvals, record)
    mine = Answer("allow", "go", "user")
    await approvals.answer(pending, mine)
    assert pending.answer == mine and record.first[pending.id] == mine


def test_an_answer_and_a_request_survive_their_stored_form() -> None:
    approvals = Approvals()
    pending = _open(approvals)
    again = Pending.from_dict(pending.to_dict())
    assert (again.id, again.task_id, again.turn, again.tool, again.input, again.created_at) == (
        pending.id, "t1", 1, "Bash", {"command": "ls"}, pending.created_at,
    )  # fmt: skip
    answer = Answer("allow_always", "ok", "link")
    assert Answer.from_dict(answer.to_dict()) == answer
