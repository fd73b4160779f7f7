"""Decisions the user owes an agent: open requests, and the first answer that settles each."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import anyio

from agentdeck.agents.base import Approver
from agentdeck.core import policy
from agentdeck.core.lifecycle import Lifecycle
from agentdeck.errors import InvalidTransition, NotFound
from agentdeck.model import EventKind, NewEvent, TaskStatus, now

Decision = Literal["allow", "deny", "allow_always"]
DECISIONS: tuple[Decision, ...] = ("allow", "deny", "allow_always")
log = logging.getLogger(__name__)


@dataclass
class Answer:
    decision: Decision
    message: str
    by: str
    at: datetime = field(default_factory=now)

    def to_dict(self) -> dict[str, str]:
        return {
            "decision": self.decision,
            "message": self.message,
            "by": self.by,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Answer:
        return cls(
            data["decision"], data["message"], data["by"], datetime.fromisoformat(data["at"])
        )


# Takes an answer to the record shared with other machines (agentdeck.workers.decisions)
# and returns the answer recorded there first: this one, or one that came before it.
Relay = Callable[["Pending", Answer], Awaitable[Answer]]


@dataclass
class Pending:
    """One tool use waiting for the user's decision."""

    id: str
    task_id: str
    turn: int
    tool: str
    input: dict[str, Any]
    summary: str
    kind: Literal["tool", "budget"] = "tool"  # a tool use, or more budget
    created_at: datetime = field(default_factory=now)
    answer: Answer | None = None
    settled: anyio.Event = field(default_factory=anyio.Event)
    relay: Relay | None = None  # set when another machine also answers or waits on it

    @classmethod
    def from_dict(cls, data: dict[str, Any], relay: Relay | None = None) -> Pending:
        """The request a ``permission_request`` event describes (`to_dict`'s inverse)."""
        return cls(
            data["request_id"],
            data["task_id"],
            int(data["turn"]),
            data["tool"],
            data["input"],
            data["summary"],
            data.get("kind", "tool"),
            datetime.fromisoformat(data["created_at"]),
            relay=relay,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.id,
            "task_id": self.task_id,
            "kind": self.kind,
            "turn": self.turn,
            "tool": self.tool,
            "input": self.input,
            "summary": self.summary,
            "created_at": self.created_at.isoformat(),
            "decisions": list(DECISIONS) if self.kind == "tool" else ["allow", "deny"],
        }


# Asks one client directly (e.g. by MCP elicitation); None when it gave no answer.
Asker = Callable[["Pending"], Awaitable["Answer | None"]]


class Approvals:
    """Open requests across all tasks; the first answer wins, later ones are refused."""

    def __init__(self) -> None:
        self._open: dict[str, Pending] = {}
        self._askers: dict[str, list[Asker]] = {}

    def add_asker(self, task_id: str, asker: Asker) -> None:
        """Also ask ``asker`` (besides every other face) about this task's requests."""
        self._askers.setdefault(task_id, []).append(asker)

    def askers(self, task_id: str) -> list[Asker]:
        return list(self._askers.get(task_id, []))

    async def ask_one(self, asker: Asker, pending: Pending) -> None:
        """Ask one client; its answer settles ``pending`` unless another came first."""
        try:
            answer = await asker(pending)
        except Exception as exc:  # a client that went away just does not answer
            log.info("could not ask a client about %s: %s", pending.id, exc)
            self._askers[pending.task_id] = [
                a for a in self._askers.get(pending.task_id, []) if a is not asker
            ]
            return
        if answer is not None:
            with contextlib.suppress(InvalidTransition):  # another answer came first
                await self.answer(pending, answer)

    def open(
        self,
        task_id: str,
        turn: int,
        tool: str,
        tool_input: dict[str, Any],
        summary: str,
        kind: Literal["tool", "budget"] = "tool",
        relay: Relay | None = None,
    ) -> Pending:
        pending = Pending(
            f"p-{secrets.token_hex(5)}", task_id, turn, tool, tool_input, summary, kind,
            relay=relay,
        )  # fmt: skip
        return self.add(pending)

    def add(self, pending: Pending) -> Pending:
        self._open[pending.id] = pending
        return pending

    def close(self, pending: Pending) -> None:
        self._open.pop(pending.id, None)

    def all(self) -> list[Pending]:
        """The requests still waiting for an answer, oldest first."""
        waiting = [p for p in self._open.values() if p.answer is None]
        return sorted(waiting, key=lambda p: p.created_at)

    def for_task(self, task_id: str) -> list[Pending]:
        return [p for p in self.all() if p.task_id == task_id]

    def find(self, task_id: str, request_id: str | None) -> Pending:
        """The open request ``request_id`` of the task (default: its oldest one)."""
        if request_id is None:
            waiting = self.for_task(task_id)
            if not waiting:
                raise InvalidTransition(
                    f"task {task_id} is not waiting for a decision",
                    {"id": task_id},
                )
            return waiting[0]
        pending = self._open.get(request_id)
        if pending is None or pending.task_id != task_id:
            raise NotFound(
                f"no open decision {request_id!r} for task {task_id} (it may be settled "
                "already); agent://pending lists the open ones",
                {"request_id": request_id},
            )
        return pending

    async def answer(self, pending: Pending, answer: Answer) -> None:
        """Settle ``pending`` with ``answer``; refused when another answer came first.

        A request with a relay takes the answer its shared record holds first: this one,
        unless another machine's came before it."""
        first = answer
        if pending.answer is None and pending.relay is not None:
            first = await pending.relay(pending, answer)
        if pending.answer is None:
            pending.answer = first
            pending.settled.set()
        if pending.answer != answer:
            raise _settled_already(pending)

    @staticmethod
    def settle(pending: Pending, answer: Answer) -> None:
        if pending.answer is not None:
            raise _settled_already(pending)
        pending.answer = answer
        pending.settled.set()


