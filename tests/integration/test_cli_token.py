"""The CLI with tokens: `agentdeck token create` turns auth on; AGENTDECK_TOKEN gets in."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdeck.config import Settings
from support.cli import agentdeck
from support.servers import serve

pytestmark = pytest.mark.anyio


async def test_cli_client_uses_agentdeck_token(settings: Settings, tmp_path: Path) -> None:
    home = {"AGENTDECK_HOME": str(settings.home)}
    async with serve(settings) as srv:
        open_before = await agentdeck("tasks", "--url", srv.url, env=home)
        assert open_before.code == 0, open_before.output  # loopback, no token exists yet

        created = await agentdeck(
            "token", "create", "--name", "laptop", "--scope", "read", env=home
        )
        assert created.code == 0, created.output
        token = next(w for w in created.stdout.split() if w.startswith("adk_"))
        listed = await agentdeck("token", "list", env=home)
        assert "laptop" in listed.stdout and token not in listed.stdout

        refused = await agentdeck("tasks", "--url", srv.url, env=home)
        assert refused.code != 0
        allowed = await agentdeck("tasks", "--url", srv.url, env={**home, "AGENTDECK_TOKEN": token})
        assert allowed.code == 0, allowed.output
        forbidden = await agentdeck(
            "run", "--no-wait", "--url", srv.url, "SAY hi", env={**home, "AGENTDECK_TOKEN": token}
        )
        assert forbidden.code != 0 and "write" in forbidden.stderr
