"""The REST API under ``/api``: tasks and their events, decisions, reviews, agents,
projects and prompts, the live event stream, and its OpenAPI document.

Same bearer tokens, scopes and audit as ``/mcp`` (read to look, write to change),
through the core's one `Core.action`. Each operation is declared once (`OPERATIONS`
holds method, path, scope, request and answer models) and serves both the route and
its entry in ``/api/openapi.json``. Bodies are JSON objects of at most `MAX_BODY`
bytes; nothing a caller sends is dropped unread (unknown fields and query parameters
are refused); every error is JSON (`agentdeck.web.errors`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from agentdeck import API_HEADER, __version__
from agentdeck.core import (
    AgentList,
    Caller,
    ContinueResult,
    ContinueTask,
    Core,
    CostLedger,
    CreateTask,
    DiffText,
    Document,
    EventPage,
    LogText,
    Merge,
    PendingList,
    ProjectList,
    PromptArgumentInfo,
    PromptInfo,
    PromptList,
    PromptText,
    Respond,
    RespondResult,
    Review,
    ReviewResult,
    Scope,
    StatusDocument,
    SteerResult,
    TaskDetail,
    TaskList,
    TaskQuery,
    WorkerList,
    parse,
)
from agentdeck.errors import AgentdeckError, InvalidInput, TooLarge, Unauthorized
from agentdeck.web.errors import from_error, http_exception
from agentdeck.web.events import events_response
from agentdeck.web.openapi import openapi_document

MAX_BODY = 64 * 1024
MAX_INTEGER = 2**63 - 1  # the store's integers (seq, event ids) are 64-bit

Handler = Callable[[Core, Request, Caller, dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    """One REST operation: its route, what it needs, what it takes and answers."""

    method: str
    path: str  # under /api; ``{id}`` is a task id (or agent session id)
    scope: Scope
    summary: str
    handler: Handler
    body: type[BaseModel] | None = None  # the request model (``id`` from the path)
    query: tuple[str, ...] = ()  # accepted query parameters
    answer: type[Document] | None = None
    status: int = 200
    stream: bool = False  # text/event-stream, not JSON

    @property
    def action(self) -> str:
        return f"{self.method} /api{self.path}"


async def _caller(core: Core, request: Request) -> Caller:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    access = (
        await core.access.verifier.verify_token(token.strip())
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    if access is None:
        raise Unauthorized("send Authorization: Bearer <token> (agentdeck token create)")
    client = request.client.host if request.client else None
    return Caller(access.client_id, list(access.scopes), client)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (``{}`` when empty), or `InvalidInput` saying why not."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > MAX_BODY:
        raise TooLarge(f"the body is {len(body)} bytes; the limit is {MAX_BODY}")
    if body and kind != "application/json":
        raise InvalidInput(
            f"the body must be JSON (Content-Type: application/json), not {kind or 'untyped'}"
        )
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise InvalidInput("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


def _arguments(op: Operation, request: Request, data: dict[str, Any]) -> dict[str, Any]:
    """The body, with the task id from the path; refuses what the operation does not take."""
    unknown = sorted(set(request.query_params) - set(op.query))
    if unknown and op.path != "/prompts/{name}":  # a prompt's query holds its arguments
        accepted = ", ".join(op.query) or "none"
        raise InvalidInput(
            f"unknown query parameter {', '.join(unknown)} (accepted: {accepted})",
            {"unknown": unknown, "accepted": list(op.query)},
        )
    if op.body is None and data:
        raise InvalidInput(f"{op.action} takes no body; send none or {{}}")
    if "id" in request.path_params:
        if "id" in data:
            raise InvalidInput("the task id comes from the path; leave it out of the body")
        data = {**data, "id": request.path_params["id"]}
    return data


def _integer(text: str, name: str, least: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if not least <= value <= MAX_INTEGER:
        raise InvalidInput(
            f"{name} must be a whole number of {least} or more, at most {MAX_INTEGER}, "
            f"not {text!r}",
            {"field": name},
        )
    return value


# -- the operations -----------------------------------------------------------------


async def list_tasks(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    params = request.query_params
    query = parse(
        TaskQuery,
        {
            **({"statuses": params["status"].split(",")} if "status" in params else {}),
            **({"limit": _integer(params["limit"], "limit", 1)} if "limit" in params else {}),
            **({"cursor": params["cursor"]} if "cursor" in params else {}),
        },
        also_accepted=("status",),
    )
    return await core.tasks(query)


async def create_task(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    task = await core.create(parse(CreateTask, data), by=caller.who)
    return await core.task(task.id)


async def get_task(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return await core.task(data["id"])


async def task_events(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    params = request.query_params
    after = _integer(params.get("after", "0"), "after")
    limit = _integer(params["limit"], "limit", 1) if "limit" in params else 1_000
    return await core.events(data["id"], after, limit)


async def continue_task(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    task, queued = await core.continue_(parse(ContinueTask, data))
    return ContinueResult(task=await core.task(task.id), queued=queued)


async def steer_task(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    task, now = await core.steer(parse(ContinueTask, data))
    return SteerResult.of(await core.task(task.id), now)


async def cancel_task(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return await core.task((await core.cancel(data["id"])).id)


async def end_task(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return await core.task((await core.end(data["id"])).id)


async def respond(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    answer = parse(Respond, data)
    task, pending = await core.respond(answer, by=f"rest:{caller.who}")
    return RespondResult(
        id=task.id, request_id=pending.request_id, tool=pending.tool, decision=answer.decision
    )


async def diff(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    task = await core.get(data["id"])
    return DiffText(task_id=task.id, diff=await core.diff(task.id))


async def log(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    task = await core.get(data["id"])
    return LogText(task_id=task.id, log=await core.log(task.id))


async def status(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return await core.status()


async def review(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return await core.review(parse(Review, data))


async def merge(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return await core.task((await core.merge(parse(Merge, data))).id)


async def discard(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return await core.task((await core.discard(data["id"])).id)


async def pending(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return core.pending()


async def agents(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return await core.agent_list()


async def costs(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return await core.costs()


async def workers(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return await core.workers()


async def projects(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return core.projects()


async def prompts(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return PromptList(
        prompts=[
            PromptInfo(
                name=t["name"],
                title=t["title"],
                description=t["description"],
                arguments=[PromptArgumentInfo(**a) for a in t["arguments"]],
            )
            for t in core.prompts.describe_all()
        ]
    )


async def prompt(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    name = request.path_params["name"]
    text = core.prompts.render(name, dict(request.query_params))
    return PromptText(name=name, text=text)


async def events(core: Core, request: Request, caller: Caller, data: dict[str, Any]) -> Any:
    return await events_response(core, request)


OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/tasks", "read", "List tasks, newest first, a page at a time",
              list_tasks, query=("status", "limit", "cursor"), answer=TaskList),
    Operation("POST", "/tasks", "write", "Create a task (its first turn is queued)",
              create_task, body=CreateTask, answer=TaskDetail, status=201),
    Operation("GET", "/tasks/{id}", "read", "A task: its fields, counters, newest activity",
              get_task, answer=TaskDetail),
    Operation("GET", "/tasks/{id}/events", "read", "A task's events after a seq, in order",
              task_events, query=("after", "limit"), answer=EventPage),
    Operation("POST", "/tasks/{id}/continue", "write",
              "Another turn of the same conversation", continue_task, body=ContinueTask,
              answer=ContinueResult),
    Operation("POST", "/tasks/{id}/steer", "write",
              "A word for the agent while it works (delivered now, or queued)", steer_task,
              body=ContinueTask, answer=SteerResult),
    Operation("POST", "/tasks/{id}/cancel", "write", "Stop the task; it becomes cancelled",
              cancel_task, answer=TaskDetail),
    Operation("POST", "/tasks/{id}/end", "write", "Finish the task (completed)", end_task,
              answer=TaskDetail),
    Operation("POST", "/tasks/{id}/respond", "write", "Answer the task's open decision",
              respond, body=Respond, answer=RespondResult),
    Operation("GET", "/tasks/{id}/diff", "read", "The task branch's diff against its base",
              diff, answer=DiffText),
    Operation("GET", "/tasks/{id}/log", "read",
              "The task's log as text, one timestamped line per event (the newest lines)",
              log, answer=LogText),
    Operation("POST", "/tasks/{id}/review", "write",
              "Send review comments on the diff to the agent, as one follow-up", review,
              body=Review, answer=ReviewResult),
    Operation("POST", "/tasks/{id}/merge", "write", "Merge the task's branch into its base",
              merge, body=Merge, answer=TaskDetail),
    Operation("POST", "/tasks/{id}/discard", "write",
              "Throw the task's work away (worktree and branch)", discard, answer=TaskDetail),
    Operation("GET", "/pending", "read", "Every decision waiting on the user", pending,
              answer=PendingList),
    Operation("GET", "/status", "read", "Version, agents and their availability, task counts",
              status, answer=StatusDocument),
    Operation("GET", "/agents", "read", "The agents and whether each can run here", agents,
              answer=AgentList),
    Operation("GET", "/costs", "read", "Cost and tokens per project, agent and day", costs,
              answer=CostLedger),
    Operation("GET", "/workers", "read", "The workers: state, labels, agents, load, heartbeat",
              workers, answer=WorkerList),
    Operation("GET", "/projects", "read", "The allowed roots and the projects under them",
              projects, answer=ProjectList),
    Operation("GET", "/prompts", "read", "The prompt templates", prompts, answer=PromptList),
    Operation("GET", "/prompts/{name}", "read",
              "A prompt template rendered with its arguments (as query parameters)", prompt,
              answer=PromptText),
    Operation("GET", "/events", "read",
              "Live events of every task (or ?task=ID) as Server-Sent Events; "
              "Last-Event-ID or ?after=N replays", events, query=("task", "after"),
              stream=True),
)  # fmt: skip


class ApiMark:
    """Marks each answer under ``/api`` with `API_HEADER` (its errors too), so that a
    client can tell agentdeck's API from whatever else answers at a wrong URL."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith("/api/"):
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                mark = (API_HEADER.encode(), __version__.encode())
                message = {**message, "headers": [*message.get("headers", []), mark]}
            await send(message)

        await self.app(scope, receive, marked)


