"""The REST face in-process: a client of ``/api`` on a running core, and error checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from agentdeck.agents.testing import FakeAgent
from agentdeck.config import Settings
from agentdeck.core import Core
from agentdeck.web.api import ApiMark, api_app
from support.core import running


@asynccontextmanager
async def rest(
    settings: Settings, agent: FakeAgent
) -> AsyncIterator[tuple[httpx2.AsyncClient, Core, dict[str, dict[str, str]]]]:
    """A client of ``/api`` on a running core, and read / write bearer headers."""
    async with running(settings, agent) as core:
        headers = {}
        for scope in ("read", "write"):
            token, _ = await core.create_token(scope, scope)
            headers[scope] = {"Authorization": f"Bearer {token}"}
        app = Starlette(  # as agentdeck.app mounts it
            routes=[Mount("/api", app=api_app(core))], middleware=[Middleware(ApiMark)]
        )
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://test/api") as http:
            yield http, core, headers


def error_of(response: httpx2.Response, status: int, kind: str) -> str:
    """The message of a JSON error body with ``status`` and ``kind``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["type"] == kind, error
    return str(error["message"])
