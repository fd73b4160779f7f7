"""MCP tools that report on tasks and the server, and clean up ended tasks."""

from __future__ import annotations

import time
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import AliasChoices, Field

from agentdeck import __version__
from agentdeck.engine import TaskEngine
from agentdeck.errors import AgentdeckError
from agentdeck.mcp.arguments import Args, input_schema, validated
from agentdeck.mcp.envelope import from_error, raw_tool, success
from agentdeck.mcp.prompts import PromptLibrary
from agentdeck.mcp.resources import status_document
from agentdeck.model import TaskStatus
from agentdeck.views import LOG_KINDS, duration_seconds, human_duration, log_line, summary

REPORT_LIMIT = 100
READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


class ReportArgs(Args):
    id: Annotated[
        str | None,
        Field(
            max_length=200,
            validation_alias=AliasChoices("id", "task_id"),
            description="A task id for one task's report; omit for all tasks + statistics.",
        ),
    ] = None


class NoArgs(Args):
    pass


class StatsArgs(Args):
    include_tasks: Annotated[bool, Field(strict=True)] = True
    include_sessions: Annotated[bool, Field(strict=True)] = True


class PromptArgs(Args):
    prompt_id: Annotated[
        str | None,
        Field(
            max_length=200,
            validation_alias=AliasChoices("prompt_id", "name"),
            description="A template name; omit to list every template.",
        ),
    ] = None


class CleanArgs(Args):
    keep_recent: Annotated[
        bool, Field(strict=True, description="Keep tasks that ended in the last 24 hours.")
    ] = True
    dry_run: Annotated[bool, Field(strict=True, description="Only list what would go.")] = False
    force: Annotated[
        bool,
        Field(strict=True, description="Also delete tasks whose branch has unmerged work."),
    ] = False


def _success_rate(by_status: dict[str, int]) -> float | None:
    """Completed tasks among those that completed or failed (cancellations excluded)."""
    completed = by_status.get("completed", 0)
    decided = completed + by_status.get("failed", 0)
    return round(completed / decided, 4) if decided else None


