"""Every private hook agentdeck takes into ``claude-agent-sdk`` (pinned), in one place.

- the Claude Code binary bundled in the wheel (``_bundled/claude``);
- the subprocess transport (``_internal``), subclassed to start the CLI in a session
  of its own and to stop it at once on cancel (``_build_command``, ``_process``);
- ``types._configure_can_use_tool``, which routes permission prompts over stdio
  (what ``can_use_tool`` needs when the SDK is driven through a transport).

``tests/unit/agents/test_claude_sdk_hooks.py`` pins each: an SDK upgrade that moves
one fails there first, by name.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from claude_agent_sdk import ClaudeAgentOptions
from claude_agent_sdk._internal.transport.subprocess_cli import SubprocessCLITransport
from claude_agent_sdk.types import _configure_can_use_tool

from agentdeck.proctree import kill_tree


def with_can_use_tool(options: ClaudeAgentOptions) -> ClaudeAgentOptions:
    """``options`` made ready for a ``can_use_tool`` callback (the SDK's own setup)."""
    return _configure_can_use_tool(options)


def bundled_cli() -> Path | None:
    """The Claude Code binary shipped inside the ``claude-agent-sdk`` wheel."""
    import claude_agent_sdk

    path = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    return path if path.is_file() else None


class SessionTransport(SubprocessCLITransport):
    """The SDK's transport, with the CLI started as the leader of a new session."""

    def __init__(
        self,
        prompt: Any,
        options: ClaudeAgentOptions,
        on_spawn: Callable[[int, list[str]], None],
        marker: str | None,
        launcher: tuple[str, ...] = (),
    ) -> None:
        super().__init__(prompt=prompt, options=options)
        self._marker = marker
        self._launcher = launcher
        self.pid: int | None = None
        self.argv: list[str] = []
        self._on_spawn = on_spawn

    def _build_command(self) -> list[str]:
        command = super()._build_command()
        setsid = shutil.which("setsid")
        self.argv = [setsid, *command] if setsid else command
        return [*self._launcher, *self.argv]

    async def connect(self) -> None:
        await super().connect()
        if self._process is not None:
            self.pid = self._process.pid
            self._on_spawn(self.pid, self.argv)

    async def close(self) -> None:
        """On cancellation, stop the CLI and its children first.

        The SDK's own close waits 5 s for the CLI to exit after closing stdin, but
        the CLI finishes its turn first; a cancelled turn must stop at once.
        """
        task = asyncio.current_task()
        running = self._process is not None and self._process.returncode is None
        if running and task is not None and task.cancelling() and self.pid is not None:
            await kill_tree(self.pid, pgid=self.pid, marker=self._marker)
        await super().close()
