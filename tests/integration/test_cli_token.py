"""The CLI with tokens: `agentdeck token create` turns auth on; AGENTDECK_TOKEN or
`agentdeck login` gets in."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import anyio
import pytest

from agentdeck.config import Settings
from support.cli import Result, agentdeck, cli_env
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
        assert refused.code == 2
        assert "authentication failed" in refused.stderr
        assert (
            f"agentdeck login {srv.url}" in refused.stderr and "AGENTDECK_TOKEN" in refused.stderr
        )
        allowed = await agentdeck("tasks", "--url", srv.url, env={**home, "AGENTDECK_TOKEN": token})
        assert allowed.code == 0, allowed.output
        forbidden = await agentdeck(
            "run", "--no-wait", "--url", srv.url, "SAY hi", env={**home, "AGENTDECK_TOKEN": token}
        )
        assert forbidden.code != 0 and "write" in forbidden.stderr


async def agentdeck_with_stdin(stdin: str, *args: str, env: dict[str, str]) -> Result:
    """``python -m agentdeck ARGS`` with ``stdin`` as its input."""
    with anyio.fail_after(120):
        done = await anyio.run_process(
            [sys.executable, "-m", "agentdeck", *args],
            input=stdin.encode(),
            check=False,
            env=cli_env(env),
        )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


async def test_login_then_commands_need_no_url_nor_token(settings: Settings) -> None:
    home = {"AGENTDECK_HOME": str(settings.home)}
    async with serve(settings) as srv:
        created = await agentdeck("token", "create", "--name", "cli", env=home)
        token = next(w for w in created.stdout.split() if w.startswith("adk_"))

        logged = await agentdeck_with_stdin(token, "login", srv.url, "--token-stdin", env=home)
        assert logged.code == 0, logged.output
        assert token not in logged.output
        stored = Path(settings.home) / "credentials.json"
        assert stat.S_IMODE(stored.stat().st_mode) == 0o600

        listed = await agentdeck("tasks", env=home)  # no --url, no AGENTDECK_*
        assert listed.code == 0, listed.output

        out = await agentdeck("logout", env=home)
        assert out.code == 0 and not stored.exists()
        after = await agentdeck("tasks", "--url", srv.url, env=home)
        assert after.code == 2 and "authentication failed" in after.stderr
