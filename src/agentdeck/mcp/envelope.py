"""The result envelope every tool returns (SEED_CONTRACT.md): the one MCP error mapping."""

from __future__ import annotations

import json
from typing import Any, Literal

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from agentdeck.errors import AgentdeckError

# Tool results are read by programs and models: whitespace only costs.
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)

Details = dict[str, Any] | list[dict[str, Any]] | None


class ErrorInfo(BaseModel):
    """An error's kind and the details a client can act on (an object, or a list of them)."""

    type: str
    details: Details = None


class Envelope(BaseModel):
    """``{status, message, result | error}``; published as every tool's outputSchema."""

    status: Literal["success", "error"]
    message: str
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None


def success(message: str, result: dict[str, Any]) -> CallToolResult:
    body = {"status": "success", "message": message, "result": result}
    return CallToolResult(
        content=[TextContent(type="text", text=_COMPACT.encode(body))],
        structured_content=body,
        is_error=False,
    )


def failure(kind: str, message: str, details: Any = None) -> CallToolResult:
    listed = isinstance(details, list) and all(isinstance(d, dict) for d in details)
    if details is not None and not isinstance(details, dict) and not listed:
        details = {"value": details}
    body = {"status": "error", "message": message, "error": {"type": kind, "details": details}}
    return CallToolResult(
        content=[TextContent(type="text", text=f"Error ({kind}): {message}")],
        structured_content=body,
        is_error=True,
    )


def from_error(exc: AgentdeckError) -> CallToolResult:
    return failure(exc.kind, exc.message, exc.details)
