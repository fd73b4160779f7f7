"""The result envelope every tool returns (SEED_CONTRACT.md): the one MCP error mapping."""

from __future__ import annotations

import json
from typing import Any, Literal

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from agentdeck.errors import AgentdeckError


class ErrorInfo(BaseModel):
    type: str
    details: Any = None


class Envelope(BaseModel):
    """``{status, message, result | error}``; published as every tool's outputSchema."""

    status: Literal["success", "error"]
    message: str
    result: dict[str, Any] | None = None
    error: ErrorInfo | None = None


def success(message: str, result: dict[str, Any]) -> CallToolResult:
    body = {"status": "success", "message": message, "result": result}
    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(body, indent=2, default=str))],
        structured_content=body,
        is_error=False,
    )


def failure(kind: str, message: str, details: Any = None) -> CallToolResult:
    body = {"status": "error", "message": message, "error": {"type": kind, "details": details}}
    return CallToolResult(
        content=[TextContent(type="text", text=f"Error ({kind}): {message}")],
        structured_content=body,
        is_error=True,
    )


def from_error(exc: AgentdeckError) -> CallToolResult:
    return failure(exc.kind, exc.message, exc.details)
