"""The Tasks extension over real HTTP, with the raw spec client and a fake agent.

(The same flows through the real Claude Code: tests/integration/test_mcp_tasks_real.py.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from agentdeck.agents.testing import Ask, FakeAgent, Gate, Hang, Say
from agentdeck.config import Settings
from support.mcp_raw import TASKS, RawMcp
from support.servers import Running, serve

pytestmark = pytest.mark.anyio

CREATE = {"title": "A job", "instructions": "do it"}


@asynccontextmanager
async def deck(
    settings: Settings, agent: FakeAgent, policy: str = "bypass"
) -> AsyncIterator[tuple[Running, RawMcp]]:
    settings = settings.model_copy(update={"approval_policy": policy, "default_agent": "fake"})
    async with serve(settings, agents={"fake": agent}) as srv:
        client = RawMcp(srv.url)
        try:
            yield srv, client
        finally:
            await client.aclose()


async def test_discover_advertises_the_extension(core_settings: Settings) -> None:
    async with deck(core_settings, FakeAgent()) as (_, client):
        found = await client.result("server/discover", {})
        assert found["capabilities"]["extensions"][TASKS] == {}


async def test_create_returns_a_task_then_poll_to_completed(core_settings: Settings) -> None:
    gate = Gate()
    async with deck(core_settings, FakeAgent(steps=[gate, Say("all done")])) as (srv, client):
        created = await client.call("create_task", {**CREATE, "wait": True})
        assert created["resultType"] == "task"
        assert created["status"] == "working"
        for key in ("taskId", "createdAt", "lastUpdatedAt", "pollIntervalMs"):
            assert created[key], key
        assert created["ttlMs"] is None and "ttlMs" in created
        task_id = created["taskId"]
        assert task_id.startswith("t-") and task_id in created["statusMessage"]
        # durable at once: an immediate tasks/get resolves
        first = await client.get(task_id)
        assert first["resultType"] == "complete" and first["status"] == "working"
        with anyio.fail_after(10):
            await gate.reached.wait()
        gate.open()
        done = await client.poll(task_id, {"completed"})
        result = done["result"]
        assert result["isError"] is False
        envelope = result["structuredContent"]
        assert envelope["result"]["result_text"] == "all done"
        assert envelope["result"]["task_id"] == task_id
        assert "all done" in done["statusMessage"]
        assert (await srv.deck.core.get(task_id)).status == "waiting"


async def test_update_task_is_a_task_per_turn(core_settings: Settings) -> None:
    async with deck(core_settings, FakeAgent()) as (_, client):
        created = await client.call("create_task", CREATE)
        await client.poll(created["taskId"], {"completed"})
        updated = await client.call(
            "update_task", {"id": created["taskId"], "instructions": "more please"}
        )
        assert updated["resultType"] == "task"
        assert updated["taskId"] == f"{created['taskId']}:2"
        done = await client.poll(updated["taskId"], {"completed"})
        assert done["result"]["structuredContent"]["result"]["result_text"] == "more please"
        # the first turn's task still says what the first turn did
        first = await client.get(created["taskId"])
        assert first["result"]["structuredContent"]["result"]["result_text"] == "do it"


async def test_failed_turn_is_completed_with_is_error(core_settings: Settings) -> None:
    from agentdeck.agents.testing import Fail

    async with deck(core_settings, FakeAgent(steps=[Fail("model exploded")])) as (_, client):
        created = await client.call("create_task", CREATE)
        done = await client.poll(created["taskId"], {"completed", "failed"})
        assert done["status"] == "completed"
        assert done["result"]["isError"] is True
        assert "model exploded" in done["result"]["content"][0]["text"]


async def test_input_required_then_update_allows(core_settings: Settings) -> None:
    agent = FakeAgent(steps=[Ask("Bash", {"command": "ls"}), Say("listed")])
    async with deck(core_settings, agent, policy="ask") as (_, client):
        created = await client.call("create_task", CREATE)
        task_id = created["taskId"]
        asked = await client.poll(task_id, {"input_required"})
        ((key, request),) = asked["inputRequests"].items()
        assert request["method"] == "elicitation/create"
        assert request["params"]["mode"] == "form"
        assert "decision" in request["params"]["requestedSchema"]["properties"]
        assert "Bash" in asked["statusMessage"] or "ls" in asked["statusMessage"]
        # polling again shows the same key (a snapshot of what is outstanding)
        assert (await client.get(task_id))["inputRequests"].keys() == {key}
        ack = await client.result(
            "tasks/update",
            {
                "taskId": task_id,
                "inputResponses": {key: {"action": "accept", "content": {"decision": "allow"}}},
            },
        )
        assert ack["resultType"] == "complete"
        done = await client.poll(task_id, {"completed"})
        assert done["result"]["structuredContent"]["result"]["result_text"] == "listed"
        assert agent.answers == [(True, "")]
        # answering again (the key is spent) is ignored, not an error
        again = await client.request(
            "tasks/update",
            {"taskId": task_id, "inputResponses": {key: {"action": "decline"}}},
        )
        assert "result" in again, again


async def test_deny_with_a_message_reaches_the_agent(core_settings: Settings) -> None:
    agent = FakeAgent(steps=[Ask("Bash", {"command": "rm -rf /"}), Say("ok")])
    async with deck(core_settings, agent, policy="ask") as (_, client):
        created = await client.call("create_task", CREATE)
        asked = await client.poll(created["taskId"], {"input_required"})
        (key,) = asked["inputRequests"]
        answer = {"action": "accept", "content": {"decision": "deny", "message": "not that"}}
        await client.result(
            "tasks/update", {"taskId": created["taskId"], "inputResponses": {key: answer}}
        )
        await client.poll(created["taskId"], {"completed"})
        assert agent.answers == [(False, "not that")]


async def test_bad_input_response_is_invalid_params(core_settings: Settings) -> None:
    agent = FakeAgent(steps=[Ask("Bash", {"command": "ls"})])
    async with deck(core_settings, agent, policy="ask") as (_, client):
        created = await client.call("create_task", CREATE)
        asked = await client.poll(created["taskId"], {"input_required"})
        (key,) = asked["inputRequests"]
        bad = await client.request(
            "tasks/update",
            {
                "taskId": created["taskId"],
                "inputResponses": {key: {"action": "accept", "content": {"decision": "maybe"}}},
            },
        )
        assert bad["error"]["code"] == -32602
        assert "allow" in bad["error"]["message"] and "maybe" in bad["error"]["message"]
        assert (await client.get(created["taskId"]))["status"] == "input_required"


async def test_cancel(core_settings: Settings) -> None:
    hang = Hang()
    async with deck(core_settings, FakeAgent(steps=[hang])) as (srv, client):
        created = await client.call("create_task", CREATE)
        with anyio.fail_after(10):
            await hang.reached.wait()
        ack = await client.result("tasks/cancel", {"taskId": created["taskId"]})
        assert ack["resultType"] == "complete"
        done = await client.poll(created["taskId"], {"cancelled"})
        assert "cancel" in done["statusMessage"]
        assert (await srv.deck.core.get(created["taskId"])).status == "cancelled"


async def test_errors(core_settings: Settings) -> None:
    async with deck(core_settings, FakeAgent()) as (_, client):
        created = await client.call("create_task", CREATE)
        for method in ("tasks/get", "tasks/cancel"):
            undeclared = await client.request(method, {"taskId": created["taskId"]}, tasks=False)
            assert undeclared["error"]["code"] == -32021, undeclared
            assert TASKS in undeclared["error"]["message"]
            assert undeclared["error"]["data"]["requiredCapabilities"]["extensions"] == {TASKS: {}}
        for unknown in ("t-000000000000", "nonsense", f"{created['taskId']}:99"):
            missing = await client.request("tasks/get", {"taskId": unknown})
            assert missing["error"]["code"] == -32602, missing
            assert "Task not found" in missing["error"]["message"]
        no_id = await client.request("tasks/get", {})
        assert no_id["error"]["code"] == -32602


async def test_without_the_extension_everything_is_as_before(core_settings: Settings) -> None:
    async with deck(core_settings, FakeAgent()) as (_, client):
        plain = await client.call("create_task", {**CREATE, "wait": True}, tasks=False)
        assert plain.get("resultType", "complete") == "complete"
        envelope: dict[str, Any] = plain["structuredContent"]
        assert envelope["status"] == "success"
        assert envelope["result"]["result_text"] == "do it"


async def test_tasks_are_only_the_owners(core_settings: Settings) -> None:
    async with deck(core_settings, FakeAgent()) as (srv, _):
        core = srv.deck.core
        alice_token, _ = await core.create_token("alice", "write")
        bob_token, _ = await core.create_token("bob", "write")
        admin_token, _ = await core.create_token("root", "admin")
        alice, bob, admin = (RawMcp(srv.url, t) for t in (alice_token, bob_token, admin_token))
        try:
            created = await alice.call("create_task", CREATE)
            task_id = created["taskId"]
            assert (await core.get(task_id)).owner == "alice"
            await alice.poll(task_id, {"completed"})
            for method in ("tasks/get", "tasks/cancel"):
                refused = await bob.request(method, {"taskId": task_id})
                assert refused["error"]["code"] == -32602, refused
            assert (await admin.get(task_id))["status"] == "completed"
        finally:
            for c in (alice, bob, admin):
                await c.aclose()


async def test_listen_with_task_ids_pushes_notifications(core_settings: Settings) -> None:
    gate = Gate()
    async with deck(core_settings, FakeAgent(steps=[gate, Say("pushed")])) as (_, client):
        created = await client.call("create_task", CREATE)
        task_id = created["taskId"]
        async with client.listen({"taskIds": [task_id, "t-000000000000"]}) as stream:
            ack = await stream.next()
            assert ack["method"] == "notifications/subscriptions/acknowledged"
            assert ack["params"]["notifications"]["taskIds"] == [task_id]
            with anyio.fail_after(10):
                await gate.reached.wait()
            gate.open()
            while True:
                note = await stream.next()
                assert note["method"] == "notifications/tasks", note
                assert note["params"]["taskId"] == task_id
                assert "io.modelcontextprotocol/subscriptionId" in note["params"]["_meta"]
                if note["params"]["status"] == "completed":
                    break
            text = note["params"]["result"]["structuredContent"]["result"]["result_text"]
            assert text == "pushed"


async def test_listen_for_tasks_needs_the_extension(core_settings: Settings) -> None:
    async with deck(core_settings, FakeAgent()) as (_, client):
        plain = RawMcp(client.url, tasks=False)
        try:
            async with plain.listen({"taskIds": ["t-000000000000"]}) as stream:
                message = await stream.next()
            assert message["error"]["code"] == -32021, message
        finally:
            await plain.aclose()
