"""Agent adapters and the registry that names them."""

from __future__ import annotations

from agentdeck.agents.base import Agent, AgentInfo, TurnRequest
from agentdeck.agents.claude import ClaudeAgent
from agentdeck.config import Settings
from agentdeck.errors import InvalidInput

# Names clients of the old system use, mapped to ours.
ALIASES = {
    "claudecode": "claude",
    "claude-code": "claude",
    "claude_code": "claude",
}


def build_agents(settings: Settings) -> dict[str, Agent]:
    """One adapter per configured agent, keyed by its canonical name."""
    claude = settings.claude
    return {"claude": ClaudeAgent(cli_path=claude.cli_path, default_model=claude.model)}


def canonical_agent(name: str, agents: dict[str, Agent]) -> str:
    """The registry key for ``name`` (case-insensitive, old names accepted)."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in agents:
        raise InvalidInput(
            f"unknown agent {name!r}; available: {', '.join(sorted(agents))} "
            f"(old names accepted: CLAUDECODE)",
            {"field": "agent", "available": sorted(agents)},
        )
    return key


__all__ = ["Agent", "AgentInfo", "ClaudeAgent", "TurnRequest", "build_agents", "canonical_agent"]
