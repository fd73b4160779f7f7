"""A client of a running agentdeck server, for the ``agentdeck`` command.

`resolve_target` picks the server and token (--url / ``$AGENTDECK_URL`` /
``$AGENTDECK_TOKEN``, else the stored `agentdeck login`, else the configured host and
port); `connect` opens an HTTP client to its REST API (``/api``, next to ``/mcp``);
`Remote` makes its requests, resolves task id prefixes and follows a task's events
live (woken by ``/api/events``). The REST API, not an MCP session, so that a command
loads no MCP SDK and makes one round trip: `agentdeck tasks` takes about a third of
a second. Failures become exceptions the CLI maps to exit codes: `Unreachable` (no
agentdeck at the URL), `Unauthorized` (a 401: no token, or a refused one) and
`ToolFailed` (the server refused: its error's ``type``, message and details).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

import anyio

from agentdeck import API_HEADER

if TYPE_CHECKING:  # imported on connecting: commands that need no server start faster
    import httpx2

URL_VAR = "AGENTDECK_URL"
TOKEN_VAR = "AGENTDECK_TOKEN"
ACTIVE = frozenset({"pending", "in_progress", "input_required"})
"""Statuses in which a turn is queued or running: following goes on while the task has one."""
POLL_SECONDS = 0.5
"""How often a follower polls the events (a live event from ``/api/events`` wakes it sooner)."""
EVENTS_PAGE = 1_000
TASKS_PAGE = 100
CANDIDATES = 10  # tasks an ambiguous id prefix lists
AMBIGUOUS = "ambiguous_id"  # the kind of a `ToolFailed` for a task id prefix of several
TIMEOUT_SECONDS = 30.0
READ_SECONDS = 300.0  # a merge or a diff of a big branch takes a while

Event = dict[str, Any]


class RemoteError(Exception):
    """Something the CLI reports and exits on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unreachable(RemoteError):
    """No agentdeck answers at the URL (nothing listens, or something that is not agentdeck)."""

    def __init__(self, url: str, reason: str | None = None, stored: bool = False) -> None:
        if reason is None:
            message = f"agentdeck is not running at {url} — start it with `agentdeck serve`"
        else:
            message = (
                f"no agentdeck server at {url} ({reason}) — check --url / {URL_VAR}, "
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


def beside(url: str, path: str) -> str:
    """``path`` on the server of the MCP endpoint ``url``: ``…/mcp`` → ``…{path}``."""
    parts = urlsplit(normalize_url(url))
    where = parts.path.rstrip("/").removesuffix("/mcp") + path
    return urlunsplit(parts._replace(path=where, query="", fragment=""))


@asynccontextmanager
async def connect(url: str | None = None, target: Target | None = None) -> AsyncIterator[Remote]:
    """A `Remote` of ``target``, else of the server `resolve_target` picks for ``url``,
    for one block."""
    import httpx2

    target = target or resolve_target(url)
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else None
    timeout = httpx2.Timeout(TIMEOUT_SECONDS, read=READ_SECONDS)
    async with httpx2.AsyncClient(
        base_url=beside(target.url, "/api"), headers=headers, timeout=timeout
    ) as http:
        yield Remote(http, target)


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


def _path(ref: str) -> str:
    """``/tasks/{ref}``, the reference quoted (it is whatever the user typed)."""
    return f"/tasks/{quote(ref, safe='')}"


class Remote:
    """The REST API of one agentdeck server."""

    def __init__(self, http: httpx2.AsyncClient, target: Target) -> None:
        self.http = http
        self.target = target
        self.url = target.url

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any
    ) -> dict[str, Any]:
        """The JSON object ``method`` ``/api{path}`` answers (``None`` values left out).

        Raises `Unreachable`, `Unauthorized`, or `ToolFailed` with the server's error.
        """
        import httpx2

        query = {k: v for k, v in params.items() if v is not None}
        if body is not None:
            body = {k: v for k, v in body.items() if v is not None}
        try:
            response = await self.http.request(method, path, params=query, json=body)
        except httpx2.TransportError as exc:
            raise Unreachable(self.url, stored=self.target.stored_url) from exc
        answer = _object(response)
        error = answer.get("error")
        if API_HEADER not in response.headers and response.status_code != 401:
            what = f"{method} {response.url.path} answered HTTP {response.status_code}"
            raise Unreachable(self.url, f"{what}, not agentdeck's API", self.target.stored_url)
        if response.status_code == 401:  # agentdeck's {"error": {"message"}}, or OAuth's
            message = error.get("message") if isinstance(error, dict) else None
            message = message or answer.get("error_description") or error
            raise Unauthorized(self.target, str(message)[:200] if message else None)
        if response.is_success and answer:
            return answer
        if not isinstance(error, dict) or not isinstance(error.get("type"), str):
            what = f"{method} {response.url.path} answered HTTP {response.status_code}"
            raise Unreachable(self.url, f"{what}, not agentdeck's JSON", self.target.stored_url)
        message = str(error.get("message") or f"{method} {path} failed")
        raise ToolFailed(error["type"], message, error.get("details"))

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        return await self.request("GET", path, **params)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.request("POST", path, body)

    async def task_pages(self) -> AsyncIterator[dict[str, Any]]:
        """The pages of the task list (newest tasks first), one after the other."""
        cursor: str | None = None
        while True:
            page = await self.get("/tasks", limit=TASKS_PAGE, cursor=cursor)
            yield page
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def all_tasks(self) -> AsyncIterator[dict[str, Any]]:
        """Every task's summary, newest first."""
        async for page in self.task_pages():
            for summary in page.get("tasks") or []:
                yield summary

    async def find(self, ref: str) -> dict[str, Any]:
        """The task ``ref`` names: its id, its agent session id, or, as git does, any
        unique prefix of its id (with or without ``t-``).

        Raises `ToolFailed` (``not_found``, or ``ambiguous_id`` listing the candidates).
        """
        ref = ref.strip()
        try:
            return await self.task(ref)
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
            return await self.task(str(matches[0]["id"]))
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

    async def resolve(self, ref: str) -> str:
        """The id of the task ``ref`` names (see `find`)."""
        return str((await self.find(ref))["id"])

    async def task(self, ref: str) -> dict[str, Any]:
        """The whole task (its id or agent session id)."""
        return await self.get(_path(ref))

    async def task_post(
        self, ref: str, action: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``POST /api/tasks/{ref}/{action}`` (continue, cancel, end, respond, merge, …)."""
        return await self.post(f"{_path(ref)}/{action}", body)

    async def task_text(self, ref: str, what: str) -> str:
        """The task's ``diff`` or ``log``, as text."""
        return str((await self.get(f"{_path(ref)}/{what}")).get(what) or "")

    async def events(self, ref: str, after: int = 0, limit: int = EVENTS_PAGE) -> dict[str, Any]:
        """One page of the task's events newer than ``after``."""
        return await self.get(f"{_path(ref)}/events", after=after, limit=limit)

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
            tg.start_soon(self._wake_on_events, ref, wakeup)
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

    async def _wake_on_events(self, ref: str, wakeup: _Wakeup) -> None:
        """Set ``wakeup`` on each of the task's live events (``/api/events?task=``).

        Anything going wrong here only means the follower falls back to polling.
        """
        import httpx2

        timeout = httpx2.Timeout(TIMEOUT_SECONDS, read=None)  # it idles between heartbeats
        params = {"task": ref}
        try:
            async with self.http.stream("GET", "/events", params=params, timeout=timeout) as sse:
                async for line in sse.aiter_lines():
                    if line.startswith("data:"):
                        wakeup.set()
        except Exception:  # boundary: polling still covers every change
            return


def _object(response: httpx2.Response) -> dict[str, Any]:
    """The response's JSON object, or ``{}`` (no body, not JSON, not an object)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
