"""50 running tasks streaming: request p99 and server RSS, and again after 10× more events.

50 ``ticker`` tasks (benchmarks/slow_agent.py as a command agent, ``max_running`` 50)
each print a line (an event) every EVERY seconds. A probe client (one handshake-era
session) sends ``tools/list``, ``resources/read task://{id}`` (a random running task)
and ``resources/read agent://tasks`` in turn, one request every PACE seconds, for
WINDOW seconds, in three phases on the same server:

0. baseline: the 50 tasks running (agents started) but not printing yet;
1. once the tasks have printed FIRST events in all;
2. once they have printed 10× FIRST.

The server's RSS (psutil) is read at the end of each phase. The tasks are then told
to stop and the server is stopped.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from benchmarks.agents import TICKER, ticker_config
from benchmarks.harness import (
    RawMcp,
    Row,
    Size,
    Workdir,
    agentdeck_server,
    mcp_session,
    p99,
    rss_bytes,
    wait_for,
)

NAME = "streaming"
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"tasks": 5, "every": 0.01, "first": 100, "window": 0.5},
    "full": {"tasks": 50, "every": 0.025, "first": 5_000, "window": 10.0},
}
PACE = 0.02  # seconds between two probe requests
KINDS = ("tools/list", "task://{id}", "agent://tasks")
MS = 1000.0
MB = 1e6


async def probe(mcp: RawMcp, uris: list[str], seconds: float) -> dict[str, list[float]]:
    """Each kind of request in turn, one every PACE seconds, for ``seconds``."""
    out: dict[str, list[float]] = {kind: [] for kind in KINDS}
    rng = random.Random(1)
    until = time.monotonic() + seconds
    at = time.monotonic()
    turn = 0
    while at < until:
        await anyio.sleep_until(at)  # the probe's pace
        kind = KINDS[turn % len(KINDS)]
        turn += 1
        start = time.perf_counter()
        if kind == "tools/list":
            await mcp.call("tools/list")
        elif kind == "task://{id}":
            await mcp.read(rng.choice(uris))
        else:
            await mcp.read("agent://tasks")
        out[kind].append(time.perf_counter() - start)
        at = max(at + PACE, time.monotonic())
    return out


def printed(logs: list[Path]) -> int:
    """Lines the tickers printed so far (each one an event)."""
    total = 0
    for log in logs:
        if log.exists():
            total += log.read_bytes().count(b"\n")
    return total


async def run(size: Size) -> list[Row]:
    sz = SIZES[size]
    n, window, first = sz["tasks"], sz["window"], sz["first"]
    rate = n / sz["every"]  # lines per second, all tasks
    phases: list[dict[str, list[float]]] = []
    rss: list[float] = []
    events_at: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        wd = Workdir(Path(tmp) / "streaming", config=ticker_config(max_running=n))
        go, stop = wd.root / "go", wd.root / "stop"
        logs = [wd.root / f"ticks-{i}.log" for i in range(n)]
        async with agentdeck_server(wd) as server, mcp_session(server.mcp_url) as mcp:
            ids: list[str] = []
            for i in range(n):
                instructions = (
                    f"--count 100000000 --every {sz['every']} --go {go} --stop {stop} "
                    f"--log {logs[i]} --width 80"
                )
                created = await mcp.tool(
                    "create_task",
                    {"title": f"Stream {i}", "instructions": instructions, "agent": TICKER},
                )
                if created["isError"]:
                    raise RuntimeError(f"create_task: {created}")
                ids.append(created["result"]["task_id"])
            uris = [f"task://{i}" for i in ids]

            async def all_running() -> bool:
                for uri in uris:
                    if (await mcp.read_json(uri))["status"] != "in_progress":
                        return False
                return True

            await wait_for(all_running, 60, f"{n} tasks in_progress", 0.1)
            try:
                events_at.append(printed(logs))
                phases.append(await probe(mcp, uris, window))  # 0: running, silent
                rss.append(rss_bytes(server.pid) / MB)
                go.touch()
                for target in (first, 10 * first):

                    async def reached(target: int = target) -> bool:
                        return printed(logs) >= target

                    await wait_for(reached, 3 * target / rate + 60, f"{target} events", 0.1)
                    events_at.append(printed(logs))
                    phases.append(await probe(mcp, uris, window))
                    rss.append(rss_bytes(server.pid) / MB)
            finally:
                stop.touch()

            async def all_ended() -> bool:
                for uri in uris:
                    if (await mcp.read_json(uri))["status"] in ("pending", "in_progress"):
                        return False
                return True

            await wait_for(all_ended, 60, "ticker tasks ended", 0.1)

    rows: list[Row] = []
    labels = {
        "tools/list": "tools/list",
        "task://{id}": "task://id",
        "agent://tasks": "agent://tasks",
    }
    for kind in KINDS:
        idle, busy, later = (p99(phase[kind]) * MS for phase in phases)
        rows.append(
            Row(
                f"{n} tasks streaming: {labels[kind]} p99 (vs tasks silent)",
                "≤ 100 ms",
                busy,
                baseline=idle,
                met=busy <= 100,
            )
        )
        rows.append(
            Row(
                f"{n} tasks streaming: {labels[kind]} p99 after 10× events (vs before)",
                "≤ 100 ms",
                later,
                baseline=busy,
                met=later <= 100,
                note=f"probed from {events_at[1]:,} then from {events_at[2]:,} events",
            )
        )
    rows.append(
        Row(
            f"server RSS, {n} tasks streaming (vs tasks silent)",
            "≤ 250 MB",
            rss[1],
            unit="MB",
            baseline=rss[0],
            met=rss[1] <= 250,
        )
    )
    rows.append(
        Row(
            "server RSS after 10× events (vs before)",
            "≤ 250 MB, ≤ 1.1×",
            rss[2],
            unit="MB",
            baseline=rss[1],
            met=rss[2] <= 250 and rss[2] <= 1.1 * rss[1],
        )
    )
    return rows
