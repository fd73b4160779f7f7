"""report / report_task, check_status, update_stats, get_prompt, clean_state."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import Field

from agentdeck.core import Clean, Request, TaskQuery
from agentdeck.mcp import legacy
from agentdeck.mcp.tooling import READ_ONLY, Reply, Tools, changes
from agentdeck.model import TaskStatus

REPORT_LIMIT = 20  # newest tasks report {} lists; the rest page through agent://tasks
REPORT_DESCRIPTION = (
    "Report on one task (give id: its fields, logs_count, the 5 most recent log lines, "
    f"duration) or on all tasks (no id: the newest {REPORT_LIMIT} tasks, next_cursor for "
    "agent://tasks?cursor= to read on, and statistics: total_tasks, by_status, by_tool, "
    "average_duration_seconds, total_logs, success_rate = completed among "
    "completed+failed)."
)


class ReportArgs(Request):
    id: Annotated[
        str | None,
        Field(
            max_length=200,
            description="A task id for one task's report; omit for all tasks + statistics.",
        ),
    ] = None


class NoArgs(Request):
    pass


class StatsArgs(Request):
    include_tasks: Annotated[bool, Field(strict=True)] = True
    include_sessions: Annotated[bool, Field(strict=True)] = True


class PromptArgs(Request):
    prompt_id: Annotated[
        str | None,
        Field(max_length=200, description="A template name; omit to list every template."),
    ] = None


def register(tools: Tools) -> None:
    core = tools.core

    async def report(args: ReportArgs, ctx: Context) -> Reply:
        if args.id is None:
            page = await core.tasks(TaskQuery(limit=REPORT_LIMIT))
            stats = await core.statistics()
            return Reply(
                f"{stats.total_tasks} tasks; {len(page.tasks)} newest listed.",
                {
                    "tasks": [t.dump() for t in page.tasks],
                    "next_cursor": page.next_cursor,
                    "statistics": stats.dump(),
                },
            )
        one = await core.report(args.id)
        return Reply(f"Task {one.id} is {one.status}.", one.dump())

    for name, prefix in (("report", ""), ("report_task", "Alias of report. ")):
        tools.tool(
            name,
            args=ReportArgs,
            scope="read",
            aliases=legacy.OPTIONAL_TASK_REF,
            description=prefix + REPORT_DESCRIPTION,
            annotations=READ_ONLY,
        )(report)

    @tools.tool(
        "check_status",
        args=NoArgs,
        scope="read",
        description=(
            "Is agentdeck healthy? Probes each agent (installed, version), and reports task "
            "counts, open agent conversations and the turns running now."
        ),
        annotations=READ_ONLY,
    )
    async def check_status(args: NoArgs, ctx: Context) -> Reply:
        doc = await core.status(refresh=True)
        counts = doc.tasks.by_status
        sessions = sum(n for s, n in counts.items() if not TaskStatus(s).terminal)
        available = [n for n, a in doc.agents.items() if a.available]
        return Reply(
            f"agentdeck is active; agents available: {', '.join(available) or 'none'}.",
            {
                **doc.dump(),
                "sessions": {"open_agent_conversations": sessions},
                "running_processes": [{"task_id": t} for t in core.running_task_ids()],
            },
        )

    @tools.tool(
        "update_stats",
        args=StatsArgs,
        scope="read",
        description="System statistics: tasks by status and agent, durations, cost, "
        "database size, uptime, running turns.",
        annotations=READ_ONLY,
    )
    async def update_stats(args: StatsArgs, ctx: Context) -> Reply:
        server = await core.server_stats()
        body = server.dump()
        sessions = {
            "with_agent_session": body.pop("with_agent_session"),
            "running": body.pop("running"),
        }
        if args.include_tasks:
            body["tasks"] = (await core.statistics()).dump()
        if args.include_sessions:
            body["sessions"] = sessions
        return Reply("Statistics refreshed.", body)

    @tools.tool(
        "get_prompt",
        args=PromptArgs,
        scope="read",
        aliases=legacy.PROMPT,
        description=(
            "The prompt templates (fix_bug, create_unit_tests, create_react_component and "
            "your own from the prompts folder): names, arguments and text. Give prompt_id "
            "for one; render one with the MCP prompts/get request."
        ),
        annotations=READ_ONLY,
    )
    async def get_prompt(args: PromptArgs, ctx: Context) -> Reply:
        if args.prompt_id is None:
            templates = core.prompts.describe_all()
            return Reply(f"{len(templates)} prompt templates.", {"prompts": templates})
        template = core.prompts.describe(args.prompt_id)
        return Reply(f"Prompt template {args.prompt_id}.", {"prompt": template})

    @tools.tool(
        "clean_state",
        args=Clean,
        scope="admin",
        description=(
            "Delete ended tasks (completed, failed, cancelled) and their logs. keep_recent "
            "(default true) keeps those ended in the last 24 hours; dry_run lists without "
            "deleting. Never deletes a running, queued, waiting or interrupted task, nor "
            "one whose branch holds unmerged work unless force is true."
        ),
        annotations=changes(destructive=True, idempotent=True),
    )
    async def clean_state(args: Clean, ctx: Context) -> Reply:
        doomed = await core.clean(args)
        verb = "Would delete" if args.dry_run else "Deleted"
        return Reply(
            f"{verb} {len(doomed)} ended tasks; running, queued and waiting tasks are kept.",
            {
                "deleted_tasks": len(doomed),
                "task_ids": [t.id for t in doomed],
                "dry_run": args.dry_run,
            },
        )
