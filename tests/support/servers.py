"""agentdeck's HTTP app under uvicorn on a free loopback port, and MCP client helpers."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import uvicorn
from mcp import Client

from agentdeck.agents import Agent
from agentdeck.app import Deck, build_app
from agentdeck.config import Settings
from support.waiting import POLL, wait_until


@dataclass
class Running:
    url: str
    deck: Deck


@asynccontextmanager
async def serve(
    settings: Settings, agents: dict[str, Agent] | None = None
) -> AsyncIterator[Running]:
    """The app on a free loopback port for one block."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The real port: the allowed Host headers and the auth metadata URL carry it.
    deck = Deck(settings.model_copy(update={"port": port}), agents=agents)
    server = uvicorn.Server(
        uvicorn.Config(build_app(deck), log_level="warning", lifespan="on", ws="none")
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        await wait_until(lambda: server.started, timeout=20)
        try:
            yield Running(f"http://127.0.0.1:{port}/mcp", deck)
        finally:
            server.should_exit = True


async def read_json(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri)
    content = result.contents[0]
    return json.loads(content.text)  # type: ignore[union-attr]


async def call(client: Client, tool: str, /, **arguments: Any) -> dict[str, Any]:
    """Call ``tool``; return its envelope (``structuredContent``) plus ``isError``."""
    result = await client.call_tool(tool, arguments)
    envelope = dict(result.structured_content or {})
    envelope["isError"] = result.is_error
    return envelope


async def wait_status(
    client: Client, task_id: str, statuses: set[str], timeout: float = 60
) -> dict[str, Any]:
    """Read ``task://{id}`` until its status is one of ``statuses``."""
    with anyio.fail_after(timeout):
        while True:
            task = await read_json(client, f"task://{task_id}")
            if task["status"] in statuses:
                return task
            await anyio.sleep(POLL)
