"""The CLI starts light: commands that need no server or core never load them, and
client commands talk to the REST API without loading the MCP SDK."""

from __future__ import annotations

import os
import subprocess
import sys

import anyio
import pytest

from agentdeck.config import Settings
from support.servers import serve

HEAVY = ("mcp", "agentdeck.core", "agentdeck.app", "claude_agent_sdk", "uvicorn", "httpx2")
SERVER_SIDE = ("mcp", "mcp_types", "agentdeck.core", "agentdeck.app", "starlette", "uvicorn")


def test_importing_the_cli_loads_neither_the_sdk_nor_the_core() -> None:
    # A fresh interpreter: this test process has everything imported already.
    probe = f"import sys, agentdeck.cli\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


@pytest.mark.anyio
async def test_a_client_command_loads_no_server_side_module(cli_settings: Settings) -> None:
    async with serve(cli_settings) as srv:
        ran = await anyio.to_thread.run_sync(
            lambda: subprocess.run(
                [sys.executable, "-X", "importtime", "-m", "agentdeck", "tasks", "--url", srv.url],
                capture_output=True,
                text=True,
                env={**os.environ, "NO_COLOR": "1"},
                timeout=60,
            )
        )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "no tasks" in ran.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in ran.stderr.splitlines()}
    assert "httpx2" in imported  # the probe sees imports at all
    assert sorted(m for m in SERVER_SIDE if m in imported) == []
