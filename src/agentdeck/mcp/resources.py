"""MCP resources: ``agent://status``, ``agent://tasks`` (= ``task://list``), ``task://{id}``…

Each renders a core document as JSON. ``resources/read`` needs the ``read`` scope
(``agent://audit``: ``admin``), checked by `ResourceAccess`; a refusal is a
JSON-RPC error.
"""

from __future__ import annotations

import json
from typing import Any

from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.shared.exceptions import MCPError
from mcp.types import ListResourcesResult, PaginatedRequestParams, Resource

from agentdeck.core import Core, Document, Scope, TaskQuery, authorize, parse
from agentdeck.errors import AgentdeckError, Forbidden, InvalidInput, NotFound
from agentdeck.mcp._sdk import add_request_handler
from agentdeck.mcp.callers import caller_of

PAGE_SIZE = 100  # tasks per page of resources/list and of agent://tasks
AUDIT_LIMIT = 100
EVENTS_PAGE = 1_000
RESOURCE_SCOPES: dict[str, Scope] = {"agent://audit": "admin"}
FORBIDDEN = -32003  # JSON-RPC error code of a refused resources/read


def _json(data: Document | dict[str, Any]) -> str:
    """Compact JSON (a resource is read by programs; whitespace only costs)."""
    if isinstance(data, Document):
        return data.model_dump_json()  # compact; pydantic's serializer, not dump + dumps
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


class ResourceAccess:
    """MCP middleware: ``resources/read`` needs its resource's scope (default read)."""

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method == "resources/read" and ctx.params:
            uri = str(ctx.params.get("uri", ""))
            try:
                authorize(caller_of(ctx), f"reading {uri}", RESOURCE_SCOPES.get(uri, "read"))
            except Forbidden as exc:
                raise MCPError(FORBIDDEN, f"forbidden: {exc.message}") from None
        return await call_next(ctx)


def install_resources(server: MCPServer, core: Core) -> None:
    """Register the resources and a paginated ``resources/list`` with one entry per task."""

    async def read(fn: Any, *args: Any) -> Any:
        """``fn(*args)``, with a core refusal as the SDK's resource-not-found error."""
        try:
            return await fn(*args)
        except (NotFound, InvalidInput) as exc:
            raise ResourceNotFoundError(exc.message) from exc

    @server.resource(
        "agent://status",
        name="status",
        description="Server status, version, agents and their availability, task counts.",
        mime_type="application/json",
    )
    async def agent_status() -> str:
        return _json(await core.status())

    async def task_list() -> str:
        return _json(await core.tasks(TaskQuery(limit=PAGE_SIZE)))

    async def task_page(cursor: str | None = None, status: str | None = None) -> str:
        statuses = [s.strip() for s in status.split(",") if s.strip()] if status else None
        try:
            query = parse(TaskQuery, {"limit": PAGE_SIZE, "cursor": cursor, "statuses": statuses})
        except InvalidInput as exc:
            raise ResourceNotFoundError(exc.message) from exc
        return _json(await read(core.tasks, query))

    for uri, name, description in (
        (
            "agent://tasks",
            "tasks",
            f"Tasks, newest first, {PAGE_SIZE} a page: {{count, tasks: [{{id, description, "
            "status, ...}], next_cursor}}; read agent://tasks?cursor=NEXT_CURSOR for the next, "
            "agent://tasks?status=waiting,failed for some statuses only.",
        ),
        ("task://list", "task-list", "Same as agent://tasks."),
    ):
        server.resource(uri, name=name, description=description, mime_type="application/json")(
            task_list
        )
        server.resource(
            uri + "{?cursor,status}",
            name=f"{name}-page",
            description=f"A page of {uri}: cursor is the previous page's next_cursor (with the "
            "same status); status: comma-separated statuses.",
            mime_type="application/json",
        )(task_page)

    @server.resource(
        "agent://pending",
        name="pending",
        description="Everything waiting on the user, across tasks: tool uses to allow or deny "
        "(answer with respond_task). Subscribe for updates.",
        mime_type="application/json",
    )
    async def agent_pending() -> str:
        return _json(core.pending())

    @server.resource(
        "agent://costs",
        name="costs",
        description="Cost and tokens in all and per project, agent and day; cost_usd is null "
        "where the agents report none.",
        mime_type="application/json",
    )
    async def agent_costs() -> str:
        return _json(await core.costs())

    @server.resource(
        "agent://workers",
        name="workers",
        description="The machines that run tasks (several machines, docs/scale-out.md): "
        "each worker's state, labels, agents, roots, load and last heartbeat.",
        mime_type="application/json",
    )
    async def agent_workers() -> str:
        return _json(await core.workers())

    @server.resource(
        "agent://audit",
        name="audit",
        description=f"The newest {AUDIT_LIMIT} mutating tool calls: who, what, task, "
        "when, from where, outcome (admin scope).",
        mime_type="application/json",
    )
    async def audit_resource() -> str:
        entries = await core.audit_entries(AUDIT_LIMIT)
        return _json({"count": len(entries), "entries": entries})

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
        return _json(await read(core.task, id))

    @server.resource(
        "task://{id}/logs",
        name="task-logs",
        description="The task's log as plain text, one timestamped line per event.",
        mime_type="text/plain",
    )
    async def task_logs(id: str) -> str:
        return str(await read(core.log, id))

    @server.resource(
        "task://{id}/diff",
        name="task-diff",
        description="Unified diff of the task's branch against its base branch, including "
        "uncommitted work in its worktree.",
        mime_type="text/x-diff",
    )
    async def task_diff(id: str) -> str:
        await read(core.get, id)
        try:
            return await core.diff(id)
        except AgentdeckError as exc:
            raise ResourceNotFoundError(exc.message) from exc

    @server.resource(
        "task://{id}/result",
        name="task-result",
        description="The task's outcome: status, result text, error, session, cost, tokens.",
        mime_type="application/json",
    )
    async def task_result(id: str) -> str:
        return _json(await read(core.result, id))

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
        await read(core.get, id)
        try:
            after_seq = max(0, int(after))
            count = min(max(1, int(limit)), EVENTS_PAGE)
        except ValueError as exc:
            raise ResourceNotFoundError(
                f"after and limit must be whole numbers (got after={after!r}, limit={limit!r})"
            ) from exc
        return _json(await read(core.events, id, after_seq, count))

    async def list_resources(
        ctx: ServerRequestContext, params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        cursor = params.cursor if params else None
        try:
            page = await core.tasks(TaskQuery(limit=PAGE_SIZE, cursor=cursor))
        except InvalidInput:
            page = await core.tasks(TaskQuery(limit=PAGE_SIZE))
            cursor = None
        static: list[Resource] = list(await server.list_resources()) if not cursor else []
        entries = [
            Resource(
                uri=f"task://{t.id}",
                name=t.id,
                title=t.title,
                description=f"{t.status}: {t.title}",
                mime_type="application/json",
            )
            for t in page.tasks
        ]
        return ListResourcesResult(resources=static + entries, next_cursor=page.next_cursor)

    add_request_handler(server, "resources/list", PaginatedRequestParams, list_resources)
    server.middleware.append(ResourceAccess())
