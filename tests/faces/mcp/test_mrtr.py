"""2026-07-28 clients without the Tasks extension: a ``wait: true`` call that meets a
decision answers ``InputRequiredResult``; the official SDK client's retry with the
answer settles it (the one decision path) and the call returns when the turn ends."""

from __future__ import annotations

from typing import Any

import mcp.types as types
import pytest
from mcp import Client

from agentdeck.agents.testing import Ask, FakeAgent, Say
from agentdeck.config import Settings
from support.servers import serve

pytestmark = pytest.mark.anyio


def _settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"approval_policy": "ask", "default_agent": "fake"})


async def test_wait_true_asks_by_input_required_and_the_retry_settles(
    core_settings: Settings,
) -> None:
    agent = FakeAgent(steps=[Ask("Bash", {"command": "make"}), Say("built")])
    asked: list[types.ElicitRequestParams] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept", content={"decision": "allow"})

    async with (
        serve(_settings(core_settings), agents={"fake": agent}) as srv,
        Client(srv.url, elicitation_callback=elicit) as client,
    ):
        assert client.session.protocol_version == "2026-07-28"  # type: ignore[union-attr]
        result = await client.call_tool(
            "create_task", {"title": "Build", "instructions": "make it", "wait": True}
        )
        envelope = result.structured_content or {}
        assert not result.is_error, result
        assert envelope["result"]["result_text"] == "built"
        assert len(asked) == 1 and "make" in asked[0].message
        assert agent.answers == [(True, "")]
        tasks = await srv.deck.core.tasks()
        assert tasks.count == 1  # the retry did not create a second task
        (task,) = tasks.tasks
        events = await srv.deck.core.events(task.id)
        decided = [e.data for e in events.events if e.data.get("source") == "approvals"]
        assert decided[0]["decision"] == "allow" and decided[0]["by"] == "loopback"


async def test_a_denial_by_input_required_reaches_the_agent(core_settings: Settings) -> None:
    agent = FakeAgent(steps=[Ask("Bash", {"command": "rm -rf build"}), Say("fine")])

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(
            action="accept", content={"decision": "deny", "message": "keep the build"}
        )

    async with (
        serve(_settings(core_settings), agents={"fake": agent}) as srv,
        Client(srv.url, elicitation_callback=elicit) as client,
    ):
        first = await client.call_tool(
            "create_task", {"title": "Clean", "instructions": "clean", "wait": True}
        )
        task_id = (first.structured_content or {})["result"]["task_id"]
        assert agent.answers == [(False, "keep the build")]
        # update_task waits the same way (the next turn asks again)
        again = await client.call_tool(
            "update_task", {"id": task_id, "instructions": "again", "wait": True}
        )
        assert not again.is_error, again
        assert agent.answers == [(False, "keep the build"), (False, "keep the build")]


async def test_without_elicitation_the_wait_goes_on_as_before(core_settings: Settings) -> None:
    agent = FakeAgent(steps=[Ask("Bash", {"command": "ls"}), Say("done")])
    async with (
        serve(_settings(core_settings), agents={"fake": agent}) as srv,
        Client(srv.url) as client,
    ):
        result = await client.call_tool(
            "create_task",
            {"title": "T", "instructions": "x", "wait": True, "max_wait_seconds": 0.5},
        )
        envelope = result.structured_content or {}
        assert envelope["result"]["wait_timed_out"] is True
        assert envelope["result"]["status"] == "input_required"
        assert srv.deck.core.pending().count == 1
