"""Scale-out: the events of a turn on a worker → an MCP subscriber at the front, p95.

A private PostgreSQL cluster (Debian's packages, in a temp dir, on 127.0.0.1), a front
(``agentdeck serve`` with ``dispatch = "workers"``) and one ``agentdeck worker``
process, all on this machine. A ``ticker`` task (benchmarks/slow_agent.py) runs on the
worker and prints a line every EVERY seconds, logging ``time.time()`` as it prints;
the worker stores each line as an event in the shared table, the front hears of the
write by LISTEN/NOTIFY and notifies its subscribers. One ``subscriptions/listen``
subscriber at the front records when each ``resources/updated`` arrives; the latency
of a line is the first arrival after it minus its print time (the same clock), even
when that notification also covers the next line.

The baseline is the same task and subscriber on a single-machine server (SQLite, the
turn in the server's process), interleaved with the remote rounds (A, B, A, B).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio

from benchmarks.agents import ticker_config
from benchmarks.bench_subscribers import listen, one_round
from benchmarks.harness import (
    Row,
    Size,
    Workdir,
    agentdeck_argv,
    agentdeck_server,
    mcp_session,
    p50,
    pct,
    wait_for,
)

NAME = "remote"
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"ticks": 3, "every": 0.2, "rounds": 1},
    "full": {"ticks": 50, "every": 0.1, "rounds": 3},
}
MS = 1000.0
TARGET_MS = 200.0


@contextmanager
def database() -> Iterator[str]:
    """A private cluster's URL, the cluster removed afterwards."""
    from tests.support.postgres import launch_cluster  # the tests' own private cluster

    cluster = launch_cluster()
    try:
        cluster.sql("CREATE DATABASE deck")
        yield cluster.url("deck")
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@asynccontextmanager
async def worker(wd: Workdir, roots: Path, db_url: str) -> AsyncIterator[None]:
    """``agentdeck worker w1`` on ``wd``'s state, serving ``roots``, until the block ends."""
    argv = agentdeck_argv("worker", "--database-url", db_url, "--name", "w1",
                          "--max-running", "2", "--roots", str(roots))  # fmt: skip
    with (wd.root / "worker.log").open("ab") as log:
        proc = await anyio.open_process(argv, env=wd.env(), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        proc.terminate()
        with anyio.move_on_after(20) as waited:
            await proc.wait()
        if waited.cancelled_caught:
            proc.kill()
            await proc.wait()


async def _worker_alive(url: str) -> None:
    async with mcp_session(url) as control:

        async def alive() -> bool:
            listed = await control.read_json("agent://workers")
            return any(w["state"] == "alive" for w in listed["workers"])

        await wait_for(alive, 60, "worker w1 alive at the front", 0.1)


async def run(size: Size) -> list[Row]:
    sz = SIZES[size]
    latencies: dict[str, list[float]] = {"remote": [], "local": []}
    missed = dict.fromkeys(latencies, 0)
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp, database() as db_url:
        front_wd = Workdir(Path(tmp) / "front", config=ticker_config())
        worker_wd = Workdir(Path(tmp) / "worker", config=ticker_config())
        local_wd = Workdir(Path(tmp) / "local", config=ticker_config())
        front_env = {"AGENTDECK_DATABASE_URL": db_url, "AGENTDECK_DISPATCH": "workers"}
        async with (
            agentdeck_server(front_wd, **front_env) as front,
            worker(worker_wd, front_wd.project, db_url),
            agentdeck_server(local_wd) as local,
        ):
            await _worker_alive(front.mcp_url)
            servers = {"remote": (front.mcp_url, front_wd), "local": (local.mcp_url, local_wd)}
            for r in range(sz["rounds"]):
                for where, (url, wd) in servers.items():
                    got, lost = await one_round(
                        url, wd, listen, 1, sz, f"{where}-{r}", windowed=False
                    )
                    latencies[where] += got
                    missed[where] += lost
    on_worker, here = latencies["remote"], latencies["local"]
    if not on_worker:
        raise RuntimeError("no notification of a remote turn reached the subscriber")
    p95 = pct(on_worker, 0.95) * MS
    return [
        Row(
            "events of a turn on a worker → MCP subscriber at the front, p95 "
            "(vs the same turn on one machine)",
            f"≤ {TARGET_MS:g} ms",
            p95,
            baseline=pct(here, 0.95) * MS if here else None,
            met=p95 <= TARGET_MS and missed["remote"] == 0,
            note=f"p50 {p50(on_worker) * MS:.1f} ms, {len(on_worker)} events, "
            f"{missed['remote']} missed; PostgreSQL and the worker on this machine "
            f"(loopback), python {sys.version_info.major}.{sys.version_info.minor}",
        )
    ]
