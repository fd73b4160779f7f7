"""Plays a client written for the old system: its exact calls, names and envelope fields,
over real HTTP with the official MCP client, in both protocol eras."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp import Client
from mcp.client.subscriptions import ResourcesListChanged

from agentdeck.config import Settings
from support.agents import LONG_COMMAND
from support.core import create
from support.servers import call, read_json, serve, wait_status

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]

ERAS = ["modern", "legacy"]


def _client(url: str, era: str, **kwargs: Any) -> Client:
    return Client(url, mode="legacy", **kwargs) if era == "legacy" else Client(url, **kwargs)


def _envelope_ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["isError"] is False, result
    assert result["status"] == "success"
    assert isinstance(result["message"], str) and result["message"]
    return dict(result["result"])


@pytest.mark.parametrize("era", ERAS)
async def test_old_client_session(settings: Settings, project: Path, era: str) -> None:
    async with serve(settings) as srv, _client(srv.url, era) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {
            "create_task",
            "update_task",
            "end_task",
            "report",
            "report_task",
            "check_status",
            "clean_state",
            "update_stats",
            "cancel_task",
        } <= names

        # create_task with the old `tool` name for the agent, blocking with progress.
        progress: list[tuple[float, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, message))

        raw = await client.call_tool(
            "create_task",
            {
                "title": "Notes",
                "instructions": "WRITE notes.md hello\nSAY noted",
                "tool": "CLAUDECODE",
                "wait": True,
            },
            progress_callback=on_progress,
        )
        created = _envelope_ok({**(raw.structured_content or {}), "isError": raw.is_error})
        task_id = created["task_id"]
        assert created["description"] == "Notes"
        assert created["tool"] == "claude"
        assert created["status"] == "waiting"
        assert created["session_id"]
        assert created["created_at"]
        assert created["result_text"].startswith("noted")
        assert (project / "notes.md").read_text() == "hello"
        assert progress, "no progress notifications"
        assert any(m and "last tool: Write" in m for _, m in progress)

        # update_task with the old `process` alias.
        updated = _envelope_ok(
            await call(client, "update_task", process=task_id, instructions="SAY again")
        )
        assert updated["instructions_sent"] is True
        assert updated["id"] == updated["task_id"] == task_id
        await wait_status(client, task_id, {"waiting"})

        one = _envelope_ok(await call(client, "report", id=task_id))
        assert one["id"] == task_id and one["logs_count"] > 0
        assert len(one["recent_logs"]) == 5
        assert one["duration_human"].endswith("s")
        everything = _envelope_ok(await call(client, "report_task"))
        stats = everything["statistics"]
        assert stats["total_tasks"] == 1 and stats["by_status"] == {"waiting": 1}
        assert stats["by_tool"] == {"claude": 1} and stats["total_logs"] > 0
        assert [t["id"] for t in everything["tasks"]] == [task_id]

        status = _envelope_ok(await call(client, "check_status"))
        assert status["status"] == "active"
        assert status["agents"]["claude"]["available"] is True
        assert status["agents"]["claude"]["version"]
        assert status["tasks"]["total"] == 1

        prompts = _envelope_ok(await call(client, "get_prompt"))
        assert {p["name"] for p in prompts["prompts"]} >= {
            "fix_bug",
            "create_unit_tests",
            "create_react_component",
        }
        fix_bug = _envelope_ok(await call(client, "get_prompt", prompt_id="fix_bug"))
        assert "bug_description" in [a["name"] for a in fix_bug["prompt"]["arguments"]]
        unknown = await call(client, "get_prompt", prompt_id="nope")
        assert unknown["isError"] and "fix_bug" in unknown["message"]

        system = _envelope_ok(await call(client, "update_stats", include_sessions=False))
        assert system["tasks"]["total_tasks"] == 1 and "sessions" not in system

        # Resources of the contract.
        listing = await read_json(client, "agent://tasks")
        assert listing["count"] == 1 and listing["tasks"][0]["description"] == "Notes"
        assert await read_json(client, "task://list") == listing
        agent_status = await read_json(client, "agent://status")
        assert agent_status["tasks"]["total"] == 1
        logs = (await client.read_resource(f"task://{task_id}/logs")).contents[0]
        assert "tool Write" in logs.text  # type: ignore[union-attr]
        result = await read_json(client, f"task://{task_id}/result")
        assert result["status"] == "waiting" and result["result"].startswith("again")
        assert result["session_id"] == created["session_id"] and result["cost_usd"] > 0
        page = await read_json(client, f"task://{task_id}/events?after=0&limit=3")
        assert [e["seq"] for e in page["events"]] == [1, 2, 3] and page["more"] is True
        rest = await read_json(client, f"task://{task_id}/events?after=3")
        assert rest["events"][0]["seq"] == 4 and rest["more"] is False

        # end_task with the old `task_id` alias.
        ended = _envelope_ok(await call(client, "end_task", task_id=task_id))
        assert ended["status"] == "completed" and ended["session_closed"] is True
        assert set(ended["summary"]) >= {"logs_count", "final_state", "ended_at"}

        # clean_state keeps recent tasks by default; dry run lists without deleting.
        kept = _envelope_ok(await call(client, "clean_state"))
        assert kept["deleted_tasks"] == 0
        dry = _envelope_ok(await call(client, "clean_state", keep_recent=False, dry_run=True))
        assert dry["task_ids"] == [task_id]
        assert (await read_json(client, "agent://tasks"))["count"] == 1
        gone = _envelope_ok(await call(client, "clean_state", keep_recent=False))
        assert gone == {"deleted_tasks": 1, "task_ids": [task_id], "dry_run": False}
        assert (await read_json(client, "agent://tasks"))["count"] == 0


async def test_cancel_task_keeps_task_and_clean_state_spares_running(settings: Settings) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        created = await call(
            client,
            "create_task",
            title="Long",
            instructions=f"BASH {LONG_COMMAND}",
        )
        task_id = created["result"]["task_id"]
        await wait_status(client, task_id, {"in_progress"})
        spared = await call(client, "clean_state", keep_recent=False)
        assert spared["result"]["deleted_tasks"] == 0
        cancelled = await call(client, "cancel_task", id=task_id)
        assert cancelled["result"]["status"] == "cancelled"
        task = await read_json(client, f"task://{task_id}")
        assert task["status"] == "cancelled" and task["logs"]
        again = await call(client, "cancel_task", id=task_id)
        assert again["isError"] and again["error"]["type"] == "invalid_state"


async def test_wait_that_times_out_still_returns_the_task_id(settings: Settings) -> None:
    async with serve(settings) as srv, Client(srv.url) as client:
        created = await call(
            client,
            "create_task",
            title="Slow",
            instructions="DELAY 30\nSAY late",
            wait=True,
            max_wait_seconds=1,
        )
        assert created["status"] == "success"
        assert created["result"]["wait_timed_out"] is True
        assert created["result"]["status"] in {"pending", "in_progress"}
        task_id = created["result"]["task_id"]
        assert (await read_json(client, f"task://{task_id}"))["status"] in {
            "pending",
            "in_progress",
        }
        await call(client, "cancel_task", id=task_id)


async def test_resources_list_pages_and_list_changed_reaches_every_client(
    settings: Settings,
) -> None:
    legacy_changes = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceListChangedNotification):
            legacy_changes.set()

    async with (
        serve(settings) as srv,
        Client(srv.url) as modern,
        Client(srv.url, mode="legacy", message_handler=on_message) as legacy,
    ):
        await legacy.list_tools()  # the legacy session is known to the server
        async with modern.listen(resources_list_changed=True) as changes:
            ids = [(await create(srv.deck.core, f"t{i}", "SAY hi")).id for i in range(3)]
            with anyio.fail_after(10):
                async for event in changes:
                    if event == ResourcesListChanged():
                        break
            with anyio.fail_after(10):
                await legacy_changes.wait()
        for task_id in ids:
            await wait_status(modern, task_id, {"waiting", "failed"})

        from agentdeck.mcp import resources

        resources.PAGE_SIZE, old = 2, resources.PAGE_SIZE
        try:
            uris: list[str] = []
            cursor = None
            pages = 0
            while True:
                page = await legacy.list_resources(cursor=cursor)
                uris += [str(r.uri) for r in page.resources]
                pages += 1
                cursor = page.next_cursor
                if not cursor:
                    break
        finally:
            resources.PAGE_SIZE = old
        assert pages == 2
        assert {f"task://{i}" for i in ids} <= set(uris)
        assert "agent://status" in uris
        assert len(uris) == len(set(uris))
