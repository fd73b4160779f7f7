"""MCP tools for tasks that work on their own branch: merge_task, discard_task."""

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
from agentdeck.views import git_summary


class MergeArgs(Args):
    id: TaskRef
    strategy: Annotated[
        Literal["merge", "squash", "rebase"],
        Field(description="merge (a merge commit), squash (one commit) or rebase (linear)."),
    ] = "merge"
    delete_worktree: Annotated[
        bool, Field(strict=True, description="Remove the task's worktree after merging.")
    ] = False


class DiscardArgs(Args):
    id: TaskRef


def build_git_tools(engine: TaskEngine) -> list[Tool]:
    async def merge_task(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(MergeArgs, REF_ALIASES, arguments)
        if isinstance(args, CallToolResult):
            return args
        try:
            task = await engine.merge(args.id, args.strategy, args.delete_worktree)
        except AgentdeckError as exc:
            return from_error(exc)
        return success(
            f"Merged {task.branch} into {task.base_branch} ({args.strategy}).",
            {
                "id": task.id,
                "status": str(task.status),
                "merge_commit": task.merge_commit,
                **git_summary(task),
            },
        )

    async def discard_task(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(DiscardArgs, REF_ALIASES, arguments)
        if isinstance(args, CallToolResult):
            return args
        try:
            task = await engine.discard(args.id)
        except AgentdeckError as exc:
            return from_error(exc)
        return success(
            f"Discarded the worktree and branch of task {task.id}.",
            {"id": task.id, "status": str(task.status), **git_summary(task)},
        )

    return [
        raw_tool(
            merge_task,
            name="merge_task",
            description=(
                "Merge a task's branch into its base branch in the main checkout (strategy "
                "merge, squash or rebase). The agent's uncommitted work is committed first. "
                "Refused, changing nothing, if the main checkout is not on the base branch, has "
                "uncommitted changes, or the merge would conflict: the conflicting files are "
                "listed, and update_task can ask the agent to resolve them. Review first with "
                "the task://{id}/diff resource."
            ),
            input_schema=input_schema(MergeArgs, REF_ALIASES),
            annotations=ToolAnnotations(
                title="Merge task",
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=False,
            ),
        ),
        raw_tool(
            discard_task,
            name="discard_task",
            description=(
                "Throw away a task's work: remove its worktree and delete its branch. The task "
                "is kept (cancelled if it had not ended). Refused while a turn runs."
            ),
            input_schema=input_schema(DiscardArgs, REF_ALIASES),
            annotations=ToolAnnotations(
                title="Discard task work",
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=False,
                open_world_hint=False,
            ),
        ),
    ]
