"""A small REST API for phones and scripts: tasks, what is waiting on you, and answers.

Same bearer tokens and scopes as ``/mcp`` (read to look, write to answer); mutating
calls go to the audit log. Errors are ``{"error": {"type", "message"}}`` with the
HTTP status that fits.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from agentdeck.auth import Scope, allows, top_scope
from agentdeck.errors import AgentdeckError
from agentdeck.mcp.resources import tasks_document
from agentdeck.redact import scrub
from agentdeck.views import load_detail

if TYPE_CHECKING:
    from agentdeck.app import Deck

STATUS_OF = {
    "not_found": 404,
    "validation_error": 400,
    "invalid_state": 409,
    "project_not_allowed": 403,
}
MAX_BODY = 64 * 1024

Handler = Callable[[Request, str], Awaitable[JSONResponse]]


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def routes(deck: Deck) -> list[Route]:
    """The ``/api`` routes of ``deck``."""

    def guarded(required: Scope, handler: Handler) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def endpoint(request: Request) -> JSONResponse:
            header = request.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            access = (
                await deck.access.verifier.verify_token(token.strip())
                if (scheme.lower() == "bearer" and token.strip())
                else None
            )
            if access is None:
                return JSONResponse(
                    {
                        "error": {
                            "type": "unauthorized",
                            "message": "send Authorization: Bearer <token>",
                        }
                    },
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="agentdeck"'},
                )
            if not allows(access.scopes, required):
                have = top_scope(access.scopes) or "none"
                return _error(
                    403, "forbidden", f"this needs the {required} scope; the token has {have}"
                )
            try:
                return await handler(request, access.client_id)
            except AgentdeckError as exc:
                return _error(STATUS_OF.get(exc.kind, 400), exc.kind, exc.message)

        return endpoint

    engine = deck.engine

    async def list_tasks(request: Request, who: str) -> JSONResponse:
        return JSONResponse(await tasks_document(engine))

    async def get_task(request: Request, who: str) -> JSONResponse:
        task = await engine.get(request.path_params["task_id"])
        return JSONResponse(await load_detail(engine.store, task))

    async def pending(request: Request, who: str) -> JSONResponse:
        items = [p.to_dict() for p in engine.approvals.all()]
        return JSONResponse({"count": len(items), "pending": items})

    async def respond(request: Request, who: str) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return _error(413, "too_large", f"the body is limited to {MAX_BODY} bytes")
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return _error(400, "validation_error", "the body must be JSON")
        if not isinstance(data, dict) or set(data) - {"decision", "message", "request_id"}:
            return _error(
                400,
                "validation_error",
                "accepted fields: decision (allow|deny|allow_always), message, request_id",
            )
        message, request_id = data.get("message", ""), data.get("request_id")
        if not isinstance(message, str) or not (request_id is None or isinstance(request_id, str)):
            return _error(400, "validation_error", "message and request_id must be strings")
        task_id = request.path_params["task_id"]
        entry = await deck.store.add_audit(
            {
                "ts": datetime.now(UTC).isoformat(),
                "who": who,
                "tool": "POST /api/respond",
                "arguments": json.dumps(scrub(data)),
                "task_id": task_id,
                "client": request.client.host if request.client else None,
                "outcome": "started",
            }
        )
        try:
            task, answered = await engine.respond(
                task_id, str(data.get("decision")), message, request_id, by=f"rest:{who}"
            )
        except AgentdeckError:
            await deck.store.finish_audit(entry, "error", task_id)
            raise
        await deck.store.finish_audit(entry, "ok", task.id)
        return JSONResponse(
            {
                "id": task.id,
                "request_id": answered.id,
                "tool": answered.tool,
                "decision": data.get("decision"),
            }
        )

    return [
        Route("/api/tasks", guarded("read", list_tasks), methods=["GET"]),
        Route("/api/tasks/{task_id}", guarded("read", get_task), methods=["GET"]),
        Route("/api/pending", guarded("read", pending), methods=["GET"]),
        Route("/api/tasks/{task_id}/respond", guarded("write", respond), methods=["POST"]),
    ]
