"""MCP tools: the old contract's names, arguments and envelope, on the engine."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import AliasChoices, Field

from agentdeck.engine import (
    INSTRUCTIONS_MAX,
    MAX_TURNS_LIMIT,
    PERMISSION_MODES,
    TIMEOUT_LIMIT,
    TITLE_MAX,
    TaskEngine,
)
from agentdeck.errors import AgentdeckError
from agentdeck.mcp.arguments import Args, input_schema, validated
from agentdeck.mcp.elicit import elicitation_asker
from agentdeck.mcp.envelope import from_error, raw_tool, success
from agentdeck.mcp.waiting import DEFAULT_MAX_WAIT, MAX_WAIT_LIMIT, wait_for_turn
from agentdeck.model import Task, TaskStatus
from agentdeck.views import LOG_KINDS, duration_seconds, human_duration

STATUS_HELP = (
    "Statuses: pending (queued for a free slot), in_progress (the agent works), "
    "waiting (turn done; send more with update_task), input_required (needs your "
    "decision), interrupted (agentdeck restarted mid-turn; update_task resumes), "
    "completed, failed, cancelled (final)."
)

TaskRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        validation_alias=AliasChoices("id", "task_id", "process"),
        description="Task id (or the agent session id create_task returned).",
    ),
]
Instructions = Annotated[str, Field(min_length=1, max_length=INSTRUCTIONS_MAX)]


class CreateTaskArgs(Args):
    title: Annotated[str, Field(min_length=1, max_length=TITLE_MAX, description="Short title.")]
    instructions: Annotated[
        str,
        Field(min_length=1, max_length=INSTRUCTIONS_MAX, description="What the agent should do."),
    ]
    agent: Annotated[
        str | None,
        Field(
            max_length=64,
            validation_alias=AliasChoices("agent", "tool"),
            description="Agent to run: claude (default), codex, gemini, or a command agent "
            "from the config. Old names: CLAUDECODE, CODEX, GEMINI.",
        ),
    ] = None
    project_path: Annotated[
        str | None,
        Field(max_length=4096, description="Directory to work in, inside the allowed roots."),
    ] = None
    model: Annotated[str | None, Field(max_length=200, description="Model for the agent.")] = None
    max_turns: Annotated[int | None, Field(ge=1, le=MAX_TURNS_LIMIT, strict=True)] = None
    permission_mode: Annotated[
        str | None,
        Field(description=f"One of {', '.join(PERMISSION_MODES)}; default bypassPermissions."),
    ] = None
    timeout_seconds: Annotated[float | None, Field(gt=0, le=TIMEOUT_LIMIT)] = None
    isolation: Annotated[
        Literal["worktree", "none"] | None,
        Field(
            description="In a git repo: worktree (default) gives the task its own branch "
            "and worktree; none runs in the project directory itself."
        ),
    ] = None
    branch: Annotated[
        str | None, Field(max_length=200, description="Name of the task's new branch.")
    ] = None
    base_branch: Annotated[
        str | None,
        Field(max_length=200, description="Branch to start from; default the current one."),
    ] = None
    policy: Annotated[
        Literal["bypass", "ask", "rules"] | None,
        Field(
            description="Approvals: bypass (run every tool), ask (edits in the workspace "
            "run, anything else asks you), rules (allow_rules run, deny_rules are refused, "
            "the rest asks). Default from the server's config."
        ),
    ] = None
    allow_rules: Annotated[
        list[Annotated[str, Field(max_length=500)]] | None,
        Field(max_length=100, description="e.g. ['Bash(npm test:*)', 'WebFetch']"),
    ] = None
    deny_rules: Annotated[
        list[Annotated[str, Field(max_length=500)]] | None, Field(max_length=100)
    ] = None

    wait: Annotated[
        bool, Field(strict=True, description="Return only when the turn ends (with progress).")
    ] = False
    max_wait_seconds: Annotated[
        float, Field(gt=0, le=MAX_WAIT_LIMIT, description="Longest wait; the task keeps running.")
    ] = DEFAULT_MAX_WAIT


class UpdateTaskArgs(Args):
    id: TaskRef
    instructions: Instructions
    wait: Annotated[bool, Field(strict=True)] = False
    max_wait_seconds: Annotated[float, Field(gt=0, le=MAX_WAIT_LIMIT)] = DEFAULT_MAX_WAIT


class TaskRefArgs(Args):
    id: TaskRef


REF_ALIASES = {"id": ["task_id", "process"]}


def _ids(task_id: str) -> dict[str, str]:
    return {"uri": f"task://{task_id}"}


def _turn_result(task: Task, timed_out: bool) -> dict[str, Any]:
    """What a ``wait: true`` call adds: how the turn ended."""
    return {
        "wait_timed_out": timed_out,
        "result_text": task.result_text,
        "error": task.error,
        "cost_usd": task.cost_usd,
        "turns": task.turns,
    }


def _waited_message(task: Task, timed_out: bool) -> str:
    if timed_out:
        return (
            f"Task {task.id} is still {task.status} (stopped waiting); it keeps running — "
            f"read task://{task.id} or call update_task/end_task later."
        )
    if task.status == TaskStatus.WAITING:
        return f"Task {task.id} finished its turn: {task.result_text or ''}".strip()
    return f"Task {task.id} is {task.status}: {task.error or task.result_text or ''}".strip()


def build_tools(engine: TaskEngine) -> list[Tool]:
    """The task lifecycle tools, bound to ``engine``."""
    store = engine.store
    create_aliases = {"agent": ["tool"]}

    async def waited(task: Task, ctx: Context, max_wait: float) -> tuple[Task, str, dict[str, Any]]:
        """After ``wait: true``: the task once its turn ended, a message, the turn's result."""
        outcome = await wait_for_turn(engine, task.id, ctx, max_wait)
        timed_out = outcome.timed_out
        return (
            outcome.task,
            _waited_message(outcome.task, timed_out),
            _turn_result(outcome.task, timed_out),
        )

    ref_aliases = REF_ALIASES

    async def create_task(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(CreateTaskArgs, create_aliases, arguments)
        if isinstance(args, CallToolResult):
            return args
        try:
            task = await engine.create(
                args.title,
                args.instructions,
                agent=args.agent,
                project_path=args.project_path,
                model=args.model,
                max_turns=args.max_turns,
                permission_mode=args.permission_mode,
                timeout_seconds=args.timeout_seconds,
                isolation=args.isolation,
                branch=args.branch,
                base_branch=args.base_branch,
                policy=args.policy,
                allow_rules=args.allow_rules,
                deny_rules=args.deny_rules,
            )
        except AgentdeckError as exc:
            return from_error(exc)
        asker = elicitation_asker(ctx)
        if asker is not None:
            engine.approvals.add_asker(task.id, asker)
        message = (
            f"Task {task.id} created; the {task.agent} agent starts as soon as a slot is free. "
            f"Watch task://{task.id}."
        )
        extra: dict[str, Any] = {}
        if args.wait:
            task, message, extra = await waited(task, ctx, args.max_wait_seconds)
        return success(
            message,
            {
                "task_id": task.id,
                "description": task.title,
                "status": str(task.status),
                "tool": task.agent,
                "agent": task.agent,
                "session_id": task.session_id,
                "project_path": task.project_path,
                "branch": task.branch,
                "base_branch": task.base_branch,
                "created_at": task.created_at.isoformat(),
                **_ids(task.id),
                **extra,
            },
        )

    async def update_task(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(UpdateTaskArgs, ref_aliases, arguments)
        if isinstance(args, CallToolResult):
            return args
        try:
            task, queued = await engine.continue_(args.id, args.instructions)
        except AgentdeckError as exc:
            return from_error(exc)
        message = (
            f"Instructions queued for task {task.id}; they run when the current turn ends."
            if queued
            else f"Instructions sent to task {task.id}; the same agent conversation continues."
        )
        extra: dict[str, Any] = {}
        if args.wait:
            task, message, extra = await waited(task, ctx, args.max_wait_seconds)
        return success(
            message,
            {
                "id": task.id,
                "task_id": task.id,
                "session_id": task.session_id,
                "status": str(task.status),
                "instructions_sent": True,
                "queued_behind_running_turn": queued,
                **_ids(task.id),
                **extra,
            },
        )

    async def cancel_task(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(TaskRefArgs, ref_aliases, arguments)
        if isinstance(args, CallToolResult):
            return args
        try:
            task = await engine.cancel(args.id)
        except AgentdeckError as exc:
            return from_error(exc)
        return success(
            f"Task {task.id} cancelled; its agent and every process it started were stopped.",
            {
                "id": task.id,
                "task_id": task.id,
                "status": str(task.status),
                "session_id": task.session_id,
                **_ids(task.id),
            },
        )

    async def end_task(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(TaskRefArgs, ref_aliases, arguments)
        if isinstance(args, CallToolResult):
            return args
        try:
            task = await engine.end(args.id)
        except AgentdeckError as exc:
            return from_error(exc)
        logs_count = await store.count_events(task.id, LOG_KINDS)
        ended_at = task.ended_at.isoformat() if task.ended_at else None
        verb = "completed" if task.status == TaskStatus.COMPLETED else str(task.status)
        return success(
            f"Task {task.id} {verb} after {human_duration(duration_seconds(task))}.",
            {
                "id": task.id,
                "description": task.title,
                "status": str(task.status),
                "duration": human_duration(duration_seconds(task)),
                "duration_seconds": round(duration_seconds(task), 3),
                "session_closed": True,
                "summary": {
                    "logs_count": logs_count,
                    "final_state": str(task.status),
                    "ended_at": ended_at,
                    "result": task.result_text,
                    "cost_usd": task.cost_usd,
                },
            },
        )

    return [
        raw_tool(
            cancel_task,
            name="cancel_task",
            description=(
                "Stop a task's running or queued turn: the agent and every process it started "
                "are stopped, queued instructions are dropped, and the task (with its log and "
                "result so far) is kept as cancelled. Unlike end_task, it never completes."
            ),
            input_schema=input_schema(TaskRefArgs, ref_aliases),
            annotations=ToolAnnotations(
                title="Cancel task",
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=False,
                open_world_hint=False,
            ),
        ),
        raw_tool(
            create_task,
            name="create_task",
            description=(
                "Start a coding task: an AI coding agent (Claude Code by default) works on the "
                "instructions in the project directory. Returns at once with task_id; follow "
                "progress by reading or subscribing to task://{task_id}, continue the same "
                "conversation with update_task, finish with end_task. With wait=true the call "
                "returns when the turn ends and sends progress notifications meanwhile; if "
                "max_wait_seconds passes first it returns the task id and the task keeps "
                "running. " + STATUS_HELP
            ),
            input_schema=input_schema(CreateTaskArgs, create_aliases),
            annotations=ToolAnnotations(
                title="Create task",
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=True,
            ),
        ),
        raw_tool(
            update_task,
            name="update_task",
            description=(
                "Send more instructions to a task: the agent continues the same conversation "
                "(it remembers everything so far). If a turn is running, the instructions are "
                "queued and run right after it. Works on waiting and interrupted tasks; "
                "completed, failed and cancelled tasks cannot be continued. wait=true blocks "
                "until the turn ends, with progress notifications."
            ),
            input_schema=input_schema(UpdateTaskArgs, ref_aliases),
            annotations=ToolAnnotations(
                title="Continue task",
                read_only_hint=False,
                destructive_hint=False,
                idempotent_hint=False,
                open_world_hint=True,
            ),
        ),
        raw_tool(
            end_task,
            name="end_task",
            description=(
                "End a task: a waiting task becomes completed. If a turn is still running, the "
                "agent and every process it started are stopped and the task becomes cancelled. "
                "Returns the duration and a summary."
            ),
            input_schema=input_schema(TaskRefArgs, ref_aliases),
            annotations=ToolAnnotations(
                title="End task",
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=False,
                open_world_hint=False,
            ),
        ),
    ]
