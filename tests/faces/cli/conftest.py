"""The CLI in process (Typer's runner), against servers the tests start with
`support.servers.serve` on a free loopback port (on `FakeAgent`s).

The server runs on the test's event loop; each command runs in a worker thread,
since the CLI runs its own loop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import pytest
from click.testing import Result
from typer.testing import CliRunner

from agentdeck.cli import app
from agentdeck.config import Settings

Agentdeck = Callable[..., Awaitable[Result]]


@pytest.fixture
def cli_settings(core_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """This machine's agentdeck for the CLI (state dir, roots, 80 columns); no URL or token."""
    monkeypatch.setenv("AGENTDECK_HOME", str(core_settings.home))
    monkeypatch.setenv("AGENTDECK_ROOTS", str(core_settings.roots[0]))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    for var in ("AGENTDECK_URL", "AGENTDECK_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    return core_settings


@pytest.fixture
def agentdeck(cli_settings: Settings) -> Agentdeck:
    """Run ``agentdeck ARGS`` in process, off the event loop; its `Result`."""

    async def invoke(*args: str, input: str | None = None) -> Result:
        runner = CliRunner()
        return await anyio.to_thread.run_sync(lambda: runner.invoke(app, list(args), input=input))

    return invoke
