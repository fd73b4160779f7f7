"""The core loop through the real Claude Code binary against the fake model, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import anyio
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.subscriptions import ResourceUpdated

from agentdeck.config import Settings
from agentdeck.model import TaskStatus
from agentdeck.proctree import alive_members
from fakes.fake_anthropic import FakeAnthropic, digest
from support.agents import LONG_COMMAND
from support.servers import call, read_json, serve, wait_status
from support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]


async def test_create_update_end_with_live_updates(
    settings: Settings, project: Path, fake_model: FakeAnthropic
) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        created = await call(
            client, "create_task", title="Write hello", instructions="WRITE hello.txt hi there"
        )
        assert created["status"] == "success", created
        task_id = created["result"]["task_id"]
        assert created["result"]["description"] == "Write hello"
        assert created["result"]["tool"] == "claude"

        async with client.listen(resource_subscriptions=[f"task://{task_id}"]) as updates:
            with anyio.fail_after(60):
                async for event in updates:
                    assert event == ResourceUpdated(uri=f"task://{task_id}")
                    task = await read_json(client, f"task://{task_id}")
                    if task["status"] == "waiting":
                        break

        assert (project / "hello.txt").read_text() == "hi there"
        assert task["session_id"]
        assert task["result_text"].endswith(f"[{digest('WRITE hello.txt hi there')}]")
        assert task["cost_usd"] > 0
        assert task["tokens"]["input"] > 0 and task["tokens"]["output"] > 0
        assert task["num_turns"] == 2
        assert str(project / "hello.txt") in task["files_affected"]
        assert [i["tool"] for i in task["tool_invocations"]] == ["Write"]
        first_cost = task["cost_usd"]

        # update_task continues the same conversation (resume): the model sees turn 1.
        before = len(fake_model.message_requests())
        updated = await call(client, "update_task", id=task_id, instructions="SAY second turn here")
        assert updated["status"] == "success", updated
        assert updated["result"]["instructions_sent"] is True
        task = await wait_status(client, task_id, {"waiting", "failed"})
        assert task["status"] == "waiting", task.get("error")
        second = fake_model.message_requests()[before]
        texts = FakeAnthropic.user_texts(second)
        assert "WRITE hello.txt hi there" in texts and "SAY second turn here" in texts
        assert task["session_id"] == updated["result"]["session_id"]
        assert task["turns"] == 2
        assert task["cost_usd"] > first_cost

        # update_task also accepts the agent session id as the id (old clients do this).
        ended = await call(client, "end_task", task_id=task["session_id"])
        assert ended["status"] == "success", ended
        assert ended["result"]["status"] == "completed"
        assert ended["result"]["duration"].endswith("s")
        assert ended["result"]["summary"]["logs_count"] > 5
        task = await read_json(client, f"task://{task_id}")
        assert task["status"] == "completed"


async def test_cancel_long_turn_kills_agent_and_children(
    settings: Settings, project: Path, fake_model: FakeAnthropic
) -> None:
    async with serve(settings) as srv, Client(srv.url, mode="legacy") as client:
        created = await call(
            client,
            "create_task",
            title="Sleepy",
            instructions=f"BASH {LONG_COMMAND}; echo never > late.txt",
        )
        task_id = created["result"]["task_id"]
        events = await wait_status(client, task_id, {"in_progress"})
        assert events["status"] == "in_progress"

        # Wait until the Bash tool runs: the agent has a shell and a sleeping python.
        def sleeper_running() -> list[int]:
            members = alive_members(None, marker=task_id)
            return members if len(members) >= 3 else []

        members = await wait_until(sleeper_running, timeout=60)
        ended = await call(client, "end_task", id=task_id)
        assert ended["status"] == "success", ended
        assert ended["result"]["status"] == "cancelled"
        task = await read_json(client, f"task://{task_id}")
        assert task["status"] == "cancelled"
        assert "ended by the user" in task["logs"][-1]["text"]
        assert alive_members(None, marker=task_id) == []
        assert all(not Path(f"/proc/{p}").exists() or _zombie(p) for p in members)
        assert not (project / "late.txt").exists()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")
    except OSError:
        return True


async def test_api_error_fails_task_with_model_message(
    settings: Settings, fake_model: FakeAnthropic
) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        created = await call(
            client, "create_task", title="Boom", instructions="ERROR 529 model is overloaded"
        )
        task = await wait_status(client, created["result"]["task_id"], {"failed", "waiting"})
        assert task["status"] == "failed"
        assert "overloaded" in task["error"]
        assert "529" in task["error"]


async def test_legacy_era_subscribe_receives_updates(
    settings: Settings, fake_model: FakeAnthropic
) -> None:
    received: list[str] = []
    got = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            received.append(str(message.params.uri))
            got.set()

    async with (
        serve(settings) as srv,
        Client(srv.url, mode="legacy", message_handler=on_message) as client,
    ):
        created = await call(client, "create_task", title="Hi", instructions="SAY hello")
        task_id = created["result"]["task_id"]
        await client.session.subscribe_resource(f"task://{task_id}")
        task = await wait_status(client, task_id, {"waiting", "failed"})
        assert task["status"] == TaskStatus.WAITING
        with anyio.fail_after(10):
            await got.wait()
        assert f"task://{task_id}" in received
