"""Wiring: the core and the faces on it (MCP, REST, push), and the HTTP app that serves them.

This is the one module that knows every part; the faces know only the core.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp.server import MCPServer
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp

from agentdeck import __version__
from agentdeck.agents import Agent
from agentdeck.config import Settings
from agentdeck.core import Core
from agentdeck.http_guard import middleware, transport_options
from agentdeck.mcp.server import build_server
from agentdeck.mcp.sessions import SessionAdmission
from agentdeck.mcp.subscriptions import ChangeNotifier
from agentdeck.notify import Notifier
from agentdeck.web.api import ApiMark, api_app
from agentdeck.web.dashboard import dashboard_routes
from agentdeck.web.links import ApprovalPages
from agentdeck.web.login import Login, SessionCookies

log = logging.getLogger("agentdeck")
RESOURCE_METADATA = "/.well-known/oauth-protected-resource/mcp"  # where the SDK points clients


class Deck:
    """One agentdeck instance: its core, MCP server and push notifier."""

    def __init__(self, settings: Settings, agents: dict[str, Agent] | None = None) -> None:
        self.settings = settings
        self.core = Core(settings, agents=agents)
        self.mcp: MCPServer
        self.notifier: ChangeNotifier
        self.mcp, self.notifier = build_server(self.core)
        self.push = Notifier(settings, self.core)  # Apprise push notifications

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Deck]:
        """Run the core (recovery first) and the notifiers until the block exits."""
        async with anyio.create_task_group() as tg:
            await tg.start(self.notifier.run)
            await tg.start(self.push.run)  # before the core: recovery is notified too
            await tg.start(self.core.run)
            _announce(self.settings)
            try:
                yield self
            finally:
                with anyio.CancelScope(shield=True):
                    stopped = await self.core.stop()
                if stopped:
                    log.warning("stopped; interrupted the turns of %s", ", ".join(stopped))
                tg.cancel_scope.cancel()
        self.core.close()


def _admission(deck: Deck, mcp_app: ASGIApp) -> ASGIApp:
    http = deck.settings.http
    return SessionAdmission(
        mcp_app,
        deck.mcp.session_manager,
        max_sessions=http.max_sessions,
        per_caller=http.max_sessions_per_caller,
    )


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
    core = deck.core

    async def health(request: Request) -> JSONResponse:
        counts = await core.counts()
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "tasks": counts.total,
                "running_turns": len(core.running_task_ids()),
            }
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with deck.running(), deck.mcp.session_manager.run():
            # What start-up built (modules, schemas, the app) lives as long as the
            # process: out of the collector's scans, a full collection takes a few ms
            # instead of pausing every client for ~100 ms.
            gc.freeze()
            yield

    login = Login(core)  # browser sessions: /api/session, /login; approval links: /a/…
    routes: list[BaseRoute] = [Route("/health", health, methods=["GET"]), *login.routes]
    routes += ApprovalPages(core).routes
    routes += dashboard_routes()  # /, /tasks/{id}, /new, /static, manifest, service worker
    metadata = core.access.resource_metadata()
    if metadata is not None:

        async def resource_metadata(request: Request) -> JSONResponse:
            return JSONResponse(metadata)

        routes.append(Route(RESOURCE_METADATA, resource_metadata, methods=["GET"]))
    return Starlette(
        routes=[
            *routes,
            Mount("/api", app=api_app(core)),
            Mount("/", app=_admission(deck, mcp_app)),
        ],
        lifespan=lifespan,
        middleware=[  # CORS, Host, rate, body, loopback; then the session cookie
            *middleware(deck.settings, core.access),
            Middleware(SessionCookies, sessions=login.sessions),
            Middleware(ApiMark),
        ],
    )
