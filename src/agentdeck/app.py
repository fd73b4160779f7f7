"""Wiring: store + engine + MCP server, and the Starlette app that serves them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp.server import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from agentdeck import __version__
from agentdeck.agents import build_agents
from agentdeck.auth import Access
from agentdeck.bus import Bus
from agentdeck.config import Settings
from agentdeck.engine import TaskEngine
from agentdeck.http_guard import middleware, transport_options
from agentdeck.mcp.server import build_server
from agentdeck.mcp.subscriptions import ChangeNotifier
from agentdeck.notify import Notifier
from agentdeck.store import Store
from agentdeck.web.api import routes as api_routes

log = logging.getLogger("agentdeck")


class Deck:
    """One agentdeck instance: its store, engine and MCP server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = Store(settings.db_path)
        self.bus = Bus()
        self.engine = TaskEngine(settings, self.store, self.bus, build_agents(settings))
        self.mcp: MCPServer
        self.notifier: ChangeNotifier
        self.access = Access(settings, self.store)  # tokens / JWT / loopback (docs/security.md)
        self.mcp, self.notifier = build_server(self.engine, self.access)
        self.push = Notifier(settings, self.store, self.bus)  # Apprise push notifications

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Deck]:
        """Run the engine (recovery first) and the notifier until the block exits."""
        async with anyio.create_task_group() as tg:
            await tg.start(self.notifier.run)
            await tg.start(self.push.run)  # before the engine: recovery is notified too
            await tg.start(self.engine.run)
            _announce(self.settings)
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
        self.store.close()


def _announce(settings: Settings) -> None:
    roots = ", ".join(map(str, settings.roots))
    if settings.approval_policy == "bypass":
        log.warning(
            "approval policy bypass: agents may run any command and change any file in the "
            "task's project directory without asking (allowed roots: %s)",
            roots,
        )
    else:
        log.warning(
            "approval policy %s: agents edit files in the task's workspace freely and ask "
            "before anything else (allowed roots: %s)",
            settings.approval_policy,
            roots,
        )
    log.info("state in %s", settings.home)


def build_app(deck: Deck) -> Starlette:
    """The HTTP app: MCP at ``/mcp``, the REST API at ``/api``, ``GET /health``."""
    mcp_app = deck.mcp.streamable_http_app(**transport_options(deck.settings))

    async def health(request: Request) -> JSONResponse:
        counts = await deck.store.count_by_status()
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "tasks": sum(counts.values()),
                "running_turns": deck.engine.running_count,
            }
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with deck.running(), deck.mcp.session_manager.run():
            yield

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            *api_routes(deck),
            Mount("/", app=mcp_app),
        ],
        lifespan=lifespan,
        middleware=middleware(deck.settings, deck.access),  # CORS, Host, rate, body, loopback
    )
