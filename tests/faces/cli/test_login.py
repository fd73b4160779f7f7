"""Tokens and the CLI: a 401 says how to fix it; `login` checks and stores URL and token."""

from __future__ import annotations

import json
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from click.testing import Result

from agentdeck.agents.testing import FakeAgent
from agentdeck.config import Settings
from support.servers import serve

Agentdeck = Callable[..., Awaitable[Result]]

pytestmark = pytest.mark.anyio

CREDENTIALS = "credentials.json"


async def test_a_401_is_an_authentication_failure_with_its_fix(
    cli_settings: Settings, agentdeck: Agentdeck, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(cli_settings, {"fake": FakeAgent()}) as srv:
        token, _ = await srv.deck.core.create_token("laptop", "write")

        without = await agentdeck("tasks", "--url", srv.url)
        assert without.exit_code == 2
        assert "authentication failed" in without.stderr and "401" in without.stderr
        assert f"agentdeck login {srv.url}" in without.stderr
        assert "AGENTDECK_TOKEN" in without.stderr
        assert "no agentdeck server" not in without.stderr

        monkeypatch.setenv("AGENTDECK_TOKEN", "adk_wrong")
        wrong = await agentdeck("show", "t-x", "--url", srv.url)
        assert wrong.exit_code == 2
        assert "refused the token in AGENTDECK_TOKEN" in wrong.stderr
        assert "adk_wrong" not in wrong.output

        monkeypatch.setenv("AGENTDECK_TOKEN", token)
        right = await agentdeck("tasks", "--url", srv.url)
        assert right.exit_code == 0, right.output


async def test_login_checks_and_stores_then_every_command_uses_it(
    cli_settings: Settings, agentdeck: Agentdeck
) -> None:
    stored = Path(cli_settings.home) / CREDENTIALS
    async with serve(cli_settings, {"fake": FakeAgent()}) as srv:
        token, _ = await srv.deck.core.create_token("laptop", "write")

        refused = await agentdeck("login", srv.url, "--token-stdin", input="adk_nope\n")
        assert refused.exit_code == 2
        assert "refused this token" in refused.stderr and "nothing was stored" in refused.stderr
        assert not stored.exists()

        base = srv.url.removesuffix("/mcp")  # an address alone is enough
        logged = await agentdeck("login", base, "--token-stdin", input=f"{token}\n")
        assert logged.exit_code == 0, logged.output
        assert f"logged in to {srv.url}" in logged.stdout
        assert token not in logged.output
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600
        assert json.loads(stored.read_text()) == {"url": srv.url, "token": token}
        assert not [p for p in stored.parent.iterdir() if p.name.startswith(".credentials-")]

        # No --url, no AGENTDECK_*: the stored server and token.
        ran = await agentdeck("run", "--no-wait", "hello")
        assert ran.exit_code == 0, ran.output
        listed = await agentdeck("tasks")
        assert ran.stdout.strip() in listed.stdout

        # The stored token goes only to the URL it was stored for.
        elsewhere = srv.url.replace("127.0.0.1", "localhost")
        other = await agentdeck("tasks", "--url", elsewhere)
        assert other.exit_code == 2 and "needs a token" in other.stderr

        out = await agentdeck("logout")
        assert out.exit_code == 0 and f"logged out of {srv.url}" in out.stdout
        assert not stored.exists()
        again = await agentdeck("logout")
        assert again.exit_code == 0 and "not logged in" in again.stdout


async def test_environment_beats_the_stored_login(
    cli_settings: Settings, agentdeck: Agentdeck, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(cli_settings, {"fake": FakeAgent()}) as srv:
        token, _ = await srv.deck.core.create_token("laptop", "write")
        assert (await agentdeck("login", srv.url, "--token-stdin", input=token)).exit_code == 0

        monkeypatch.setenv("AGENTDECK_TOKEN", "adk_wrong")
        refused = await agentdeck("tasks")
        assert refused.exit_code == 2 and "AGENTDECK_TOKEN" in refused.stderr
        monkeypatch.delenv("AGENTDECK_TOKEN")

        monkeypatch.setenv("AGENTDECK_URL", srv.url.replace("/mcp", "/elsewhere"))
        moved = await agentdeck("tasks")
        assert moved.exit_code == 2 and "/elsewhere" in moved.stderr


async def test_login_to_an_open_server_and_to_nothing(
    cli_settings: Settings, agentdeck: Agentdeck
) -> None:
    async with serve(cli_settings, {"fake": FakeAgent()}) as srv:
        open_server = await agentdeck("login", srv.url)  # stdin is no terminal: no prompt
        assert open_server.exit_code == 0, open_server.output
        assert "it needs no token" in open_server.stdout
        url = srv.url
    stored = json.loads((Path(cli_settings.home) / CREDENTIALS).read_text())
    assert stored == {"url": url, "token": None}

    gone = await agentdeck("tasks")  # the stored server has stopped
    assert gone.exit_code == 2
    assert f"not running at {url}" in gone.stderr and "agentdeck logout" in gone.stderr

    nothing = await agentdeck("login", url)
    assert nothing.exit_code == 2 and "not running" in nothing.stderr


async def test_help_names_the_variables(agentdeck: Agentdeck) -> None:
    for args in ([], ["tasks"], ["login"]):
        shown = await agentdeck(*args, "--help")
        assert "AGENTDECK_URL" in shown.stdout and "AGENTDECK_TOKEN" in shown.stdout, args