def api_app(core: Core) -> Starlette:
    """The ``/api`` application of ``core`` (mount it at ``/api``)."""

    def route(op: Operation) -> Route:
        async def serve(request: Request) -> Response:
            try:
                caller = await _caller(core, request)
                data = _arguments(op, request, await json_body(request))
                task_id = request.path_params.get("id")
                arguments = data if op.scope != "read" else None
                async with core.action(caller, op.action, op.scope, arguments, task_id) as entry:
                    result = await op.handler(core, request, caller, data)
                    if entry is not None:
                        entry.outcome = "ok"
                        entry.task_id = entry.task_id or getattr(result, "id", None)
            except AgentdeckError as exc:
                return from_error(exc)
            if isinstance(result, Response):
                return result
            return JSONResponse(result.dump(), status_code=op.status)

        return Route(op.path, serve, methods=[op.method])

    document = openapi_document(OPERATIONS)

    async def openapi(request: Request) -> JSONResponse:
        return JSONResponse(document)

    async def json_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AgentdeckError)
        return from_error(exc)

    return Starlette(
        routes=[
            Route("/openapi.json", openapi, methods=["GET"]),
            *(route(op) for op in OPERATIONS),
        ],
        exception_handlers={HTTPException: http_exception, AgentdeckError: json_error},
    )
