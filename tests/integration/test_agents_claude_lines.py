"""Claude Code's stdout with bad lines mid-turn: the turn goes on, the lines are kept.

The real path: `ClaudeAgent` -> claude-agent-sdk -> subprocess (tests/fakes/fake_claude_cli.py)
-> stream-json -> agentdeck's byte-level reader (agentdeck.agents._claude_sdk).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest

from agentdeck.agents.base import TurnRequest
from agentdeck.agents.claude import ClaudeAgent
from agentdeck.model import EventKind, NewEvent
from support.paths import FAKE_CLI

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

TRUNCATED = b'{"type":"assistant","message":{"id":"msg_cut","content":[{"type":"te'
NOT_UTF8 = b"progress \x00\xff\xfe half done"


@pytest.fixture
def agent_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("FAKE_CLAUDE_DIR", raising=False)
    return {"HOME": str(home)}


async def run_turn(cwd: Path, env: dict[str, str], instructions: str) -> list[NewEvent]:
    events: list[NewEvent] = []
    request = TurnRequest("t1", 1, instructions, cwd, permission_mode="acceptEdits", env=env)
    with anyio.fail_after(60):
        await ClaudeAgent(cli_path=str(FAKE_CLI)).run(request, events.append)
    return events


async def test_truncated_and_invalid_utf8_lines_do_not_end_the_turn(
    tmp_path: Path, agent_env: dict[str, str]
) -> None:
    instructions = "\n".join(
        [
            "EMIT 1",
            f"RAW {TRUNCATED.hex()}",
            f"RAW {NOT_UTF8.hex()}",
            "WRITE after.txt still running",
            "SAY finished",
        ]
    )
    events = await run_turn(tmp_path, agent_env, instructions)
    kinds = [e.kind for e in events]
    finished = events[-1]
    assert finished.kind == EventKind.TURN_FINISHED
    assert finished.data["success"] is True, finished.data
    assert finished.data["result_text"].startswith("finished")
    assert (tmp_path / "after.txt").read_text() == "still running"  # the turn went on
    assert kinds.count(EventKind.TURN_FINISHED) == 1

    bad = [e.data for e in events if e.kind == EventKind.STDERR and e.data.get("stream")]
    assert [b["stream"] for b in bad] == ["stdout", "stdout"]
    assert bad[0]["line"] == TRUNCATED.decode()
    assert bad[0]["problem"].startswith("truncated JSON")
    assert bad[1]["line"] == "progress \x00\ufffd\ufffd half done"
    assert bad[1]["problem"].startswith("invalid UTF-8")
    # the bad lines sit where they came, between the turn's other events
    first_bad = kinds.index(EventKind.STDERR)
    assert EventKind.MESSAGE in kinds[:first_bad]
    assert EventKind.TOOL_CALL in kinds[first_bad:]
    for event in events:  # no Python repr reaches a user
        assert "UnicodeDecodeError(" not in str(event.data)
        assert "b'" not in str(event.data.get("error", ""))


async def test_invalid_utf8_on_stderr_is_kept_too(
    tmp_path: Path, agent_env: dict[str, str]
) -> None:
    raw = "caf\u00e9 noise ".encode() + b"\xff\xfe"
    events = await run_turn(tmp_path, agent_env, f"RAWERR {raw.hex()}\nSTDERR after\nSAY ok")
    lines = [e.data["line"] for e in events if e.kind == EventKind.STDERR]
    assert lines == ["caf\u00e9 noise \ufffd\ufffd", "after"]
    assert events[-1].data["success"] is True


async def test_a_crash_after_a_bad_line_fails_with_plain_text(
    tmp_path: Path, agent_env: dict[str, str]
) -> None:
    events = await run_turn(tmp_path, agent_env, f"RAW {NOT_UTF8.hex()}\nCRASH 3")
    finished = events[-1]
    assert finished.kind == EventKind.TURN_FINISHED
    assert finished.data["success"] is False
    assert finished.data["error"] == "Claude Code exited with code 3"
    assert any(e.data.get("problem", "").startswith("invalid UTF-8") for e in events)
