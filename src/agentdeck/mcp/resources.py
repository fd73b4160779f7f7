"""MCP resources: ``agent://status``, ``agent://tasks`` (= ``task://list``), ``task://{id}``."""

from __future__ import annotations

import base64
import json
from typing import Any

from mcp.server import MCPServer
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import ListResourcesResult, PaginatedRequestParams, Resource

from agentdeck import __version__
from agentdeck.engine import TaskEngine
from agentdeck.errors import AgentdeckError, NotFound
from agentdeck.model import Task, TaskStatus
from agentdeck.views import LOG_KINDS, load_detail, log_text, result_document, summary

PAGE_SIZE = 100
TASK_LIST_LIMIT = 1_000
LOG_LINES_LIMIT = 20_000
EVENTS_PAGE = 1_000


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str)


async def status_document(engine: TaskEngine) -> dict[str, Any]:
    counts = await engine.store.count_by_status()
    active = sum(n for s, n in counts.items() if TaskStatus(s).active)
    infos = await engine.agent_infos()
    return {
        "status": "active",
        "name": "agentdeck",
        "version": __version__,
        "agents": {
            name: {
                "available": info.available,
                "version": info.version,
                "problem": info.problem,
                "capabilities": info.capabilities,
            }
            for name, info in infos.items()
        },
        "tasks": {"active": active, "total": sum(counts.values()), "by_status": counts},
        "running_turns": engine.running_count,
        "max_running": engine.settings.max_running,
        "default_permission_mode": engine.settings.permission_mode,
    }


async def tasks_document(engine: TaskEngine) -> dict[str, Any]:
    tasks = await engine.store.list_tasks(limit=TASK_LIST_LIMIT)
    total = sum((await engine.store.count_by_status()).values())
    return {
        "count": total,
        "tasks": [summary(t) for t in tasks],
        "truncated": total > len(tasks),
    }


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(cursor.encode()).decode()))
    except ValueError:
        return 0


def install_resources(server: MCPServer, engine: TaskEngine) -> None:
    """Register the resources and a paginated ``resources/list`` with one entry per task."""

    async def task_or_missing(task_id: str) -> Task:
        try:
            return await engine.get(task_id)
        except NotFound as exc:
            raise ResourceNotFoundError(exc.message) from exc

    @server.resource(
        "agent://status",
        name="status",
        description="Server status, version, agents and their availability, task counts.",
        mime_type="application/json",
    )
    async def agent_status() -> str:
        return _json(await status_document(engine))

    @server.resource(
        "agent://tasks",
        name="tasks",
        description="All tasks, newest first: {count, tasks: [{id, description, status, ...}]}.",
        mime_type="application/json",
    )
    async def agent_tasks() -> str:
        return _json(await tasks_document(engine))

    @server.resource(
        "task://list",
        name="task-list",
        description="Same as agent://tasks.",
        mime_type="application/json",
    )
    async def task_list() -> str:
        return _json(await tasks_document(engine))

    @server.resource(
        "agent://pending",
        name="pending",
        description="Everything waiting on the user, across tasks: tool uses to allow or deny "
        "(answer with respond_task). Subscribe for updates.",
        mime_type="application/json",
    )
    async def agent_pending() -> str:
        pending = [p.to_dict() for p in engine.approvals.all()]
        return _json({"count": len(pending), "pending": pending})

    @server.resource(
        "task://{id}",
        name="task",
        description=(
            "One task: fields, agent session, result, error, recent logs, tool invocations, "
            "files affected, commands executed, cost and tokens. Subscribe for live updates."
        ),
        mime_type="application/json",
    )
    async def task_resource(id: str) -> str:
        task = await task_or_missing(id)
        return _json(await load_detail(engine.store, task))

    @server.resource(
        "task://{id}/logs",
        name="task-logs",
        description="The task's log as plain text, one timestamped line per event.",
        mime_type="text/plain",
    )
    async def task_logs(id: str) -> str:
        task = await task_or_missing(id)
        events = await engine.store.last_events(task.id, LOG_LINES_LIMIT, LOG_KINDS)
        total = await engine.store.count_events(task.id, LOG_KINDS)
        header = ""
        if total > len(events):
            header = f"(showing the last {len(events)} of {total} lines)\n"
        return header + log_text(events)

    @server.resource(
        "task://{id}/diff",
        name="task-diff",
        description="Unified diff of the task's branch against its base branch, including "
        "uncommitted work in its worktree.",
        mime_type="text/x-diff",
    )
    async def task_diff(id: str) -> str:
        await task_or_missing(id)
        try:
            _, text = await engine.diff(id)
        except AgentdeckError as exc:
            raise ResourceNotFoundError(exc.message) from exc
        return text

    @server.resource(
        "task://{id}/result",
        name="task-result",
        description="The task's outcome: status, result text, error, session, cost, tokens.",
        mime_type="application/json",
    )
    async def task_result(id: str) -> str:
        task = await task_or_missing(id)
        return _json(result_document(task))

    @server.resource(
        "task://{id}/events{?after,limit}",
        name="task-events",
        description=(
            "The task's normalized events in order. after=SEQ returns only newer events "
            f"(poll with the last seq you saw); limit (default and max {EVENTS_PAGE}) pages."
        ),
        mime_type="application/json",
    )
    async def task_events(id: str, after: str = "0", limit: str = str(EVENTS_PAGE)) -> str:
        task = await task_or_missing(id)
        try:
            after_seq = max(0, int(after))
            count = min(max(1, int(limit)), EVENTS_PAGE)
        except ValueError as exc:
            raise ResourceNotFoundError(
                f"after and limit must be whole numbers (got after={after!r}, limit={limit!r})"
            ) from exc
        events = await engine.store.events(task.id, after_seq=after_seq, limit=count + 1)
        page = events[:count]
        return _json(
            {
                "task_id": task.id,
                "status": str(task.status),
                "events": [e.to_dict() for e in page],
                "last_seq": page[-1].seq if page else after_seq,
                "more": len(events) > count,
            }
        )

    async def list_resources(
        ctx: ServerRequestContext, params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        offset = _offset(params.cursor if params else None)
        static: list[Resource] = list(await server.list_resources()) if offset == 0 else []
        tasks = await engine.store.list_tasks(limit=PAGE_SIZE + 1, offset=offset)
        entries = [
            Resource(
                uri=f"task://{t.id}",
                name=t.id,
                title=t.title,
                description=f"{t.status}: {t.title}",
                mime_type="application/json",
            )
            for t in tasks[:PAGE_SIZE]
        ]
        more = len(tasks) > PAGE_SIZE
        return ListResourcesResult(
            resources=static + entries, next_cursor=_cursor(offset + PAGE_SIZE) if more else None
        )

    server._lowlevel_server.add_request_handler(
        "resources/list", PaginatedRequestParams, list_resources
    )
