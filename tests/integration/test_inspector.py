"""The official MCP Inspector CLI (npm, pinned in package.json) against agentdeck, both eras.

``make test`` installs it with ``npm ci``; a missing install fails these tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentdeck.config import ClaudeSettings, Settings
from support.paths import FAKE_CLI, REPO
from support.servers import serve

pytestmark = pytest.mark.anyio

ROOT = REPO
INSPECTOR_BIN = ROOT / "node_modules" / ".bin" / "mcp-inspector"
ERAS = ["legacy", "modern"]


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """``settings`` with the fast scripted fake of the claude binary."""
    return settings.model_copy(
        update={"claude": ClaudeSettings(cli_path=str(FAKE_CLI), model=settings.claude.model)}
    )


@pytest.fixture
def inspector_env(tmp_path: Path) -> dict[str, str]:
    """The Inspector writes ~/.mcp-inspector/: give it a HOME of its own; no npm chatter."""
    assert INSPECTOR_BIN.exists(), (
        f"{INSPECTOR_BIN} is missing: run `npm ci` in {ROOT} (make test does)"
    )
    home = tmp_path / "inspector-home"
    home.mkdir()
    return {
        **os.environ,
        "HOME": str(home),
        "npm_config_update_notifier": "false",
        "NO_COLOR": "1",
    }


async def inspect(
    env: dict[str, str], url: str, era: str, *args: str, ok: bool = True
) -> dict[str, Any]:
    """``mcp-inspector --cli URL ARGS`` in JSON mode; its parsed stdout."""
    command = ["npx", "--no-install", "mcp-inspector", "--cli", url, "--format", "json", "-q"]
    command += ["--protocol-era", era, *args]
    with anyio.fail_after(90):
        done = await anyio.run_process(command, check=False, env=env, cwd=ROOT)
    output = done.stdout.decode()
    problem = f"exit {done.returncode}: {output}\n{done.stderr.decode()}"
    assert (done.returncode == 0) is ok, problem
    parsed: dict[str, Any] = json.loads(output)
    return parsed


@pytest.mark.parametrize("era", ERAS)
async def test_inspector_lists_tools_resources_prompts(
    fast_settings: Settings, inspector_env: dict[str, str], era: str
) -> None:
    async with serve(fast_settings) as srv:
        tools = (await inspect(inspector_env, srv.url, era, "--method", "tools/list"))["result"]
        resources = await inspect(inspector_env, srv.url, era, "--method", "resources/list")
        prompts = await inspect(inspector_env, srv.url, era, "--method", "prompts/list")

    by_name = {t["name"]: t for t in tools["tools"]}
    expected_tools = {"create_task", "update_task", "end_task", "cancel_task", "report"}
    assert expected_tools | {"check_status"} <= set(by_name)
    create = by_name["create_task"]["inputSchema"]
    assert {"title", "instructions"} <= set(create["required"])
    assert create["properties"]["title"]["maxLength"] == 255
    assert "outputSchema" in by_name["create_task"]

    uris = {r["uri"] for r in resources["result"]["resources"]}
    assert {"agent://status", "agent://tasks", "task://list"} <= uris

    names = {p["name"] for p in prompts["result"]["prompts"]}
    assert {"fix_bug", "create_unit_tests", "create_react_component"} <= names


@pytest.mark.parametrize("era", ERAS)
async def test_inspector_creates_and_reads_a_task(
    fast_settings: Settings, inspector_env: dict[str, str], era: str
) -> None:
    async with serve(fast_settings) as srv:
        created = await inspect(
            inspector_env,
            srv.url,
            era,
            *("--method", "tools/call", "--tool-name", "create_task"),
            *("--tool-arg", "title=x", "--tool-arg", "instructions=SAY hi"),
        )
        call = created["result"]
        assert call["isError"] is False
        envelope = call["structuredContent"]
        assert envelope["status"] == "success", envelope
        task_id = envelope["result"]["task_id"]

        read = await inspect(
            inspector_env, srv.url, era, "--method", "resources/read", "--uri", f"task://{task_id}"
        )
        listed = await inspect(inspector_env, srv.url, era, "--method", "resources/list")
        missing = await inspect(
            inspector_env,
            srv.url,
            era,
            *("--method", "tools/call", "--tool-name", "end_task", "--tool-arg", "id=t-nope"),
            ok=False,
        )

    content = read["result"]["contents"][0]
    assert content["uri"] == f"task://{task_id}"
    task = json.loads(content["text"])
    assert task["id"] == task_id and task["title"] == "x"
    assert task["status"] in {"pending", "in_progress", "waiting"}
    # Only 2026-07-28 results carry the server's identity in _meta: the era really differs.
    assert ("_meta" in read["result"]) is (era == "modern")

    assert f"task://{task_id}" in {r["uri"] for r in listed["result"]["resources"]}

    assert missing["result"]["isError"] is True
    assert missing["result"]["structuredContent"]["error"]["type"] == "not_found"
