"""`FakeAgent`: an in-memory `Agent` for tests, driven by a script instead of a process.

Every turn emits ``turn_started`` and ``session`` (id ``fake-<task id>``, or the
resumed one), then runs its steps, then ``usage`` and a successful
``turn_finished`` — unless a step finished the turn already (`Fail`, a
denied `Ask` with ``on_deny="fail"``, an `Event` of kind ``turn_finished``).
Without a script a turn says its instructions back. For example::

    gate = Gate()
    agent = FakeAgent(steps=[Ask("Bash", {"command": "ls"}), gate, Say("done")])
    ...  # start a task on it; the core's approver allows the Bash call
    with anyio.fail_after(5):
        await gate.reached.wait()  # the turn is held here
    assert agent.answers == [(True, "")]
    gate.open()  # the turn says "done" and finishes
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from agentdeck.agents.base import AgentInfo, Capabilities, Emit, TurnRequest
from agentdeck.model import EventKind, NewEvent

DEFAULT_USAGE: dict[str, Any] = {
    "input_tokens": 10,
    "output_tokens": 5,
    "cache_read_tokens": 0,
    "cache_creation_tokens": 0,
    "cost_usd": 0.0,
}


@dataclass(frozen=True)
class Event:
    """Emit this event as it is; kind ``turn_finished`` ends the turn."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Say:
    """An assistant ``message``; the last one is the turn's ``result_text``."""

    text: str


@dataclass(frozen=True)
class Ask:
    """A tool use that asks ``request.approve`` first (bypass: it just runs).

    ``tool_call``, the question, then ``tool_result``: ``output`` when allowed, the
    refusal message (``is_error``) when denied. ``on_deny="fail"`` then fails the turn.
    """

    tool: str
    input: dict[str, Any] = field(default_factory=dict)
    prompt: str | None = None
    output: str = "ok"
    on_deny: Literal["continue", "fail"] = "continue"


@dataclass(frozen=True)
class Fail:
    """End the turn: ``turn_finished`` with ``success`` False and this ``error``."""

    error: str


@dataclass
class Gate:
    """Hold the turn here until the test calls `open`; ``reached`` is set on arrival.

    One gate per turn: once open, it stays open.
    """

    reached: anyio.Event = field(default_factory=anyio.Event)
    opened: anyio.Event = field(default_factory=anyio.Event)

    def open(self) -> None:
        self.opened.set()


@dataclass
class Hang:
    """Wait here until the turn is cancelled (user cancel, timeout); ``reached`` as `Gate`."""

    reached: anyio.Event = field(default_factory=anyio.Event)


@dataclass
class Listen:
    """Take the next steer from ``request.inbox`` and say it back; ``reached`` as `Gate`.

    The turn's inbox is open from its start to its end, as a steerable agent's is.
    """

    reached: anyio.Event = field(default_factory=anyio.Event)


Step = Event | Say | Ask | Fail | Gate | Hang | Listen
Script = Callable[[TurnRequest], Sequence[Step]]


def echo(request: TurnRequest) -> list[Step]:
    """The default script: say the instructions back."""
    return [Say(request.instructions)]


