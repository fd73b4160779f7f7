"""MCP tools: the old contract's names, arguments and envelope, on the engine."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from agentdeck.engine import (
    INSTRUCTIONS_MAX,
    MAX_TURNS_LIMIT,
    PERMISSION_MODES,
    TIMEOUT_LIMIT,
    TITLE_MAX,
    TaskEngine,
)
from agentdeck.errors import AgentdeckError
from agentdeck.mcp.envelope import from_error, from_validation, raw_tool, success
from agentdeck.model import TaskStatus
from agentdeck.views import LOG_KINDS, duration_seconds, human_duration

M = TypeVar("M", bound=BaseModel)

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


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class CreateTaskArgs(_Args):
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
            description="Agent to run: claude (default). Old name: CLAUDECODE.",
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


class UpdateTaskArgs(_Args):
    id: TaskRef
    instructions: Instructions


class EndTaskArgs(_Args):
    id: TaskRef


def _schema(model: type[BaseModel], aliases: dict[str, list[str]]) -> dict[str, Any]:
    """``model``'s JSON schema, with alias properties and "one of the names is required"."""
    schema = model.model_json_schema(mode="validation", by_alias=False)
    schema.pop("title", None)
    props: dict[str, Any] = schema["properties"]
    required: list[str] = schema.get("required", [])
    any_of = []
    for name, alts in aliases.items():
        for alt in alts:
            props[alt] = {**props[name], "description": f"Alias of {name}."}
        if name in required:
            required.remove(name)
            any_of.append({"anyOf": [{"required": [n]} for n in (name, *alts)]})
    schema["required"] = required
    if any_of:
        schema["allOf"] = any_of
    schema["additionalProperties"] = False
    return schema


def _accepted(model: type[BaseModel], aliases: dict[str, list[str]]) -> list[str]:
    names = list(model.model_fields)
    for alts in aliases.values():
        names.extend(alts)
    return names


def _ids(task_id: str) -> dict[str, str]:
    return {"uri": f"task://{task_id}"}


def build_tools(engine: TaskEngine) -> list[Tool]:
    """The tools of this server, bound to ``engine``."""
    store = engine.store

    def validated(
        model: type[M], aliases: dict[str, list[str]], arguments: dict[str, Any]
    ) -> M | CallToolResult:
        try:
            return model.model_validate(arguments)
        except ValidationError as exc:
            return from_validation(exc, _accepted(model, aliases))

    create_aliases = {"agent": ["tool"]}
    ref_aliases = {"id": ["task_id", "process"]}

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
            )
        except AgentdeckError as exc:
            return from_error(exc)
        return success(
            f"Task {task.id} created; the {task.agent} agent starts as soon as a slot is free. "
            f"Watch task://{task.id}.",
            {
                "task_id": task.id,
                "description": task.title,
                "status": str(task.status),
                "tool": task.agent,
                "agent": task.agent,
                "session_id": task.session_id,
                "project_path": task.project_path,
                "created_at": task.created_at.isoformat(),
                **_ids(task.id),
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
            },
        )

    async def end_task(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(EndTaskArgs, ref_aliases, arguments)
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
            create_task,
            name="create_task",
            description=(
                "Start a coding task: an AI coding agent (Claude Code by default) works on the "
                "instructions in the project directory. Returns at once with task_id; follow "
                "progress by reading or subscribing to task://{task_id}, continue the same "
                "conversation with update_task, finish with end_task. " + STATUS_HELP
            ),
            input_schema=_schema(CreateTaskArgs, create_aliases),
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
                "completed, failed and cancelled tasks cannot be continued."
            ),
            input_schema=_schema(UpdateTaskArgs, ref_aliases),
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
            input_schema=_schema(EndTaskArgs, ref_aliases),
            annotations=ToolAnnotations(
                title="End task",
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=False,
                open_world_hint=False,
            ),
        ),
    ]
