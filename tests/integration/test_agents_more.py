"""Codex, Gemini and command agents through agentdeck's engine, with the real CLIs.

The Codex and Gemini binaries come from the repo's ``node_modules/.bin``
(``npm ci`` installs the pinned versions); these tests fail when they are
missing. Each CLI talks to a fake model server on 127.0.0.1 and keeps its state
in per-test directories.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from mcp import Client

from agentdeck.agents.codex import rollout_totals
from agentdeck.config import Settings, load_settings
from agentdeck.proctree import alive_members
from fakes.fake_anthropic import FakeAnthropic
from fakes.fake_gemini import FakeGemini
from fakes.fake_openai import FakeOpenAI
from support.paths import FAKES, REPO
from support.servers import call, read_json, serve, wait_status
from support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]

NODE_BIN = REPO / "node_modules" / ".bin"
SCRIPTED = FAKES / "scripted_cli.py"
CODEX_MODEL = "gpt-5"
GEMINI_MODEL = "gemini-2.5-flash"
DONE = {"waiting", "failed", "cancelled", "completed"}


@pytest.fixture(scope="module")
def node_bin() -> Path:
    """The pinned CLIs; missing binaries fail the tests (never skip)."""
    missing = [n for n in ("codex", "gemini") if not os.access(NODE_BIN / n, os.X_OK)]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not in {NODE_BIN}: run `npm ci` in {REPO} (make test does)"
        )
    return NODE_BIN


@pytest.fixture
def fake_openai(tmp_path: Path) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(log_path=tmp_path / "fake-openai.jsonl") as fake:
        yield fake


@pytest.fixture
def fake_gemini(tmp_path: Path) -> Iterator[FakeGemini]:
    with FakeGemini(log_path=tmp_path / "fake-gemini.jsonl") as fake:
        yield fake


def _dead_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def make_settings(
    tmp_path: Path,
    project: Path,
    agent_env: dict[str, str],
    node_bin: Path,
    openai_url: str,
    gemini_url: str,
    **agents: Any,
) -> Settings:
    env = {
        **agent_env,
        "AGENTDECK_HOME": str(tmp_path / "state"),
        "AGENTDECK_ROOTS": str(project),
    }
    return load_settings(
        env=env,
        approval_policy="bypass",
        agents={
            "codex": {
                "cli_path": str(node_bin / "codex"),
                "model": CODEX_MODEL,
                "provider_base_url": f"{openai_url}/v1",
                "env_key": "FAKE_OPENAI_KEY",
                "protocol": "exec",  # these tests are of the exec path (app-server: below)
            },
            "gemini": {
                "cli_path": str(node_bin / "gemini"),
                "model": GEMINI_MODEL,
                "base_url": gemini_url,
                "env_key": "FAKE_GEMINI_KEY",
            },
            **agents,
        },
    )


@pytest.fixture
def more_env(agent_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {**agent_env, "FAKE_OPENAI_KEY": "sk-fake-openai", "FAKE_GEMINI_KEY": "fake-gemini"}
    monkeypatch.setenv("FAKE_OPENAI_KEY", env["FAKE_OPENAI_KEY"])
    monkeypatch.setenv("FAKE_GEMINI_KEY", env["FAKE_GEMINI_KEY"])
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("CODEX_HOME", raising=False)
    return env


@pytest.fixture
def settings_more(
    tmp_path: Path,
    project: Path,
    more_env: dict[str, str],
    node_bin: Path,
    fake_openai: FakeOpenAI,
    fake_gemini: FakeGemini,
) -> Settings:
    return make_settings(
        tmp_path,
        project,
        more_env,
        node_bin,
        fake_openai.base_url,
        fake_gemini.base_url,
        scripted={
            "command": [sys.executable, str(SCRIPTED), "{instructions}"],
            "version_command": [sys.executable, str(SCRIPTED), "--version"],
        },
        scriptedj={
            "command": [sys.executable, str(SCRIPTED), "--jsonl", "{instructions}"],
            "resume_command": [
                sys.executable,
                str(SCRIPTED),
                "--jsonl",
                "--resume",
                "{session_id}",
                "{instructions}",
            ],
            "output": "jsonl",
            "fields": {"text": "msg.text", "session_id": "session"},
        },
    )


def _input_tokens(fake: FakeOpenAI | FakeGemini) -> int:
    return sum(r["reply"].get("input_tokens", 0) for r in fake.main_requests())


async def _events(client: Client, task_id: str) -> list[dict[str, Any]]:
    data = await read_json(client, f"task://{task_id}/events")
    return list(data["events"] if isinstance(data, dict) else data)


@pytest.mark.parametrize(
    ("alias", "agent", "fake_name", "tool", "protocol"),
    [
        ("CODEX", "codex", "fake_openai", "shell", "exec"),
        ("CODEX", "codex", "fake_openai", "shell", "app-server"),
        ("GEMINI", "gemini", "fake_gemini", "Edit", "acp"),  # tool kinds named like Claude's
    ],
)
async def test_create_update_end(
    settings_more: Settings,
    project: Path,
    request: pytest.FixtureRequest,
    alias: str,
    agent: str,
    fake_name: str,
    tool: str,
    protocol: str,
) -> None:
    fake: FakeOpenAI | FakeGemini = request.getfixturevalue(fake_name)
    if agent == "codex":
        settings_more.agents.codex.protocol = protocol  # type: ignore[assignment]
    first = f"WRITE hello.txt hi from {agent}"
    async with serve(settings_more) as srv, Client(srv.url) as client:
        info = (await srv.deck.core.agents())[agent]
        assert info.available and info.version, info
        assert info.capabilities["protocol"] == ("exec --json" if protocol == "exec" else protocol)

        created = await call(client, "create_task", title="hello", instructions=first, agent=alias)
        assert created["status"] == "success", created
        assert created["result"]["agent"] == agent
        task_id = created["result"]["task_id"]
        task = await wait_status(client, task_id, DONE, timeout=90)
        assert task["status"] == "waiting", task.get("error")
        assert (project / "hello.txt").read_text() == f"hi from {agent}"
        session = task["session_id"]
        assert session and len(session) >= 16
        assert [i["tool"] for i in task["tool_invocations"]] == [tool]
        assert task["result_text"].endswith(f"[{fake.digest(first)}]")
        assert task["tokens"]["input"] == _input_tokens(fake) > 0
        assert task["tokens"]["output"] > 0

        before = len(fake.main_requests())
        updated = await call(client, "update_task", id=task_id, instructions="SAY second turn")
        assert updated["status"] == "success", updated
        task = await wait_status(client, task_id, DONE, timeout=90)
        assert task["status"] == "waiting", task.get("error")
        assert task["session_id"] == session  # the same conversation
        second = fake.main_requests()[before]
        assert fake.user_texts(second) == [first, "SAY second turn"]
        assert task["result_text"] == f"second turn [{fake.digest('SAY second turn')}]"
        # Codex reports thread totals; agentdeck stores each request once.
        assert task["tokens"]["input"] == _input_tokens(fake)
        if agent == "codex":  # after a restart the totals come from Codex's rollout file
            totals = rollout_totals(settings_more.home / "codex", session)
            assert totals and totals["input_tokens"] == _input_tokens(fake)

        events = await _events(client, task_id)
        started = [e for e in events if e["kind"] == "turn_started"]
        assert len(started) == 2 and started[1]["data"]["resume"] == session
        if protocol == "exec":
            assert session in started[1]["data"]["argv"]
        assert all("sk-fake-openai" not in str(e["data"]) for e in events)

        ended = await call(client, "end_task", id=task_id)
        assert ended["result"]["status"] == "completed", ended
        assert alive_members(None, marker=task_id) == []


def _sleeper(task_id: str) -> list[int]:
    """Pids of the task's `sleep 300` process once it runs (empty before)."""
    found = []
    for pid in alive_members(None, marker=task_id):
        try:
            if psutil.Process(pid).cmdline() == ["sleep", "300"]:
                found.append(pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("agent", ["codex", "gemini", "scripted"])
async def test_cancel_mid_turn_leaves_no_process(
    settings_more: Settings, project: Path, agent: str
) -> None:
    instructions = "SLEEP 300" if agent == "scripted" else "BASH sleep 300; echo late > late.txt"
    async with serve(settings_more) as srv, Client(srv.url) as client:
        created = await call(
            client, "create_task", title="sleepy", instructions=instructions, agent=agent
        )
        task_id = created["result"]["task_id"]
        await wait_until(lambda: _sleeper(task_id), timeout=90)
        cancelled = await call(client, "cancel_task", id=task_id)
        assert cancelled["status"] == "success", cancelled
        task = await read_json(client, f"task://{task_id}")
        assert task["status"] == "cancelled"
        assert alive_members(None, marker=task_id) == []
        assert not (project / "late.txt").exists()


@pytest.mark.parametrize(
    ("agent", "protocol"), [("codex", "exec"), ("codex", "app-server"), ("gemini", "acp")]
)
async def test_dead_model_server_fails_within_timeout(
    tmp_path: Path,
    project: Path,
    more_env: dict[str, str],
    node_bin: Path,
    agent: str,
    protocol: str,
) -> None:
    dead = _dead_url()
    settings = make_settings(tmp_path, project, more_env, node_bin, dead, dead)
    if agent == "codex":
        settings.agents.codex.protocol = protocol  # type: ignore[assignment]
    async with serve(settings) as srv, Client(srv.url) as client:
        started = anyio.current_time()
        created = await call(
            client,
            "create_task",
            title="dead",
            instructions="SAY hi",
            agent=agent,
            timeout_seconds=8,
        )
        task_id = created["result"]["task_id"]
        task = await wait_status(client, task_id, DONE, timeout=40)
        elapsed = anyio.current_time() - started
        assert task["status"] == "failed"
        assert "timed out after 8 s" in task["error"]
        assert elapsed < 8 + 15
        assert alive_members(None, marker=task_id) == []
        texts = " ".join(str(e["data"]) for e in await _events(client, task_id))
        if agent == "codex":
            assert "Connection failed" in texts or "Reconnecting" in texts


async def test_command_agent_text_and_jsonl_resume(settings_more: Settings, project: Path) -> None:
    tricky = 'WRITE out.txt it\'s "quoted" $(touch pwned) ; rm -rf /nope `id`'
    async with serve(settings_more) as srv, Client(srv.url) as client:
        info = (await srv.deck.core.agents())["scripted"]
        assert info.available and info.version == "1.2.3", info

        created = await call(
            client, "create_task", title="text", instructions=tricky, agent="scripted"
        )
        task = await wait_status(client, created["result"]["task_id"], DONE, timeout=30)
        assert task["status"] == "waiting", task.get("error")
        # One argv element, no shell: the text arrives intact and nothing was run.
        assert task["result_text"].splitlines()[0] == f"got: {tricky}"
        assert (
            project / "out.txt"
        ).read_text() == 'it\'s "quoted" $(touch pwned) ; rm -rf /nope `id`'
        assert not (project / "pwned").exists()
        messages = [e for e in await _events(client, task["id"]) if e["kind"] == "message"]
        assert [m["data"]["text"] for m in messages] == [f"got: {tricky}", "wrote out.txt"]

        created = await call(
            client, "create_task", title="jsonl", instructions="first", agent="scriptedj"
        )
        task_id = created["result"]["task_id"]
        task = await wait_status(client, task_id, DONE, timeout=30)
        assert task["status"] == "waiting", task.get("error")
        session = task["session_id"]
        assert session and task["result_text"] == "got: first"
        await call(client, "update_task", id=task_id, instructions="second")
        task = await wait_status(client, task_id, DONE, timeout=30)
        assert task["status"] == "waiting", task.get("error")
        assert task["session_id"] == session
        assert task["result_text"] == "got: second\nhistory: 1"

        created = await call(
            client, "create_task", title="boom", instructions="FAIL 3 it broke", agent="scripted"
        )
        task = await wait_status(client, created["result"]["task_id"], DONE, timeout=30)
        assert task["status"] == "failed"
        assert task["error"] == "scripted exited with code 3: it broke"


async def test_claude_codex_gemini_at_once(
    settings_more: Settings, project: Path, fake_model: FakeAnthropic
) -> None:
    async with serve(settings_more) as srv, Client(srv.url) as client:
        ids = {}
        for agent in ("claude", "codex", "gemini"):
            created = await call(
                client,
                "create_task",
                title=agent,
                instructions=f"WRITE {agent}.txt made by {agent}\nDELAY 1",
                agent=agent,
            )
            ids[agent] = created["result"]["task_id"]

        def all_running() -> bool:
            return len(srv.deck.core.running_task_ids()) == 3

        await wait_until(all_running, timeout=30)
        for agent, task_id in ids.items():
            task = await wait_status(client, task_id, DONE, timeout=120)
            assert task["status"] == "waiting", (agent, task.get("error"))
            assert (project / f"{agent}.txt").read_text() == f"made by {agent}"


async def test_unknown_agent_lists_available(settings_more: Settings) -> None:
    async with serve(settings_more) as srv, Client(srv.url) as client:
        result = await call(client, "create_task", title="t", instructions="x", agent="nope")
        assert result["isError"] is True
        assert result["error"]["type"] == "validation_error"
        message = result["message"]
        assert "unknown agent 'nope'" in message
        assert "claude, codex, gemini, scripted, scriptedj" in message


async def test_missing_binary_fails_fast(
    tmp_path: Path, project: Path, more_env: dict[str, str], node_bin: Path
) -> None:
    settings = make_settings(
        tmp_path,
        project,
        more_env,
        node_bin,
        _dead_url(),
        _dead_url(),
        gone={"command": ["agentdeck-no-such-cli", "{instructions}"]},
    )
    settings.agents.codex.cli_path = str(tmp_path / "no" / "codex")
    async with serve(settings) as srv, Client(srv.url) as client:
        infos = await srv.deck.core.agents()
        assert not infos["codex"].available and "not available" in str(infos["codex"].problem)
        assert not infos["gone"].available
        for agent, phrase in (("codex", "Codex CLI is not available"), ("gone", "not on PATH")):
            created = await call(
                client, "create_task", title="t", instructions="SAY hi", agent=agent
            )
            task = await wait_status(client, created["result"]["task_id"], DONE, timeout=10)
            assert task["status"] == "failed"
            assert phrase in task["error"], task["error"]
