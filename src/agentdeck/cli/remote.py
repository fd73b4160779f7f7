"""A client of a running agentdeck server, for the ``agentdeck`` command.

`resolve_target` picks the server and token (--url / ``$AGENTDECK_URL`` /
``$AGENTDECK_TOKEN``, else the stored `agentdeck login`, else the configured host and
port); `connect` opens an MCP connection (``mcp.Client``) to it; `Remote` calls its
tools, reads its resources, resolves task id prefixes and follows a task's events
live. Failures become exceptions the CLI maps to exit codes: `Unreachable` (no server
at the URL), `Unauthorized` (a 401: no token, or a refused one) and `ToolFailed` (the
server refused: the envelope's ``error.type`` and message).
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio

if TYPE_CHECKING:  # the SDK is imported on connecting: commands that need no server start fast
    from mcp import Client

URL_VAR = "AGENTDECK_URL"
TOKEN_VAR = "AGENTDECK_TOKEN"
ACTIVE = frozenset({"pending", "in_progress", "input_required"})
"""Statuses in which a turn is queued or running: following goes on while the task has one."""
POLL_SECONDS = 0.5
"""How often a follower polls the events (a resource-change notification wakes it sooner)."""
EVENTS_PAGE = 1_000
CANDIDATES = 10  # tasks an ambiguous id prefix lists
AMBIGUOUS = "ambiguous_id"  # the kind of a `ToolFailed` for a task id prefix of several
FORBIDDEN_CODE = -32003  # the server's JSON-RPC code for a refused resources/read

Event = dict[str, Any]


class RemoteError(Exception):
    """Something the CLI reports and exits on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unreachable(RemoteError):
    """No agentdeck answers at the URL (nothing listens, or something that is not MCP)."""

    def __init__(self, url: str, reason: str | None = None, stored: bool = False) -> None:
        if reason is None:
            message = f"agentdeck is not running at {url} — start it with `agentdeck serve`"
        else:
            message = (
                f"no agentdeck MCP endpoint at {url} ({reason}) — check --url / {URL_VAR}, "
                "or start it with `agentdeck serve`"
            )
        if stored:
            message += (
                " (the URL is the one `agentdeck login` stored; `agentdeck logout` forgets it)"
            )
        super().__init__(message)
        self.url = url


class Unauthorized(RemoteError):
    """The server answered 401: it needs a token, and none or a refused one was sent."""

    def __init__(self, target: Target, reason: str | None = None) -> None:
        why = f": {reason}" if reason else ""
        login = f"`agentdeck login {target.url}`"
        if target.token_source is None:
            message = (
                f"authentication failed: agentdeck at {target.url} needs a token "
                f"(HTTP 401{why}) — log in with {login}, or set {TOKEN_VAR}; "
                "create a token on the server's machine: agentdeck token create --name NAME"
            )
        elif target.token_source == TOKEN_VAR:
            message = (
                f"authentication failed: agentdeck at {target.url} refused the token in "
                f"{TOKEN_VAR} (HTTP 401{why}; wrong, expired or revoked) — set {TOKEN_VAR} "
                f"to a valid token, or unset it and log in with {login}"
            )
        else:
            message = (
                f"authentication failed: agentdeck at {target.url} refused the token stored "
                f"by `agentdeck login` (HTTP 401{why}; expired or revoked) — log in again "
                f"with {login}, or set {TOKEN_VAR}"
            )
        super().__init__(message)
        self.url = target.url
        self.reason = reason


