"""MCP tool to answer an agent's request for permission: respond_task."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from agentdeck.engine import TaskEngine
from agentdeck.errors import AgentdeckError
from agentdeck.mcp.arguments import Args, input_schema, validated
from agentdeck.mcp.envelope import from_error, raw_tool, success
from agentdeck.mcp.tools import REF_ALIASES, TaskRef


class RespondArgs(Args):
    id: TaskRef
    decision: Annotated[
        Literal["allow", "deny", "allow_always"],
        Field(description="allow once, deny, or allow this tool for the rest of the task."),
    ]
    message: Annotated[
        str,
        Field(
            max_length=10_000,
            description="Told to the agent (the reason for a denial, or "
            "the answer to its question).",
        ),
    ] = ""
    request_id: Annotated[
        str | None,
        Field(max_length=64, description="Which open request; default: the task's oldest."),
    ] = None


def build_approval_tools(engine: TaskEngine) -> list[Tool]:
    async def respond_task(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(RespondArgs, REF_ALIASES, arguments)
        if isinstance(args, CallToolResult):
            return args
        try:
            task, pending = await engine.respond(
                args.id, args.decision, args.message, args.request_id, by="mcp"
            )
        except AgentdeckError as exc:
            return from_error(exc)
        return success(
            f"{args.decision} sent for {pending.tool} in task {task.id}; the agent continues.",
            {
                "id": task.id,
                "request_id": pending.id,
                "tool": pending.tool,
                "decision": args.decision,
            },
        )

    return [
        raw_tool(
            respond_task,
            name="respond_task",
            description=(
                "Answer a task that is input_required: the agent asked to use a tool (see the "
                "permission_request event in task://{id}, or agent://pending for everything "
                "waiting on you). allow runs it once, allow_always allows that tool for the "
                "rest of the task, deny refuses it and tells the agent your message. The "
                "first answer from any client wins."
            ),
            input_schema=input_schema(RespondArgs, REF_ALIASES),
            annotations=ToolAnnotations(
                title="Respond to task",
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=False,
            ),
        )
    ]
