"""Pins every private hook into the mcp SDK (agentdeck.mcp._sdk)."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.types import PaginatedRequestParams, ToolAnnotations
from pydantic import BaseModel

from agentdeck.mcp._sdk import (
    add_request_handler,
    advertise_list_changed,
    notify_on_request_stream,
    raw_tool,
)

pytestmark = pytest.mark.anyio


def test_the_sdk_is_the_2_3_line() -> None:
    assert importlib.metadata.version("mcp").startswith("2.3.")


class Out(BaseModel):
    got: dict[str, Any]


async def test_raw_tool_gets_every_argument_unvalidated() -> None:
    async def echo(arguments: dict[str, Any], ctx: Any) -> Out:
        return Out(got=arguments)

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    tool = raw_tool(
        echo,
        name="echo",
        description="echo",
        input_schema=schema,
        output_model=Out,
        annotations=ToolAnnotations(read_only_hint=True),
        meta={"io.agentdeck/scope": "read"},
    )
    server = MCPServer("t", tools=[tool])
    async with Client(server) as client:
        (listed,) = (await client.list_tools()).tools
        assert listed.input_schema == schema
        assert listed.meta == {"io.agentdeck/scope": "read"}
        result = await client.call_tool("echo", {"n": "not a number", "extra": [1]})
        assert result.structured_content == {"got": {"n": "not a number", "extra": [1]}}


async def test_request_handlers_replace_the_sdk_ones() -> None:
    server = MCPServer("t")
    seen: list[str | None] = []

    async def list_resources(ctx: Any, params: PaginatedRequestParams | None) -> Any:
        from mcp.types import ListResourcesResult

        seen.append(params.cursor if params else None)
        return ListResourcesResult(resources=[], next_cursor="next")

    add_request_handler(server, "resources/list", PaginatedRequestParams, list_resources)
    async with Client(server, mode="legacy") as client:
        page = await client.list_resources()
    assert page.next_cursor == "next" and seen == [None]


async def test_list_changed_is_advertised_to_handshake_clients() -> None:
    server = MCPServer("t")
    advertise_list_changed(server)
    async with Client(server, mode="legacy") as client:
        caps = client.session.server_capabilities  # type: ignore[union-attr]
        assert caps is not None and caps.resources is not None
        assert caps.resources.list_changed is True


def test_the_session_manager_keeps_its_sessions_where_we_read_them() -> None:
    """`open_session_ids` / `close_session` read the manager's session table and end a
    session through its own discard path."""
    import inspect

    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from agentdeck.mcp._sdk import open_session_ids

    server = MCPServer("pin")
    server.streamable_http_app()
    manager = server.session_manager
    assert isinstance(manager, StreamableHTTPSessionManager)
    assert open_session_ids(manager) == set()
    assert isinstance(manager._server_instances, dict)
    assert list(inspect.signature(manager._discard_session).parameters) == [
        "session_id",
        "transport",
    ]


async def test_a_notification_the_sdk_has_no_type_for_rides_the_request_stream() -> None:
    """The hook sends through the request's own outbound channel (over HTTP that is the
    request's SSE stream: tests/faces/mcp/test_tasks_extension.py listens to it)."""
    server = MCPServer("t")
    sent: list[tuple[str, Any]] = []

    @server.tool()
    async def ping(ctx: Context) -> str:
        outbound = ctx.session._request_outbound
        real = outbound.notify

        async def notify(method: str, params: Any, opts: Any = None) -> None:
            sent.append((method, params))
            await real(method, params, opts)

        outbound.notify = notify
        await notify_on_request_stream(
            ctx.session, "notifications/tasks", {"taskId": "t-1", "ttlMs": None}
        )
        return "pong"

    async with Client(server) as client:
        result = await client.call_tool("ping", {})
    assert not result.is_error, result
    assert sent == [("notifications/tasks", {"taskId": "t-1", "ttlMs": None})]
