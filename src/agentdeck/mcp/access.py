"""Scopes for every MCP request, in one place, and the audit log of mutating calls.

`AccessControl` is an MCP server middleware: ``tools/call`` needs the scope its tool
maps to in `TOOL_SCOPES` (a tool missing from the map needs ``admin``: fail closed),
``resources/read`` the scope in `RESOURCE_SCOPES` (default ``read``; every
authenticated HTTP caller has it). A refused tool call is an error envelope with
``error.type = "forbidden"``. Every write/admin tool call, allowed or refused, is
written to the audit log: caller, tool, arguments (secrets masked, long strings
cut), task id, client address, outcome.

Callers: over HTTP the SDK's bearer middleware has put an `AccessToken` in context
(a token name, ``jwt:<client>``, or ``loopback``); with no HTTP request at all the
caller is local (``stdio``, in-process) and holds every scope.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult
from starlette.requests import Request

from agentdeck.auth import Scope, allows, implied, top_scope
from agentdeck.mcp.envelope import failure
from agentdeck.redact import scrub
from agentdeck.store import Store

log = logging.getLogger(__name__)

TOOL_SCOPES: dict[str, Scope] = {
    "report": "read",
    "report_task": "read",
    "check_status": "read",
    "get_prompt": "read",
    "update_stats": "read",
    "create_task": "write",
    "update_task": "write",
    "cancel_task": "write",
    "end_task": "write",
    "merge_task": "write",
    "discard_task": "write",
    "respond_task": "write",
    "clean_state": "admin",
}
RESOURCE_SCOPES: dict[str, Scope] = {"agent://audit": "admin"}
FORBIDDEN = -32003  # JSON-RPC error code of a refused resources/read
AUDIT_LIMIT = 100
_TASK_ARGS = ("task_id", "id", "process")


def tool_scope(name: str) -> Scope:
    return TOOL_SCOPES.get(name, "admin")


def scope_table(server: MCPServer) -> dict[str, Scope]:
    """Every tool the server has and the scope it needs (unmapped ones: admin)."""
    return {t.name: tool_scope(t.name) for t in server._tool_manager.list_tools()}


class Caller:
    """Who sent an MCP request: name, scopes, client address."""

    def __init__(self, ctx: ServerRequestContext[Any, Any]) -> None:
        request = ctx.request if isinstance(ctx.request, Request) else None
        token: AccessToken | None = get_access_token()
        if token is None and request is not None:
            user = request.scope.get("user")
            token = user.access_token if isinstance(user, AuthenticatedUser) else None
        self.client = request.client.host if request is not None and request.client else None
        if token is not None:
            self.who, self.scopes = token.client_id, list(token.scopes)
        elif request is None:
            self.who, self.scopes = "stdio", implied("admin")
        else:  # over HTTP without a verified token: cannot happen behind the SDK; refuse
            self.who, self.scopes = "anonymous", []

    @property
    def scope(self) -> str:
        return top_scope(self.scopes) or "no scope"

    def refusal(self, what: str, required: Scope) -> str:
        return (
            f"{what} needs the {required} scope; the caller ({self.who}) has {self.scope}. "
            f"Use a token created with --scope {required} (or higher)."
        )


class AccessControl:
    """The MCP middleware enforcing scopes and writing the audit log."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if ctx.method == "tools/call" and ctx.request_id is not None:
            return await self._call_tool(ctx, call_next)
        if ctx.method == "resources/read" and ctx.params:
            uri = str(ctx.params.get("uri", ""))
            required = RESOURCE_SCOPES.get(uri, "read")
            caller = Caller(ctx)
            if not allows(caller.scopes, required):
                message = caller.refusal(f"reading {uri}", required)
                raise MCPError(FORBIDDEN, f"forbidden: {message}")
        return await call_next(ctx)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        params = ctx.params or {}
        name = str(params.get("name", ""))
        arguments = params.get("arguments")
        required = tool_scope(name)
        caller = Caller(ctx)
        if not allows(caller.scopes, required):
            await self._audit(caller, name, arguments, None, "forbidden")
            return failure(
                "forbidden",
                caller.refusal(name, required),
                {"required_scope": required, "scope": caller.scope},
            )
        if required == "read":
            return await call_next(ctx)
        # Written before the call (a long call or a crash still leaves its trace).
        entry = await self._audit(caller, name, arguments, None, "started")
        outcome, result = "error", None
        try:
            result = await call_next(ctx)
            outcome = "error" if _is_error(result) else "ok"
            return result
        finally:
            if entry is not None:
                with anyio.CancelScope(shield=True):
                    await self._finish(entry, outcome, _task_id(arguments, result))

    async def _audit(
        self, caller: Caller, tool: str, arguments: Any, result: HandlerResult, outcome: str
    ) -> int | None:
        row = {
            "ts": datetime.now(UTC).isoformat(),
            "who": caller.who,
            "tool": tool,
            "arguments": json.dumps(scrub(arguments if arguments is not None else {})),
            "task_id": _task_id(arguments, result),
            "client": caller.client,
            "outcome": outcome,
        }
        try:
            return await self.store.add_audit(row)
        except Exception:
            log.exception("writing the audit log failed (tool %s by %s)", tool, caller.who)
            return None

    async def _finish(self, entry: int, outcome: str, task_id: str | None) -> None:
        try:
            await self.store.finish_audit(entry, outcome, task_id)
        except Exception:
            log.exception("updating the audit log failed (entry %s)", entry)


def _is_error(result: HandlerResult) -> bool:
    if isinstance(result, CallToolResult):
        return bool(result.is_error)
    if isinstance(result, dict):
        return bool(result.get("isError"))
    return False


def _task_id(arguments: Any, result: HandlerResult) -> str | None:
    if isinstance(arguments, dict):
        for key in _TASK_ARGS:
            if isinstance(arguments.get(key), str):
                return str(arguments[key])[:100]
    content: Any = None
    if isinstance(result, CallToolResult):
        content = result.structured_content
    elif isinstance(result, dict):
        content = result.get("structuredContent")
    inner = content.get("result") if isinstance(content, dict) else None
    task_id = inner.get("task_id") if isinstance(inner, dict) else None
    return task_id if isinstance(task_id, str) else None


def install_access(server: MCPServer, store: Store) -> None:
    """Enforce scopes on ``server`` and serve ``agent://audit`` (admin)."""
    server.middleware.append(AccessControl(store))
    unmapped = sorted(n for n in scope_table(server) if n not in TOOL_SCOPES)
    if unmapped:
        log.warning("tools without a scope mapping need admin: %s", ", ".join(unmapped))

    @server.resource(
        "agent://audit",
        name="audit",
        description=f"The newest {AUDIT_LIMIT} mutating tool calls: who, what, task, "
        "when, from where, outcome (admin scope).",
        mime_type="application/json",
    )
    async def audit_resource() -> str:
        entries = await store.audit_entries(AUDIT_LIMIT)
        for entry in entries:
            entry["arguments"] = json.loads(entry["arguments"])
        return json.dumps({"count": len(entries), "entries": entries}, indent=2)
