"""``agentdeck open`` against a real server: a one-time login link, or the dashboard's
address while no token exists; refusals say what is needed."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx2
import pytest

from agentdeck.agents.testing import FakeAgent
from agentdeck.config import Settings
from support.cli import agentdeck
from support.servers import serve

pytestmark = pytest.mark.anyio


async def test_open_prints_a_one_time_login_link(core_settings: Settings) -> None:
    async with serve(core_settings, {"fake": FakeAgent()}) as srv:
        base = srv.url.removesuffix("/mcp")
        env = {"AGENTDECK_HOME": str(core_settings.home)}
        open_ = await agentdeck("open", "--url", srv.url, env=env)
        assert open_.code == 0, open_.output
        assert open_.stdout.strip() == f"{base}/" and "need no login" in open_.stderr

        reader, _ = await srv.deck.core.create_token("reader", "read")
        writer, _ = await srv.deck.core.create_token("laptop", "write")
        nobody = await agentdeck("open", "--url", srv.url, env=env)
        assert nobody.code == 2 and "needs a token" in nobody.stderr
        weak = await agentdeck("open", "--url", srv.url, env={**env, "AGENTDECK_TOKEN": reader})
        assert weak.code == 1 and "needs the write scope" in weak.stderr

        made = await agentdeck("open", "--url", srv.url, env={**env, "AGENTDECK_TOKEN": writer})
        assert made.code == 0, made.output
        link = made.stdout.strip()
        assert link.startswith(f"{base}/login?code=") and writer not in made.output
        assert "works once" in made.stderr
        code = urlsplit(link).query.removeprefix("code=")
        async with httpx2.AsyncClient(base_url=base) as browser:
            done = await browser.post("/login", data={"code": code})
            assert done.status_code == 303, done.text
            state = (await browser.get("/api/session")).json()
            assert (state["via"], state["who"]) == ("cookie", "laptop")
