"""The REST API under ``/api``: tasks, what is waiting on you, and answers.

Same bearer tokens, scopes and audit as ``/mcp`` (read to look, write to change),
through the core's one `Core.action`. Bodies are JSON objects of at most `MAX_BODY`
bytes; every error is JSON (`agentdeck.web.errors`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agentdeck.core import Caller, Core, Respond, Scope, TaskQuery, parse
from agentdeck.errors import AgentdeckError, InvalidInput, TooLarge, Unauthorized
from agentdeck.web.errors import from_error, http_exception

MAX_BODY = 64 * 1024

Handler = Callable[[Request, Caller], Awaitable[Any]]


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
    """The request's JSON object, or `InvalidInput` saying why not."""
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


def api_app(core: Core) -> Starlette:
    """The ``/api`` application of ``core`` (mount it at ``/api``)."""

    def endpoint(
        action: str, scope: Scope, handler: Handler
    ) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def serve(request: Request) -> JSONResponse:
            try:
                caller = await _caller(core, request)
                task_id = request.path_params.get("task_id")
                async with core.action(caller, action, scope, None, task_id) as entry:
                    result = await handler(request, caller)
                    if entry is not None:
                        entry.outcome = "ok"
            except AgentdeckError as exc:
                return from_error(exc)
            return JSONResponse(result)

        return serve

    async def list_tasks(request: Request, caller: Caller) -> Any:
        params = request.query_params
        query = parse(
            TaskQuery,
            {
                **({"statuses": params["status"].split(",")} if "status" in params else {}),
                **({"limit": _integer(params["limit"], "limit")} if "limit" in params else {}),
                **({"cursor": params["cursor"]} if "cursor" in params else {}),
            },
        )
        return (await core.tasks(query)).dump()

    async def get_task(request: Request, caller: Caller) -> Any:
        return (await core.task(request.path_params["task_id"])).dump()

    async def pending(request: Request, caller: Caller) -> Any:
        return core.pending().dump()

    async def respond(request: Request, caller: Caller) -> Any:
        data = await json_body(request)
        answer = parse(Respond, {**data, "id": request.path_params["task_id"]})
        task, pending = await core.respond(answer, by=f"rest:{caller.who}")
        return {
            "id": task.id,
            "request_id": pending.request_id,
            "tool": pending.tool,
            "decision": answer.decision,
        }

    async def json_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AgentdeckError)
        return from_error(exc)

    return Starlette(
        routes=[
            Route("/tasks", endpoint("GET /api/tasks", "read", list_tasks), methods=["GET"]),
            Route(
                "/tasks/{task_id}",
                endpoint("GET /api/tasks/{id}", "read", get_task),
                methods=["GET"],
            ),
            Route("/pending", endpoint("GET /api/pending", "read", pending), methods=["GET"]),
            Route(
                "/tasks/{task_id}/respond",
                endpoint("POST /api/tasks/{id}/respond", "write", respond),
                methods=["POST"],
            ),
        ],
        exception_handlers={HTTPException: http_exception, AgentdeckError: json_error},
    )


def _integer(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(
            f"{name} must be a whole number, not {text!r}", {"field": name}
        ) from None
