"""Bad input to every tool: a clear error envelope (isError, error.type), nothing changed.

In-process: the SDK's client on the MCP server of a running core with a fake agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from agentdeck.config import Settings
from support.core import create, events_of
from support.mcp import mcp_client
from support.servers import call, read_json, wait_status

pytestmark = pytest.mark.anyio


async def _task_count(client: Client) -> int:
    return int((await read_json(client, "agent://tasks"))["count"])


@pytest.mark.parametrize(
    ("arguments", "kind", "phrase"),
    [
        ({"instructions": "x"}, "validation_error", "title is required"),
        ({"title": "t"}, "validation_error", "instructions is required"),
        ({"title": "", "instructions": "x"}, "validation_error", "title"),
        ({"title": "   ", "instructions": "x"}, "validation_error", "title must not be empty"),
        ({"title": "t", "instructions": ""}, "validation_error", "instructions"),
        ({"title": "t" * 256, "instructions": "x"}, "validation_error", "at most 255"),
        ({"title": "t", "instructions": "x" * 10_001}, "validation_error", "at most 10000"),
        ({"title": 5, "instructions": "x"}, "validation_error", "title"),
        (
            {"title": "t", "instructions": "x", "colour": "red"},
            "validation_error",
            "unknown argument 'colour'",
        ),
        (
            {"title": "t", "instructions": "x", "agent": "nope"},
            "validation_error",
            "unknown agent 'nope'",
        ),
        ({"title": "t", "instructions": "x", "max_turns": 0}, "validation_error", "max_turns"),
        ({"title": "t", "instructions": "x", "max_turns": "3"}, "validation_error", "max_turns"),
        (
            {"title": "t", "instructions": "x", "permission_mode": "yolo"},
            "validation_error",
            "permission_mode",
        ),
        (
            {"title": "t", "instructions": "x", "timeout_seconds": -1},
            "validation_error",
            "timeout_seconds",
        ),
        (
            {"title": "t", "instructions": "x", "project_path": "/"},
            "project_not_allowed",
            "outside the allowed roots",
        ),
        (
            {"title": "t", "instructions": "x", "project_path": "../.."},
            "project_not_allowed",
            "outside the allowed roots",
        ),
        (
            {"title": "t", "instructions": "x", "project_path": "missing-dir"},
            "validation_error",
            "not an existing directory",
        ),
    ],
)
async def test_create_task_refuses_bad_input(
    core_settings: Settings, arguments: dict[str, Any], kind: str, phrase: str
) -> None:
    async with mcp_client(core_settings) as (client, _core):
        result = await call(client, "create_task", **arguments)
        assert result["isError"] is True
        assert result["status"] == "error"
        assert result["error"]["type"] == kind, result
        assert phrase in result["message"], result["message"]
        assert await _task_count(client) == 0


async def test_refusal_says_what_is_accepted(core_settings: Settings) -> None:
    async with mcp_client(core_settings) as (client, _core):
        result = await call(client, "create_task", title="t", instructions="x", colour="red")
        assert "accepted arguments: title, instructions" in result["message"]


@pytest.mark.parametrize("tool", ["update_task", "end_task"])
async def test_unknown_task_id(core_settings: Settings, tool: str) -> None:
    extra = {"instructions": "more"} if tool == "update_task" else {}
    async with mcp_client(core_settings) as (client, _core):
        result = await call(client, tool, id="t-doesnotexist", **extra)
        assert result["isError"] is True
        assert result["error"]["type"] == "not_found"
        assert "t-doesnotexist" in result["message"]
        missing = await call(client, tool, **extra)
        assert missing["error"]["type"] == "validation_error"
        assert "id is required" in missing["message"]


async def test_update_or_end_a_completed_task_is_refused(
    core_settings: Settings, project: Path
) -> None:
    async with mcp_client(core_settings) as (client, core):
        task = await create(core, "t", "SAY hi")
        await core.cancel(task.id)  # never ran: cancelled at once
        events_before = len(await events_of(core, task.id))

        updated = await call(client, "update_task", task_id=task.id, instructions="again")
        assert updated["isError"] is True
        assert updated["error"]["type"] == "invalid_state"
        assert "cancelled" in updated["message"] and "create a new task" in updated["message"]

        ended = await call(client, "end_task", id=task.id)
        assert ended["error"]["type"] == "invalid_state"
        assert "already cancelled" in ended["message"]

        assert (await read_json(client, f"task://{task.id}"))["status"] == "cancelled"
        assert len(await events_of(core, task.id)) == events_before


async def test_update_task_refuses_oversized_instructions(core_settings: Settings) -> None:
    async with mcp_client(core_settings) as (client, core):
        task = await create(core, "t", "SAY hi")
        result = await call(client, "update_task", process=task.id, instructions="x" * 10_001)
        assert result["error"]["type"] == "validation_error"
        stored = await core.get(task.id)
        assert "x" * 10_001 not in stored.queue


async def test_unknown_task_resource_is_an_error(core_settings: Settings) -> None:
    async with mcp_client(core_settings) as (client, _core):
        with pytest.raises(Exception, match="no task with id"):
            await client.read_resource("task://t-nope")


ALL_TOOLS_BAD_INPUT = [
    ("update_task", {"id": "t-x", "instructions": "x", "wait": "yes"}, "wait"),
    ("update_task", {"id": 7, "instructions": "x"}, "id"),
    ("update_task", {"id": "t" * 201, "instructions": "x"}, "id"),
    ("end_task", {"id": "t-x", "force": True}, "unknown argument 'force'"),
    ("cancel_task", {}, "id is required"),
    ("cancel_task", {"id": ["t-x"]}, "id"),
    ("report", {"id": 3}, "id"),
    ("report", {"verbose": True}, "unknown argument 'verbose'"),
    ("report_task", {"id": "x" * 201}, "id"),
    ("check_status", {"deep": True}, "unknown argument 'deep'"),
    ("clean_state", {"keep_recent": "no"}, "keep_recent"),
    ("clean_state", {"dry_run": 1}, "dry_run"),
    ("get_prompt", {"prompt_id": 1}, "prompt_id"),
    ("update_stats", {"include_tasks": "true"}, "include_tasks"),
    ("create_task", {"title": "t", "instructions": "x", "wait": 1}, "wait"),
    ("create_task", {"title": "t", "instructions": "x", "max_wait_seconds": 0}, "max_wait"),
    ("update_task", {"id": "t-x", "task_id": "t-y", "instructions": "x"}, "give one of them"),
    ("create_task", {"title": "t", "instructions": "x", "agent": "a", "tool": "b"}, "tool"),
    ("respond_task", {"id": "t-x", "decision": "maybe"}, "decision"),
    ("merge_task", {"id": "t-x", "strategy": "octopus"}, "strategy"),
    ("discard_task", {"id": "t-x", "keep": True}, "unknown argument 'keep'"),
]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize(("tool", "arguments", "phrase"), ALL_TOOLS_BAD_INPUT)
async def test_every_tool_refuses_bad_arguments(
    core_settings: Settings, tool: str, arguments: dict[str, Any], phrase: str, mode: Any
) -> None:
    async with mcp_client(core_settings, mode=mode) as (client, _core):
        result = await call(client, tool, **arguments)
        assert result["isError"] is True, result
        assert result["error"]["type"] == "validation_error"
        assert phrase in result["message"], result["message"]
        assert "accepted arguments" in result["message"]
        assert await _task_count(client) == 0


@pytest.mark.parametrize("tool", ["end_task", "cancel_task", "report"])
async def test_unknown_ids_everywhere(core_settings: Settings, tool: str) -> None:
    async with mcp_client(core_settings) as (client, _core):
        result = await call(client, tool, id="t-missing")
        assert result["isError"] and result["error"]["type"] == "not_found"


async def test_invalid_transitions_change_nothing(core_settings: Settings) -> None:
    async with mcp_client(core_settings) as (client, core):
        task = await create(core, "t", "SAY hi")
        await wait_status(client, task.id, {"waiting"})
        await core.end(task.id)
        before = await read_json(client, f"task://{task.id}")
        for tool, extra in [
            ("end_task", {}),
            ("cancel_task", {}),
            ("update_task", {"instructions": "more"}),
        ]:
            result = await call(client, tool, id=task.id, **extra)
            assert result["error"]["type"] == "invalid_state", (tool, result)
        after = await read_json(client, f"task://{task.id}")
        assert after["status"] == "completed"
        assert after["logs"] == before["logs"]
