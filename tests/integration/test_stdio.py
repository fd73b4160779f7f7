"""`agentdeck serve --stdio` launched by the official MCP client, a task end to end."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from fakes.fake_anthropic import FakeAnthropic
from support.servers import call, read_json, wait_status

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_runs_a_task_end_to_end(
    tmp_path: Path,
    project: Path,
    agent_env: dict[str, str],
    fake_model: FakeAnthropic,
    mode: str,
) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "agentdeck", "serve", "--stdio", "--log-level", "warning"],
        env={
            **os.environ,
            "AGENTDECK_HOME": str(tmp_path / "state"),
            "AGENTDECK_ROOTS": str(project),
        },
        cwd=str(project),
    )
    async with Client(params, mode=mode) as client:  # type: ignore[arg-type]
        created = await call(
            client, "create_task", title="Stdio", instructions="WRITE via-stdio.txt piped"
        )
        assert created["status"] == "success", created
        task_id = created["result"]["task_id"]
        task = await wait_status(client, task_id, {"waiting", "failed"})
        assert task["status"] == "waiting", task.get("error")
        assert (project / "via-stdio.txt").read_text() == "piped"
        ended = await call(client, "end_task", id=task_id)
        assert ended["result"]["status"] == "completed"
        assert (await read_json(client, "agent://tasks"))["count"] == 1
