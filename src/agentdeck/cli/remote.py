"""A client of a running agentdeck server, for the ``agentdeck`` command.

`connect` opens an MCP connection (``mcp.Client``) to the server; `Remote` calls its
tools, reads its resources and follows a task's events live. Failures become two
exceptions the CLI maps to exit codes: `Unreachable` (no server at the URL) and
`ToolFailed` (the server refused: the envelope's ``error.type`` and message).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:  # the SDK is imported on connecting: commands that need no server start fast
    from mcp import Client

URL_VAR = "AGENTDECK_URL"
ACTIVE = frozenset({"pending", "in_progress", "input_required"})
"""Statuses in which a turn is queued or running: following goes on while the task has one."""
POLL_SECONDS = 0.5
"""How often a follower polls the events (a resource-change notification wakes it sooner)."""
EVENTS_PAGE = 1_000

Event = dict[str, Any]


class RemoteError(Exception):
    """Something the CLI reports and exits on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unreachable(RemoteError):
    """No agentdeck answers at the URL (nothing listens, or something that is not MCP)."""

    def __init__(self, url: str, reason: str | None = None) -> None:
        if reason is None:
            message = f"agentdeck is not running at {url} — start it with `agentdeck serve`"
        else:
            message = (
                f"no agentdeck MCP endpoint at {url} ({reason}) — check --url / {URL_VAR}, "
                "or start it with `agentdeck serve`"
            )
        super().__init__(message)
        self.url = url


class ToolFailed(RemoteError):
    """The server refused a request (a tool's error envelope, or an unreadable resource)."""

    def __init__(self, kind: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.details = details


def server_url(url: str | None = None) -> str:
    """``url``, else ``$AGENTDECK_URL``, else the configured ``http://HOST:PORT/mcp``.

    Raises `agentdeck.errors.ConfigError` when the configuration must be read and is bad.
    """
    explicit = url or os.environ.get(URL_VAR)
    if explicit:
        return explicit
    from agentdeck.config import load_settings

    settings = load_settings()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}/mcp"


def _connection_failure(exc: BaseException) -> bool:
    """Whether ``exc`` (or any exception grouped in it) is a failure to reach the server."""
    if isinstance(exc, BaseExceptionGroup):
        return any(_connection_failure(e) for e in exc.exceptions)
    import httpx2

    return isinstance(exc, httpx2.TransportError)


def _innermost(exc: BaseException) -> BaseException:
    """The exception a chain of one-member exception groups wraps."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _single_remote_error(exc: BaseException) -> RemoteError | None:
    """The one `RemoteError` an exception group wraps, if that is all it holds."""
    inner = _innermost(exc)
    return inner if isinstance(inner, RemoteError) else None


async def _open(stack: AsyncExitStack, target: str) -> Client:
    """An MCP client connected to ``target``; `Unreachable` if no MCP server answers there."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError

    token = os.environ.get("AGENTDECK_TOKEN")
    transport: Any = target
    if token:
        http = await stack.enter_async_context(
            httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {token}"},
                timeout=httpx2.Timeout(30, read=300),
            )
        )
        transport = streamable_http_client(target, http_client=http)
    try:
        return await stack.enter_async_context(Client(transport))
    except Exception as exc:
        if _connection_failure(exc):
            raise Unreachable(target) from exc
        inner = _innermost(exc)
        reason = inner.error.message if isinstance(inner, MCPError) else repr(inner)
        raise Unreachable(target, reason) from exc


@asynccontextmanager
async def connect(url: str | None = None) -> AsyncIterator[Remote]:
    """A `Remote` connected to the server at ``url`` (see `server_url`) for one block."""
    target = server_url(url)
    try:
        async with AsyncExitStack() as stack:
            yield Remote(await _open(stack, target), target)
    except RemoteError:
        raise
    except Exception as exc:
        if inner := _single_remote_error(exc):
            raise inner from exc
        if _connection_failure(exc):
            raise Unreachable(target) from exc
        raise


