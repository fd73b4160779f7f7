"""HTTP hygiene around the whole app (docs/security.md), outermost first:

1. CORS: only ``http.cors_origins`` get ``Access-Control-Allow-Origin`` (none by default).
   `JsonErrors`: any error answered as plain text (by a guard below, the SDK or the
   router) is rewritten as JSON (``/mcp``: a JSON-RPC error), status and headers kept;
   an HTML page outside ``/api`` and ``/mcp`` (a used approval link's, say) stays one.
2. Host / Origin (DNS rebinding): the SDK's `TransportSecuritySettings` check, on every
   path (the SDK applies it to ``/mcp`` too). Default hosts: loopback names with the port.
3. Rate limit per token (per client address without one) → 429 with ``Retry-After``;
   direct loopback clients are this machine's own programs, and are not limited.
4. Body limit on the bytes actually received (chunked too) → 413.
5. `LoopbackGate`: while no token exists, vouch for loopback clients (see agentdeck.auth).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import Any

from mcp.server.transport_security import (
    RequestBodyLimitMiddleware,
    TransportSecurityMiddleware,
    TransportSecuritySettings,
)
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentdeck.auth import Access, is_loopback_host
from agentdeck.config import Settings
from agentdeck.errors import KIND_OF_HTTP_STATUS

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
# A request relayed by a proxy or tunnel is not a loopback client, whatever its socket says.
PROXY_HEADERS = (
    b"forwarded",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-real-ip",
    b"cf-connecting-ip",
    b"tailscale-user-login",
    b"tailscale-funnel-request",
)
MCP_HEADERS = ["authorization", "content-type", "mcp-session-id", "mcp-protocol-version"]
MAX_BUCKETS = 10_000


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Allowed Host and Origin values: configured, else loopback names with the port."""
    hosts = settings.http.allowed_hosts or [f"{h}:{settings.port}" for h in LOOPBACK_NAMES]
    origins = [f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts]
    origins += settings.http.cors_origins
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins
    )


def transport_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``MCPServer.streamable_http_app``."""
    return {
        "transport_security": transport_security(settings),
        "max_request_body_size": settings.http.max_body_bytes,
        "max_sessions": settings.http.max_sessions,
        "session_idle_timeout": settings.http.session_idle_seconds,
        "host": settings.host,
    }


def middleware(settings: Settings, access: Access) -> list[Middleware]:
    """The guard stack for the Starlette app, outermost first."""
    http = settings.http
    stack = [
        Middleware(
            CORSMiddleware,
            allow_origins=http.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=[*MCP_HEADERS, "last-event-id"],
            expose_headers=["mcp-session-id", "www-authenticate"],
        ),
        Middleware(JsonErrors),
        Middleware(HostGuard, security=transport_security(settings)),
    ]
    if http.rate_limit_requests:
        stack.append(
            Middleware(
                RateLimit, requests=http.rate_limit_requests, window=http.rate_limit_window_seconds
            )
        )
    stack.append(Middleware(RequestBodyLimitMiddleware, max_body_size=http.max_body_bytes))
    stack.append(Middleware(LoopbackGate, access=access))
    return stack


JSONRPC_INVALID_REQUEST = -32600
JSONRPC_INTERNAL_ERROR = -32603


def json_error_body(path: str, status: int, message: str) -> dict[str, Any]:
    """The JSON body for an HTTP error: JSON-RPC on ``/mcp``, ``{"error": …}`` elsewhere."""
    if path == "/mcp" or path.startswith("/mcp/"):
        code = JSONRPC_INTERNAL_ERROR if status >= 500 else JSONRPC_INVALID_REQUEST
        error = {"code": code, "message": message, "data": {"http_status": status}}
        return {"jsonrpc": "2.0", "id": None, "error": error}
    kind = KIND_OF_HTTP_STATUS.get(status, "server_error" if status >= 500 else "http_error")
    return {"error": {"type": kind, "message": message}}


class JsonErrors:
    """Rewrite an error response (status >= 400) that is not JSON, or on ``/mcp`` not
    JSON-RPC (the SDK's OAuth ``invalid_token`` body, say), as one; pass the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        held: Message | None = None  # the start of an error response, maybe to rewrite
        body = bytearray()

        async def send_json_errors(message: Message) -> None:
            nonlocal held
            start = message["type"] == "http.response.start"
            if (
                start
                and int(message["status"]) >= 400
                and (not _is_json(message) or _is_mcp(path))
                and not _is_page(path, message)
            ):
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            payload = _rewritten(path, int(held["status"]), bytes(body), _is_json(held))
            if payload is None:  # already right
                await send(held)
                await send({"type": "http.response.body", "body": bytes(body)})
                return
            headers = [
                (k, v)
                for k, v in held.get("headers", [])
                if k.lower() not in (b"content-type", b"content-length")
            ]
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ]
            await send({**held, "headers": headers})
            await send({"type": "http.response.body", "body": payload})

        await self.app(scope, receive, send_json_errors)