class ToolFailed(RemoteError):
    """The server refused a request (a tool's error envelope, or an unreadable resource)."""

    def __init__(self, kind: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.details = details


@dataclass(frozen=True)
class Target:
    """The server a command talks to, its token, and where the token came from."""

    url: str
    token: str | None = field(default=None, repr=False)
    token_source: str | None = None
    """`TOKEN_VAR`, ``"login"`` (the stored `agentdeck login`), or None (no token)."""
    stored_url: bool = False
    """Whether the URL is the stored login's (no --url, no `URL_VAR`)."""


def normalize_url(url: str) -> str:
    """``url`` as an MCP endpoint: a bare server address (no path) gets ``/mcp``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url.strip())
    if parts.scheme and parts.netloc and parts.path in ("", "/"):
        return urlunsplit(parts._replace(path="/mcp"))
    return url.strip()


def _same_url(a: str, b: str) -> bool:
    return normalize_url(a).rstrip("/") == normalize_url(b).rstrip("/")


def configured_url() -> str:
    """``http://HOST:PORT/mcp`` of this machine's configuration.

    Raises `agentdeck.errors.ConfigError` when the configuration is bad.
    """
    from agentdeck.config import load_settings

    settings = load_settings()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}/mcp"


def resolve_target(url: str | None = None) -> Target:
    """Where to connect, and with which token.

    The URL: ``url`` (--url), else ``$AGENTDECK_URL``, else the stored login's, else the
    configured host and port. The token: ``$AGENTDECK_TOKEN``, else the stored login's
    when the URL is the one it was stored for (a token is never sent elsewhere).
    """
    from agentdeck.cli import credentials

    stored = credentials.load()
    explicit = url or os.environ.get(URL_VAR)
    if explicit:
        where = normalize_url(explicit)
    elif stored is not None:
        where = stored.url
    else:
        where = configured_url()
    from_login = not explicit and stored is not None
    if token := os.environ.get(TOKEN_VAR, "").strip():
        return Target(where, token, TOKEN_VAR, from_login)
    if stored is not None and stored.token and _same_url(stored.url, where):
        return Target(where, stored.token, "login", from_login)
    return Target(where, stored_url=from_login)


def server_url(url: str | None = None) -> str:
    """The URL `resolve_target` picks."""
    return resolve_target(url).url


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


class _Refusals:
    """The server's last HTTP refusal (status and message), seen by an httpx response hook.

    The SDK reports an HTTP error only as "Server returned an error response"; this
    tells a 401 (authentication) from the rest.
    """

    def __init__(self) -> None:
        self.status: int | None = None
        self.message: str | None = None

    async def __call__(self, response: Any) -> None:
        if response.status_code < 400:
            return
        self.status = response.status_code
        try:
            await response.aread()
            body = response.json()
            error = body.get("error")  # agentdeck's {"error": {"message"}} or OAuth's
            message = error.get("message") if isinstance(error, dict) else None
            message = message or body.get("error_description") or error
        except Exception:  # boundary: any body at all; the status is what matters
            message = None
        self.message = str(message)[:200] if message else None


async def _open(stack: AsyncExitStack, target: Target, refusals: _Refusals) -> Client:
    """An MCP client connected to ``target``; `Unauthorized` on a 401, `Unreachable` if no
    MCP server answers there."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared.exceptions import MCPError

    headers = {"Authorization": f"Bearer {target.token}"} if target.token else None
    http = await stack.enter_async_context(
        httpx2.AsyncClient(  # the SDK's own defaults: a response stream may stay open
            headers=headers,
            timeout=httpx2.Timeout(30, read=300),
            event_hooks={"response": [refusals]},
        )
    )
    transport = streamable_http_client(target.url, http_client=http)
    try:
        return await stack.enter_async_context(Client(transport))
    except Exception as exc:
        if refusals.status == 401:
            raise Unauthorized(target, refusals.message) from exc
        if _connection_failure(exc):
            raise Unreachable(target.url, stored=target.stored_url) from exc
        inner = _innermost(exc)
        reason = inner.error.message if isinstance(inner, MCPError) else repr(inner)
        if refusals.status is not None:
            reason = f"HTTP {refusals.status}: {refusals.message or reason}"
        raise Unreachable(target.url, reason, target.stored_url) from exc


@asynccontextmanager
async def connect(url: str | None = None, target: Target | None = None) -> AsyncIterator[Remote]:
    """A `Remote` connected to ``target``, else to the server `resolve_target` picks for
    ``url``, for one block."""
    target = target or resolve_target(url)
    refusals = _Refusals()
    try:
        async with AsyncExitStack() as stack:
            yield Remote(await _open(stack, target, refusals), target, refusals)
    except RemoteError:
        raise
    except Exception as exc:
        if inner := _single_remote_error(exc):
            raise inner from exc
        if refusals.status == 401:
            raise Unauthorized(target, refusals.message) from exc
        if _connection_failure(exc):
            raise Unreachable(target.url, stored=target.stored_url) from exc
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

    def __init__(self, client: Client, target: Target, refusals: _Refusals | None = None) -> None:
        self.client = client
        self.target = target
        self.url = target.url
        self._refusals = refusals or _Refusals()

    def _refused(self, exc: Exception) -> RemoteError | None:
        """`Unauthorized` when ``exc`` came from a 401 (e.g. the token was revoked meanwhile)."""
        if self._refusals.status == 401:
            return Unauthorized(self.target, self._refusals.message)
        return None

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        """Call ``tool`` (``None`` arguments left out); its envelope's ``result``.

        Raises `ToolFailed` on an error envelope (or an error without one).
        """
        from mcp.shared.exceptions import MCPError

        args = {k: v for k, v in arguments.items() if v is not None}
        try:
            result = await self.client.call_tool(tool, args)
        except MCPError as exc:
            raise self._refused(exc) or ToolFailed("protocol_error", exc.error.message) from exc
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
            if refused := self._refused(exc):
                raise refused from exc
            kind = "forbidden" if exc.error.code == FORBIDDEN_CODE else "not_found"
            raise ToolFailed(kind, exc.error.message, exc.error.data) from exc
        return "".join(c.text for c in result.contents if isinstance(c, TextResourceContents))

    async def read_json(self, uri: str) -> Any:
        return json.loads(await self.read_text(uri))

    async def task_pages(self) -> AsyncIterator[dict[str, Any]]:
        """The pages of ``agent://tasks`` (newest tasks first), one after the other."""
        uri = "agent://tasks"
        while True:
            page: dict[str, Any] = await self.read_json(uri)
            yield page
            cursor = page.get("next_cursor")
            if not cursor:
                return
            uri = f"agent://tasks?cursor={quote(str(cursor), safe='')}"

    async def all_tasks(self) -> AsyncIterator[dict[str, Any]]:
        """Every task's summary, newest first."""
        async for page in self.task_pages():
            for summary in page.get("tasks") or []:
                yield summary

    async def resolve(self, ref: str) -> str:
        """The id of the task ``ref`` names: its id, its agent session id, or, as git does,
        any unique prefix of its id (with or without ``t-``).

        Raises `ToolFailed` (``not_found``, or ``ambiguous_id`` listing the candidates).
        """
        ref = ref.strip()
        try:
            found = await self.read_json(f"task://{quote(ref, safe='')}/result")
            return str(found.get("id") or ref)
        except ToolFailed as exc:
            if exc.kind != "not_found" or not ref:
                raise
        bare = ref.removeprefix("t-")
        matches: list[dict[str, Any]] = []
        async for task in self.all_tasks():
            if str(task["id"]).removeprefix("t-").startswith(bare):
                matches.append(task)
                if len(matches) > CANDIDATES:
                    break
        if len(matches) == 1:
            return str(matches[0]["id"])
        if not matches:
            raise ToolFailed(
                "not_found",
                f"no task with id, id prefix or session id {ref!r} — see `agentdeck tasks`",
                {"id": ref},
            )
        shown = "\n".join(
            f"  {t['id']}  {t.get('status')}  {t.get('title', '')}" for t in matches[:CANDIDATES]
        )
        count = f"more than {CANDIDATES}" if len(matches) > CANDIDATES else str(len(matches))
        more = "\n  …" if len(matches) > CANDIDATES else ""
        raise ToolFailed(
            AMBIGUOUS,
            f"task id prefix {ref!r} is ambiguous: {count} tasks match —"
            f" give more characters:\n{shown}{more}",
            {"id": ref, "candidates": [t["id"] for t in matches]},
        )

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
