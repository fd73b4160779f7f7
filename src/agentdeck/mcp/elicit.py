"""The decision an agent asks for, as an MCP elicitation form, in every way we ask it.

- Handshake-era clients that declared elicitation are asked directly
  (`elicitation_asker`, ``elicitation/create`` on their session).
- 2026-07-28 clients get the same form inside ``inputRequests``: in an
  ``InputRequiredResult`` (multi-round-trip, `mcp.mrtr`) or in a task's
  ``tasks/get`` (the Tasks extension, `mcp.tasks`).

The answer is read back the same way everywhere (`answer_of`): ``accept`` with a
``decision`` of allow (once), deny (with the optional message for the agent) or
allow_always; ``decline`` denies; ``cancel`` (dismissed) leaves the decision open.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context
from mcp.types import ElicitRequest, ElicitRequestFormParams, ElicitResult
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from agentdeck.core import DECISIONS, Answer, Asker, Pending, PendingDecision

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {
            "type": "string",
            "enum": list(DECISIONS),
            "title": "Decision",
            "description": "allow: this once; deny: refuse (the message tells the agent why); "
            "allow_always: this tool for the rest of the task",
        },
        "message": {"type": "string", "title": "Message for the agent (optional)"},
    },
    "required": ["decision"],
}
DECLINED = "The user declined."


def question(pending: Pending | PendingDecision) -> str:
    task_id = pending.task_id
    return f"Task {task_id}: the agent wants to {pending.summary}. Allow it?"


def decision_request(pending: Pending | PendingDecision) -> ElicitRequest:
    """The elicitation form asking for ``pending``'s decision."""
    return ElicitRequest(
        params=ElicitRequestFormParams(message=question(pending), requested_schema=SCHEMA)
    )


def answer_of(response: ElicitResult) -> tuple[str, str] | None:
    """(decision, message) from an elicitation response; None: no decision (dismissed).

    Raises ValueError, naming what is accepted, for an ``accept`` without a valid decision."""
    if response.action == "decline":
        return "deny", DECLINED
    if response.action != "accept":
        return None
    content = response.content or {}
    decision = content.get("decision")
    if decision not in DECISIONS:
        raise ValueError(
            f"decision must be one of {', '.join(DECISIONS)} (got {decision!r}); "
            "message is optional text for the agent"
        )
    return str(decision), str(content.get("message") or "")


def elicitation_asker(ctx: Context) -> Asker | None:
    """An asker for the calling client: a handshake-era session that declared the
    elicitation capability (2026-07-28 clients have no back channel; they are asked
    through ``inputRequests`` instead)."""
    if ctx.request_context.protocol_version in MODERN_PROTOCOL_VERSIONS:
        return None
    session = ctx.session
    capabilities = session.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return None

    async def ask(pending: Pending) -> Answer | None:
        result: ElicitResult = await session.elicit_form(question(pending), SCHEMA)
        try:
            answer = answer_of(result)
        except ValueError:
            return None
        if answer is None:
            return None
        decision, message = answer
        return Answer(decision, message, "elicitation")  # type: ignore[arg-type]

    return ask
