"""Ask the client that created a task directly, by MCP elicitation, when it can."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context
from mcp.types import ElicitResult

from agentdeck.core import DECISIONS, Answer, Asker, Pending

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "decision": {"type": "string", "enum": list(DECISIONS), "title": "Decision"},
        "message": {"type": "string", "title": "Message for the agent (optional)"},
    },
    "required": ["decision"],
}


def elicitation_asker(ctx: Context) -> Asker | None:
    """An asker for the calling client, if it declared the elicitation capability."""
    session = ctx.session
    capabilities = session.client_capabilities
    if capabilities is None or capabilities.elicitation is None:
        return None

    async def ask(pending: Pending) -> Answer | None:
        result: ElicitResult = await session.elicit_form(
            f"Task {pending.task_id}: the agent wants to {pending.summary}. Allow it?",
            SCHEMA,
        )
        if result.action == "decline":
            return Answer("deny", "The user declined.", "elicitation")
        if result.action != "accept" or not result.content:
            return None
        decision = result.content.get("decision")
        if decision not in DECISIONS:
            return None
        message = str(result.content.get("message") or "")
        return Answer(decision, message, "elicitation")  # type: ignore[arg-type]

    return ask
