"""Many MCP clients of both protocol eras at once, against a real ``agentdeck serve``
while ten tasks stream: no request fails.

Half the clients hold a handshake-era session (``initialize``, then ``Mcp-Session-Id``),
half send stateless 2026-07-28 requests (``_meta``, no session). Each sends one request
a second, ``tools/list`` and ``resources/read task://{id}`` in turn, while ten
``ticker`` tasks (benchmarks/slow_agent.py) print 20 events a second each. CI runs 40
clients for 10 s; ``AGENTDECK_SOAK=1`` (``make soak``) runs 200 for 60 s. The p99 is
reported, not asserted (latency targets live in ``benchmarks/``).
"""

from __future__ import annotations

import itertools
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2 as httpx
import pytest
from benchmarks.agents import TICKER, ticker_config
from benchmarks.harness import (
    ACCEPT,
    MODERN_VERSION,
    McpError,
    RawMcp,
    Workdir,
    agentdeck_server,
    mcp_session,
    modern_meta,
    p99,
    parse_reply,
    wait_for,
)

pytestmark = pytest.mark.anyio

SOAK = os.environ.get("AGENTDECK_SOAK") == "1"
CLIENTS, SECONDS = (200, 60.0) if SOAK else (40, 10.0)
STREAMS = 10
EVERY = 0.05  # seconds between two events of one streaming task
REQUEST_TIMEOUT = 30.0


class Stateless:
    """A 2026-07-28 client: every request stands alone (``_meta``, no session)."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http, self.url = http, url
        self._ids = itertools.count(1)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = next(self._ids)
        body = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": method,
            "params": {**(params or {}), "_meta": modern_meta()},
        }
        headers = {"Accept": ACCEPT, "MCP-Protocol-Version": MODERN_VERSION, "Mcp-Method": method}
        if params and "uri" in params:
            headers["Mcp-Name"] = str(params["uri"])
        response = await self.http.post(self.url, json=body, headers=headers)
        response.raise_for_status()
        reply = parse_reply(response, request_id)
        if "error" in reply:
            raise McpError(int(reply["error"]["code"]), str(reply["error"]["message"]))
        return dict(reply["result"])


async def client(
    url: str, uris: list[str], modern: bool, until: float, seen: dict[str, Any]
) -> None:
    rng = random.Random()
    era = "2026-07-28" if modern else "handshake"
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
        stateless = Stateless(http, url) if modern else None
        session: RawMcp | None = None
        answered = 0
        at = time.monotonic() + rng.random()
        for turn in itertools.count(rng.randrange(2)):
            if at >= until:
                break
            await anyio.sleep_until(at)  # a client's pace, not a wait for a condition
            at += 1.0
            kind = "tools/list" if turn % 2 == 0 else "resources/read"
            params = None if kind == "tools/list" else {"uri": rng.choice(uris)}
            start = time.perf_counter()
            try:
                if stateless is not None:
                    await stateless.call(kind, params)
                else:
                    session = session or await RawMcp(http, url).open()
                    await session.call(kind, params)
            except (httpx.HTTPError, McpError, OSError) as exc:
                seen["errors"][f"{era} {type(exc).__name__}: {str(exc)[:80]}"] += 1
                session = None  # a client whose session is gone opens a new one
                continue
            seen["latency"].setdefault(f"{era} {kind}", []).append(time.perf_counter() - start)
            answered += 1
        seen["clients"].append(answered)
        if session is not None:
            await session.close()


async def test_clients_of_both_eras_get_no_errors_while_tasks_stream(
    tmp_path: Path, figures: Callable[[str], None]
) -> None:
    wd = Workdir(tmp_path / "load", config=ticker_config(max_running=STREAMS))
    stop = wd.root / "stop"
    async with agentdeck_server(wd) as server, mcp_session(server.mcp_url) as mcp:
        ids = []
        for i in range(STREAMS):
            instructions = f"--count 100000000 --every {EVERY} --stop {stop} --width 80"
            created = await mcp.tool(
                "create_task",
                {"title": f"Stream {i}", "instructions": instructions, "agent": TICKER},
            )
            assert not created["isError"], created
            ids.append(created["result"]["task_id"])
        uris = [f"task://{i}" for i in ids]

        async def all_streaming() -> bool:
            tasks = [await mcp.read_json(uri) for uri in uris]
            return all(t["status"] == "in_progress" and t["logs_count"] > 0 for t in tasks)

        await wait_for(all_streaming, 60, f"{STREAMS} tasks streaming", 0.1)
        seen: dict[str, Any] = {"errors": Counter(), "latency": {}, "clients": []}
        until = time.monotonic() + SECONDS
        try:
            with anyio.fail_after(SECONDS + REQUEST_TIMEOUT + 30):
                async with anyio.create_task_group() as tg:
                    for n in range(CLIENTS):
                        tg.start_soon(client, server.mcp_url, uris, n % 2 == 0, until, seen)
            streamed = [(await mcp.read_json(uri))["logs_count"] for uri in uris]
        finally:
            stop.touch()

    done = sum(len(v) for v in seen["latency"].values())
    p99s = ", ".join(f"{k} {p99(v) * 1000:.0f} ms" for k, v in sorted(seen["latency"].items()))
    figures(
        f"{CLIENTS} clients (half per era) for {SECONDS:.0f} s while {STREAMS} tasks streamed "
        f"{sum(streamed):,} events: {done:,} requests answered of {CLIENTS * SECONDS:,.0f} "
        f"paced, {sum(seen['errors'].values())} errors; p99 {p99s}"
    )
    assert not seen["errors"], seen["errors"].most_common(5)
    assert len(seen["clients"]) == CLIENTS and min(seen["clients"]) > 0  # nobody starved
    assert all(count > 0 for count in streamed)
