"""The result envelope every tool returns (SEED_CONTRACT.md), and raw-argument tools.

Tools receive their arguments unvalidated and validate them with their own pydantic
model, so that every refusal is an envelope with ``isError``, ``error.type`` and a
sentence saying what was wrong and what is accepted.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, ValidationError

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


def from_validation(exc: ValidationError, accepted: list[str]) -> CallToolResult:
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown argument {field!r}")
        elif err["type"] == "missing":
            problems.append(f"{field} is required")
        else:
            problems.append(f"{field}: {err['msg']}")
    message = "; ".join(problems) + f" (accepted arguments: {', '.join(accepted)})"
    details = [
        {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    return failure("validation_error", message, details)


class _RawArguments(ArgModelBase):
    """Lets every argument through, to be validated by the tool itself."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


Handler = Callable[[dict[str, Any], Context], Awaitable[CallToolResult]]


def raw_tool(
    fn: Handler,
    *,
    name: str,
    description: str,
    input_schema: dict[str, Any],
    annotations: ToolAnnotations,
) -> Tool:
    """A tool whose handler gets ``(arguments: dict, ctx)`` and returns an envelope."""
    tool = Tool.from_function(
        fn, name=name, description=description, annotations=annotations, context_kwarg="ctx"
    )
    tool.fn_metadata = FuncMetadata(arg_model=_RawArguments, output_model=Envelope)
    tool.parameters = input_schema
    return tool
