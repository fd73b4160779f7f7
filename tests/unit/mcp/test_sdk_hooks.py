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


async def test_a_request_without_a_stream_is_answered_with_json_beside_a_streaming_one(
    core_settings: Any,
) -> None:
    """`reply_json_when_no_stream`: in one handshake-era session, ``tools/list`` answers
    with a JSON body while a ``wait: true`` call in flight keeps its SSE stream and its
    progress notifications."""
    import json

    import anyio
    import httpx2

    from agentdeck.agents.testing import FakeAgent, Gate, Say
    from agentdeck.mcp._sdk import NO_STREAM_METHODS
    from support.servers import serve

    assert {"tools/list", "resources/read", "ping"} <= NO_STREAM_METHODS
    assert "tools/call" not in NO_STREAM_METHODS
    gate = Gate()
    agent = FakeAgent(steps=[Say("before"), gate, Say("after")])
    accept = {"Accept": "application/json, text/event-stream"}
    async with serve(core_settings, {"fake": agent}) as srv, httpx2.AsyncClient(timeout=30) as http:
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "pin", "version": "0"},
            },
        }
        opened = await http.post(srv.url, json=init, headers=accept)
        session = {
            **accept,
            "Mcp-Session-Id": opened.headers["mcp-session-id"],
            "MCP-Protocol-Version": "2025-11-25",
        }
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post(srv.url, json=note, headers=session)).status_code == 202

        streamed: dict[str, Any] = {}

        async def wait_for_the_turn() -> None:
            call = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {
                    "name": "create_task",
                    "arguments": {"title": "t", "instructions": "go", "wait": True},
                    "_meta": {"progressToken": "p1"},
                },
            }
            async with http.stream("POST", srv.url, json=call, headers=session) as reply:
                streamed["type"] = reply.headers["content-type"]
                data = [line[5:] async for line in reply.aiter_lines() if line.startswith("data:")]
            streamed["messages"] = [json.loads(d) for d in data if d.strip()]

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait_for_the_turn)
            with anyio.fail_after(30):
                await gate.reached.wait()
            for i in range(3):
                listed = await http.post(
                    srv.url,
                    json={"jsonrpc": "2.0", "id": 10 + i, "method": "tools/list"},
                    headers=session,
                )
                assert listed.headers["content-type"].startswith("application/json")
                assert any(t["name"] == "create_task" for t in listed.json()["result"]["tools"])
            gate.open()

    assert streamed["type"].startswith("text/event-stream")
    messages = streamed["messages"]
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert progress and all(m["params"]["progressToken"] == "p1" for m in progress)
    assert messages[-1]["id"] == 1 and messages[-1]["result"]["structuredContent"]["status"]
