"""The MCP face in-process: the SDK's own client on a running core (no HTTP)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import anyio
from mcp import Client

from agentdeck.agents import Agent
from agentdeck.config import Settings
from agentdeck.core import Core
from agentdeck.mcp.server import build_server
from support.core import running


@asynccontextmanager
async def mcp_client(
    settings: Settings,
    *agents: Agent,
    mode: Literal["auto", "legacy"] = "auto",
    **client_options: Any,
) -> AsyncIterator[tuple[Client, Core]]:
    """A client of the MCP server on a running core (``legacy``: the handshake era)."""
    async with running(settings, *agents) as core:
        server, notifier = build_server(core)
        async with anyio.create_task_group() as tg:
            await tg.start(notifier.run)
            async with Client(server, mode=mode, **client_options) as client:
                yield client, core
            tg.cancel_scope.cancel()
