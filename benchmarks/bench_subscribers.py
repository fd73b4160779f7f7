"""Fan-out: 100 subscribers of one task, event → ``notifications/resources/updated``, p99.

A ``ticker`` task (benchmarks/slow_agent.py as a command agent) prints a line every
EVERY seconds, each one event; it logs ``time.time()`` as it prints. Each subscriber
is its own HTTP client; the latency of a notification is its arrival time minus the
print time of the newest line printed before it (the first notification of each line
per subscriber counts; a line with none is "missed"). Both protocol eras, one after
the other (A, B, A, B):

- handshake era: a session, its ``GET /mcp`` SSE stream, ``resources/subscribe``;
- 2026-07-28: a stateless ``subscriptions/listen`` request whose reply streams.

Subscribers are ready (subscribed, or acknowledged) before the task's first line.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Coroutine
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx

from benchmarks.agents import TICKER, ticker_config
from benchmarks.harness import (
    ACCEPT,
    MODERN_VERSION,
    RawMcp,
    Row,
    Size,
    Workdir,
    agentdeck_server,
    innermost,
    mcp_session,
    modern_meta,
    p50,
    p99,
    wait_for,
)

NAME = "subscribers"
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"subscribers": 5, "ticks": 3, "every": 0.2, "rounds": 1},
    "full": {"subscribers": 100, "ticks": 30, "every": 0.2, "rounds": 2},
}
MS = 1000.0

Subscriber = Callable[[str, str, list[float], Callable[[], None]], Coroutine[Any, Any, None]]


async def _updates(lines: Any, uri: str, arrivals: list[float]) -> None:
    """Record the arrival time of every resources/updated of ``uri`` in an SSE line stream."""
    async for line in lines:
        if not line.startswith("data:"):
            continue
        message = json.loads(line[5:])
        if (
            message.get("method") == "notifications/resources/updated"
            and message.get("params", {}).get("uri") == uri
        ):
            arrivals.append(time.time())


async def legacy(url: str, uri: str, arrivals: list[float], ready: Callable[[], None]) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as http:
        session = await RawMcp(http, url).open()
        async with http.stream("GET", url, headers={**session.headers, "Accept": ACCEPT}) as r:
            r.raise_for_status()
            await session.call("resources/subscribe", {"uri": uri})
            ready()
            await _updates(r.aiter_lines(), uri, arrivals)


async def listen(url: str, uri: str, arrivals: list[float], ready: Callable[[], None]) -> None:
    headers = {
        "Accept": ACCEPT,
        "Content-Type": "application/json",
        "MCP-Protocol-Version": MODERN_VERSION,
        "Mcp-Method": "subscriptions/listen",
    }
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "subscriptions/listen",
        "params": {"notifications": {"resourceSubscriptions": [uri]}, "_meta": modern_meta()},
    }
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(30, read=None)) as http,
        http.stream("POST", url, json=body, headers=headers) as r,
    ):
        r.raise_for_status()
        lines = r.aiter_lines()
        async for line in lines:  # the acknowledgement comes first
            if line.startswith("data:") and "subscriptions/acknowledged" in line:
                break
        ready()
        await _updates(lines, uri, arrivals)


async def one_round(
    server_url: str,
    wd: Workdir,
    subscribe: Subscriber,
    n: int,
    sz: dict[str, Any],
    tag: str,
    windowed: bool = True,
) -> tuple[list[float], int]:
    """Latencies (s) of every first notification per line per subscriber, and how many
    (subscriber, line) pairs got none: ``windowed``, one that arrives before the next
    line is printed; else the first after the line, whenever it arrives."""
    go, log = wd.root / f"go-{tag}", wd.root / f"ticks-{tag}.log"
    instructions = f"--count {sz['ticks']} --every {sz['every']} --go {go} --log {log}"
    async with mcp_session(server_url) as control:
        created = await control.tool(
            "create_task",
            {"title": f"Fan-out {tag}", "instructions": instructions, "agent": TICKER},
        )
        if created["isError"]:
            raise RuntimeError(f"create_task: {created}")
        task_id = created["result"]["task_id"]
        uri = f"task://{task_id}"
        arrivals: list[list[float]] = [[] for _ in range(n)]
        ready_count = 0

        def ready() -> None:
            nonlocal ready_count
            ready_count += 1

        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(subscribe, server_url, uri, arrivals[i], ready)

            async def all_ready() -> bool:
                return ready_count == n

            await wait_for(all_ready, 60, "subscribers ready")
            begin = time.time()
            go.touch()

            async def ended() -> bool:
                task = await control.read_json(uri)
                return task["status"] not in ("pending", "in_progress")

            await wait_for(ended, 60 + sz["ticks"] * sz["every"], "ticker task ended", 0.05)
            ticks = [float(line.split()[1]) for line in log.read_text().splitlines()]

            async def all_heard() -> bool:  # every subscriber heard of the last line
                return all(a and a[-1] >= ticks[-1] for a in arrivals)

            with suppress(TimeoutError):
                await wait_for(all_heard, 5, "last notifications")
            tg.cancel_scope.cancel()
    latencies: list[float] = []
    missed = 0
    for got in arrivals:
        got = [a for a in got if a >= begin]
        for i, tick in enumerate(ticks):
            following = ticks[i + 1] if windowed and i + 1 < len(ticks) else float("inf")
            first = next((a for a in got if tick <= a < following), None)
            if first is None:
                missed += 1
            else:
                latencies.append(first - tick)
    return latencies, missed


async def run(size: Size) -> list[Row]:
    sz = SIZES[size]
    n = sz["subscribers"]
    eras: dict[str, Subscriber] = {"legacy": legacy, "listen": listen}
    plan = [(era, count) for era in eras for count in (n, 1)]  # 1 subscriber: the baseline
    latencies: dict[tuple[str, int], list[float]] = {key: [] for key in plan}
    missed = dict.fromkeys(plan, 0)
    broken: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-subscribers-") as tmp:
        wd = Workdir(Path(tmp) / "fanout", config=ticker_config())
        async with agentdeck_server(wd) as server:
            for r in range(sz["rounds"]):  # interleaved: n, 1, n, 1 ... per era
                for era, count in plan:
                    if era in broken:
                        continue
                    try:
                        got, lost = await one_round(
                            server.mcp_url, wd, eras[era], count, sz, f"{era}-{count}-{r}"
                        )
                    except Exception as exc:
                        leaf = innermost(exc)
                        broken[era] = f"{type(leaf).__name__}: {leaf}"[:160]
                        continue
                    latencies[era, count] += got
                    missed[era, count] += lost
    rows: list[Row] = []
    for era, label in (("legacy", "resources/subscribe"), ("listen", "subscriptions/listen")):
        figure = f"{n} subscribers ({label}): event → resources/updated p99 (vs 1 subscriber)"
        if era in broken or not latencies[era, n]:
            rows.append(
                Row(figure, "≤ 100 ms", None, note=f"error: {broken.get(era)}", status="error")
            )
            continue
        worst = p99(latencies[era, n]) * MS
        rows.append(
            Row(
                figure,
                "≤ 100 ms",
                worst,
                baseline=p99(latencies[era, 1]) * MS if latencies[era, 1] else None,
                met=worst <= 100 and missed[era, n] == 0,
                note=f"p50 {p50(latencies[era, n]) * MS:.1f} ms, {len(latencies[era, n])} "
                f"notifications, {missed[era, n]} missed",
            )
        )
    return rows