class FakeAgent:
    """An `Agent` that plays ``steps`` (every turn) or ``script(request)`` (per turn).

    ``requests``: every `TurnRequest` received; ``answers``: every ``(allowed,
    message)`` that ``approve`` returned; ``cancelled``: how many turns were cancelled.
    ``usage`` is the data of each turn's ``usage`` event (None: no such event).
    It declares approvals, resume, and cost when its ``usage`` has a ``cost_usd``, unless
    given other ``capabilities``.
    """

    def __init__(
        self,
        name: str = "fake",
        *,
        steps: Sequence[Step] | None = None,
        script: Script | None = None,
        capabilities: Capabilities | None = None,
        usage: dict[str, Any] | None = DEFAULT_USAGE,
        version: str = "0.0-fake",
    ) -> None:
        if steps is not None and script is not None:
            raise ValueError("give steps or a script, not both")
        self.name = name
        reports_cost = usage is not None and usage.get("cost_usd") is not None
        self.capabilities = capabilities or Capabilities(
            approvals=True, resume=True, cost=reports_cost
        )
        self.steps = None if steps is None else list(steps)
        self.script: Script = script or echo
        self.usage = usage
        self.version = version
        self.requests: list[TurnRequest] = []
        self.answers: list[tuple[bool, str]] = []
        self.cancelled = 0

    async def probe(self) -> AgentInfo:
        return AgentInfo(
            self.name, True, self.version, None, capabilities=self.capabilities.to_dict()
        )

    async def run(self, request: TurnRequest, emit: Emit) -> None:
        """Play the turn's script; emit normalized events ending with ``turn_finished``."""
        self.requests.append(request)
        turn = _Turn(request, emit)
        turn.send(
            EventKind.TURN_STARTED,
            {
                "instructions": request.instructions,
                "agent": self.name,
                "argv": [],
                "pid": None,
                "cwd": str(request.cwd),
                "resume": request.resume_session_id,
                "model": request.model,
            },
        )
        turn.send(EventKind.SESSION, {"session_id": turn.session_id, "cwd": str(request.cwd)})
        if request.inbox is not None:
            request.inbox.open()
        try:
            for step in self.steps if self.steps is not None else self.script(request):
                await self._play(step, turn)
                if turn.finished:
                    return
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            if request.inbox is not None:
                request.inbox.close()
        if self.usage is not None:
            turn.send(EventKind.USAGE, dict(self.usage))
        cost = self.usage.get("cost_usd") if self.usage and self.capabilities.cost else None
        turn.finish(success=True, cost_usd=cost)

    async def _play(self, step: Step, turn: _Turn) -> None:
        if isinstance(step, Event):
            turn.send(step.kind, step.data)
        elif isinstance(step, Say):
            turn.result_text = step.text
            turn.send(EventKind.MESSAGE, {"role": "assistant", "text": step.text})
        elif isinstance(step, Ask):
            await self._ask(step, turn)
        elif isinstance(step, Fail):
            turn.finish(success=False, error=step.error)
        elif isinstance(step, Gate):
            step.reached.set()
            await step.opened.wait()
        elif isinstance(step, Listen):
            step.reached.set()
            words = await turn.request.inbox.get() if turn.request.inbox else None
            await self._play(Say(words or "nobody steered"), turn)
        else:
            step.reached.set()
            await anyio.sleep_forever()

    async def _ask(self, step: Ask, turn: _Turn) -> None:
        turn.tools += 1
        tool_id = f"fake-tool-{turn.tools}"
        turn.send(EventKind.TOOL_CALL, {"id": tool_id, "name": step.tool, "input": step.input})
        allowed, message = True, ""
        if turn.request.approve is not None:
            allowed, message = await turn.request.approve(step.tool, step.input, step.prompt)
            self.answers.append((allowed, message))
        output = step.output if allowed else message
        turn.send(
            EventKind.TOOL_RESULT,
            {
                "id": tool_id,
                "output": output,
                "size": len(output),
                "truncated": False,
                "is_error": not allowed,
            },
        )
        if not allowed and step.on_deny == "fail":
            turn.finish(success=False, error=f"{step.tool} was denied: {message}")


class _Turn:
    """One turn's state: where the script is, and the one ``turn_finished``."""

    def __init__(self, request: TurnRequest, emit: Emit) -> None:
        self.request = request
        self._emit = emit
        self.session_id = request.resume_session_id or f"fake-{request.task_id}"
        self.result_text: str | None = None
        self.tools = 0
        self.finished = False
        self.started = time.monotonic()

    def send(self, kind: str, data: dict[str, Any]) -> None:
        self.finished = self.finished or kind == EventKind.TURN_FINISHED
        self._emit(NewEvent(kind, data, self.request.turn))

    def finish(self, success: bool, **extra: Any) -> None:
        self.send(
            EventKind.TURN_FINISHED,
            {
                "success": success,
                "result_text": self.result_text,
                "num_turns": 1,
                "duration_ms": int((time.monotonic() - self.started) * 1000),
                "session_id": self.session_id,
                **extra,
            },
        )


__all__ = [
    "Ask",
    "Event",
    "Fail",
    "FakeAgent",
    "Gate",
    "Hang",
    "Listen",
    "Say",
    "Script",
    "Step",
    "echo",
]
