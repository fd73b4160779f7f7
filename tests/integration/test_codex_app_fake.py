"""The Codex app-server adapter against a fake ``codex`` (tests/fakes/fake_codex_app_server.py).

Fast and exact where the real CLI cannot be scripted: bad stdout lines, a request
agentdeck does not answer, a usage limit, a crash mid-turn, cancel with
``turn/interrupt``, an unknown thread, and the fallback to ``codex exec`` when the
binary has no app-server.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentdeck.agents import build_agents
from agentdeck.agents.base import TurnRequest
from agentdeck.agents.codex import CodexAgent
from agentdeck.agents.codex_app import CodexAppServerAgent, codex_agent
from agentdeck.config import CodexSettings, load_settings
from agentdeck.model import EventKind, NewEvent
from agentdeck.proctree import MARKER_VAR, alive_members
from support.approver import Approvals
from support.paths import FAKES
from support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.integration]

FAKE = FAKES / "fake_codex_app_server.py"


@pytest.fixture
def codex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CodexAppServerAgent:
    monkeypatch.setenv("FAKE_CODEX_LOG", str(tmp_path / "codex-log.jsonl"))
    return CodexAppServerAgent(CodexSettings(cli_path=_fake_codex(tmp_path)))


def _fake_codex(tmp_path: Path) -> str:
    """A ``codex`` that runs the scripted fake."""
    script = tmp_path / "bin" / "codex"
    script.parent.mkdir()
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n', encoding="utf-8")
    script.chmod(0o755)
    return str(script)


async def run(
    agent: CodexAppServerAgent | CodexAgent,
    cwd: Path,
    text: str,
    *,
    approve: Approvals | None = None,
    resume: str | None = None,
    mode: str = "default",
) -> list[NewEvent]:
    events: list[NewEvent] = []
    request = TurnRequest(
        "t-fake",
        1,
        text,
        cwd,
        permission_mode=mode,
        approve=approve,
        resume_session_id=resume,
        env={MARKER_VAR: f"t-{cwd.name}"},
    )
    with anyio.fail_after(30):
        await agent.run(request, events.append)
    return events


def _of(events: list[NewEvent], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.kind == kind]


def _log(tmp_path: Path) -> list[dict[str, Any]]:
    """The messages the fake received (its ``{"argv"}`` lines: `_argvs`)."""
    return [m for m in _logged(tmp_path) if "argv" not in m]


def _argvs(tmp_path: Path) -> list[list[str]]:
    """The arguments of each fake ``codex`` run (but ``--help`` / ``--version``)."""
    return [m["argv"] for m in _logged(tmp_path) if "argv" in m]


def _logged(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "codex-log.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_a_turn_and_bad_stdout_lines(codex: CodexAppServerAgent, tmp_path: Path) -> None:
    events = await run(codex, tmp_path, "BAD lines")
    finished = _of(events, EventKind.TURN_FINISHED)
    assert len(finished) == 1 and finished[0]["success"], finished
    assert finished[0]["result_text"] == "still here"
    assert finished[0]["session_id"] == "thr-fake-1"
    bad = [e for e in _of(events, EventKind.STDERR) if e.get("stream") == "stdout"]
    assert [e["problem"].split(" (")[0] for e in bad] == ["not JSON", "invalid UTF-8"]
    assert bad[0]["line"] == "this is not json"
    session = _of(events, EventKind.SESSION)[0]
    assert session["protocol"] == "app-server" and session["agent_version"] == "9.9.9"
    assert _of(events, EventKind.USAGE)[0]["input_tokens"] == 10
    sent = _log(tmp_path)
    assert [m.get("method") for m in sent[:4]] == [
        "initialize",
        "initialized",
        "thread/start",
        "turn/start",
    ]
    assert all("jsonrpc" not in m for m in sent)  # Codex's dialect omits it
    assert sent[2]["params"]["approvalPolicy"] == "untrusted"


async def test_approvals_allow_deny_and_bypass(codex: CodexAppServerAgent, tmp_path: Path) -> None:
    approvals = Approvals(True, False)
    allowed = await run(codex, tmp_path, "ASK", approve=approvals)
    assert _of(allowed, EventKind.TURN_FINISHED)[0]["result_text"] == "decision: accept"
    denied = await run(codex, tmp_path, "ASK", approve=approvals)
    assert _of(denied, EventKind.TURN_FINISHED)[0]["result_text"] == "decision: decline"
    assert [a[:2] for a in approvals.asked] == [
        ("Bash", {"command": "touch x", "cwd": str(tmp_path)})
    ] * 2
    refused = [e for e in _of(denied, EventKind.LOG) if e.get("source") == "agentdeck"]
    assert refused == [
        {"source": "agentdeck", "text": "refused Bash: not this one", "tool": "Bash"}
    ]
    assert _of(denied, EventKind.TOOL_RESULT)[0]["is_error"]
    bypass = await run(codex, tmp_path, "ASK", mode="bypassPermissions")  # no approver
    assert _of(bypass, EventKind.TURN_FINISHED)[0]["result_text"] == "decision: accept"
    starts = [m for m in _log(tmp_path) if m.get("method") == "thread/start"]
    assert starts[-1]["params"]["sandbox"] == "danger-full-access"


async def test_unanswered_requests_limits_and_crashes(
    codex: CodexAppServerAgent, tmp_path: Path
) -> None:
    asked = await run(codex, tmp_path, "INPUT")
    assert _of(asked, EventKind.TURN_FINISHED)[0]["result_text"] == "error: -32601"

    limited = _of(await run(codex, tmp_path, "LIMIT"), EventKind.TURN_FINISHED)[0]
    assert not limited["success"]
    assert limited["error"] == "Codex: You've hit your usage limit."
    assert limited["usage_limit"] == {"message": "You've hit your usage limit."}

    died = _of(await run(codex, tmp_path, "DIE"), EventKind.TURN_FINISHED)[0]
    assert not died["success"]
    assert died["error"] == "Codex app-server exited with code 3: boom"
    assert died["exit_code"] == 3

    unknown = _of(await run(codex, tmp_path, "hi", resume="thr-gone"), EventKind.TURN_FINISHED)
    assert unknown[0]["error"] == "Codex: no such thread"
    assert "Error(" not in unknown[0]["error"] and "{" not in unknown[0]["error"]


async def test_cancel_interrupts_the_turn_and_stops_the_process(
    codex: CodexAppServerAgent, tmp_path: Path
) -> None:
    events: list[NewEvent] = []
    marker = f"t-{tmp_path.name}"
    request = TurnRequest("t", 1, "HANG", tmp_path, env={MARKER_VAR: marker})
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(codex.run, request, events.append)
            await wait_until(
                lambda: any(m.get("method") == "turn/start" for m in _log(tmp_path)), timeout=20
            )
            await wait_until(lambda: _of(events, EventKind.SESSION), timeout=20)
            tg.cancel_scope.cancel()
    assert any(m.get("method") == "turn/interrupt" for m in _log(tmp_path))
    assert alive_members(None, marker=marker) == []
    assert _of(events, EventKind.TURN_FINISHED) == []  # the runner reports a cancel itself


async def test_falls_back_to_exec_without_app_server(
    codex: CodexAppServerAgent, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_CODEX_NO_APP_SERVER", "1")
    info = await codex.probe()
    assert info.available and info.capabilities["protocol"] == "exec --json"
    assert info.capabilities["app_server"] is False
    assert not codex.capabilities.approvals and not codex.capabilities.steer
    finished = _of(await run(codex, tmp_path, "hello"), EventKind.TURN_FINISHED)[0]
    assert finished["success"] and finished["result_text"] == "exec: hello"
    [started] = _argvs(tmp_path)
    assert started[0] == "exec"  # under "ask", exec cannot ask: it runs read-only
    assert started[started.index("--sandbox") + 1] == "read-only"


async def test_extra_args_reach_the_app_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = ["-c", 'model_reasoning_effort="low"']
    agent = CodexAppServerAgent(CodexSettings(cli_path=_fake_codex(tmp_path), extra_args=extra))
    monkeypatch.setenv("FAKE_CODEX_LOG", str(tmp_path / "codex-log.jsonl"))
    finished = _of(await run(agent, tmp_path, "hello"), EventKind.TURN_FINISHED)[0]
    assert finished["success"]
    assert _argvs(tmp_path) == [["app-server", *extra]]


async def test_the_protocol_setting_picks_the_adapter(
    codex: CodexAppServerAgent, tmp_path: Path
) -> None:
    info = await codex.probe()
    assert info.available and info.version == "9.9.9"
    assert info.capabilities["protocol"] == "app-server" and info.capabilities["approvals"]
    assert isinstance(codex_agent(CodexSettings(protocol="exec")), CodexAgent)
    env = {"AGENTDECK_HOME": str(tmp_path / "state"), "AGENTDECK_ROOTS": str(tmp_path)}
    assert isinstance(build_agents(load_settings(env=env))["codex"], CodexAppServerAgent)
    exec_settings = load_settings(env=env, agents={"codex": {"protocol": "exec"}})
    assert isinstance(build_agents(exec_settings)["codex"], CodexAgent)