def _settled_already(pending: Pending) -> InvalidTransition:
    assert pending.answer is not None
    return InvalidTransition(
        f"decision {pending.id} was already settled ({pending.answer.decision} by "
        f"{pending.answer.by})",
        {"request_id": pending.id},
    )


class Decisions:
    """Decides each tool use by the task's policy, and asks the user when it says so.

    A request that needs the user moves the task to ``input_required`` and waits for
    the first answer from any face (`respond`, an asker such as MCP elicitation) or
    the timeout (a denial); the decision is recorded as an event either way.
    """

    def __init__(
        self, lifecycle: Lifecycle, timeout_seconds: float, relay: Relay | None = None
    ) -> None:
        self.lifecycle = lifecycle
        self.timeout_seconds = timeout_seconds
        self.relay = relay  # on a worker: answers are recorded where the front sees them
        self.open = Approvals()

    def approver(self, task_id: str, turn: int) -> Approver:
        """The callback an adapter calls before a tool use of this turn."""

        async def approve(
            tool: str, tool_input: dict[str, Any], prompt: str | None
        ) -> tuple[bool, str]:
            return await self.decide(task_id, turn, tool, tool_input, prompt)

        return approve

    async def decide(
        self, task_id: str, turn: int, tool: str, tool_input: dict[str, Any], prompt: str | None
    ) -> tuple[bool, str]:
        """(allowed, message for the agent) for one tool use."""
        task = await self.lifecycle.store.get(task_id)
        if task is None:
            return False, "the task was deleted"
        verdict, why = policy.decide(
            task.policy,
            tool,
            tool_input,
            Path(task.cwd),
            allow=task.allow_rules,
            deny=task.deny_rules,
            always=task.always_allow,
        )
        if verdict == "deny":
            note = NewEvent(
                EventKind.LOG,
                {"source": "approvals", "tool": tool, "text": f"{tool} refused: {why}"},
                turn,
            )
            await self.lifecycle.append(task_id, [note])
        if verdict != "ask":
            return verdict == "allow", why
        pending = self.open.open(
            task_id, turn, tool, tool_input, prompt or policy.summary(tool, tool_input),
            relay=self.relay,
        )  # fmt: skip
        answer = await self._ask(pending, f"{tool} needs your decision")
        if answer.decision == "deny":
            return False, answer.message or "The user denied this."
        return True, answer.message

    async def ask_budget(self, task_id: str, turn: int, spent: dict[str, Any]) -> bool:
        """Ask the user whether the task, stopped at its budget, may spend more."""
        summary = f"the task {spent['text']}: allow raises the budget and goes on"
        pending = self.open.open(
            task_id, turn, "budget", spent, summary, kind="budget", relay=self.relay
        )
        answer = await self._ask(pending, f"it {spent['text']}: more budget needs your decision")
        return answer.decision != "deny"

    async def _ask(self, pending: Pending, reason: str) -> Answer:
        """Put ``pending`` to every face (the task ``input_required``) until the first
        answer or the timeout (a denial); record the answer."""
        task_id, turn = pending.task_id, pending.turn
        try:
            async with self.lifecycle.editing(task_id) as task:
                request = NewEvent(EventKind.PERMISSION_REQUEST, pending.to_dict(), turn)
                if task.status == TaskStatus.IN_PROGRESS:
                    await self.lifecycle.transition(
                        task, TaskStatus.INPUT_REQUIRED, reason, [request]
                    )
                else:
                    await self.lifecycle.save(task, [request])
            async with anyio.create_task_group() as askers:
                for asker in self.open.askers(task_id):
                    askers.start_soon(self.open.ask_one, asker, pending)
                with anyio.move_on_after(self.timeout_seconds):
                    await pending.settled.wait()
                askers.cancel_scope.cancel()
            if pending.answer is None:
                timeout = Answer(
                    "deny",
                    f"No decision within {self.timeout_seconds:g} s, so this was not allowed.",
                    "timeout",
                )
                with contextlib.suppress(InvalidTransition):  # an answer came just before
                    await self.open.answer(pending, timeout)
        finally:
            self.open.close(pending)
        answer = pending.answer
        assert answer is not None  # settled above
        with anyio.CancelScope(shield=True):
            await self._record(pending, answer)
        return answer

    async def _record(self, pending: Pending, answer: Answer) -> None:
        async with self.lifecycle.editing(pending.task_id) as task:
            if (
                answer.decision == "allow_always"
                and pending.kind == "tool"
                and pending.tool not in task.always_allow
            ):
                task.always_allow.append(pending.tool)
            decided = NewEvent(
                EventKind.LOG,
                {
                    "source": "approvals",
                    "request_id": pending.id,
                    "tool": pending.tool,
                    "decision": answer.decision,
                    "message": answer.message,
                    "by": answer.by,
                    "at": answer.at.isoformat(),
                    "text": f"{pending.tool}: {answer.decision} by {answer.by}",
                },
                pending.turn,
            )
            still_open = self.open.for_task(task.id)
            if task.status == TaskStatus.INPUT_REQUIRED and not still_open:
                await self.lifecycle.transition(
                    task, TaskStatus.IN_PROGRESS, "decision received", [decided]
                )
            else:
                await self.lifecycle.save(task, [decided])

    async def respond(
        self, task_id: str, decision: Decision, message: str, request_id: str | None, by: str
    ) -> Pending:
        """Settle the task's open request (its oldest, or ``request_id``)."""
        pending = self.open.find(task_id, request_id)
        await self.open.answer(pending, Answer(decision, message, by))
        return pending
