"""Debian's Chromium, through Playwright and the shared fixture, opens a page agentdeck
serves and runs its scripts: the browser tests' ground floor."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from agentdeck.config import Settings
from support.servers import serve

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.anyio


async def test_chromium_opens_agentdeck_health(core_settings: Settings, page: Page) -> None:
    async with serve(core_settings) as srv:
        base = srv.url.removesuffix("/mcp")
        response = await page.goto(f"{base}/health")
        assert response is not None and response.status == 200
        assert json.loads(await page.inner_text("body"))["status"] == "ok"
        # Scripts run, and same-origin fetch works.
        fetched = await page.evaluate("fetch('/health').then(r => r.json())")
        assert fetched["status"] == "ok"
        agent = await page.evaluate("navigator.userAgent")
        assert "HeadlessChrome" in agent, agent
