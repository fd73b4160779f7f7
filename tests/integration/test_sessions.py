"""Crashed clients cannot lock others out: per-caller caps, eviction of the caller's own
oldest idle session, a 429 with Retry-After, and stateless requests that hold no slot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import pytest

from agentdeck.config import Settings
from support.servers import serve
from support.waiting import POLL, WAIT

pytestmark = pytest.mark.anyio

ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "crashy", "version": "1"},
    },
}


def limited(settings: Settings, total: int, per_caller: int) -> Settings:
    http = settings.http.model_copy(
        update={"max_sessions": total, "max_sessions_per_caller": per_caller}
    )
    return settings.model_copy(update={"http": http})


async def open_session(http: httpx2.AsyncClient, url: str) -> httpx2.Response:
    """An initialize that is never followed by anything (what a crashed client leaves)."""
    return await http.post(url, json=INITIALIZE, headers=ACCEPT)


async def ping(http: httpx2.AsyncClient, url: str, session: str) -> int:
    headers = {**ACCEPT, "Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
    body = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    return (await http.post(url, json=body, headers=headers)).status_code


@asynccontextmanager
async def listening(http: httpx2.AsyncClient, url: str, session: str) -> AsyncIterator[None]:
    """Hold the session's GET stream open: the session is busy, not idle."""
    headers = {
        "Accept": "text/event-stream",
        "Mcp-Session-Id": session,
        "MCP-Protocol-Version": "2025-11-25",
    }
    async with http.stream("GET", url, headers=headers) as stream:
        assert stream.status_code == 200
        yield


async def test_a_caller_at_its_cap_loses_its_oldest_idle_session(settings: Settings) -> None:
    async with (
        serve(limited(settings, total=10, per_caller=2)) as srv,
        httpx2.AsyncClient(timeout=10) as http,
    ):
        first = (await open_session(http, srv.url)).headers["mcp-session-id"]
        second = (await open_session(http, srv.url)).headers["mcp-session-id"]
        await ping(http, srv.url, first)  # first is now the more recently active
        third = await open_session(http, srv.url)
        assert third.status_code == 200
        assert await ping(http, srv.url, second) == 404  # evicted: the oldest idle
        assert await ping(http, srv.url, first) == 200
        assert await ping(http, srv.url, third.headers["mcp-session-id"]) == 200


async def test_busy_sessions_are_kept_and_the_refusal_is_a_429(settings: Settings) -> None:
    async with (
        serve(limited(settings, total=10, per_caller=2)) as srv,
        httpx2.AsyncClient(timeout=10) as http,
    ):
        sessions = [(await open_session(http, srv.url)).headers["mcp-session-id"] for _ in "ab"]
        async with listening(http, srv.url, sessions[0]), listening(http, srv.url, sessions[1]):
            refused = await open_session(http, srv.url)
            assert refused.status_code == 429
            assert int(refused.headers["retry-after"]) >= 1
            error = refused.json()["error"]
            assert "too many open MCP sessions for this caller" in error["message"]
            # Stateless 2026-07-28 requests hold no slot, so they still get through.
            modern = await http.post(
                srv.url,
                json={
                    "jsonrpc": "2.0",
                    "id": 3,
                    "method": "server/discover",
                    "params": {
                        "_meta": {
                            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                            "io.modelcontextprotocol/clientCapabilities": {},
                        }
                    },
                },
                headers={
                    **ACCEPT,
                    "MCP-Protocol-Version": "2026-07-28",
                    "Mcp-Method": "server/discover",
                },
            )
            assert modern.status_code == 200, modern.text
            assert all([await ping(http, srv.url, s) == 200 for s in sessions])


async def test_a_full_server_refuses_with_429_not_503(settings: Settings) -> None:
    async with (
        serve(limited(settings, total=2, per_caller=5)) as srv,
        httpx2.AsyncClient(timeout=10) as http,
    ):
        sessions = [(await open_session(http, srv.url)).headers["mcp-session-id"] for _ in "ab"]
        async with listening(http, srv.url, sessions[0]), listening(http, srv.url, sessions[1]):
            assert (await open_session(http, srv.url)).status_code == 429
        # Idle again once the server sees the streams closed: the caller's own oldest
        # session makes room.
        with anyio.fail_after(WAIT):
            while (await open_session(http, srv.url)).status_code == 429:
                await anyio.sleep(POLL)
        assert sorted([await ping(http, srv.url, s) for s in sessions]) == [200, 404]
