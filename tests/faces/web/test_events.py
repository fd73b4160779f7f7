"""The event stream behind ``/api/events``, in-process: one global cursor, exact replay
from any id, one task's events, and new events as they are stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from sse_starlette import ServerSentEvent

from agentdeck.agents.testing import FakeAgent
from agentdeck.config import Settings
from agentdeck.core import Core
from agentdeck.model import TaskStatus
from agentdeck.web import events as sse
from support.core import create, running, task_in

pytestmark = pytest.mark.anyio


async def take(messages: AsyncIterator[ServerSentEvent], n: int) -> list[dict[str, Any]]:
    out = []
    with anyio.fail_after(10):
        async for message in messages:
            data = json.loads(str(message.data))
            assert message.id == str(data["id"])
            out.append(data)
            if len(out) == n:
                break
    return out


async def stored(core: Core, *task_ids: str) -> list[tuple[str, int]]:
    pairs = []
    for task_id in task_ids:
        page = await core.events(task_id)
        pairs += [(e.task_id, e.seq) for e in page.events]
    return pairs


async def two_tasks(core: Core) -> list[str]:
    ids = [(await create(core, f"t{i}", f"hello {i}")).id for i in range(2)]
    for task_id in ids:
        await task_in(core, task_id, TaskStatus.WAITING)
    return ids


async def test_replay_from_any_cursor_gives_each_event_once(core_settings: Settings) -> None:
    async with running(core_settings, FakeAgent()) as core:
        ids = await two_tasks(core)
        everything = await stored(core, *ids)
        streamed = await take(sse.stream(core, None, 0), len(everything))
        cursors = [m["id"] for m in streamed]
        assert cursors == sorted(set(cursors))  # strictly increasing
        assert sorted((m["task_id"], m["seq"]) for m in streamed) == sorted(everything)
        assert all({"task_id", "seq", "kind", "data", "at"} <= set(m) for m in streamed)
        middle = cursors[len(cursors) // 2]
        rest = await take(sse.stream(core, None, middle), len(cursors) - cursors.index(middle) - 1)
        assert [m["id"] for m in rest] == [c for c in cursors if c > middle]

        one = await take(sse.stream(core, ids[1], 0), len(await stored(core, ids[1])))
        assert {m["task_id"] for m in one} == {ids[1]}
        assert [m["seq"] for m in one] == list(range(1, len(one) + 1))


async def test_without_a_cursor_the_stream_starts_with_new_events(
    core_settings: Settings,
) -> None:
    async with running(core_settings, FakeAgent()) as core:
        old = await two_tasks(core)
        messages = sse.stream(core, None, None)
        async with anyio.create_task_group() as tg:
            got: list[dict[str, Any]] = []

            async def read() -> None:
                got.extend(await take(messages, 1))

            tg.start_soon(read)
            await anyio.wait_all_tasks_blocked()  # the stream is watching
            fresh = await create(core, "new", "hi")
        assert got[0]["task_id"] == fresh.id and got[0]["task_id"] not in old
        assert got[0]["kind"] == "status" and got[0]["data"]["to"] == "pending"


async def test_cursor_refusals(core_settings: Settings) -> None:
    from starlette.requests import Request

    def request(query: str, last_id: str | None = None) -> Request:
        headers = [(b"last-event-id", last_id.encode())] if last_id is not None else []
        return Request({"type": "http", "query_string": query.encode(), "headers": headers})

    assert sse.cursor_of(request("")) is None
    assert sse.cursor_of(request("after=5")) == 5
    assert sse.cursor_of(request("", "7")) == 7
    for bad in ("after=-1", "after=x"):
        with pytest.raises(Exception, match="whole number"):
            sse.cursor_of(request(bad))
    with pytest.raises(Exception, match="disagree"):
        sse.cursor_of(request("after=1", "2"))
