"""Agent adapters and the registry that names them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentdeck.agents.acp import AcpAgent
from agentdeck.agents.base import Agent, AgentInfo, Capabilities, TurnRequest
from agentdeck.agents.claude import ClaudeAgent
from agentdeck.agents.codex import CodexAgent
from agentdeck.agents.codex_app import CodexAppServerAgent, codex_agent
from agentdeck.agents.command import CommandAgent
from agentdeck.agents.gemini import GeminiAcpAgent, GeminiAgent
from agentdeck.config import Settings
from agentdeck.errors import InvalidInput

if TYPE_CHECKING:
    from claude_agent_sdk import SessionStore

# Names clients of the old system use, mapped to ours.
ALIASES = {
    "claudecode": "claude",
    "claude-code": "claude",
    "claude_code": "claude",
    "codex-cli": "codex",
    "openai-codex": "codex",
    "gemini-cli": "gemini",
}


def build_agents(settings: Settings, session_store: SessionStore | None = None) -> dict[str, Agent]:
    """One adapter per configured agent, keyed by its canonical name; Claude's
    conversations also go to ``session_store`` when given (a worker's)."""
    claude = settings.claude
    agents: dict[str, Agent] = {
        "claude": ClaudeAgent(claude.cli_path, claude.model, session_store),
        "codex": codex_agent(settings.agents.codex, settings.home),
    }
    gemini = settings.agents.gemini
    agents["gemini"] = (
        GeminiAcpAgent(gemini, settings.home)
        if gemini.protocol == "acp"
        else GeminiAgent(gemini, settings.home)
    )
    for name, command in settings.agents.commands.items():
        if command.acp or command.protocol == "acp":
            agents[name] = AcpAgent(name, command.command, command.env)
        else:
            agents[name] = CommandAgent(name, command)
    return agents


def canonical_agent(name: str, agents: dict[str, Agent]) -> str:
    """The registry key for ``name`` (case-insensitive, old names accepted)."""
    key = name.strip().lower()
    key = key if key in agents else ALIASES.get(key, key)
    if key not in agents:
        raise InvalidInput(
            f"unknown agent {name!r}; available: {', '.join(sorted(agents))} "
            f"(old names accepted: CLAUDECODE, CODEX, GEMINI)",
            {"field": "agent", "available": sorted(agents)},
        )
    return key


__all__ = [
    "AcpAgent",
    "Agent",
    "AgentInfo",
    "Capabilities",
    "ClaudeAgent",
    "CodexAgent",
    "CodexAppServerAgent",
    "CommandAgent",
    "GeminiAcpAgent",
    "GeminiAgent",
    "TurnRequest",
    "build_agents",
    "canonical_agent",
]
