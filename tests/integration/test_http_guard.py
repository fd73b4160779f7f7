"""HTTP hygiene over real HTTP: Host/Origin, CORS, body limit, rate limit, session cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from agentdeck.config import Settings
from support.servers import serve
from support.waiting import POLL

pytestmark = pytest.mark.anyio

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


def _with_http(settings: Settings, **http: Any) -> Settings:
    return settings.model_copy(update={"http": settings.http.model_copy(update=http)})


async def test_foreign_host_is_refused(settings: Settings) -> None:
    async with serve(settings) as srv, httpx2.AsyncClient(timeout=10) as http:
        port = srv.url.split(":")[2].split("/")[0]
        base = srv.url.removesuffix("/mcp")
        for path in ("/mcp", "/health"):
            refused = await http.post(
                base + path, json=INIT, headers={**ACCEPT, "Host": f"evil.example:{port}"}
            )
            assert refused.status_code == 421, path
        foreign_origin = await http.post(
            srv.url, json=INIT, headers={**ACCEPT, "Origin": "http://evil.example"}
        )
        assert foreign_origin.status_code == 403
        assert (await http.get(base + "/health")).status_code == 200


async def test_configured_host_is_accepted(settings: Settings) -> None:
    custom = _with_http(settings, allowed_hosts=["deck.example.ts.net", "127.0.0.1:*"])
    async with serve(custom) as srv, httpx2.AsyncClient(timeout=10) as http:
        ok = await http.post(srv.url, json=INIT, headers={**ACCEPT, "Host": "deck.example.ts.net"})
        assert ok.status_code == 200


async def test_cors_only_for_configured_origins(settings: Settings) -> None:
    allowed = "https://app.example"
    async with (
        serve(_with_http(settings, cors_origins=[allowed])) as srv,
        httpx2.AsyncClient(timeout=10) as http,
    ):

        async def preflight(origin: str) -> httpx2.Response:
            return await http.options(
                srv.url,
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization, content-type",
                },
            )

        foreign = await preflight("https://evil.example")
        assert "access-control-allow-origin" not in foreign.headers
        friendly = await preflight(allowed)
        assert friendly.headers["access-control-allow-origin"] == allowed
        assert "authorization" in friendly.headers["access-control-allow-headers"].lower()
        real = await http.post(srv.url, json=INIT, headers={**ACCEPT, "Origin": allowed})
        assert real.status_code == 200
        assert real.headers["access-control-allow-origin"] == allowed
        other = await http.post(
            srv.url, json=INIT, headers={**ACCEPT, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers


async def test_oversized_chunked_body_is_refused(settings: Settings) -> None:
    limit = 64 * 1024

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "'
        for _ in range(40):
            yield b"x" * 8192
        yield b'"}}'

    async with serve(_with_http(settings, max_body_bytes=limit)) as srv:
        async with httpx2.AsyncClient(timeout=10) as http:
            response = await http.post(
                srv.url,
                content=chunks(),
                headers={**ACCEPT, "Content-Type": "application/json"},
            )
            assert "content-length" not in response.request.headers
            assert response.request.headers.get("transfer-encoding") == "chunked"
            assert response.status_code == 413
            declared = await http.post(srv.url, content=b"x" * (limit + 1), headers=ACCEPT)
            assert declared.status_code == 413
            health = await http.get(srv.url.removesuffix("/mcp") + "/health")
            assert health.status_code == 200
        async with Client(srv.url) as client:  # the server is fine after it
            assert (await client.list_tools()).tools


async def test_rate_limit_then_recovery(settings: Settings) -> None:
    limited = _with_http(settings, rate_limit_requests=5, rate_limit_window_seconds=1.0)
    relayed = {"X-Forwarded-For": "203.0.113.9"}  # a remote client, through a tunnel
    async with serve(limited) as srv, httpx2.AsyncClient(timeout=10, headers=relayed) as http:
        health = srv.url.removesuffix("/mcp") + "/health"
        statuses = [(await http.get(health)).status_code for _ in range(8)]
        assert statuses[:5] == [200] * 5 and 429 in statuses
        refused = await http.get(health)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        # Another caller (a token) has its own bucket.
        other = await http.get(health, headers={"Authorization": "Bearer adk_other"})
        assert other.status_code == 200
        # This machine's own programs (direct loopback clients) are not limited.
        async with httpx2.AsyncClient(timeout=10) as local:
            assert [(await local.get(health)).status_code for _ in range(8)] == [200] * 8

        with anyio.fail_after(10):  # recovers once the bucket refills
            while (await http.get(health)).status_code == 429:
                await anyio.sleep(POLL)


async def test_session_cap(settings: Settings) -> None:
    async with (
        serve(_with_http(settings, max_sessions=1)) as srv,
        Client(srv.url, mode="legacy") as first,
        httpx2.AsyncClient(timeout=10) as http,
    ):
        assert (await first.list_tools()).tools
        second = await http.post(srv.url, json=INIT, headers=ACCEPT)
        assert second.status_code == 429, second.status_code  # capacity: never a 5xx
        assert int(second.headers["retry-after"]) >= 1
