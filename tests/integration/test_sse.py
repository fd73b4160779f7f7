"""``GET /api/events`` over real HTTP, read the way a browser's EventSource reads it
(tests/support/sse.py): a disconnect mid-stream and a reconnect with ``Last-Event-ID``
lose nothing and repeat nothing, compared with the store (``GET /api/tasks/{id}/events``);
``?after=N`` gives exactly the events after N; ids only grow; ``?task=`` filters; with
no cursor the stream starts with new events (docs/rest.md).

The agent is benchmarks/slow_agent.py as a command agent: one ``message`` event per line
it prints, at a pace the test sets, held until a ``--go`` file exists.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from agentdeck.agents.command import CommandAgent
from agentdeck.config import CommandAgentSettings, Settings
from agentdeck.model import TaskStatus
from support.core import create, task_in
from support.paths import REPO
from support.servers import Running, serve
from support.sse import Event, open_stream
from support.waiting import POLL

pytestmark = pytest.mark.anyio

SLOW_AGENT = REPO / "benchmarks" / "slow_agent.py"
DONE = (TaskStatus.WAITING, TaskStatus.FAILED)
ENDED = {"waiting", "failed"}  # the status events that end a ticker task's turn
READ = 30.0  # a deadline for reading what the server has, or will have within seconds


def ticker() -> CommandAgent:
    return CommandAgent(
        "ticker",
        CommandAgentSettings(
            command=[sys.executable, str(SLOW_AGENT), "{instructions}"], version_command=[]
        ),
    )


@asynccontextmanager
async def deck(settings: Settings) -> AsyncIterator[tuple[Running, str, httpx2.AsyncClient]]:
    """The app with the ticker agent; its base URL; an HTTP client with no read timeout."""
    on_ticker = settings.model_copy(update={"default_agent": "ticker"})
    async with (
        serve(on_ticker, {"ticker": ticker()}) as srv,
        httpx2.AsyncClient(timeout=httpx2.Timeout(10, read=None)) as http,
    ):
        yield srv, srv.url.removesuffix("/mcp"), http


async def start(srv: Running, instructions: str, title: str = "sse") -> str:
    task = await create(srv.deck.core, title, instructions, agent="ticker", isolation="none")
    return task.id


async def finished(srv: Running, task_id: str) -> None:
    task = await task_in(srv.deck.core, task_id, *DONE, timeout=60)
    assert task.status == TaskStatus.WAITING, task.error


async def stored(http: httpx2.AsyncClient, base: str, task_id: str) -> list[dict[str, Any]]:
    """Every event of the task, from the store, through the REST pages."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        response = await http.get(
            f"{base}/api/tasks/{task_id}/events", params={"after": after, "limit": 200}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        out.extend(page["events"])
        if not page["more"]:
            return out
        assert page["last_seq"] > after, page
        after = page["last_seq"]


def payload(event: Event) -> dict[str, Any]:
    """The event's JSON object, checked against the contract's fields."""
    assert event.type == "message", event
    data: dict[str, Any] = event.json()
    assert {"task_id", "seq", "kind", "data", "at"} <= data.keys(), data
    assert event.id.isdigit(), event
    if "id" in data:
        assert data["id"] == int(event.id), (data, event.id)
    return data


def keys(events: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(e["task_id"], e["seq"]) for e in events]


def same_events(got: list[dict[str, Any]], store: list[dict[str, Any]]) -> None:
    """The events the stream gave are the store's, in order, each exactly once."""
    assert keys(got) == keys(store), _difference(keys(got), keys(store))
    for mine, truth in zip(got, store, strict=True):
        assert (mine["kind"], mine["data"], mine.get("turn")) == (
            truth["kind"],
            truth["data"],
            truth.get("turn"),
        ), (mine, truth)


def _difference(got: list[tuple[str, int]], want: list[tuple[str, int]]) -> str:
    twice = sorted({k for k in got if got.count(k) > 1})
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    return (
        f"{len(got)} got, {len(want)} stored; "
        f"twice {twice[:5]} missing {missing[:5]} extra {extra[:5]}"
    )


def increasing(ids: list[int]) -> None:
    assert all(a < b for a, b in itertools.pairwise(ids)), ids


