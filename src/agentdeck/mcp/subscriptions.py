"""Resource notifications for both MCP protocol eras, fed by the core's changes.

- 2026-07-28 clients listen via ``subscriptions/listen``: the SDK's
  `InMemorySubscriptionBus` fans our publishes out to them.
- Handshake-era clients use ``resources/subscribe``; the SDK has no public hook,
  so `LegacySubscribers` registers the handlers and keeps the sessions.

`ChangeNotifier` turns task changes into ``resources/updated`` (``task://{id}`` and
the lists) and ``resources/list_changed``. A URI's first change goes out at once;
its further changes within `MIN_INTERVAL` are coalesced into one, so a stream of
thousands of events costs a few notifications, not thousands. Sessions are sent
to concurrently: one slow client does not hold back the others.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.context import ServerRequestContext
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ResourcesListChanged, ResourceUpdated
from mcp.types import EmptyResult, SubscribeRequestParams, UnsubscribeRequestParams
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from agentdeck.core import Core
from agentdeck.mcp._sdk import add_request_handler, connection_of, on_connection_close

log = logging.getLogger(__name__)

LIST_URIS = ("agent://tasks", "task://list", "agent://status", "agent://pending")
MIN_INTERVAL = 0.1  # seconds between two notifications for the same URI


class LegacySubscribers:
    """``resources/subscribe`` bookkeeping for handshake-era connections.

    Keyed by the connection behind the per-request session proxy; a connection's
    entries are dropped when it closes.
    """

    def __init__(self) -> None:
        self._by_uri: dict[str, dict[object, ServerSession]] = {}
        self._sessions: dict[object, ServerSession] = {}

    def remember(self, session: ServerSession) -> None:
        conn = connection_of(session)
        if conn in self._sessions:
            return
        self._sessions[conn] = session
        on_connection_close(conn, lambda: self.forget(conn))

    def forget(self, conn: object) -> None:
        self._sessions.pop(conn, None)
        for subscribers in self._by_uri.values():
            subscribers.pop(conn, None)

    def subscribe(self, uri: str, session: ServerSession) -> None:
        self.remember(session)
        self._by_uri.setdefault(uri, {})[connection_of(session)] = session

    def unsubscribe(self, uri: str, session: ServerSession) -> None:
        self._by_uri.get(uri, {}).pop(connection_of(session), None)

    async def send(self, uris: list[str], list_changed: bool) -> None:
        """``list_changed`` to every session, then ``updated`` for each of ``uris`` to
        its subscribers; each session concurrently, in order within a session."""
        sends: dict[object, tuple[ServerSession, list[str]]] = {}
        if list_changed:
            sends = {conn: (session, []) for conn, session in self._sessions.items()}
        for uri in uris:
            for conn, session in self._by_uri.get(uri, {}).items():
                sends.setdefault(conn, (session, []))[1].append(uri)
        async with anyio.create_task_group() as tg:
            for conn, (session, updated) in sends.items():
                tg.start_soon(self._send_one, conn, session, list_changed, updated)

    async def _send_one(
        self, conn: object, session: ServerSession, list_changed: bool, uris: list[str]
    ) -> None:
        try:
            if list_changed and conn in self._sessions:
                await session.send_resource_list_changed()
            for uri in uris:
                await session.send_resource_updated(uri)
        except Exception:
            self.forget(conn)

    def install(self, server: MCPServer) -> None:
        """Serve ``resources/subscribe`` / ``unsubscribe`` and remember every session."""

        async def on_subscribe(ctx: ServerRequestContext, params: SubscribeRequestParams) -> Any:
            self.subscribe(str(params.uri), ctx.session)
            return EmptyResult()

        async def on_unsubscribe(
            ctx: ServerRequestContext, params: UnsubscribeRequestParams
        ) -> Any:
            self.unsubscribe(str(params.uri), ctx.session)
            return EmptyResult()

        async def remember_sessions(ctx: ServerRequestContext, call_next: Any) -> Any:
            if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS and ctx.method != "initialize":
                self.remember(ctx.session)
            return await call_next(ctx)

        add_request_handler(server, "resources/subscribe", SubscribeRequestParams, on_subscribe)
        add_request_handler(
            server, "resources/unsubscribe", UnsubscribeRequestParams, on_unsubscribe
        )
        server.middleware.append(remember_sessions)


class ChangeNotifier:
    """Core changes → MCP notifications in both eras, at most one per URI per `MIN_INTERVAL`
    (the first at once)."""

    def __init__(
        self, core: Core, modern: InMemorySubscriptionBus, legacy: LegacySubscribers
    ) -> None:
        self.core = core
        self.modern = modern
        self.legacy = legacy
        self._dirty: dict[str, None] = {}
        self._list_changed = False
        self._pending = anyio.Event()
        self._sent: dict[str, float] = {}  # URI -> when it was last sent, within MIN_INTERVAL

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg, self.core.watch() as changes:
            tg.start_soon(self._flush_loop)
            task_status.started()
            async for change in changes:
                self._dirty[f"task://{change.task_id}"] = None
                if change.what in ("created", "deleted") or change.status is not None:
                    for uri in LIST_URIS:
                        self._dirty[uri] = None
                if change.what in ("created", "deleted"):
                    self._list_changed = True
                self._pending.set()

    async def _flush_loop(self) -> None:
        while True:
            if not self._dirty and not self._list_changed:
                await self._pending.wait()
            self._pending = anyio.Event()
            now = time.monotonic()
            self._sent = {u: t for u, t in self._sent.items() if t + MIN_INTERVAL > now}
            due = [uri for uri in self._dirty if uri not in self._sent]
            for uri in due:
                del self._dirty[uri]
                self._sent[uri] = now
            list_changed, self._list_changed = self._list_changed, False
            if due or list_changed:
                try:
                    if list_changed:
                        await self.modern.publish(ResourcesListChanged())
                    for uri in due:
                        await self.modern.publish(ResourceUpdated(uri=uri))
                    await self.legacy.send(due, list_changed)
                except Exception:
                    log.exception("sending resource notifications failed")
            if self._dirty:  # changed again within MIN_INTERVAL: coalesce until it is due
                next_due = min(self._sent.get(u, now) for u in self._dirty) + MIN_INTERVAL
                with anyio.move_on_after(max(0.0, next_due - time.monotonic())):
                    await self._pending.wait()  # a change to another URI goes out at once
