"""The ACP adapter against a minimal ACP agent written in the tests (tests/fakes/fake_acp_agent.py).

The agent runs as a real subprocess on the library's agent side; agentdeck is the
client. Permission requests, cancel, a crash mid-turn, resume, bad stdout lines.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentdeck.agents import build_agents
from agentdeck.agents.acp import AcpAgent
from agentdeck.agents.base import TurnRequest
from agentdeck.config import load_settings
from agentdeck.model import EventKind, NewEvent
from agentdeck.proctree import MARKER_VAR, alive_members
from support.approver import Approvals
from support.paths import FAKES
from support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

FAKE_ACP = FAKES / "fake_acp_agent.py"
COMMAND = [sys.executable, str(FAKE_ACP)]


@pytest.fixture
def acp_env(tmp_path: Path) -> dict[str, str]:
    return {"FAKE_ACP_DIR": str(tmp_path / "acp-state"), MARKER_VAR: f"t-{tmp_path.name}"}


async def run(
    cwd: Path,
    env: dict[str, str],
    text: str,
    *,
    approve: Approvals | None = None,
    resume: str | None = None,
    agent: AcpAgent | None = None,
) -> list[NewEvent]:
    events: list[NewEvent] = []
    request = TurnRequest("t1", 1, text, cwd, env=env, approve=approve, resume_session_id=resume)
    with anyio.fail_after(60):
        await (agent or AcpAgent("fake", COMMAND)).run(request, events.append)
    return events


def of(events: list[NewEvent], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.kind == kind]


async def test_a_turn_maps_updates_to_events(tmp_path: Path, acp_env: dict[str, str]) -> None:
    events = await run(tmp_path, acp_env, "THINK hmm\nPLAN read|write\nSAY hello there")
    kinds = [e.kind for e in events]
    assert kinds[0] == EventKind.TURN_STARTED and kinds[-1] == EventKind.TURN_FINISHED
    session = of(events, EventKind.SESSION)[0]
    assert session["session_id"].startswith("fake-") and session["protocol"] == "acp"
    assert session["agent_version"] == "1.0.0" and session["resumed"] is False
    assert of(events, EventKind.MESSAGE) == [
        {"role": "assistant", "text": "hello there (history: 0)"}
    ]  # two chunks, one message
    logs = of(events, EventKind.LOG)
    assert {"source": "agent", "reasoning": True, "text": "hmm"} in logs
    assert any(log.get("plan") and log["plan"][1]["content"] == "write" for log in logs)
    usage = of(events, EventKind.USAGE)[0]
    assert usage["output_tokens"] == 10 and usage["cost_known"] is False
    finished = events[-1].data
    assert finished["success"] is True and finished["result_text"] == "hello there (history: 0)"
    assert finished["session_id"] == session["session_id"]


async def test_permission_allow_then_deny(tmp_path: Path, acp_env: dict[str, str]) -> None:
    approvals = Approvals(True, False)
    events = await run(
        tmp_path, acp_env, "RUN yes.txt ran\nRUN no.txt ran\nSAY ok", approve=approvals
    )
    assert [(tool, data["command"]) for tool, data, _ in approvals.asked] == [
        ("Bash", "write yes.txt"),
        ("Bash", "write no.txt"),
    ]
    assert (tmp_path / "yes.txt").read_text() == "ran"
    assert not (tmp_path / "no.txt").exists()
    calls = of(events, EventKind.TOOL_CALL)
    assert [c["name"] for c in calls] == ["Bash", "Bash"]
    results = of(events, EventKind.TOOL_RESULT)
    assert [(r["id"], r["is_error"]) for r in results] == [("call-0", False), ("call-1", True)]
    assert any("not this one" in str(log.get("text")) for log in of(events, EventKind.LOG))
    assert events[-1].data["success"] is True
    # each decision comes after the call it is about
    kinds = [e.kind for e in events]
    assert kinds.index(EventKind.TOOL_CALL) < kinds.index(EventKind.TOOL_RESULT)


async def test_edit_is_named_like_claude_s(tmp_path: Path, acp_env: dict[str, str]) -> None:
    approvals = Approvals(True)
    await run(tmp_path, acp_env, "EDIT notes.md text", approve=approvals)
    tool, data, _ = approvals.asked[0]
    assert tool == "Edit" and data["file_path"] == str(tmp_path / "notes.md")


async def test_no_approver_allows_everything(tmp_path: Path, acp_env: dict[str, str]) -> None:
    events = await run(tmp_path, acp_env, "RUN a.txt A")
    assert (tmp_path / "a.txt").read_text() == "A"
    assert events[-1].data["success"] is True


async def test_resume_loads_the_session_without_replaying_it(
    tmp_path: Path, acp_env: dict[str, str]
) -> None:
    first = await run(tmp_path, acp_env, "SAY one")
    session_id = first[-1].data["session_id"]
    second = await run(tmp_path, acp_env, "SAY two", resume=session_id)
    assert of(second, EventKind.SESSION)[0]["resumed"] is True
    assert second[-1].data["session_id"] == session_id
    # the replayed history is not this turn's: one message only
    assert of(second, EventKind.MESSAGE) == [{"role": "assistant", "text": "two (history: 1)"}]


async def test_resume_without_load_session_starts_afresh(
    tmp_path: Path, acp_env: dict[str, str]
) -> None:
    env = {**acp_env, "FAKE_ACP_NO_LOAD": "1"}
    first = await run(tmp_path, env, "SAY one")
    second = await run(tmp_path, env, "SAY two", resume=first[-1].data["session_id"])
    assert second[-1].data["session_id"] != first[-1].data["session_id"]
    assert any("cannot load sessions" in str(log.get("text")) for log in of(second, "log"))
    assert second[-1].data["result_text"] == "two (history: 0)"


async def test_unknown_session_fails_with_the_agent_s_error(
    tmp_path: Path, acp_env: dict[str, str]
) -> None:
    events = await run(tmp_path, acp_env, "SAY x", resume="fake-missing")
    finished = events[-1].data
    assert finished["success"] is False
    assert finished["error"].startswith("fake: Resource not found")


async def test_crash_mid_turn_fails_with_exit_code_and_stderr(
    tmp_path: Path, acp_env: dict[str, str]
) -> None:
    events = await run(tmp_path, acp_env, "SAY partial\nSTDERR about to go\nCRASH 7")
    finished = events[-1].data
    assert events[-1].kind == EventKind.TURN_FINISHED
    assert finished["success"] is False and finished["exit_code"] == 7
    assert finished["error"] == "fake exited with code 7: fake-acp: crashing with code 7"
    assert "Error(" not in finished["error"]
    assert [e.kind for e in events].count(EventKind.TURN_FINISHED) == 1


async def test_bad_stdout_lines_are_kept_and_the_turn_goes_on(
    tmp_path: Path, acp_env: dict[str, str]
) -> None:
    events = await run(tmp_path, acp_env, "GARBAGE\nSAY fine")
    bad = [d for d in of(events, EventKind.STDERR) if d.get("stream") == "stdout"]
    assert [d["line"] for d in bad] == [
        "fake-acp banner: starting up",
        '{"jsonrpc":"2.0","method":"session/upd',
        "\ufffd\ufffd not utf-8",
    ]
    assert [d["problem"].split(" (")[0] for d in bad] == [
        "not JSON",
        "truncated JSON",
        "invalid UTF-8",
    ]
    assert events[-1].data["success"] is True


async def test_cancel_stops_the_agent_and_everything_it_started(
    tmp_path: Path, acp_env: dict[str, str]
) -> None:
    events: list[NewEvent] = []
    request = TurnRequest("t1", 1, "SPAWN\nWAIT", tmp_path, env=acp_env)
    marker = acp_env[MARKER_VAR]
    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(AcpAgent("fake", COMMAND).run, request, events.append)
            await wait_until(lambda: len(alive_members(None, marker=marker)) >= 2)
            tg.cancel_scope.cancel()
    assert alive_members(None, marker=marker) == []
    assert EventKind.TURN_FINISHED not in [e.kind for e in events]


async def test_missing_binary_and_probe(tmp_path: Path) -> None:
    missing = AcpAgent("nope", ["/nonexistent/agent"])
    events = await run(tmp_path, {}, "hi", agent=missing)
    assert events[-1].data["success"] is False
    assert "is not on PATH" in events[-1].data["error"] or "not" in events[-1].data["error"]
    info = await missing.probe()
    assert not info.available and info.problem

    info = await AcpAgent("fake", COMMAND).probe()
    assert info.available, info.problem
    assert info.version == "1.0.0"
    assert info.capabilities["protocol"] == "acp"
    assert info.capabilities["approvals"] and info.capabilities["load_session"]


async def test_config_declares_acp_agents(tmp_path: Path) -> None:
    settings = load_settings(
        env={"AGENTDECK_HOME": str(tmp_path / "state")},
        agents={
            "goose": {"command": COMMAND, "protocol": "acp"},
            "other": {"command": COMMAND, "acp": True},
            "plain": {"command": ["echo", "{instructions}"]},
        },
    )
    agents = build_agents(settings)
    assert isinstance(agents["goose"], AcpAgent) and isinstance(agents["other"], AcpAgent)
    assert not isinstance(agents["plain"], AcpAgent)
    assert agents["goose"].capabilities.approvals
