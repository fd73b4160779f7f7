"""The core: the one front door (`Core`), its requests and its documents.

Faces (``mcp/``, ``web/``, ``cli/``) import this package and nothing deeper
(import-linter enforces it, see pyproject.toml).
"""

from __future__ import annotations

from agentdeck.auth import SCOPES, Caller, Scope, TokenInfo, authorize
from agentdeck.bus import Change, Listener
from agentdeck.core.api import Core
from agentdeck.core.approvals import DECISIONS, Answer, Asker, Pending
from agentdeck.core.documents import (
    AgentStatus,
    Document,
    EventItem,
    EventPage,
    GitSummary,
    PendingDecision,
    PendingList,
    ServerStats,
    Statistics,
    StatusDocument,
    TaskDetail,
    TaskList,
    TaskReport,
    TaskResult,
    TaskSummary,
)
from agentdeck.core.requests import (
    INSTRUCTIONS_MAX,
    MAX_TURNS_LIMIT,
    PERMISSION_MODES,
    TIMEOUT_LIMIT,
    TITLE_MAX,
    Clean,
    ContinueTask,
    CreateTask,
    Merge,
    Request,
    Respond,
    TaskQuery,
    TaskRef,
    parse,
)
from agentdeck.core.views import LOG_KINDS, duration_seconds, human_duration, log_line

__all__ = [
    "DECISIONS",
    "INSTRUCTIONS_MAX",
    "LOG_KINDS",
    "MAX_TURNS_LIMIT",
    "PERMISSION_MODES",
    "SCOPES",
    "TIMEOUT_LIMIT",
    "TITLE_MAX",
    "AgentStatus",
    "Answer",
    "Asker",
    "Caller",
    "Change",
    "Clean",
    "ContinueTask",
    "Core",
    "CreateTask",
    "Document",
    "EventItem",
    "EventPage",
    "GitSummary",
    "Listener",
    "Merge",
    "Pending",
    "PendingDecision",
    "PendingList",
    "Request",
    "Respond",
    "Scope",
    "ServerStats",
    "Statistics",
    "StatusDocument",
    "TaskDetail",
    "TaskList",
    "TaskQuery",
    "TaskRef",
    "TaskReport",
    "TaskResult",
    "TaskSummary",
    "TokenInfo",
    "authorize",
    "duration_seconds",
    "human_duration",
    "log_line",
    "parse",
]
