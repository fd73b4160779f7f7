"""agent://tasks: paged by cursor, filtered by status, compact JSON; bad filters refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import TextResourceContents

from agentdeck.agents.testing import FakeAgent, Hang, echo
from agentdeck.config import Settings
from agentdeck.mcp.resources import PAGE_SIZE
from agentdeck.mcp.tools.info import REPORT_LIMIT
from agentdeck.model import TaskStatus
from support.core import create, task_in
from support.mcp import mcp_client

pytestmark = pytest.mark.anyio


async def text_of(client: Client, uri: str) -> str:
    result = await client.read_resource(uri)
    content = result.contents[0]
    assert isinstance(content, TextResourceContents)
    return content.text


async def json_of(client: Client, uri: str) -> Any:
    return json.loads(await text_of(client, uri))


async def test_tasks_are_paged_and_filtered(core_settings: Settings) -> None:
    hang = Hang()
    agent = FakeAgent(script=lambda r: [hang] if r.instructions == "hang" else echo(r))
    async with mcp_client(core_settings, agent) as (client, core):
        hanging = await create(core, "busy", "hang")
        await task_in(core, hanging.id, TaskStatus.IN_PROGRESS)
        done = [await create(core, f"t{i}", "hi") for i in range(PAGE_SIZE + 1)]
        for task in done:
            await task_in(core, task.id, TaskStatus.WAITING)
        text = await text_of(client, "agent://tasks")
        assert ": " not in text[:200] and "\n" not in text  # compact
        first = json.loads(text)
        assert first["count"] == PAGE_SIZE + 2 and len(first["tasks"]) == PAGE_SIZE
        rest = await json_of(client, f"agent://tasks?cursor={first['next_cursor']}")
        ids = {t["id"] for t in first["tasks"]} | {t["id"] for t in rest["tasks"]}
        assert len(ids) == PAGE_SIZE + 2 and rest["next_cursor"] is None
        busy = await json_of(client, "agent://tasks?status=in_progress,pending")
        assert [t["id"] for t in busy["tasks"]] == [hanging.id] and busy["count"] == 1
        with pytest.raises(MCPError, match="statuses"):
            await client.read_resource("agent://tasks?status=nope")


async def test_report_lists_the_newest_and_pages_on_through_agent_tasks(
    core_settings: Settings,
) -> None:
    async with mcp_client(core_settings, FakeAgent()) as (client, core):
        made = [await create(core, f"t{i}", "hi") for i in range(REPORT_LIMIT + 3)]
        for task in made:
            await task_in(core, task.id, TaskStatus.WAITING)
        result = await client.call_tool("report", {})
        report = (result.structured_content or {})["result"]
        assert report["statistics"]["total_tasks"] == REPORT_LIMIT + 3
        listed = [t["id"] for t in report["tasks"]]
        assert listed == [t.id for t in reversed(made)][:REPORT_LIMIT]  # newest first
        rest = await json_of(client, f"agent://tasks?cursor={report['next_cursor']}")
        assert [t["id"] for t in rest["tasks"]] == [t.id for t in reversed(made[:3])]


async def test_the_cost_ledger_is_a_resource(core_settings: Settings) -> None:
    async with mcp_client(core_settings, FakeAgent()) as (client, core):
        task = await create(core, "t", "hi")
        await task_in(core, task.id, TaskStatus.WAITING)
        ledger = await json_of(client, "agent://costs")
        assert ledger["total"]["tasks"] == 1 and ledger["total"]["cost_usd"] == 0.0
        assert [line["key"] for line in ledger["by_agent"]] == ["fake"]


async def test_workers_on_one_machine_are_none_and_routing_wishes_are_refused(
    core_settings: Settings,
) -> None:
    async with mcp_client(core_settings, FakeAgent()) as (client, _):
        listing = await json_of(client, "agent://workers")
        assert listing == {"dispatch": "here", "count": 0, "workers": []}
        result = await client.call_tool(
            "create_task", {"title": "t", "instructions": "hi", "labels": {"gpu": "yes"}}
        )
        envelope = result.structured_content or {}
        assert result.is_error and envelope["error"]["type"] == "validation_error"
        assert "this server runs its tasks itself" in envelope["message"]


async def test_steer_task_says_it_was_queued_behind_the_turn(core_settings: Settings) -> None:
    async with mcp_client(core_settings, FakeAgent(script=lambda r: [Hang()])) as (client, core):
        task = await create(core, "t", "work")
        await task_in(core, task.id, TaskStatus.IN_PROGRESS)
        result = await client.call_tool("steer_task", {"id": task.id, "instructions": "also"})
        envelope = result.structured_content or {}
        assert envelope["result"]["delivered"] == "queued", envelope
        assert (await core.get(task.id)).queue == ["also"]
