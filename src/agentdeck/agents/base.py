"""The one seam every agent sits behind: run a turn, yield normalized events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

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
