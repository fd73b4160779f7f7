"""Codex through ``codex app-server`` (the pinned CLI) against the fake OpenAI Responses API.

Under the ``ask`` policy a shell command asks agentdeck: allowed it runs, denied it
does not and the task goes back to ``waiting``; a later turn resumes the same thread
(``thread/resume``) and the model gets the whole history. Cancel mid-command leaves no
process behind; a steer reaches the running turn (``turn/steer``); a plan's usage limit
parks the task until the time Codex names.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import pytest
from mcp import Client

from agentdeck.config import Settings, load_settings
from agentdeck.proctree import alive_members
from fakes.fake_openai import FakeOpenAI
from support.paths import REPO
from support.servers import call, read_json, serve, wait_status
from support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]

CODEX = REPO / "node_modules" / ".bin" / "codex"
MODEL = "gpt-5"
DONE = {"waiting", "failed", "cancelled", "completed", "input_required"}
TURN = 90


@pytest.fixture
def fake_openai(tmp_path: Path) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(log_path=tmp_path / "fake-openai.jsonl") as fake:
        yield fake


def _settings(
    tmp_path: Path, project: Path, agent_env: dict[str, str], url: str, policy: str
) -> Settings:
    env = {
        **agent_env,
        "FAKE_OPENAI_KEY": "sk-fake-openai",
        "AGENTDECK_HOME": str(tmp_path / "state"),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_APPROVAL_POLICY": policy,
        "AGENTDECK_DEFAULT_AGENT": "codex",
    }
    return load_settings(
        env=env,
        agents={
            "codex": {
                "cli_path": str(CODEX),
                "model": MODEL,
                "provider_base_url": f"{url}/v1",
                "env_key": "FAKE_OPENAI_KEY",
            }
        },
    )


@pytest.fixture
def codex_env(agent_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    if not os.access(CODEX, os.X_OK):
        pytest.fail(f"{CODEX} is missing: run `npm ci` in {REPO} (make test does)")
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-fake-openai")
    monkeypatch.delenv("CODEX_HOME", raising=False)
    return agent_env


@pytest.fixture
def ask(
    tmp_path: Path, project: Path, codex_env: dict[str, str], fake_openai: FakeOpenAI
) -> Settings:
    return _settings(tmp_path, project, codex_env, fake_openai.base_url, "ask")


@pytest.fixture
def bypass(
    tmp_path: Path, project: Path, codex_env: dict[str, str], fake_openai: FakeOpenAI
) -> Settings:
    return _settings(tmp_path, project, codex_env, fake_openai.base_url, "bypass")


async def _pending(client: Client, task_id: str) -> dict[str, Any]:
    task = await wait_status(client, task_id, DONE, timeout=TURN)
    assert task["status"] == "input_required", task.get("error")
    pending = await read_json(client, "agent://pending")
    assert pending["count"] == 1
    return dict(pending["pending"][0])


async def _events(client: Client, task_id: str, kind: str) -> list[dict[str, Any]]:
    data = await read_json(client, f"task://{task_id}/events")
    events = data["events"] if isinstance(data, dict) else data
    return [e["data"] for e in events if e["kind"] == kind]


def _running(task_id: str, argv: list[str]) -> list[int]:
    """Pids of the task's processes whose command line is ``argv``."""
    found = []
    for pid in alive_members(None, marker=task_id):
        try:
            if psutil.Process(pid).cmdline() == argv:
                found.append(pid)
        except psutil.Error:
            continue
    return found


