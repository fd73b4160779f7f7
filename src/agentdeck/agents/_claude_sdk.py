"""Every private hook agentdeck takes into ``claude-agent-sdk`` (pinned), in one place.

- the Claude Code binary bundled in the wheel (``_bundled/claude``);
- the subprocess transport (``_internal``), subclassed to start the CLI in a session
  of its own and to stop it at once on cancel (``_build_command``, ``_process``);
- ``types._configure_can_use_tool``, which routes permission prompts over stdio
  (what ``can_use_tool`` needs when the SDK is driven through a transport);
- ``_internal.session_resume`` (``materialize_resume_session``,
  ``apply_materialized_options``): a resume from a ``session_store``, which the SDK
  loads by itself only when it makes the transport (it skips it for a given one);
- the transport's stdout and stderr readers (``read_messages``, ``_handle_stderr``,
  ``_max_buffer_size``, ``_exit_error``, ``_check_claude_version``), replaced by
  byte-level ones: the SDK decodes the CLI's output as strict UTF-8 and fails the
  whole turn on one invalid byte or one truncated JSON line; here such a line is
  passed on in its place, in order, as a ``system`` message of subtype
  `BAD_LINE` (the SDK hands unknown subtypes through as ``SystemMessage``), which
  the adapter records as a ``stderr`` event, and the turn goes on.

``tests/unit/agents/test_claude_sdk_hooks.py`` pins each: an SDK upgrade that moves
one fails there first, by name.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
from claude_agent_sdk import ClaudeAgentOptions, CLIConnectionError, ProcessError
from claude_agent_sdk._internal.session_resume import (
    apply_materialized_options,
    materialize_resume_session,
)
from claude_agent_sdk._internal.transport.subprocess_cli import SubprocessCLITransport
from claude_agent_sdk.types import _configure_can_use_tool

from agentdeck.agents._cli import BAD_LINE_LIMIT, line_text, parse_line, split_lines
from agentdeck.proctree import kill_tree


def with_can_use_tool(options: ClaudeAgentOptions) -> ClaudeAgentOptions:
    """``options`` made ready for a ``can_use_tool`` callback (the SDK's own setup)."""
    return _configure_can_use_tool(options)


async def resume_from_store(
    options: ClaudeAgentOptions,
) -> tuple[ClaudeAgentOptions, Callable[[], Awaitable[None]] | None]:
    """``options`` pointed at a temporary config directory that holds the session to
    resume, loaded from ``options.session_store``, and the call that removes it; the
    options unchanged (and None) when the store has no such session. Raises
    `RuntimeError` when the store fails."""
    materialized = await materialize_resume_session(options)
    if materialized is None:
        return options, None
    return apply_materialized_options(options, materialized), materialized.cleanup


def bundled_cli() -> Path | None:
    """The Claude Code binary shipped inside the ``claude-agent-sdk`` wheel."""
    import claude_agent_sdk

    path = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    return path if path.is_file() else None


BAD_LINE = "agentdeck_bad_line"  # the subtype of the stand-in for a bad stdout line


def bad_line(text: str, problem: str) -> dict[str, Any]:
    """The message that stands in for a stdout line that carries none."""
    return {"type": "system", "subtype": BAD_LINE, "line": text, "problem": problem}


class SessionTransport(SubprocessCLITransport):
    """The SDK's transport, with the CLI started as the leader of a new session.

    Its stdout and stderr are read as bytes and framed into lines here (see the
    module docstring): a line that is not a message becomes a `bad_line` one.
    """

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

    def read_messages(self) -> AsyncIterator[dict[str, Any]]:
        return self._read_lines()

    def _message(self, raw: bytes) -> dict[str, Any] | None:
        data, problem = parse_line(raw)
        if problem is not None:
            return bad_line(line_text(raw), problem)
        if data is not None:
            self._check_claude_version(data)
        return data

    async def _read_lines(self) -> AsyncIterator[dict[str, Any]]:
        process = self._process
        if process is None or process.stdout is None:
            raise CLIConnectionError("Not connected")
        buffer = bytearray()
        skipping = False  # inside a line longer than the buffer limit: drop to its end
        try:
            async for chunk in process.stdout:
                buffer += chunk
                for raw in split_lines(buffer):
                    if skipping:
                        skipping = False
                        continue
                    if (data := self._message(raw)) is not None:
                        yield data
                if len(buffer) > self._max_buffer_size and not skipping:
                    yield bad_line(
                        line_text(bytes(buffer[:BAD_LINE_LIMIT])),
                        f"a line longer than {self._max_buffer_size} bytes (dropped)",
                    )
                    skipping = True
                if skipping:
                    buffer.clear()
        except (anyio.ClosedResourceError, anyio.EndOfStream, anyio.BrokenResourceError):
            pass
        except GeneratorExit:
            return
        if buffer and not skipping and (data := self._message(bytes(buffer))) is not None:
            yield data
        try:
            returncode: int | None = await process.wait()
        except Exception:
            returncode = -1
        if returncode is not None and returncode != 0:
            self._exit_error = ProcessError(
                f"Command failed with exit code {returncode}",
                exit_code=returncode,
                stderr="Check stderr output for details",
            )
            raise self._exit_error

    async def _handle_stderr(self) -> None:
        """stderr lines to ``options.stderr``, undecodable bytes as U+FFFD."""
        process, callback = self._process, self._options.stderr
        if process is None or process.stderr is None or callback is None:
            return
        buffer = bytearray()

        def emit(raw: bytes) -> None:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                with suppress(Exception):  # one bad callback must not stop the reader
                    callback(line)

        try:
            async for chunk in process.stderr:
                buffer += chunk
                for raw in split_lines(buffer):
                    emit(raw)
                if len(buffer) > self._max_buffer_size:
                    emit(bytes(buffer))
                    buffer.clear()
        except (anyio.ClosedResourceError, anyio.EndOfStream, anyio.BrokenResourceError):
            pass
        finally:
            emit(bytes(buffer))

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
