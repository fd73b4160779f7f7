"""Every HTTP error is JSON: the guards', the router's and the SDK's refusals included.

Under ``/api`` (and elsewhere) ``{"error": {"type", "message"}}``; on ``/mcp`` a JSON-RPC
error. The requests are refused before the core is reached, so no lifespan runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
import pytest

from agentdeck.app import Deck, build_app
from agentdeck.config import Settings

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def http(settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    app = build_app(Deck(settings))
    transport = httpx2.ASGITransport(app=app, client=("127.0.0.1", 5555))
    base = f"http://127.0.0.1:{settings.port}"
    async with httpx2.AsyncClient(transport=transport, base_url=base) as client:
        yield client


def rest_error(response: httpx2.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == kind
    return str(error["message"])


def rpc_error(response: httpx2.Response, status: int, data: bool = False) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["jsonrpc"] == "2.0" and body["id"] is None
    assert body["error"]["code"] == -32600 and body["error"]["data"]["http_status"] == status
    assert data or body["error"]["data"] == {"http_status": status}
    return str(body["error"]["message"])


async def test_too_large_bodies(core_settings: Settings) -> None:
    limit = core_settings.http.max_body_bytes
    async with http(core_settings) as client:
        big = b"x" * (limit + 1)
        assert "too large" in rest_error(
            await client.post("/api/tasks", content=big), 413, "too_large"
        )
        assert "too large" in rpc_error(await client.post("/mcp", content=big), 413)


async def test_unknown_path_and_foreign_host(core_settings: Settings) -> None:
    async with http(core_settings) as client:
        rest_error(await client.get("/nope"), 404, "not_found")
        foreign = await client.get("/api/tasks", headers={"Host": "evil.example"})
        assert "Host" in rest_error(foreign, 421, "misdirected_request")
        assert "Host" in rpc_error(await client.post("/mcp", headers={"Host": "evil.example"}), 421)


async def test_rate_limit_is_json_with_retry_after(core_settings: Settings) -> None:
    settings = core_settings.model_copy(
        update={"http": core_settings.http.model_copy(update={"rate_limit_requests": 1})}
    )
    async with http(settings) as client:
        relayed = {"X-Forwarded-For": "203.0.113.9"}  # direct loopback clients are not limited
        await client.get("/nope", headers=relayed)
        refused = await client.get("/nope", headers=relayed)
        rest_error(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1


async def test_an_unauthorized_mcp_request_gets_a_json_rpc_error(core_settings: Settings) -> None:
    async with http(core_settings) as client:
        # Not a loopback client (relayed), so a token is needed; the SDK's OAuth body
        # ({"error": "invalid_token", ...}) is kept as the JSON-RPC error's data.
        refused = await client.post("/mcp", json={}, headers={"X-Forwarded-For": "203.0.113.9"})
        assert "Authentication required" in rpc_error(refused, 401, data=True)
        assert refused.json()["error"]["data"]["error"] == "invalid_token"
        assert refused.headers["www-authenticate"].startswith("Bearer ")
