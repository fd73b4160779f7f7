"""One MCP tool shape: `Tools.tool` registers a handler with its arguments and scope.

The registration validates the arguments (old aliases renamed first), authorizes the
caller for the tool's scope and audits it (`Core.action`), calls the handler, and
builds the envelope; every `AgentdeckError` becomes an error envelope. A handler is
``async (args, ctx) -> Reply`` and holds only what the tool itself does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from mcp.server.context import CallNext, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations

from agentdeck.core import Core, Request, Scope, parse
from agentdeck.errors import AgentdeckError
from agentdeck.mcp import legacy
from agentdeck.mcp._sdk import raw_tool
from agentdeck.mcp.callers import caller_of
from agentdeck.mcp.envelope import Envelope, from_error, success

A = TypeVar("A", bound=Request)
READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)


def changes(
    title: str | None = None,
    *,
    destructive: bool = False,
    idempotent: bool = False,
    open_world: bool = False,
) -> ToolAnnotations:
    """The annotations of a tool that changes something."""
    return ToolAnnotations(
        title=title,
        read_only_hint=False,
        destructive_hint=destructive,
        idempotent_hint=idempotent,
        open_world_hint=open_world,
    )


_TASK_KEYS = ("task_id", "id")
SCOPE_META = "io.agentdeck/scope"  # each tool's ``_meta`` names the scope it needs


@dataclass(frozen=True)
class Reply:
    """What a tool answers: one human sentence and its ``result``."""

    message: str
    result: dict[str, Any]


# A handler may also answer ``InputRequiredResult`` (2026-07-28 multi-round-trip
# requests: the client retries with the answers, see `mcp.mrtr`).
Handler = Callable[[A, Context], Awaitable[Reply | InputRequiredResult]]


def input_schema(model: type[Request], aliases: legacy.Aliases) -> dict[str, Any]:
    """``model``'s JSON schema as a tool's input schema, with the old aliases."""
    schema = model.model_json_schema(mode="validation", by_alias=False)
    schema.pop("title", None)
    schema = legacy.with_aliases(schema, aliases)
    schema["additionalProperties"] = False
    return schema


def _task_id(arguments: dict[str, Any], result: dict[str, Any] | None) -> str | None:
    for source in (arguments, result or {}):
        for key in (*_TASK_KEYS, "process"):
            if isinstance(source.get(key), str):
                return str(source[key])[:100]
    return None


class Tools:
    """The tools of one server, bound to its core."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.tools: list[Tool] = []

    def tool(
        self,
        name: str,
        *,
        args: type[A],
        scope: Scope,
        description: str,
        annotations: ToolAnnotations,
        aliases: legacy.Aliases = legacy.NONE,
    ) -> Callable[[Handler[A]], Handler[A]]:
        """Register the decorated handler as tool ``name``, needing ``scope``."""
        accepted_aliases = legacy.alias_names(aliases)
        accepted = [*args.model_fields, *accepted_aliases]

        def register(handler: Handler[A]) -> Handler[A]:
            async def call(
                arguments: dict[str, Any], ctx: Context
            ) -> CallToolResult | InputRequiredResult:
                caller = caller_of(ctx.request_context)
                try:
                    async with self.core.action(
                        caller, name, scope, arguments, _task_id(arguments, None)
                    ) as entry:
                        named = legacy.canonical(arguments, aliases, accepted)
                        parsed = parse(args, named, accepted_aliases)
                        reply = await handler(parsed, ctx)
                        if isinstance(reply, InputRequiredResult):
                            if entry is not None:
                                entry.outcome = "input_required"
                            return reply
                        if entry is not None:
                            entry.outcome = "ok"
                            entry.task_id = entry.task_id or _task_id({}, reply.result)
                except AgentdeckError as exc:
                    return from_error(exc)
                return success(reply.message, reply.result)

            self.tools.append(
                raw_tool(
                    call,
                    name=name,
                    description=description,
                    input_schema=input_schema(args, aliases),
                    output_model=Envelope,
                    annotations=annotations,
                    meta={SCOPE_META: scope},
                )
            )
            return handler

        return register


class CachedToolList:
    """MCP middleware: ``tools/list`` answered from its wire form, built once per protocol
    version (the tools never change while the server runs).

    The SDK would rebuild, validate and re-serialise the ~24 KiB list on every call; the
    first call per version goes through it, so the cached form is exactly its output.
    A request with a cursor (we never page tools) goes through too.
    """

    def __init__(self) -> None:
        self._wire: dict[str, dict[str, Any]] = {}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> Any:
        if ctx.method != "tools/list" or (ctx.params or {}).get("cursor"):
            return await call_next(ctx)
        version = str(ctx.protocol_version)
        wire = self._wire.get(version)
        if wire is None:
            result = await call_next(ctx)
            if not isinstance(result, dict):
                return result
            wire = self._wire[version] = result
        return dict(wire)
