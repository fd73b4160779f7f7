"""200 concurrent MCP clients on loopback for a bounded time: errors, p99 of list and read.

Each client is its own HTTP connection and handshake-era session (``initialize``,
``notifications/initialized``, then ``Mcp-Session-Id``), and sends one request every
``interval`` seconds (each client starts at a random phase), alternating ``tools/list``
and ``resources/read task://{id}`` of one of the tasks the state holds. A client whose
session is gone (404) counts the error and opens a new session, as the spec says a
client must. The server runs with its default settings (rate limit and session caps
included).

Baseline, interleaved with it (agentdeck, hello, agentdeck, hello): the same clients
at the same pace against the bare Starlette hello app's ``POST /mcp``. The load stops
by itself: no request starts after a segment's end, and a request gives up after
REQUEST_TIMEOUT.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx

from benchmarks.fill import fill
from benchmarks.harness import (
    McpError,
    RawMcp,
    Row,
    Size,
    Workdir,
    agentdeck_server,
    hello_server,
    p50,
    p99,
)

NAME = "load"
SIZES: dict[str, dict[str, Any]] = {
    # seconds per segment: agentdeck gets 2 segments of `seconds`, the baseline 2 of `hello`
    "tiny": {"clients": 5, "seconds": 1.0, "hello": 0.5, "interval": 0.1},
    "full": {"clients": 200, "seconds": 30.0, "hello": 10.0, "interval": 1.0},
}
REQUEST_TIMEOUT = 30.0
TASKS = 20
MS = 1000.0


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"tools/list": [], "resources/read": []}
    )
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)  # kind -> the first reply's text
    closes_refused: int = 0
    sessions: list[float] = field(default_factory=list)  # initialize + initialized, seconds
    done: int = 0
    seconds: float = 0.0
    # This segment's requests (kind, start, seconds) and session opens (end): the
    # latencies of those that started once every session was open are `steady`.
    timed: list[tuple[str, float, float]] = field(default_factory=list)
    opened: list[float] = field(default_factory=list)
    steady: dict[str, list[float]] = field(
        default_factory=lambda: {"tools/list": [], "resources/read": []}
    )

    def end_segment(self, began: float) -> None:
        all_open = max(self.opened, default=began)
        for kind, start, took in self.timed:
            if start >= all_open:
                self.steady[kind].append(took)
        self.timed.clear()
        self.opened.clear()


def _count(tally: Tally, exc: BaseException) -> None:
    kind = _kind(exc)
    tally.errors[kind] += 1
    if kind not in tally.samples:
        text = exc.response.text if isinstance(exc, httpx.HTTPStatusError) else str(exc)
        tally.samples[kind] = " ".join(text.split())[:100]


def _kind(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, McpError):
        return f"JSON-RPC {exc.code}"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return type(exc).__name__


async def agentdeck_client(
    url: str, uris: list[str], interval: float, until: float, tally: Tally
) -> None:
    rng = random.Random()
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
        session: RawMcp | None = None
        at = time.monotonic() + rng.random() * interval
        turn = rng.randrange(2)
        while at < until:
            await anyio.sleep_until(at)  # the pace of a client (not a wait for a condition)
            at += interval
            try:
                if session is None:
                    start = time.perf_counter()
                    session = await RawMcp(http, url).open()
                    tally.sessions.append(time.perf_counter() - start)
                    tally.opened.append(time.perf_counter())
                kind = "tools/list" if turn % 2 == 0 else "resources/read"
                turn += 1
                start = time.perf_counter()
                if kind == "tools/list":
                    await session.call("tools/list")
                else:
                    await session.read(rng.choice(uris))
                took = time.perf_counter() - start
                tally.latencies[kind].append(took)
                tally.timed.append((kind, start, took))
                tally.done += 1
            except (httpx.HTTPError, McpError, OSError) as exc:
                _count(tally, exc)
                if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 404:
                    session = None  # the session is gone: a client opens a new one
        if session is not None and (await session.close()) not in (200, 202, 204):
            tally.closes_refused += 1


async def hello_client(url: str, interval: float, until: float, tally: Tally) -> None:
    rng = random.Random()
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
        at = time.monotonic() + rng.random() * interval
        turn = rng.randrange(2)
        while at < until:
            await anyio.sleep_until(at)
            at += interval
            kind = "tools/list" if turn % 2 == 0 else "resources/read"
            turn += 1
            try:
                start = time.perf_counter()
                response = await http.post(url, json={"jsonrpc": "2.0", "id": turn, "method": kind})
                response.raise_for_status()
                response.json()
                tally.latencies[kind].append(time.perf_counter() - start)
                tally.done += 1
            except (httpx.HTTPError, OSError) as exc:
                _count(tally, exc)


async def segment(clients: int, seconds: float, one: Any, tally: Tally) -> None:
    start = time.monotonic()
    began = time.perf_counter()
    until = start + seconds
    with anyio.fail_after(seconds + REQUEST_TIMEOUT + 30):
        async with anyio.create_task_group() as tg:
            for _ in range(clients):
                tg.start_soon(one, until, tally)
    tally.seconds += time.monotonic() - start
    tally.end_segment(began)


async def run(size: Size) -> list[Row]:
    sz = SIZES[size]
    clients = sz["clients"]
    ours, theirs = Tally(), Tally()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        base = Path(tmp)
        wd = Workdir(base / "load")
        ids = await fill(wd.db_path, wd.project, TASKS, 50)
        uris = [f"task://{i}" for i in ids]
        async with agentdeck_server(wd) as server, hello_server(base / "hello") as hello:

            async def a_client(until: float, tally: Tally) -> None:
                await agentdeck_client(server.mcp_url, uris, sz["interval"], until, tally)

            async def b_client(until: float, tally: Tally) -> None:
                await hello_client(hello.mcp_url, sz["interval"], until, tally)

            for _ in range(2):
                await segment(clients, sz["seconds"], a_client, ours)
                await segment(clients, sz["hello"], b_client, theirs)

    errors = sum(ours.errors.values())
    breakdown = (
        ", ".join(f"{k} ×{v} ({ours.samples[k]!r})" for k, v in ours.errors.most_common()) or "none"
    )
    rate = ours.done / ours.seconds if ours.seconds else 0.0
    total = 2 * sz["seconds"]
    rows = [
        Row(
            f"{clients} MCP clients, {total:.0f} s: errors (vs hello app)",
            "0 errors",
            float(errors),
            unit="errors",
            baseline=float(sum(theirs.errors.values())),
            met=errors == 0,
            note=f"{breakdown}; {ours.closes_refused} session DELETEs refused; "
            f"{ours.done:,} requests answered ({rate:.0f}/s, one every "
            f"{sz['interval']:g} s per client); session open p50 {p50(ours.sessions) * MS:.1f} ms",
        )
    ]
    for kind in ("tools/list", "resources/read"):
        worst = p99(ours.latencies[kind]) * MS
        rows.append(
            Row(
                f"{clients} MCP clients: {kind} p99 (vs hello app)",
                "≤ 500 ms",
                worst,
                baseline=p99(theirs.latencies[kind]) * MS,
                met=worst <= 500,
                note=f"p50 {p50(ours.latencies[kind]) * MS:.1f} ms over "
                f"{len(ours.latencies[kind]):,}; once every session was open: p99 "
                f"{p99(ours.steady[kind]) * MS:.1f} ms over {len(ours.steady[kind]):,}",
            )
        )
    return rows
