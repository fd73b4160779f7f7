"""Request cost over HTTP MCP, and whether reads stay flat as history grows.

Three ``agentdeck serve`` processes on states filled through the store beforehand
(benchmarks/fill.py), and the bare Starlette hello app, all running at once; every
round sends one request of each kind, in turn, over a raw JSON-RPC client (httpx, one
keep-alive connection per server, a handshake-era session):

- ``tools/list`` on a state of 10 tasks, against the hello app's ``POST /mcp``;
- ``resources/read task://{id}`` of a task of 1k events and of one of 100k events
  (same server), and the last page of the big one's ``task://{id}/events?after=``
  against its first page;
- ``tools/call report {}`` at 10 tasks and at 10,000 tasks (10 events each);
- ``agent://tasks`` at 10,000 tasks: its size in bytes, paged or not, compact or not.

Figures are medians; each kind stops at ROUNDS samples or when the round budget is
spent (reads that are slow today would otherwise take minutes).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx2 as httpx

from agentdeck.mcp.tools.info import REPORT_LIMIT
from benchmarks.fill import fill
from benchmarks.harness import (
    McpError,
    Row,
    Size,
    Workdir,
    launch_agentdeck,
    launch_hello,
    mcp_session,
    not_built,
    p50,
    running,
)

NAME = "requests"
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"rounds": 10, "budget": 5, "big_events": 10_000, "big_tasks": 200},
    "full": {"rounds": 200, "budget": 90, "big_events": 100_000, "big_tasks": 10_000},
}
SMALL_EVENTS = 1_000
SMALL_TASKS = 10
PAGE_TASKS = REPORT_LIMIT  # report {} lists this many: at this many tasks its page is full
EVENTS_PER_TASK = 10
MS = 1000.0


class HelloClient:
    """The baseline request: a JSON-RPC body POSTed to the hello app, its JSON parsed."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url, self.n = http, url, 0

    async def call(self) -> dict[str, Any]:
        self.n += 1
        body = {"jsonrpc": "2.0", "id": self.n, "method": "tools/list"}
        response = await self.http.post(self.url, json=body)
        response.raise_for_status()
        return dict(response.json())


