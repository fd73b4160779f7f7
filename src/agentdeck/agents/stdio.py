"""A JSON-RPC agent's process and its pipes, for the adapters that speak JSON-RPC on stdio
(ACP, Codex's app-server): start it, read its stdout a JSON line at a time and its
stderr a line at a time.

A stdout line that is not a JSON object (a banner, truncated JSON, invalid UTF-8, or
one longer than `LINE_LIMIT`, which is dropped) becomes a ``stderr`` event with
``stream: "stdout"``, and the turn goes on. Reading waits while the turn's events wait
to be stored, so a flooding agent waits in its pipe.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from agentdeck.agents._cli import BAD_LINE_LIMIT, Turn, line_text, parse_line, split_lines
from agentdeck.agents.base import TurnRequest
from agentdeck.agents.notices import stderr_event
from agentdeck.model import EventKind

LINE_LIMIT = 16 * 1024 * 1024  # bytes of one JSON-RPC line
CHUNK = 65536

Take = Callable[[dict[str, Any], bytes], None]


async def start(
    turn: Turn, request: TurnRequest, argv: Sequence[str], env: dict[str, str], label: str
) -> asyncio.subprocess.Process | None:
    """``argv`` (after the request's launcher) with three pipes, in a session of its own;
    None, with the turn failed, when it cannot start."""
    try:
        return await asyncio.create_subprocess_exec(
            *request.launcher,
            *argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=request.cwd,
            env=env,
            start_new_session=True,
            limit=LINE_LIMIT,
        )
    except OSError as exc:
        turn.fail(f"{label}: cannot start {argv[0]}: {exc.strerror or exc}")
        return None


async def read_json_lines(stream: asyncio.StreamReader, turn: Turn, take: Take) -> None:
    """Each JSON line of ``stream`` to ``take(message, raw line)``, until it ends."""

    def line(raw: bytes) -> None:
        data, problem = parse_line(raw)
        if data is not None:
            take(data, raw)
        elif problem is not None:
            turn.emit(
                EventKind.STDERR, stderr_event(line_text(raw), stream="stdout", problem=problem)
            )

    buffer = bytearray()
    skipping = False  # inside a line over the limit: the rest of it is dropped
    while chunk := await stream.read(CHUNK):
        buffer += chunk
        for raw in split_lines(buffer):
            if skipping:
                skipping = False
                continue
            line(raw)
        if len(buffer) > LINE_LIMIT and not skipping:
            problem = f"a line longer than {LINE_LIMIT} bytes (dropped)"
            head = line_text(bytes(buffer[:BAD_LINE_LIMIT]))
            turn.emit(EventKind.STDERR, stderr_event(head, stream="stdout", problem=problem))
            skipping = True
        if skipping:
            buffer.clear()
        await turn.room()
    if buffer and not skipping:
        line(bytes(buffer))


async def read_stderr(stream: asyncio.StreamReader, turn: Turn) -> None:
    """Each line of ``stream`` to the turn's stderr (undecodable bytes as U+FFFD)."""
    buffer = bytearray()
    while chunk := await stream.read(CHUNK):
        buffer += chunk
        for raw in split_lines(buffer):
            turn.on_stderr(raw.decode("utf-8", "replace"))
        if len(buffer) > LINE_LIMIT:
            turn.on_stderr(bytes(buffer).decode("utf-8", "replace"))
            buffer.clear()
    if buffer:
        turn.on_stderr(bytes(buffer).decode("utf-8", "replace"))


__all__ = ["LINE_LIMIT", "read_json_lines", "read_stderr", "start"]
