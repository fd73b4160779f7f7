"""Admission of handshake-era MCP sessions, so crashed clients cannot lock others out.

A client that crashes leaves its session open until the idle timeout ends it. The
SDK caps the total and then refuses everyone with a 503; `SessionAdmission`, in
front of it, keeps a cap per caller (per token; loopback clients share one), and
before it refuses a new session it ends the same caller's oldest idle one. A
refusal is a 429 with ``Retry-After``. Stateless 2026-07-28 requests never open a
session and pass straight through.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentdeck.mcp._sdk import close_session, open_session_ids

SESSION_HEADER = b"mcp-session-id"
VERSION_HEADER = b"mcp-protocol-version"
RETRY_AFTER_SECONDS = 5


@dataclass
class _Session:
    caller: str
    opened: float
    last_active: float
    in_flight: int = 0  # requests (an open GET stream included) being served


class SessionAdmission:
    """ASGI middleware in front of the MCP app: per-caller session caps and eviction."""

    def __init__(
        self,
        app: ASGIApp,
        manager: StreamableHTTPSessionManager,
        *,
        max_sessions: int | None,
        per_caller: int,
    ) -> None:
        self.app = app
        self.manager = manager
        self.max_sessions = max_sessions
        self.per_caller = per_caller
        self._sessions: dict[str, _Session] = {}
        self._opening: dict[str, int] = {}  # per caller: admitted, session id not yet seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _handshake_era(scope):
            await self.app(scope, receive, send)
            return
        session_id = _header(scope, SESSION_HEADER)
        if session_id is not None:
            await self._serve_in(session_id, scope, receive, send)
        elif scope["method"] == "POST":
            await self._open(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _serve_in(self, session_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        session = self._sessions.get(session_id)
        if session is None:
            await self.app(scope, receive, send)
            return
        session.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            session.in_flight -= 1
            session.last_active = time.monotonic()

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = _caller_key(scope)
        if not await self._make_room(caller):
            await _refuse(send, self._refusal(caller))
            return
        self._opening[caller] = self._opening.get(caller, 0) + 1  # its slot, held meanwhile
        holding = True

        def release() -> None:
            nonlocal holding
            if holding:
                holding = False
                self._opening[caller] -= 1
                if not self._opening[caller]:
                    del self._opening[caller]

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                for name, value in message.get("headers", []):
                    if name.lower() == SESSION_HEADER:
                        now = time.monotonic()
                        self._sessions[value.decode("latin-1")] = _Session(caller, now, now)
                release()  # counted as a session from now on, or refused
            await send(message)

        try:
            await self.app(scope, receive, remember)
        finally:
            release()

    async def _make_room(self, caller: str) -> bool:
        """Whether a new session may open for ``caller``, ending its oldest idle one if
        that is what it takes."""
        open_ids = open_session_ids(self.manager)
        for gone in set(self._sessions) - open_ids:
            del self._sessions[gone]
        mine = [s for s in self._sessions.items() if s[1].caller == caller]
        opening = sum(self._opening.values())
        full = self.max_sessions is not None and len(open_ids) + opening >= self.max_sessions
        if len(mine) + self._opening.get(caller, 0) < self.per_caller and not full:
            return True
        idle = sorted((s.last_active, sid) for sid, s in mine if s.in_flight == 0)
        if not idle:
            return False
        session_id = idle[0][1]
        del self._sessions[session_id]
        await close_session(self.manager, session_id)
        return True

    def _refusal(self, caller: str) -> str:
        mine = sum(s.caller == caller for s in self._sessions.values())
        if mine >= self.per_caller:
            return (
                f"too many open MCP sessions for this caller ({mine}, at most "
                f"{self.per_caller}, all busy): close one (DELETE /mcp with its Mcp-Session-Id) "
                "or retry later"
            )
        return (
            f"the server holds its maximum of {self.max_sessions} open MCP sessions, all busy "
            "or another caller's: retry later"
        )


def _handshake_era(scope: Scope) -> bool:
    version = _header(scope, VERSION_HEADER)
    return version is None or version in HANDSHAKE_PROTOCOL_VERSIONS


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _caller_key(scope: Scope) -> str:
    """Who opens the session: its credential's digest (never the credential itself)."""
    authorization = _header(scope, b"authorization")
    if authorization:
        return "token:" + hashlib.sha256(authorization.encode()).hexdigest()[:32]
    client = scope.get("client")
    return f"addr:{client[0] if client else '?'}"


async def _refuse(send: Send, message: str) -> None:
    error: dict[str, Any] = {"code": -32000, "message": message, "data": {"http_status": 429}}
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