def _fmt_count(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


async def run(size: Size) -> list[Row]:
    sz = SIZES[size]
    big_events, big_tasks = sz["big_events"], sz["big_tasks"]
    with tempfile.TemporaryDirectory(prefix="bench-requests-") as tmp:
        base = Path(tmp)
        small = Workdir(base / "small")
        many = Workdir(base / "many")
        page = Workdir(base / "page")
        history = Workdir(base / "history")
        await fill(small.db_path, small.project, SMALL_TASKS, EVENTS_PER_TASK)
        await fill(many.db_path, many.project, big_tasks, EVENTS_PER_TASK)
        await fill(page.db_path, page.project, PAGE_TASKS, EVENTS_PER_TASK)
        (short_id,) = await fill(history.db_path, history.project, 1, SMALL_EVENTS)
        (long_id,) = await fill(history.db_path, history.project, 1, big_events)

        async with AsyncExitStack() as stack:
            launched = [launch_agentdeck(w) for w in (small, many, history, page)]
            launched.append(launch_hello(base / "hello"))
            s_small, s_many, s_history, s_page, s_hello = [
                await stack.enter_async_context(running(p)) for p in launched
            ]
            m_small = await stack.enter_async_context(mcp_session(s_small.mcp_url))
            m_many = await stack.enter_async_context(mcp_session(s_many.mcp_url))
            m_history = await stack.enter_async_context(mcp_session(s_history.mcp_url))
            m_page = await stack.enter_async_context(mcp_session(s_page.mcp_url))
            http = await stack.enter_async_context(httpx.AsyncClient(timeout=60))
            hello = HelloClient(http, s_hello.mcp_url)

            # what agent://tasks returns at many tasks, once
            listing = await m_many.read("agent://tasks")
            listed = json.loads(listing)
            listed_by = {  # how many tasks each report {} lists
                name: len((await m.tool("report", {}))["result"]["tasks"])
                for name, m in (("small", m_small), ("page", m_page), ("many", m_many))
            }
            last_after = big_events - 1000  # fill() writes about big_events events

            trials: dict[str, Callable[[], Awaitable[Any]]] = {
                "hello": hello.call,
                "tools/list": lambda: m_small.call("tools/list"),
                "task small": lambda: m_history.read(f"task://{short_id}"),
                "task big": lambda: m_history.read(f"task://{long_id}"),
                "events first": lambda: m_history.read(f"task://{long_id}/events?after=0"),
                "events last": lambda: m_history.read(
                    f"task://{long_id}/events?after={last_after}"
                ),
                "report small": lambda: m_small.tool("report", {}),
                "report many": lambda: m_many.tool("report", {}),
                "report page": lambda: m_page.tool("report", {}),
                "agent://tasks": lambda: m_many.read("agent://tasks"),
            }
            times: dict[str, list[float]] = {name: [] for name in trials}
            broken: dict[str, str] = {}
            spent: dict[str, float] = dict.fromkeys(trials, 0.0)
            for _ in range(sz["rounds"]):
                for name, trial in trials.items():
                    if name in broken or (spent[name] > sz["budget"] and len(times[name]) >= 3):
                        continue
                    start = time.perf_counter()
                    try:
                        await trial()
                    except (McpError, httpx.HTTPStatusError) as exc:
                        broken[name] = str(exc)[:120]
                        continue
                    took = time.perf_counter() - start
                    times[name].append(took)
                    spent[name] += took

    def ms(name: str) -> float:
        return p50(times[name]) * MS

    hello_ms = ms("hello")
    rows = [
        Row(
            "tools/list p50 (vs Starlette hello request)",
            "≤ 3 ms",
            ms("tools/list"),
            baseline=hello_ms,
            met=ms("tools/list") <= 3,
        ),
        Row(
            f"task://{{id}} p50 at {_fmt_count(SMALL_EVENTS)} events (vs hello request)",
            "≤ 5 ms",
            ms("task small"),
            baseline=hello_ms,
            met=ms("task small") <= 5,
        ),
        Row(
            f"task://{{id}} p50 at {_fmt_count(big_events)} events (vs at "
            f"{_fmt_count(SMALL_EVENTS)})",
            "≤ 5 ms, ≤ 1.5×",
            ms("task big"),
            baseline=ms("task small"),
            met=ms("task big") <= 5 and ms("task big") <= 1.5 * ms("task small"),
            note=""
            if len(times["task big"]) == sz["rounds"]
            else f"{len(times['task big'])} samples (round budget spent)",
        ),
    ]
    if "events first" in broken or "events last" in broken:
        rows.append(
            not_built(
                "task://{id}/events?after= last page (vs first)",
                "≤ 1.5×",
                broken.get("events last") or broken["events first"],
            )
        )
    else:
        rows.append(
            Row(
                f"task://{{id}}/events?after= last page at {_fmt_count(big_events)} (vs first)",
                "≤ 1.5×",
                ms("events last"),
                baseline=ms("events first"),
                met=ms("events last") <= 1.5 * ms("events first"),
            )
        )
    rows.append(
        Row(
            f"report {{}} p50 at {big_tasks:,} tasks (vs {SMALL_TASKS} tasks)",
            "≤ 1.5×",
            ms("report many"),
            baseline=ms("report small"),
            met=ms("report many") <= 1.5 * ms("report small"),
            note=f"it lists {listed_by['many']} tasks there, {listed_by['small']} at "
            f"{SMALL_TASKS}: see the next row for the same page",
        )
    )
    rows.append(
        Row(
            f"report {{}} p50 at {big_tasks:,} tasks (vs {PAGE_TASKS} tasks: the same page)",
            "≤ 1.5× (no growth with history)",
            ms("report many"),
            baseline=ms("report page"),
            met=ms("report many") <= 1.5 * ms("report page"),
            note=f"both list {listed_by['many']} and {listed_by['page']} tasks",
        )
    )
    paged = bool(listed.get("next_cursor")) and len(listed.get("tasks", [])) < big_tasks
    compact = "\n" not in listing
    rows.append(
        Row(
            f"agent://tasks at {big_tasks:,} tasks: bytes of a read",
            "paged by cursor, compact",
            float(len(listing.encode())),
            unit="B",
            met=paged and compact,
            note=(
                f"{len(listed.get('tasks', []))} of {big_tasks:,} tasks listed, "
                f"{'paged (next_cursor)' if paged else 'NOT paged'}, "
                f"{'compact' if compact else 'pretty-printed'} JSON; read p50 "
                f"{ms('agent://tasks'):.1f} ms"
            ),
        )
    )
    for name, why in broken.items():
        if not name.startswith("events"):
            rows.append(not_built(name, "—", why))
    return rows
