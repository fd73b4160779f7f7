"""The one REST error mapping: every error is ``{"error": {"type", "message", "details"}}``."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agentdeck.errors import KIND_OF_HTTP_STATUS, AgentdeckError


def error_response(
    status: int, kind: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"type": kind, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def from_error(exc: AgentdeckError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="agentdeck"'} if exc.http_status == 401 else None
    return error_response(exc.http_status, exc.kind, exc.message, exc.details, headers)


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (unknown path, wrong method) as JSON."""
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    message = str(exc.detail)
    if status == 404:
        message = f"no such endpoint: {request.method} {request.url.path} (see /api/openapi.json)"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    return error_response(
        status,
        KIND_OF_HTTP_STATUS.get(status, "http_error"),
        message,
        None,
        dict(exc.headers or {}),
    )
