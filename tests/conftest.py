"""Shared fixtures: isolated agent environment, fake model server, in-process HTTP server."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import uvicorn
from mcp import Client

from agentdeck.app import Deck, build_app
from agentdeck.config import Settings, load_settings
from fakes.fake_anthropic import FakeAnthropic

MODEL = "claude-sonnet-4-5"
POLL = 0.05  # seconds between two checks of a condition that has a deadline
# A shell command for the agent that runs until it is stopped (Claude Code refuses
# plain `sleep N && ...` chains, so it is a python process).
LONG_COMMAND = "python3 -c 'import time; time.sleep(300)'"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def fake_model(tmp_path: Path) -> Iterator[FakeAnthropic]:
    with FakeAnthropic(log_path=tmp_path / "fake-anthropic.jsonl") as fake:
        yield fake


@pytest.fixture
def agent_env(
    tmp_path: Path, fake_model: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Environment for agents started by an in-process server: offline, isolated."""
    base = tmp_path / "agent-home"
    env = {
        "HOME": str(base),
        "CLAUDE_CONFIG_DIR": str(base / "claude"),
        "CLAUDE_CODE_TMPDIR": str(base / "tmp"),
        "XDG_RUNTIME_DIR": str(base / "run"),
        "ANTHROPIC_BASE_URL": fake_model.base_url,
        "ANTHROPIC_API_KEY": "sk-test-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "AGENTDECK_CLAUDE_MODEL": MODEL,
        # Most tests are not about approvals; those that are ask for the `ask` policy.
        "AGENTDECK_APPROVAL_POLICY": "bypass",
    }
    for name in ("claude", "tmp", "run"):
        (base / name).mkdir(parents=True, exist_ok=True)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AGENTDECK_HOME", raising=False)
    monkeypatch.delenv("AGENTDECK_ROOTS", raising=False)
    return env


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def settings(tmp_path: Path, project: Path, agent_env: dict[str, str]) -> Settings:
    env = {**agent_env, "AGENTDECK_HOME": str(tmp_path / "state"), "AGENTDECK_ROOTS": str(project)}
    return load_settings(env=env)


@dataclass
class Running:
    url: str
    deck: Deck


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Running]:
    """agentdeck's HTTP app under uvicorn on a free loopback port, for one block."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The real port: the allowed Host headers and the auth metadata URL carry it.
    deck = Deck(settings.model_copy(update={"port": port}))
    server = uvicorn.Server(
        uvicorn.Config(build_app(deck), log_level="warning", lifespan="on", ws="none")
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        await wait_until(lambda: server.started, timeout=20)
        try:
            yield Running(f"http://127.0.0.1:{port}/mcp", deck)
        finally:
            server.should_exit = True


async def wait_until(
    condition: Callable[[], Any], timeout: float = 30, interval: float = 0.02
) -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not (value := condition()):
            await anyio.sleep(interval)
        return value


async def read_json(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri)
    content = result.contents[0]
    return json.loads(content.text)  # type: ignore[union-attr]


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call ``tool``; return its envelope (``structuredContent``) plus ``isError``."""
    result = await client.call_tool(tool, arguments)
    envelope = dict(result.structured_content or {})
    envelope["isError"] = result.is_error
    return envelope


async def wait_status(
    client: Client, task_id: str, statuses: set[str], timeout: float = 60
) -> dict[str, Any]:
    """Read ``task://{id}`` until its status is one of ``statuses``."""
    with anyio.fail_after(timeout):
        while True:
            task = await read_json(client, f"task://{task_id}")
            if task["status"] in statuses:
                return task
            await anyio.sleep(POLL)
