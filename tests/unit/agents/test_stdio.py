"""The JSON-RPC adapters' stdout reader: JSON lines go on, anything else is recorded."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agentdeck.agents import stdio
from agentdeck.agents._cli import Turn
from agentdeck.agents.base import TurnRequest
from agentdeck.model import EventKind, NewEvent

pytestmark = pytest.mark.anyio


async def _read(chunks: list[bytes], tmp_path: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    events: list[NewEvent] = []
    turn = Turn("agent", TurnRequest("t-1", 1, "", tmp_path), events.append)
    stream = asyncio.StreamReader()
    for chunk in chunks:
        stream.feed_data(chunk)
    stream.feed_eof()
    taken: list[dict[str, Any]] = []
    await stdio.read_json_lines(stream, turn, lambda message, _raw: taken.append(message))
    return taken, [e.data for e in events if e.kind == EventKind.STDERR]


async def test_json_lines_go_on_and_the_rest_is_kept_as_stderr_events(tmp_path: Path) -> None:
    taken, bad = await _read(
        [b'{"id": 1}\nYOLO mode is enabled.\n{"trunc', b'ated"\n\xff\xfe\n{"id": 2}'], tmp_path
    )
    assert taken == [{"id": 1}, {"id": 2}]  # the last line needs no newline
    assert [(b["line"], b.get("notice", False)) for b in bad] == [
        ("YOLO mode is enabled.", True),
        ('{"truncated"', False),
        ("\ufffd\ufffd", False),
    ]
    assert all(b["stream"] == "stdout" and b["problem"] for b in bad)


async def test_a_line_over_the_limit_is_dropped_and_reading_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stdio, "LINE_LIMIT", 100)
    monkeypatch.setattr(stdio, "CHUNK", 64)
    taken, bad = await _read([b'{"id": 1}\n' + b"x" * 500 + b'\n{"id": 2}\n'], tmp_path)
    assert taken == [{"id": 1}, {"id": 2}]
    [dropped] = bad
    assert dropped["problem"] == "a line longer than 100 bytes (dropped)"
    assert dropped["line"].startswith("xxxx")
