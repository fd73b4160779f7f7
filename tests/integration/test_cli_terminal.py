"""The CLI as a person runs it, as a subprocess: the decision prompt on a real terminal
(a pty), Ctrl-C while following, and `serve --root`."""

from __future__ import annotations

import os
import pty
import signal
import sys
from pathlib import Path

import anyio
import httpx2
import pytest

from agentdeck.agents.testing import Ask, FakeAgent, Hang
from agentdeck.config import Settings
from support.cli import FAKE_CLI, agentdeck, cli_env, free_port
from support.servers import serve
from support.waiting import POLL

pytestmark = pytest.mark.anyio
DEPLOY = Ask("Bash", {"command": "make deploy"}, output="deployed")


class Terminal:
    """A process on a pseudo-terminal: what it printed, and typing into it."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.seen = ""

    async def expect(self, text: str, timeout: float = 30) -> None:
        """Read until ``text`` was printed."""
        with anyio.fail_after(timeout):
            while text not in self.seen:
                if not await self._read():
                    raise AssertionError(f"{text!r} never came; printed:\n{self.seen}")

    async def rest(self, timeout: float = 30) -> str:
        """Read until the process closes the terminal; everything printed."""
        with anyio.fail_after(timeout):
            while await self._read():
                pass
        return self.seen

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    async def _read(self) -> bool:
        await anyio.wait_readable(self.master)
        try:
            chunk = os.read(self.master, 4096)
        except OSError:  # EIO: the other side is closed
            return False
        self.seen += chunk.decode(errors="replace")
        return bool(chunk)


async def test_the_decision_prompt_on_a_terminal(core_settings: Settings) -> None:
    agent = FakeAgent(steps=[DEPLOY])
    async with serve(core_settings, {"fake": agent}) as srv:
        master, slave = pty.openpty()
        command = [sys.executable, "-m", "agentdeck", "run", "--policy", "ask"]
        async with await anyio.open_process(
            [*command, "--url", srv.url, "deploy"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=cli_env({"AGENTDECK_HOME": str(core_settings.home)}),
        ) as process:
            os.close(slave)
            terminal = Terminal(master)
            try:
                await terminal.expect("[y] allow once")
                assert "agentdeck approve t-" in terminal.seen  # the commands, too
                terminal.type("y")
                printed = await terminal.rest()
            finally:
                os.close(master)
            code = await process.wait()
    assert code == 0, printed
    assert "allow sent" in printed and "✓ waiting" in printed
    assert agent.answers == [(True, "")]


async def test_ctrl_c_detaches_and_the_task_goes_on(core_settings: Settings) -> None:
    async with serve(core_settings, {"fake": FakeAgent(steps=[Hang()])}) as srv:
        command = [sys.executable, "-m", "agentdeck", "run", "--url", srv.url, "wait"]
        env = cli_env({"AGENTDECK_HOME": str(core_settings.home)})
        async with await anyio.open_process(command, env=env) as follower:
            assert follower.stdout is not None and follower.stderr is not None
            seen = ""
            with anyio.fail_after(30):
                while "▶ turn 1" not in seen:
                    seen += (await follower.stdout.receive()).decode()
            follower.send_signal(signal.SIGINT)
            with anyio.fail_after(30):
                code = await follower.wait()
                stderr = b"".join([chunk async for chunk in follower.stderr]).decode()
        task_id = seen.split()[1]
        assert code == 130, stderr
        assert f"detached; the task goes on: agentdeck logs -f {task_id}" in stderr
        assert (await srv.deck.core.get(task_id)).status == "in_progress"
        await srv.deck.core.cancel(task_id)


async def test_serve_root(tmp_path: Path, project: Path) -> None:
    code = tmp_path / "code"
    (code / "app").mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    env = cli_env(
        {
            "AGENTDECK_HOME": str(tmp_path / "state"),
            "AGENTDECK_ROOTS": str(project),  # replaced by --root
            "AGENTDECK_CLAUDE_CLI_PATH": str(FAKE_CLI),
            "HOME": str(tmp_path / "home"),
        }
    )
    command = [sys.executable, "-m", "agentdeck", "serve", "--port", str(port), "--root", code]
    async with await anyio.open_process([str(c) for c in command], env=env) as server:
        try:
            async with httpx2.AsyncClient() as http:

                async def up() -> bool:
                    try:
                        return (await http.get(f"http://127.0.0.1:{port}/health")).is_success
                    except httpx2.TransportError:
                        return False

                with anyio.fail_after(60):
                    while not await up():
                        await anyio.sleep(POLL)
            inside = await agentdeck(
                "run", "--no-wait", "--project", str(code / "app"), "--url", url, "SAY hi"
            )
            assert inside.code == 0, inside.output
            outside = await agentdeck(
                "run", "--no-wait", "--project", str(project), "--url", url, "SAY hi"
            )
            assert outside.code != 0 and "project_not_allowed" in outside.stderr
            default = await agentdeck("run", "--no-wait", "--url", url, "SAY hi")
            shown = await agentdeck("show", default.stdout.strip(), "--url", url)
            project_row = next(ln for ln in shown.stdout.splitlines() if ln.startswith("project"))
            assert project_row.split()[1] == str(code)
        finally:
            server.terminate()
            await server.wait()
