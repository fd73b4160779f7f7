"""respond_task: answer an agent's request for permission."""

from __future__ import annotations

from mcp.server.mcpserver import Context

from agentdeck.core import Respond
from agentdeck.mcp import legacy
from agentdeck.mcp.tooling import Reply, Tools, changes


def register(tools: Tools) -> None:
    core = tools.core

    @tools.tool(
        "respond_task",
        args=Respond,
        scope="write",
        aliases=legacy.TASK_REF,
        description=(
            "Answer a task that is input_required: the agent asked to use a tool (see the "
            "permission_request event in task://{id}, or agent://pending for everything "
            "waiting on you). allow runs it once, allow_always allows that tool for the "
            "rest of the task, deny refuses it and tells the agent your message. The "
            "first answer from any client wins."
        ),
        annotations=changes("Respond to task"),
    )
    async def respond_task(args: Respond, ctx: Context) -> Reply:
        task, pending = await core.respond(args, by="mcp")
        return Reply(
            f"{args.decision} sent for {pending.tool} in task {task.id}; the agent continues.",
            {
                "id": task.id,
                "request_id": pending.request_id,
                "tool": pending.tool,
                "decision": args.decision,
            },
        )