def _is_mcp(path: str) -> bool:
    return path == "/mcp" or path.startswith("/mcp/")


def _is_page(path: str, start: Message) -> bool:
    """An HTML page for people (outside ``/api`` and ``/mcp``), kept as it is."""
    if _is_mcp(path) or path == "/api" or path.startswith("/api/"):
        return False
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return bytes(value).lower().startswith(b"text/html")
    return False


def _is_json(start: Message) -> bool:
    for name, value in start.get("headers", []):
        if name.lower() == b"content-type":
            return b"json" in value.lower()
    return False


def _rewritten(path: str, status: int, body: bytes, is_json: bool) -> bytes | None:
    """The JSON error body to send instead of ``body``; None when ``body`` is right."""
    if not is_json:
        text = body.decode("utf-8", "replace").strip() or "error"
        return json.dumps(json_error_body(path, status, text)).encode()
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        return json.dumps(json_error_body(path, status, "error")).encode()
    if "jsonrpc" in document:
        return None
    # An OAuth error (RFC 6750): its fields kept as the JSON-RPC error's data.
    message = str(document.get("error_description") or document.get("error") or "error")
    wrapped = json_error_body(path, status, message)
    wrapped["error"]["data"].update(document)
    return json.dumps(wrapped).encode()


class HostGuard:
    """Refuse foreign ``Host`` (421) / ``Origin`` (403) headers on every path."""

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        self.app = app
        self.check = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = await self.check.validate_request(Request(scope), is_post=False)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RateLimit:
    """A token bucket per caller: ``requests`` per ``window`` seconds, bursts up to it."""

    def __init__(self, app: ASGIApp, requests: int, window: float) -> None:
        self.app = app
        self.capacity = float(requests)
        self.rate = requests / window
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def _key(self, scope: Scope) -> str:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                return "token:" + hashlib.sha256(value).hexdigest()[:32]
        client = scope.get("client")
        return f"addr:{client[0] if client else '?'}"

    def take(self, key: str) -> float:
        """0 when the request may go on, else the seconds until it may."""
        now = time.monotonic()
        tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > MAX_BUCKETS:
                self._forget_idle(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1 - tokens) / self.rate

    def _forget_idle(self, now: float) -> None:
        for key, (tokens, at) in list(self._buckets.items()):
            if tokens + (now - at) * self.rate >= self.capacity:
                del self._buckets[key]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not _direct_loopback(scope):
            wait = self.take(self._key(scope))
            if wait:
                response = PlainTextResponse(
                    "Too many requests", 429, headers={"Retry-After": str(max(1, math.ceil(wait)))}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class LoopbackGate:
    """While `Access.loopback_open`, a direct loopback client's request carries the
    verifier's per-process secret instead of its own (absent or stale) credentials."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = scope["type"] == "http" and _direct_loopback(scope)
        if direct and await self.access.loopback_open():
            secret = f"Bearer {self.access.verifier.loopback_secret}".encode()
            headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
            scope = {**scope, "headers": [*headers, (b"authorization", secret)]}
        await self.app(scope, receive, send)


def _direct_loopback(scope: Scope) -> bool:
    client = scope.get("client")
    if not client or not is_loopback_host(str(client[0])):
        return False
    return not any(name in PROXY_HEADERS for name, _ in scope.get("headers", []))
