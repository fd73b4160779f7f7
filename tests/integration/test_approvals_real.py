"""Approvals with the real Claude Code against the fake model: ask, allow, deny, timeout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mcp.types as types
import pytest
from mcp import Client

from agentdeck.config import NotifySettings, Settings, load_settings
from fakes.fake_anthropic import FakeAnthropic
from fakes.notify_receiver import NotifyReceiver
from support.core import events_of
from support.servers import call, read_json, serve, wait_status
from support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]


@pytest.fixture
def ask_settings(tmp_path: Path, project: Path, agent_env: dict[str, str]) -> Settings:
    env = {
        **agent_env,
        "AGENTDECK_HOME": str(tmp_path / "state"),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_APPROVAL_POLICY": "ask",
    }
    return load_settings(env=env)


async def _pending(client: Client, task_id: str) -> dict[str, object]:
    task = await wait_status(client, task_id, {"input_required", "failed", "waiting"})
    assert task["status"] == "input_required", task.get("error")
    pending = await read_json(client, "agent://pending")
    assert pending["count"] == 1
    return dict(pending["pending"][0])


def _tool_results(fake: FakeAnthropic) -> list[str]:
    """Texts of every tool_result the model was sent."""
    out = []
    for request in fake.message_requests():
        for message in FakeAnthropic.messages_of(request):
            content = message.get("content")
            if isinstance(content, list):
                for block in content:
                    if block.get("type") == "tool_result":
                        out.append(json.dumps(block.get("content")))
    return out


async def test_bash_asks_then_runs_when_allowed(
    ask_settings: Settings, project: Path, receiver: NotifyReceiver
) -> None:
    notify = NotifySettings(urls=[receiver.url()], backoff_seconds=0.01)
    ask_settings = ask_settings.model_copy(update={"notify": notify})
    async with serve(ask_settings) as srv, Client(srv.url) as client:
        created = await call(
            client, "create_task", title="Ask", instructions="BASH echo approved > ran.txt"
        )
        task_id = created["result"]["task_id"]
        pending = await _pending(client, task_id)
        assert pending["tool"] == "Bash" and pending["task_id"] == task_id
        assert "echo approved" in str(pending["summary"])
        assert not (project / "ran.txt").exists()
        events = await events_of(srv.deck.core, task_id, "permission_request")
        assert events and events[0].data["tool"] == "Bash"
        # The user was told: a push notification for input_required went out.
        needs_you = await wait_until(
            lambda: [r for r in receiver.received if "input_required" in json.dumps(r.body)]
        )
        assert "Ask" in json.dumps(needs_you[0].body)

        answered = await call(client, "respond_task", id=task_id, decision="allow")
        assert answered["status"] == "success", answered
        task = await wait_status(client, task_id, {"waiting", "failed"})
        assert task["status"] == "waiting", task.get("error")
        assert (project / "ran.txt").read_text().strip() == "approved"
        decisions = [
            e.data
            for e in await events_of(srv.deck.core, task_id)
            if e.data.get("source") == "approvals"
        ]
        assert decisions[0]["decision"] == "allow" and decisions[0]["by"] == "mcp"

        again = await call(
            client,
            "respond_task",
            id=task_id,
            decision="allow",
            request_id=str(pending["request_id"]),
        )
        assert again["isError"] and again["error"]["type"] == "not_found"
        none_open = await call(client, "respond_task", id=task_id, decision="deny")
        assert none_open["error"]["type"] == "invalid_state"


@pytest.fixture
def receiver() -> Iterator[NotifyReceiver]:
    with NotifyReceiver() as running:
        yield running


async def test_deny_reaches_the_agent_and_nothing_runs(
    ask_settings: Settings, project: Path, fake_model: FakeAnthropic
) -> None:
    async with serve(ask_settings) as srv, Client(srv.url) as client:
        created = await call(
            client, "create_task", title="Deny", instructions="BASH echo nope > denied.txt"
        )
        task_id = created["result"]["task_id"]
        await _pending(client, task_id)
        await call(
            client,
            "respond_task",
            task_id=task_id,
            decision="deny",
            message="not on my machine, use a dry run",
        )
        task = await wait_status(client, task_id, {"waiting", "failed"})
        assert task["status"] == "waiting"
        assert not (project / "denied.txt").exists()
        assert any("not on my machine, use a dry run" in r for r in _tool_results(fake_model))


async def test_no_answer_in_time_is_a_denial(
    tmp_path: Path, project: Path, agent_env: dict[str, str]
) -> None:
    settings = load_settings(
        env={
            **agent_env,
            "AGENTDECK_HOME": str(tmp_path / "state"),
            "AGENTDECK_ROOTS": str(project),
            "AGENTDECK_APPROVAL_POLICY": "ask",
            "AGENTDECK_APPROVAL_TIMEOUT_SECONDS": "1",
        }
    )
    async with serve(settings) as srv, Client(srv.url) as client:
        created = await call(
            client, "create_task", title="Late", instructions="BASH echo late > late.txt"
        )
        task_id = created["result"]["task_id"]
        task = await wait_status(client, task_id, {"waiting", "failed"})
        assert task["status"] == "waiting"
        assert not (project / "late.txt").exists()
        decisions = [
            e.data
            for e in await events_of(srv.deck.core, task_id)
            if e.data.get("source") == "approvals"
        ]
        assert decisions[0]["decision"] == "deny" and decisions[0]["by"] == "timeout"


async def test_allow_always_and_workspace_edits_do_not_ask(
    ask_settings: Settings, project: Path
) -> None:
    async with serve(ask_settings) as srv, Client(srv.url) as client:
        created = await call(
            client,
            "create_task",
            title="Twice",
            instructions="WRITE notes.txt inside\nBASH echo one > one.txt\nBASH echo two > two.txt",
        )
        task_id = created["result"]["task_id"]
        await _pending(client, task_id)
        await call(client, "respond_task", id=task_id, decision="allow_always")
        task = await wait_status(client, task_id, {"waiting", "failed"})
        assert task["status"] == "waiting", task.get("error")
        assert (project / "notes.txt").read_text() == "inside"
        assert (project / "two.txt").exists()
        requests = await events_of(srv.deck.core, task_id, "permission_request")
        assert [r.data["tool"] for r in requests] == ["Bash"]


async def test_rules_policy_allows_and_denies_without_asking(
    ask_settings: Settings, project: Path
) -> None:
    async with serve(ask_settings) as srv, Client(srv.url) as client:
        created = await call(
            client,
            "create_task",
            title="Rules",
            policy="rules",
            allow_rules=["Bash(echo ok:*)"],
            deny_rules=["Bash(rm:*)"],
            instructions="BASH echo ok > ok.txt\nBASH rm -f important.txt",
        )
        (project / "important.txt").write_text("keep")
        task_id = created["result"]["task_id"]
        task = await wait_status(client, task_id, {"waiting", "failed", "input_required"})
        assert task["status"] == "waiting"
        assert (project / "ok.txt").exists() and (project / "important.txt").exists()
        assert len(await events_of(srv.deck.core, task_id, "permission_request")) == 0


async def test_bad_rules_are_refused(ask_settings: Settings) -> None:
    async with serve(ask_settings) as srv, Client(srv.url) as client:
        result = await call(
            client,
            "create_task",
            title="t",
            instructions="SAY x",
            policy="rules",
            allow_rules=["Bash(("],
        )
        assert result["isError"] and "bad permission rule" in result["message"]


async def test_the_creating_client_is_asked_by_elicitation(
    ask_settings: Settings, project: Path
) -> None:
    asked: list[str] = []

    async def on_elicit(context: object, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"decision": "allow"})

    async with (
        serve(ask_settings) as srv,
        Client(srv.url, mode="legacy", elicitation_callback=on_elicit) as client,
    ):
        created = await call(
            client, "create_task", title="Elicit", instructions="BASH echo elicited > e.txt"
        )
        task_id = created["result"]["task_id"]
        task = await wait_status(client, task_id, {"waiting", "failed"})
        assert task["status"] == "waiting", task.get("error")
        assert asked and "echo elicited" in asked[0]
        assert (project / "e.txt").exists()
        decisions = [
            e.data
            for e in await events_of(srv.deck.core, task_id)
            if e.data.get("source") == "approvals"
        ]
        assert decisions[0]["by"] == "elicitation"
