"""Every private hook agentdeck takes into the ``mcp`` SDK (2.3.x), in one place.

Each is pinned by ``tests/unit/mcp/test_sdk_hooks.py``: an SDK upgrade that moves
one fails there first, by name.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import mcp.server.streamable_http_manager as session_managers
from mcp.server import MCPServer
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.server.session import ServerSession
from mcp.server.streamable_http import StreamableHTTPServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ConfigDict
from pydantic_core import from_json
from starlette.requests import Request
from starlette.types import Receive, Scope, Send


class _RawArguments(ArgModelBase):
    """Lets every argument through, to be validated by the tool itself."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def raw_tool(
    fn: Callable[..., Awaitable[Any]],
    *,
    name: str,
    description: str,
    input_schema: dict[str, Any],
    output_model: type[BaseModel],
    annotations: ToolAnnotations,
    meta: dict[str, Any] | None = None,
) -> Tool:
    """A tool whose handler gets ``(arguments: dict, ctx)``, advertising ``input_schema``.

    The SDK would validate arguments against a model built from the signature; a raw
    tool validates them itself, so a refusal is the tool's own error envelope.
    """
    tool = Tool.from_function(
        fn,
        name=name,
        description=description,
        annotations=annotations,
        context_kwarg="ctx",
        meta=meta,
    )
    tool.fn_metadata = FuncMetadata(arg_model=_RawArguments, output_model=output_model)
    tool.parameters = input_schema
    return tool


def add_request_handler(
    server: MCPServer, method: str, params_type: type[Any], handler: Callable[..., Any]
) -> None:
    """Serve ``method`` with ``handler(ctx, params)`` (replacing the SDK's own, if any)."""
    server._lowlevel_server.add_request_handler(method, params_type, handler)


def advertise_list_changed(server: MCPServer) -> None:
    """Handshake-era clients learn of ``resources/list_changed`` only if it is advertised."""
    lowlevel = server._lowlevel_server
    lowlevel.create_initialization_options = functools.partial(  # type: ignore[method-assign]
        lowlevel.create_initialization_options,
        NotificationOptions(resources_changed=True),
    )


def connection_of(session: ServerSession) -> object:
    """The connection behind a per-request session proxy (stable across requests)."""
    return getattr(session, "_connection", session)


def on_connection_close(connection: object, callback: Callable[[], None]) -> None:
    """Call ``callback`` when ``connection`` closes (when the SDK tells us)."""
    stack = getattr(connection, "exit_stack", None)
    if stack is not None:
        stack.callback(callback)


def open_session_ids(manager: StreamableHTTPSessionManager) -> set[str]:
    """The ids of the handshake-era sessions the manager holds open."""
    return set(manager._server_instances)


async def close_session(manager: StreamableHTTPSessionManager, session_id: str) -> bool:
    """End an open session as an idle timeout would (its id answers 404 from now on)."""
    transport = manager._server_instances.get(session_id)
    if transport is None:
        return False
    await manager._discard_session(session_id, transport)
    return True


async def notify_on_request_stream(
    session: ServerSession, method: str, params: dict[str, Any]
) -> None:
    """Send a notification the SDK has no type for (``notifications/tasks``) on the
    stream of the request being served, as the params are (``ttlMs: null`` kept)."""
    await session._request_outbound.notify(method, params)


NO_STREAM_METHODS = frozenset(
    {
        "ping",
        "tools/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
    }
)
"""Handshake-era requests whose handlers send nothing on the request's stream: their
reply is one JSON body, not an SSE stream of one event."""
_json_reply: ContextVar[bool] = ContextVar("agentdeck_json_reply", default=False)


class _JsonReadsTransport(StreamableHTTPServerTransport):
    """The SDK's handshake-era session transport, replying to a `NO_STREAM_METHODS`
    request with a JSON body (as its JSON-response mode does) and to the rest with SSE.

    An SSE reply costs the SDK a response task group, memory streams and a line split
    of the body: a third of a ``tools/list``. The choice is per request, held in a
    context variable of the request's own task, so the session's message router (its
    own task) keeps routing the other requests' streams as SSE.
    """

    _json_always = False

    @property
    def is_json_response_enabled(self) -> bool:
        return self._json_always or _json_reply.get()

    @is_json_response_enabled.setter
    def is_json_response_enabled(self, value: bool) -> None:
        self._json_always = value

    async def _handle_post_request(
        self, scope: Scope, request: Request, receive: Receive, send: Send
    ) -> None:
        token = _json_reply.set(await _needs_no_stream(request))
        try:
            await super()._handle_post_request(scope, request, receive, send)
        finally:
            _json_reply.reset(token)


async def _needs_no_stream(request: Request) -> bool:
    """Whether the POST is one request of `NO_STREAM_METHODS` (Starlette keeps the
    body it reads here for the SDK)."""
    try:
        message = from_json(await request.body())  # what the SDK's own parse uses
    except ValueError:
        return False  # the SDK answers it with its parse error
    return (
        isinstance(message, dict) and "id" in message and message.get("method") in NO_STREAM_METHODS
    )


def reply_json_when_no_stream() -> None:
    """Make the SDK's session manager open `_JsonReadsTransport` sessions."""
    session_managers.StreamableHTTPServerTransport = _JsonReadsTransport  # type: ignore[attr-defined]