async def test_ask_allow_deny_and_resume_the_thread(
    ask: Settings, project: Path, fake_openai: FakeOpenAI
) -> None:
    first = "BASH echo approved > ran.txt"
    second = "BASH echo nope > denied.txt"
    async with serve(ask) as srv, Client(srv.url) as client:
        info = (await srv.deck.core.agents())["codex"]
        assert info.available, info.problem
        assert info.capabilities["protocol"] == "app-server"
        assert info.capabilities["approvals"] and info.capabilities["steer"]

        created = await call(client, "create_task", title="ask", instructions=first)
        assert created["status"] == "success", created
        task_id = created["result"]["task_id"]
        pending = await _pending(client, task_id)
        assert pending["tool"] == "Bash"
        assert "echo approved > ran.txt" in str(pending["summary"])
        assert not (project / "ran.txt").exists()  # nothing ran before the answer
        await call(client, "respond_task", id=task_id, decision="allow")
        task = await wait_status(client, task_id, {"waiting", "failed"}, timeout=TURN)
        assert task["status"] == "waiting", task.get("error")
        assert (project / "ran.txt").read_text().strip() == "approved"
        session = task["session_id"]
        assert session
        assert [i["tool"] for i in task["tool_invocations"]] == ["shell"]
        assert task["tokens"]["input"] > 0 and task["tokens"]["output"] > 0
        sessions = await _events(client, task_id, "session")
        assert sessions[0]["protocol"] == "app-server"
        assert sessions[0]["approvalPolicy"] == "untrusted"

        await call(client, "update_task", id=task_id, instructions=second)
        await _pending(client, task_id)
        await call(client, "respond_task", id=task_id, decision="deny", message="not that")
        task = await wait_status(client, task_id, {"waiting", "failed"}, timeout=TURN)
        assert task["status"] == "waiting", task.get("error")
        assert not (project / "denied.txt").exists()
        assert task["session_id"] == session
        logs = await _events(client, task_id, "log")
        assert any(log.get("text") == "refused Bash: not that" for log in logs)
        results = await _events(client, task_id, "tool_result")
        assert results[-1]["is_error"] and results[-1]["status"] == "declined"

        before = len(fake_openai.main_requests())
        await call(client, "update_task", id=task_id, instructions="SAY resumed")
        task = await wait_status(client, task_id, {"waiting", "failed"}, timeout=TURN)
        assert task["status"] == "waiting", task.get("error")
        assert task["session_id"] == session  # the same thread, resumed
        assert fake_openai.user_texts(fake_openai.main_requests()[before]) == [
            first,
            second,
            "SAY resumed",
        ]
        assert task["result_text"] == f"resumed [{fake_openai.digest('SAY resumed')}]"
        sessions = await _events(client, task_id, "session")
        assert [s["resumed"] for s in sessions] == [False, True, True]
        assert {s["session_id"] for s in sessions} == {session}
        # Each request is counted once, although Codex reports the thread's totals.
        inputs = sum(r["reply"].get("input_tokens", 0) for r in fake_openai.main_requests())
        assert task["tokens"]["input"] == inputs

        await call(client, "end_task", id=task_id)
        assert alive_members(None, marker=task_id) == []


async def test_cancel_mid_command_leaves_no_process(ask: Settings, project: Path) -> None:
    async with serve(ask) as srv, Client(srv.url) as client:
        created = await call(
            client,
            "create_task",
            title="sleepy",
            instructions="BASH sleep 300; echo late > late.txt",
        )
        task_id = created["result"]["task_id"]
        await _pending(client, task_id)
        await call(client, "respond_task", id=task_id, decision="allow")
        await wait_until(lambda: _running(task_id, ["sleep", "300"]), timeout=TURN)
        cancelled = await call(client, "cancel_task", id=task_id)
        assert cancelled["status"] == "success", cancelled
        task = await read_json(client, f"task://{task_id}")
        assert task["status"] == "cancelled"
        assert alive_members(None, marker=task_id) == []
        assert not (project / "late.txt").exists()


async def test_a_steer_reaches_the_running_turn(
    bypass: Settings, project: Path, fake_openai: FakeOpenAI
) -> None:
    async with serve(bypass) as srv, Client(srv.url) as client:
        created = await call(
            client, "create_task", title="busy", instructions="BASH sleep 3\nSAY first"
        )
        task_id = created["result"]["task_id"]
        await wait_until(lambda: _running(task_id, ["sleep", "3"]), timeout=TURN)
        steered = await call(client, "steer_task", id=task_id, instructions="SAY steered")
        assert steered["status"] == "success", steered
        assert steered["result"]["delivered"], steered
        task = await wait_status(client, task_id, {"waiting", "failed"}, timeout=TURN)
        assert task["status"] == "waiting", task.get("error")
        assert task["turns"] == 1  # the same turn took it
        assert task["result_text"] == f"steered [{fake_openai.digest('SAY steered')}]"
        logs = await _events(client, task_id, "log")
        assert any(log.get("read") for log in logs)  # Codex put it in the thread
        last = fake_openai.main_requests()[-1]
        assert fake_openai.user_texts(last)[-1] == "SAY steered"
        assert len(await _events(client, task_id, "turn_finished")) == 1
        assert alive_members(None, marker=task_id) == []


async def test_a_usage_limit_parks_the_task_until_codex_s_reset_time(bypass: Settings) -> None:
    instructions = "ERROR 429 usage_limit_reached The plan's limit"
    async with serve(bypass) as srv, Client(srv.url) as client:
        created = await call(client, "create_task", title="limited", instructions=instructions)
        task_id = created["result"]["task_id"]
        task = await wait_status(client, task_id, {"parked", "failed", "waiting"}, timeout=TURN)
        assert task["status"] == "parked", task.get("error")
        # The fake's limit resets in an hour; Codex says "try again at <h:mm PM>".
        resume_at = datetime.fromisoformat(task["resume_at"])
        assert timedelta(minutes=55) < resume_at - datetime.now(UTC) < timedelta(minutes=62)
        finished = await _events(client, task_id, "turn_finished")
        assert finished[-1]["codex_error"] == "usageLimitExceeded"
        assert "usage limit" in finished[-1]["error"]
        await call(client, "cancel_task", id=task_id)
