"""Any agent that speaks ACP, the Agent Client Protocol, on its stdio (one process per turn).

`AcpAgent` is the adapter: what to start and how. The conversation itself (the ACP
client, its events, the probe's handshake) is `agentdeck.agents.acp_session`,
imported when a turn or a probe runs: the ACP library takes half a second to import,
which start-up need not pay.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentdeck.agents._cli import agent_env, find_binary, missing_message
from agentdeck.agents.base import AgentInfo, Capabilities, Emit, TurnRequest


class AcpAgent:
    """An `Agent` that speaks ACP: ``argv`` is started once per turn (no shell).

    Subclasses (Gemini) override `cli`, `problem`, `argv`, `env` and `model`.
    """

    protocol = "acp"

    def __init__(
        self,
        name: str,
        command: Sequence[str] = (),
        env: dict[str, str] | None = None,
        label: str | None = None,
    ) -> None:
        self.name = name
        self.command = list(command)
        self.extra_env = dict(env or {})
        self.label = label or name
        # Asks agentdeck, resumes (when the agent declares ``loadSession``), no steering.
        self.capabilities = Capabilities(approvals=True, resume=True)

    # -- hooks ----------------------------------------------------------------------

    def cli(self) -> str | None:
        return find_binary(None, self.command[0]) if self.command else None

    def problem(self) -> str:
        first = self.command[0] if self.command else "?"
        return missing_message(f"agent {self.name!r}", None, first, f"agents.{self.name}.command")

    def argv(self, cli: str, request: TurnRequest) -> list[str]:
        return [cli, *self.command[1:]]

    def env(self, request: TurnRequest) -> dict[str, str]:
        """The process environment; raise `NotReady` to fail the turn instead."""
        return agent_env(request, self.extra_env)

    def model(self, request: TurnRequest) -> str | None:
        return request.model

    # -- one turn, the probe (agentdeck.agents.acp_session) ---------------------------

    async def run(self, request: TurnRequest, emit: Emit) -> None:
        """Run one turn; emit normalized events ending with ``turn_finished``."""
        from agentdeck.agents import acp_session

        await acp_session.run_turn(self, request, emit)

    async def probe(self) -> AgentInfo:
        """Available when the agent starts and answers ACP ``initialize``."""
        from agentdeck.agents import acp_session

        return await acp_session.probe(self)


__all__ = ["AcpAgent"]
