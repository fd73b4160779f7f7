"""The one seam every agent sits behind: run a turn, yield normalized events."""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import anyio

from agentdeck.model import NewEvent

# Asked before a tool use that the agent's own mode does not settle:
# (tool name, tool input, the agent's prompt text) -> (allowed, message for the agent).
Approver = Callable[[str, dict[str, Any], str | None], Awaitable[tuple[bool, str]]]


@dataclass(frozen=True)
class Capabilities:
    """What an agent can do beyond running a turn; the core and clients read these."""

    approvals: bool = False
    """It asks agentdeck (``TurnRequest.approve``) before tool uses its own mode does not settle."""
    resume: bool = False
    """A later turn can continue the session of an earlier one (``resume_session_id``)."""
    steer: bool = False
    """A running turn accepts further instructions without being restarted."""
    cost: bool = False
    """Its ``usage`` events carry a real ``cost_usd`` (otherwise tokens only)."""

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)


class Inbox:
    """Words for a running turn (``steer``), for agents that declare the capability.

    The adapter opens it while its agent can take a message and closes it once the turn
    is over; `put` says whether the words went in (a closed inbox refuses them, and the
    core queues them as the next turn instead). What was put before `close` is still
    handed out by `get`.
    """

    def __init__(self) -> None:
        self._items: deque[str] = deque()
        self._open = False
        self._ready = anyio.Event()

    def open(self) -> None:
        self._open = True

    def close(self) -> None:
        self._open = False
        self._ready.set()

    def put(self, text: str) -> bool:
        if not self._open:
            return False
        self._items.append(text)
        self._ready.set()
        return True

    async def get(self) -> str | None:
        """The next message, once there is one; None once closed and drained."""
        while not self._items:
            if not self._open:
                return None
            await self._ready.wait()
            self._ready = anyio.Event()
        return self._items.popleft()


@dataclass(frozen=True)
class TurnRequest:
    """Everything an adapter needs to run one turn of one task."""

    task_id: str
    turn: int
    instructions: str
    cwd: Path
    model: str | None = None
    max_turns: int | None = None
    permission_mode: str = "bypassPermissions"
    resume_session_id: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    approve: Approver | None = None  # None: every tool use runs (policy bypass)
    launcher: tuple[str, ...] = ()  # put before the agent's argv (agentdeck.cgroup.launcher)
    inbox: Inbox | None = None  # steering for this turn (agents with the ``steer`` capability)


@dataclass(frozen=True)
class AgentInfo:
    """What ``check_status`` / ``agent://status`` report about an agent.

    ``capabilities`` is the agent's `Capabilities` as a dict, plus any details the
    adapter adds (e.g. whether a custom provider is configured).
    """

    name: str
    available: bool
    version: str | None = None
    path: str | None = None
    problem: str | None = None
    capabilities: dict[str, Any] = field(default_factory=dict)


Emit = Callable[[NewEvent], None]


async def room(emit: Emit) -> None:
    """Wait while the core is behind with storing this turn's events. An adapter that
    reads its agent's output calls it between reads, so that a flood waits in the agent's
    pipe, not in memory. (An ``emit`` with no backlog, e.g. a list's append, never waits.)"""
    wait = getattr(emit, "room", None)
    if wait is not None:
        await wait()


class Agent(Protocol):
    """An agent CLI adapter.

    ``run`` passes normalized events (see `agentdeck.model.EventKind`) to ``emit``:
    ``turn_started`` once the process is spawned, and at the end exactly one
    ``turn_finished`` whose data carries ``success`` and, on failure, ``error``.
    When ``run`` is cancelled (user cancel, timeout) the adapter stops the agent
    and every process it started before it returns. ``capabilities`` says what
    else the agent does (asks approvals, resumes sessions, ...).
    """

    name: str
    capabilities: Capabilities

    async def run(self, request: TurnRequest, emit: Emit) -> None: ...

    async def probe(self) -> AgentInfo: ...
