"""MCP Tasks through the real Claude Code against the fake model, driven by the raw
spec client (tests/support/mcp_raw.py): create → poll → completed; a BASH directive →
input_required → tasks/update allow → completed and the command ran; deny → the agent
reads the message; cancel a long task → cancelled, no process left; a server restart
between create and poll; the undeclared call works the old way; -32021 / -32602."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from agentdeck.config import Settings, load_settings
from agentdeck.proctree import alive_members
from fakes.fake_anthropic import FakeAnthropic
from support.agents import LONG_COMMAND
from support.mcp_raw import TASKS, RawMcp
from support.servers import Running, serve
from support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]


def _settings(tmp_path: Path, project: Path, agent_env: dict[str, str], policy: str) -> Settings:
    env = {
        **agent_env,
        "AGENTDECK_HOME": str(tmp_path / "state"),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_APPROVAL_POLICY": policy,
    }
    return load_settings(env=env)


@pytest.fixture
def ask(tmp_path: Path, project: Path, agent_env: dict[str, str]) -> Settings:
    return _settings(tmp_path, project, agent_env, "ask")


@pytest.fixture
def bypass(tmp_path: Path, project: Path, agent_env: dict[str, str]) -> Settings:
    return _settings(tmp_path, project, agent_env, "bypass")


@asynccontextmanager
async def deck(settings: Settings) -> AsyncIterator[tuple[Running, RawMcp]]:
    async with serve(settings) as srv:
        client = RawMcp(srv.url)
        try:
            yield srv, client
        finally:
            await client.aclose()


def _result(task: dict[str, object]) -> dict[str, object]:
    result = task["result"]
    assert isinstance(result, dict)
    return dict(result["structuredContent"]["result"])


def _tool_results(fake: FakeAnthropic) -> str:
    texts = []
    for request in fake.message_requests():
        for message in FakeAnthropic.messages_of(request):
            content = message.get("content")
            if isinstance(content, list):
                texts += [json.dumps(b) for b in content if b.get("type") == "tool_result"]
    return "\n".join(texts)


async def test_create_poll_completed(bypass: Settings) -> None:
    async with deck(bypass) as (_, client):
        created = await client.call(
            "create_task", {"title": "Hello", "instructions": "SAY hello from the task"}
        )
        assert created["resultType"] == "task" and created["status"] == "working"
        done = await client.poll(created["taskId"], {"completed", "failed"}, timeout=120)
        assert done["status"] == "completed" and done["result"]["isError"] is False
        assert "hello from the task" in str(_result(done)["result_text"])


async def test_bash_input_required_then_allow_runs_it(ask: Settings, project: Path) -> None:
    async with deck(ask) as (srv, client):
        created = await client.call(
            "create_task", {"title": "Ask", "instructions": "BASH echo approved > ran.txt"}
        )
        task_id = created["taskId"]
        asked = await client.poll(task_id, {"input_required", "completed"}, timeout=120)
        assert asked["status"] == "input_required", asked
        ((key, request),) = asked["inputRequests"].items()
        assert "echo approved" in request["params"]["message"]
        assert not (project / "ran.txt").exists()
        allow = {"action": "accept", "content": {"decision": "allow"}}
        await client.result("tasks/update", {"taskId": task_id, "inputResponses": {key: allow}})
        done = await client.poll(task_id, {"completed"}, timeout=120)
        assert done["result"]["isError"] is False
        assert (project / "ran.txt").read_text().strip() == "approved"
        # once, never always: the next Bash asks again
        task = await srv.deck.core.get(task_id)
        assert task.always_allow == []


async def test_deny_tells_the_agent(
    ask: Settings, project: Path, fake_model: FakeAnthropic
) -> None:
    async with deck(ask) as (_, client):
        created = await client.call(
            "create_task", {"title": "Deny", "instructions": "BASH echo nope > denied.txt"}
        )
        asked = await client.poll(created["taskId"], {"input_required"}, timeout=120)
        (key,) = asked["inputRequests"]
        deny = {"action": "accept", "content": {"decision": "deny", "message": "use git instead"}}
        await client.result(
            "tasks/update", {"taskId": created["taskId"], "inputResponses": {key: deny}}
        )
        done = await client.poll(created["taskId"], {"completed"}, timeout=120)
        assert done["result"]["isError"] is False
        assert not (project / "denied.txt").exists()
        assert "use git instead" in _tool_results(fake_model)


async def test_cancel_a_long_task_leaves_no_process(bypass: Settings) -> None:
    async with deck(bypass) as (_, client):
        created = await client.call(
            "create_task", {"title": "Long", "instructions": f"BASH {LONG_COMMAND}"}
        )
        task_id = created["taskId"]
        await wait_until(lambda: len(alive_members(None, marker=task_id)) >= 2, timeout=120)
        ack = await client.result("tasks/cancel", {"taskId": task_id})
        assert ack["resultType"] == "complete"
        done = await client.poll(task_id, {"cancelled", "completed"}, timeout=60)
        assert done["status"] == "cancelled"
        await wait_until(lambda: alive_members(None, marker=task_id) == [], timeout=30)


async def test_a_restart_between_create_and_poll(bypass: Settings) -> None:
    async with deck(bypass) as (_, client):
        created = await client.call(
            "create_task", {"title": "Durable", "instructions": "DELAY 3\nSAY survived"}
        )
        task_id = created["taskId"]
        assert (await client.get(task_id))["status"] == "working"
    # the server is gone mid-turn; a new one on the same state knows the task
    async with deck(bypass) as (_, client):
        again = await client.get(task_id)
        assert again["taskId"] == task_id and again["status"] in ("working", "completed")
        done = await client.poll(task_id, {"completed"}, timeout=120)
        assert "survived" in str(_result(done)["result_text"])


async def test_undeclared_works_the_old_way_and_errors(bypass: Settings) -> None:
    async with deck(bypass) as (_, client):
        old = await client.call(
            "create_task",
            {"title": "Old", "instructions": "SAY old way", "wait": True},
            tasks=False,
        )
        assert old["resultType"] == "complete"
        envelope = old["structuredContent"]
        assert envelope["status"] == "success" and "old way" in envelope["result"]["result_text"]
        task_id = envelope["result"]["task_id"]
        undeclared = await client.request("tasks/get", {"taskId": task_id}, tasks=False)
        assert undeclared["error"]["code"] == -32021
        assert undeclared["error"]["data"]["requiredCapabilities"]["extensions"] == {TASKS: {}}
        unknown = await client.request("tasks/get", {"taskId": "t-ffffffffffff"})
        assert unknown["error"]["code"] == -32602
        with anyio.fail_after(5):
            # the same task is an MCP task for its owner all the same
            assert (await client.get(task_id))["status"] == "completed"


async def test_mrtr_approval_with_the_official_sdk_client(ask: Settings, project: Path) -> None:
    """A 2026-07-28 client without the extension: ``wait: true`` meets the decision as an
    InputRequiredResult; the SDK client answers through its elicitation callback."""
    import mcp.types as types
    from mcp import Client

    asked: list[str] = []

    async def allow(context: object, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"decision": "allow"})

    async with serve(ask) as srv, Client(srv.url, elicitation_callback=allow) as client:
        assert client.session.protocol_version == "2026-07-28"  # type: ignore[union-attr]
        result = await client.call_tool(
            "create_task",
            {"title": "MRTR", "instructions": "BASH echo mrtr > m.txt", "wait": True},
        )
        assert not result.is_error, result
        envelope = result.structured_content or {}
        assert envelope["result"]["status"] == "waiting", envelope
        assert asked and "echo mrtr" in asked[0]
        assert (project / "m.txt").read_text().strip() == "mrtr"
        assert (await srv.deck.core.tasks()).count == 1