async def test_a_reconnect_with_last_event_id_gets_every_event_exactly_once(
    core_settings: Settings, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    async with deck(core_settings) as (srv, base, http):
        task_id = await start(srv, f"--count 400 --every 0.005 --go {go}")
        first: list[dict[str, Any]] = []
        ids: list[int] = []
        url = f"{base}/api/events"
        with anyio.fail_after(READ):
            async with open_stream(http, url, params={"task": task_id, "after": "0"}) as sse:
                go.touch()
                async for event in sse.events():
                    first.append(payload(event))
                    ids.append(int(event.id))
                    if sum(e["kind"] == "message" for e in first) >= 50:
                        break  # a disconnect, mid-stream
                last_id = sse.parser.last_event_id
        assert last_id == str(ids[-1])
        seen = first[-1]["seq"]
        # The agent goes on while nobody listens: these events are only in the store now.
        with anyio.fail_after(READ):
            while len(await stored(http, base, task_id)) < seen + 20:
                await anyio.sleep(POLL)
        assert (await srv.deck.core.get(task_id)).status not in DONE  # still mid-stream

        second: list[dict[str, Any]] = []
        with anyio.fail_after(READ + 30):
            async with open_stream(
                http, url, params={"task": task_id}, last_event_id=last_id
            ) as sse:
                target: int | None = None
                async for event in sse.events():
                    second.append(payload(event))
                    ids.append(int(event.id))
                    last = second[-1]
                    ended = last["kind"] == "status" and last["data"]["to"] in ENDED
                    if target is None and ended:
                        target = (await stored(http, base, task_id))[-1]["seq"]
                    if target is not None and last["seq"] >= target:
                        break
        await finished(srv, task_id)
        store = await stored(http, base, task_id)
        assert second[0]["seq"] == seen + 1, (seen, second[0])
        assert len(second) > 20  # the replay had something to replay
        increasing(ids)
        same_events(first + second, store)
        assert [e["seq"] for e in store] == list(range(1, len(store) + 1))  # gap-free
        assert sum(e["kind"] == "message" for e in store) >= 400


async def read_n(
    http: httpx2.AsyncClient, url: str, n: int, params: dict[str, str]
) -> tuple[list[dict[str, Any]], list[int]]:
    got: list[dict[str, Any]] = []
    ids: list[int] = []
    with anyio.fail_after(READ):
        async with open_stream(http, url, params=params) as sse:
            async for event in sse.events():
                got.append(payload(event))
                ids.append(int(event.id))
                if len(got) == n:
                    break
    return got, ids


async def test_after_n_gives_exactly_the_events_after_n(
    core_settings: Settings,
) -> None:
    async with deck(core_settings) as (srv, base, http):
        tasks = []
        for title in ("one", "two"):
            tasks.append(await start(srv, "--count 30 --every 0", title))
            await finished(srv, tasks[-1])
        store = [e for task_id in tasks for e in await stored(http, base, task_id)]
        url = f"{base}/api/events"
        everything, ids = await read_n(http, url, len(store), {"after": "0"})
        increasing(ids)
        for task_id in tasks:  # both tasks', each once, in order
            same_events(
                [e for e in everything if e["task_id"] == task_id],
                [e for e in store if e["task_id"] == task_id],
            )

        middle = len(everything) // 2
        n = ids[middle]
        # Exactly the events after N, and then nothing until something new happens: the
        # next event after the tail is the new task's first.
        with anyio.fail_after(READ):
            async with open_stream(http, url, params={"after": str(n)}) as sse:
                tail: list[dict[str, Any]] = []
                tail_ids: list[int] = []
                third: str | None = None
                async for event in sse.events():
                    tail.append(payload(event))
                    tail_ids.append(int(event.id))
                    if len(tail) == len(everything) - middle - 1:
                        third = await start(srv, "--count 3 --every 0", "three")
                    elif third is not None:
                        break
        assert tail_ids[0] > n and tail_ids[:-1] == ids[middle + 1 :]
        assert keys(tail[:-1]) == keys(everything[middle + 1 :])
        assert (tail[-1]["task_id"], tail[-1]["seq"]) == (third, 1), tail[-1]
        increasing(tail_ids)
        assert tail_ids[-1] > ids[-1]


async def test_a_task_filter_gives_that_task_only(core_settings: Settings, tmp_path: Path) -> None:
    go = tmp_path / "go"
    async with deck(core_settings) as (srv, base, http):
        one = await start(srv, f"--count 60 --every 0.002 --go {go}", "one")
        two = await start(srv, f"--count 60 --every 0.002 --go {go}", "two")
        go.touch()  # both run at once, their events interleaved in the cursor
        await finished(srv, one)
        await finished(srv, two)
        store = await stored(http, base, one)
        got, ids = await read_n(http, f"{base}/api/events", len(store), {"task": one, "after": "0"})
        increasing(ids)
        same_events(got, store)
        # Nothing of task two between them: its events took cursor ids in between.
        everything, all_ids = await read_n(
            http,
            f"{base}/api/events",
            len(store) + len(await stored(http, base, two)),
            {"after": "0"},
        )
        mine = [i for i, e in zip(all_ids, everything, strict=True) if e["task_id"] == one]
        assert mine == ids
        assert {e["task_id"] for e in everything} == {one, two}


async def test_without_a_cursor_the_stream_starts_with_new_events(
    core_settings: Settings,
) -> None:
    async with deck(core_settings) as (srv, base, http):
        old = await start(srv, "--count 20 --every 0", "old")
        await finished(srv, old)
        with anyio.fail_after(READ):
            async with open_stream(http, f"{base}/api/events") as sse:
                new = await start(srv, "--count 5 --every 0", "new")
                got: list[dict[str, Any]] = []
                async for event in sse.events():
                    got.append(payload(event))
                    if got[-1]["kind"] == "turn_finished":
                        break
        assert {e["task_id"] for e in got} == {new}, got[:3]
        assert [e["seq"] for e in got] == list(range(1, len(got) + 1))


async def test_a_bad_cursor_or_unknown_task_is_a_json_error(core_settings: Settings) -> None:
    async with deck(core_settings) as (_srv, base, http):
        for params, headers, status in (
            ({"after": "-1"}, {}, 400),
            ({"after": "soon"}, {}, 400),
            ({}, {"Last-Event-ID": "x"}, 400),
            ({"task": "t-nope"}, {}, 404),
        ):
            response = await http.get(f"{base}/api/events", params=params, headers=headers)
            assert response.status_code == status, (params, headers, response.text)
            assert response.json()["error"]["message"], response.text


async def test_a_cursor_past_the_largest_id_is_a_json_error(core_settings: Settings) -> None:
    huge = str(2**66)
    async with deck(core_settings) as (_srv, base, http):
        for params, headers in (({"after": huge}, {}), ({}, {"Last-Event-ID": huge})):
            response = await http.get(f"{base}/api/events", params=params, headers=headers)
            assert response.status_code == 400, (params, headers, response.text)
            assert response.json()["error"]["message"], response.text
        task = await http.post(f"{base}/api/tasks", json={"title": "t", "instructions": "x"})
        page = await http.get(
            f"{base}/api/tasks/{task.json()['id']}/events", params={"after": huge}
        )
        assert page.status_code == 400 and "at most" in page.json()["error"]["message"]
