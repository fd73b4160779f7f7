"""The browser tests' server: real agentdeck with the real Claude Code on the fake model,
its dashboard opened in Debian's Chromium (the `browser` / `page` fixtures of
``support.browser``), and a REST client to set the scene and check the outcome."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from agentdeck.config import AgentsSettings, Settings
from integration.browser.deck import Deck
from support.git import init_repo
from support.servers import serve


@pytest.fixture
def repo(project: Path) -> Path:
    """The project as a git repository on ``main``: tasks get a worktree and a diff."""
    return init_repo(project)


async def _deck(settings: Settings) -> AsyncIterator[Deck]:
    async with serve(settings) as srv, httpx2.AsyncClient(timeout=30) as http:
        yield Deck(srv.url.removesuffix("/mcp"), srv, http)


@pytest.fixture
async def deck(settings: Settings) -> AsyncIterator[Deck]:
    """agentdeck serving the dashboard; tools run without asking (policy bypass)."""
    async for running in _deck(settings):
        yield running


@pytest.fixture
async def asking_deck(settings: Settings) -> AsyncIterator[Deck]:
    """agentdeck whose agents ask before running a command (policy ask)."""
    async for running in _deck(settings.model_copy(update={"approval_policy": "ask"})):
        yield running


# A command agent that prints two of Gemini CLI's harmless lines and one real problem.
NOISY = """
import sys
print("YOLO mode is enabled. All tool calls will be automatically approved.", file=sys.stderr)
print("Warning: True color (24-bit) support not detected.", file=sys.stderr)
print("the real problem", file=sys.stderr, flush=True)
print("done")
"""


@pytest.fixture
async def noisy_deck(settings: Settings) -> AsyncIterator[Deck]:
    """agentdeck with a ``noisy`` agent (`NOISY`) besides the configured ones."""
    declared = {**settings.agents.model_dump(), "noisy": {"command": [sys.executable, "-c", NOISY]}}
    agents = AgentsSettings.model_validate(declared)
    async for running in _deck(settings.model_copy(update={"agents": agents})):
        yield running
