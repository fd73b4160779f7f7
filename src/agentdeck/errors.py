"""The one exception hierarchy. Each face maps it once: MCP envelope, REST JSON, CLI exit code.

``kind`` is the snake_case ``error.type`` clients see; ``http_status`` is the HTTP
status that fits it (REST uses it; MCP carries ``kind`` in the envelope).
"""

from __future__ import annotations

from typing import Any

# The ``error.type`` of an HTTP refusal made before any of our code runs (router, guards).
KIND_OF_HTTP_STATUS = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    421: "misdirected_request",
    429: "rate_limited",
}


class AgentdeckError(Exception):
    """Base class: a refusal or failure the user can read and act on."""

    kind = "internal_error"
    http_status = 500

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(AgentdeckError):
    """The configuration (file, environment, project settings) is wrong."""

    kind = "config_error"
    http_status = 500


class InvalidInput(AgentdeckError):
    """An argument is missing, unknown or out of range."""

    kind = "validation_error"
    http_status = 400


class NotFound(AgentdeckError):
    kind = "not_found"
    http_status = 404


class InvalidTransition(AgentdeckError):
    """The task is not in a status that allows this."""

    kind = "invalid_state"
    http_status = 409


class ProjectNotAllowed(AgentdeckError):
    kind = "project_not_allowed"
    http_status = 403


class AgentUnavailable(AgentdeckError):
    kind = "agent_unavailable"
    http_status = 503


class Unauthorized(AgentdeckError):
    """No valid credentials."""

    kind = "unauthorized"
    http_status = 401


class Forbidden(AgentdeckError):
    """Valid credentials without the scope this needs."""

    kind = "forbidden"
    http_status = 403


class TooLarge(AgentdeckError):
    """A request body or argument is over its size limit."""

    kind = "too_large"
    http_status = 413


class GitError(AgentdeckError):
    """A git command failed."""

    kind = "git_error"
    http_status = 500


class MergeConflict(AgentdeckError):
    kind = "merge_conflict"
    http_status = 409


class DirtyCheckout(AgentdeckError):
    """The main checkout has uncommitted changes or is on another branch."""

    kind = "dirty_checkout"
    http_status = 409


class SetupFailed(AgentdeckError):
    """The project's worktree setup command failed; the message carries its output."""

    kind = "setup_failed"
    http_status = 500