def build_info_tools(engine: TaskEngine, prompts: PromptLibrary) -> list[Tool]:
    """report / report_task, check_status, update_stats, clean_state, get_prompt."""
    store = engine.store
    started = time.monotonic()

    async def statistics() -> dict[str, Any]:
        stats = await store.statistics()
        return {
            "total_tasks": sum(stats["by_status"].values()),
            "by_status": stats["by_status"],
            "by_tool": stats["by_agent"],
            "average_duration_seconds": stats["average_duration_seconds"],
            "total_logs": await store.count_events(kinds=LOG_KINDS),
            "success_rate": _success_rate(stats["by_status"]),
            "total_cost_usd": round(stats["total_cost_usd"], 6),
        }

    async def report(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(ReportArgs, {"id": ["task_id"]}, arguments)
        if isinstance(args, CallToolResult):
            return args
        if args.id is None:
            tasks = await store.list_tasks(limit=REPORT_LIMIT)
            stats = await statistics()
            return success(
                f"{stats['total_tasks']} tasks; {len(tasks)} newest listed.",
                {"tasks": [summary(t) for t in tasks], "statistics": stats},
            )
        try:
            task = await engine.get(args.id)
        except AgentdeckError as exc:
            return from_error(exc)
        recent = await store.last_events(task.id, 5, LOG_KINDS)
        seconds = duration_seconds(task)
        body = task.to_dict()
        body.pop("queue", None)
        body.update(
            {
                "description": task.title,
                "tool": task.agent,
                "logs_count": await store.count_events(task.id, LOG_KINDS),
                "recent_logs": [line for e in recent if (line := log_line(e)) is not None],
                "duration_seconds": round(seconds, 3),
                "duration_human": human_duration(seconds),
            }
        )
        return success(f"Task {task.id} is {task.status}.", body)

    async def check_status(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(NoArgs, {}, arguments)
        if isinstance(args, CallToolResult):
            return args
        await engine.agent_infos(refresh=True)
        doc = await status_document(engine)
        counts = doc["tasks"]["by_status"]
        sessions = sum(n for s, n in counts.items() if not TaskStatus(s).terminal)
        running = [{"task_id": task_id} for task_id in sorted(engine.running_task_ids())]
        available = [n for n, a in doc["agents"].items() if a["available"]]
        return success(
            f"agentdeck is active; agents available: {', '.join(available) or 'none'}.",
            {
                **doc,
                "sessions": {"open_agent_conversations": sessions},
                "running_processes": running,
            },
        )

    async def update_stats(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(StatsArgs, {}, arguments)
        if isinstance(args, CallToolResult):
            return args
        body: dict[str, Any] = {
            "version": __version__,
            "uptime_seconds": round(time.monotonic() - started, 1),
            "running_turns": engine.running_count,
            "max_running": engine.settings.max_running,
            "database_bytes": store.size_bytes(),
        }
        if args.include_tasks:
            body["tasks"] = await statistics()
        if args.include_sessions:
            body["sessions"] = {
                "with_agent_session": await store.count_with_session(),
                "running": sorted(engine.running_task_ids()),
            }
        return success("Statistics refreshed.", body)

    async def clean_state(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(CleanArgs, {}, arguments)
        if isinstance(args, CallToolResult):
            return args
        doomed = await engine.clean(
            keep_recent=args.keep_recent, dry_run=args.dry_run, force=args.force
        )
        verb = "Would delete" if args.dry_run else "Deleted"
        return success(
            f"{verb} {len(doomed)} ended tasks; running, queued and waiting tasks are kept.",
            {
                "deleted_tasks": len(doomed),
                "task_ids": [t.id for t in doomed],
                "dry_run": args.dry_run,
            },
        )

    async def get_prompt(arguments: dict[str, Any], ctx: Context) -> CallToolResult:
        args = validated(PromptArgs, {"prompt_id": ["name"]}, arguments)
        if isinstance(args, CallToolResult):
            return args
        if args.prompt_id is None:
            templates = prompts.describe_all()
            return success(f"{len(templates)} prompt templates.", {"prompts": templates})
        try:
            template = prompts.describe(args.prompt_id)
        except AgentdeckError as exc:
            return from_error(exc)
        return success(f"Prompt template {args.prompt_id}.", {"prompt": template})

    report_description = (
        "Report on one task (give id: its fields, logs_count, the 5 most recent log lines, "
        "duration) or on all tasks (no id: the newest tasks and statistics: total_tasks, "
        "by_status, by_tool, average_duration_seconds, total_logs, success_rate = completed "
        "among completed+failed)."
    )
    report_schema = input_schema(ReportArgs, {"id": ["task_id"]})
    return [
        raw_tool(
            report,
            name="report",
            description=report_description,
            input_schema=report_schema,
            annotations=READ_ONLY,
        ),
        raw_tool(
            report,
            name="report_task",
            description="Alias of report. " + report_description,
            input_schema=report_schema,
            annotations=READ_ONLY,
        ),
        raw_tool(
            check_status,
            name="check_status",
            description=(
                "Is agentdeck healthy? Probes each agent (installed, version), and reports task "
                "counts, open agent conversations and the turns running now."
            ),
            input_schema=input_schema(NoArgs, {}),
            annotations=READ_ONLY,
        ),
        raw_tool(
            update_stats,
            name="update_stats",
            description="System statistics: tasks by status and agent, durations, cost, "
            "database size, uptime, running turns.",
            input_schema=input_schema(StatsArgs, {}),
            annotations=READ_ONLY,
        ),
        raw_tool(
            get_prompt,
            name="get_prompt",
            description=(
                "The prompt templates (fix_bug, create_unit_tests, create_react_component and "
                "your own from the prompts folder): names, arguments and text. Give prompt_id "
                "for one; render one with the MCP prompts/get request."
            ),
            input_schema=input_schema(PromptArgs, {"prompt_id": ["name"]}),
            annotations=READ_ONLY,
        ),
        raw_tool(
            clean_state,
            name="clean_state",
            description=(
                "Delete ended tasks (completed, failed, cancelled) and their logs. keep_recent "
                "(default true) keeps those ended in the last 24 hours; dry_run lists without "
                "deleting. Never deletes a running, queued, waiting or interrupted task, nor "
                "one whose branch holds unmerged work unless force is true."
            ),
            input_schema=input_schema(CleanArgs, {}),
            annotations=ToolAnnotations(
                read_only_hint=False,
                destructive_hint=True,
                idempotent_hint=True,
                open_world_hint=False,
            ),
        ),
    ]
