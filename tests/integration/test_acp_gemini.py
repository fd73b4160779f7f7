"""Gemini CLI through ACP (``gemini --acp``, the pinned CLI) against the fake Gemini API.

Under the ``ask`` policy a shell command asks agentdeck: allowed it runs, denied it
does not and the task goes back to ``waiting``; a later turn resumes the session
(``session/load``) and the model gets the whole history.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from agentdeck.config import Settings, load_settings
from agentdeck.proctree import alive_members
from fakes.fake_gemini import FakeGemini
from support.paths import REPO
from support.servers import call, read_json, serve, wait_status

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]

GEMINI = REPO / "node_modules" / ".bin" / "gemini"
MODEL = "gemini-2.5-flash"
DONE = {"waiting", "failed", "cancelled", "completed", "input_required"}


@pytest.fixture
def fake_gemini(tmp_path: Path) -> Iterator[FakeGemini]:
    with FakeGemini(log_path=tmp_path / "fake-gemini.jsonl") as fake:
        yield fake


@pytest.fixture
def settings(
    tmp_path: Path,
    project: Path,
    agent_env: dict[str, str],
    fake_gemini: FakeGemini,
    monkeypatch: pytest.MonkeyPatch,
) -> Settings:
    if not os.access(GEMINI, os.X_OK):
        pytest.fail(f"{GEMINI} is missing: run `npm ci` in {REPO} (make test does)")
    monkeypatch.setenv("FAKE_GEMINI_KEY", "fake-gemini")
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    env = {
        **agent_env,
        "FAKE_GEMINI_KEY": "fake-gemini",
        "AGENTDECK_HOME": str(tmp_path / "state"),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_APPROVAL_POLICY": "ask",
        "AGENTDECK_DEFAULT_AGENT": "gemini",
    }
    return load_settings(
        env=env,
        agents={
            "gemini": {
                "cli_path": str(GEMINI),
                "model": MODEL,
                "base_url": fake_gemini.base_url,
                "env_key": "FAKE_GEMINI_KEY",
            }
        },
    )


async def _pending(client: Client, task_id: str) -> dict[str, object]:
    task = await wait_status(client, task_id, DONE, timeout=90)
    assert task["status"] == "input_required", task.get("error")
    pending = await read_json(client, "agent://pending")
    assert pending["count"] == 1
    return dict(pending["pending"][0])


async def test_gemini_asks_allow_deny_and_resume(
    settings: Settings, project: Path, fake_gemini: FakeGemini
) -> None:
    first = "BASH echo approved > ran.txt"
    async with serve(settings) as srv, Client(srv.url) as client:
        info = (await srv.deck.core.agents())["gemini"]
        assert info.available, info.problem
        assert info.capabilities["protocol"] == "acp" and info.capabilities["load_session"]

        created = await call(client, "create_task", title="ask", instructions=first, agent="gemini")
        assert created["status"] == "success", created
        task_id = created["result"]["task_id"]
        pending = await _pending(client, task_id)
        assert pending["tool"] == "Bash"
        assert "echo approved" in str(pending["summary"])
        await call(client, "respond_task", id=task_id, decision="allow")
        task = await wait_status(client, task_id, {"waiting", "failed"}, timeout=90)
        assert task["status"] == "waiting", task.get("error")
        assert (project / "ran.txt").read_text().strip() == "approved"
        session = task["session_id"]
        assert session

        await call(client, "update_task", id=task_id, instructions="BASH echo nope > denied.txt")
        await _pending(client, task_id)
        await call(client, "respond_task", id=task_id, decision="deny", message="no")
        task = await wait_status(client, task_id, {"waiting", "failed"}, timeout=90)
        assert task["status"] == "waiting", task.get("error")
        assert not (project / "denied.txt").exists()
        assert task["session_id"] == session

        before = len(fake_gemini.main_requests())
        await call(client, "update_task", id=task_id, instructions="SAY resumed")
        task = await wait_status(client, task_id, {"waiting", "failed"}, timeout=90)
        assert task["status"] == "waiting", task.get("error")
        assert task["session_id"] == session  # the same conversation, loaded
        texts = fake_gemini.user_texts(fake_gemini.main_requests()[before])
        assert texts[0] == first and texts[-1] == "SAY resumed"
        assert task["result_text"] == f"resumed [{fake_gemini.digest('SAY resumed')}]"

        await call(client, "end_task", id=task_id)
        assert alive_members(None, marker=task_id) == []
