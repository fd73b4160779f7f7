"""The one exception hierarchy; transports map it to MCP / HTTP errors in one place."""

from __future__ import annotations

from typing import Any


class AgentdeckError(Exception):
    """Base class. ``kind`` is the snake_case ``error.type`` clients see."""

    kind = "internal_error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(AgentdeckError):
    kind = "config_error"


class InvalidInput(AgentdeckError):
    kind = "validation_error"


class NotFound(AgentdeckError):
    kind = "not_found"


class InvalidTransition(AgentdeckError):
    kind = "invalid_state"


class ProjectNotAllowed(AgentdeckError):
    kind = "project_not_allowed"


class AgentUnavailable(AgentdeckError):
    kind = "agent_unavailable"