class _Wakeup:
    """A resettable signal: `wait` returns when `set` was called or after a timeout."""

    def __init__(self) -> None:
        self._event = anyio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, at_most: float) -> None:
        with anyio.move_on_after(at_most):
            await self._event.wait()
        self._event = anyio.Event()


class Remote:
    """Tools and resources of one connected agentdeck server."""

    def __init__(self, client: Client, url: str) -> None:
        self.client = client
        self.url = url

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """Call ``tool`` (``None`` arguments left out); its envelope's ``result``.

        Raises `ToolFailed` on an error envelope (or an error without one).
        """
        args = {k: v for k, v in arguments.items() if v is not None}
        result = await self.client.call_tool(tool, args)
        envelope = result.structured_content or {}
        if envelope.get("status") == "error" or result.is_error:
            error = envelope.get("error") or {}
            message = envelope.get("message") or _text(result.content) or f"{tool} failed"
            raise ToolFailed(error.get("type", "tool_error"), message, error.get("details"))
        body = envelope.get("result")
        return body if isinstance(body, dict) else {}

    async def read_text(self, uri: str) -> str:
        """The text of resource ``uri``, fresh (never from the client's cache)."""
        from mcp.shared.exceptions import MCPError
        from mcp.types import TextResourceContents

        try:
            result = await self.client.read_resource(uri, cache_mode="bypass")
        except MCPError as exc:
            raise ToolFailed("not_found", exc.error.message, exc.error.data) from exc
        return "".join(c.text for c in result.contents if isinstance(c, TextResourceContents))

    async def read_json(self, uri: str) -> Any:
        return json.loads(await self.read_text(uri))

    async def task(self, ref: str) -> dict[str, Any]:
        """``task://{ref}``: the whole task."""
        task: dict[str, Any] = await self.read_json(f"task://{ref}")
        return task

    async def events(self, ref: str, after: int = 0, limit: int = EVENTS_PAGE) -> dict[str, Any]:
        """One page of the task's events newer than ``after``."""
        page: dict[str, Any] = await self.read_json(
            f"task://{ref}/events?after={after}&limit={limit}"
        )
        return page

    async def last_seq(self, ref: str) -> int:
        """The seq of the task's newest event (0 if it has none)."""
        after = 0
        while True:
            page = await self.events(ref, after)
            after = int(page.get("last_seq") or after)
            if not page.get("more"):
                return after

    async def follow(self, ref: str, on_event: Callable[[Event], None], after: int = 0) -> str:
        """Pass each event newer than ``after`` to ``on_event`` until no turn is queued or
        running and every event was passed; return the task's status then.
        """
        wakeup = _Wakeup()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._wake_on_changes, f"task://{ref}", wakeup)
            status = await self._drain(ref, on_event, after, wakeup)
            tg.cancel_scope.cancel()
        return status

    async def _drain(
        self, ref: str, on_event: Callable[[Event], None], after: int, wakeup: _Wakeup
    ) -> str:
        while True:
            page = await self.events(ref, after)
            events: list[Event] = page.get("events") or []
            for event in events:
                on_event(event)
            if events:
                after = int(events[-1]["seq"])
            status = str(page.get("status"))
            if page.get("more") or events:
                continue
            if status not in ACTIVE:
                return status
            await wakeup.wait(POLL_SECONDS)

    async def _wake_on_changes(self, uri: str, wakeup: _Wakeup) -> None:
        """Set ``wakeup`` whenever the server says ``uri`` changed (2026-07-28 servers).

        Anything going wrong here only means the follower falls back to polling.
        """
        try:
            async with self.client.listen(resource_subscriptions=[uri]) as changes:
                async for _ in changes:
                    wakeup.set()
        except Exception:  # boundary: polling still covers every change
            return


def _text(content: list[Any]) -> str:
    return " ".join(str(getattr(c, "text", "")) for c in content).strip()
