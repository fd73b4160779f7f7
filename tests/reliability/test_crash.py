"""kill -9 of a real ``agentdeck serve`` at random moments while tasks stream, then a
restart on the same state: the database is intact, every event a client read is still
there (same seq, same data, no gaps), every task is finished or ``interrupted`` and
resumable, and no agent from before runs unsupervised. Auto-resume is off here, so
what the crash left is what is inspected (tests/integration/test_restart_real.py runs
the resume by itself).

CI runs 2 rounds; ``AGENTDECK_SOAK=1`` (``make soak``) runs 5. The agent is the scripted
fake of the claude binary (tests/fakes/fake_claude_cli.py), emitting as fast as it can.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from agentdeck.proctree import alive_members
from support.paths import FAKE_CLI
from support.waiting import POLL

pytestmark = pytest.mark.anyio

ROUNDS = 5 if os.environ.get("AGENTDECK_SOAK") == "1" else 2
TASKS = 3
RPC = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28"}
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(home: Path, project: Path, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _port()
    env = {
        **os.environ,
        "HOME": str(home.parent / "agent-home"),
        "AGENTDECK_HOME": str(home),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_CLAUDE_CLI_PATH": str(FAKE_CLI),
        "AGENTDECK_APPROVAL_POLICY": "bypass",
        "AGENTDECK_AUTO_RESUME": "false",  # cut turns stay put for inspection
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentdeck", "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


async def rpc(http: httpx2.AsyncClient, url: str, method: str, params: dict[str, Any]) -> Any:
    """One stateless 2026-07-28 request; its result."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": META}}
    headers = {**RPC, "Mcp-Method": method}
    if "name" in params or "uri" in params:
        headers["Mcp-Name"] = str(params.get("name") or params.get("uri"))
    response = await http.post(url, json=body, headers=headers)
    text = response.text
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        text = next(ln[5:] for ln in text.splitlines() if ln.startswith("data:"))
    message = json.loads(text)
    assert "result" in message, message
    return message["result"]


async def tool(http: httpx2.AsyncClient, url: str, name: str, **arguments: Any) -> dict[str, Any]:
    result = await rpc(http, url, "tools/call", {"name": name, "arguments": arguments})
    envelope: dict[str, Any] = result["structuredContent"]
    assert envelope["status"] == "success", envelope
    return envelope["result"]


async def read(http: httpx2.AsyncClient, url: str, uri: str) -> Any:
    result = await rpc(http, url, "resources/read", {"uri": uri})
    return json.loads(result["contents"][0]["text"])


async def healthy(http: httpx2.AsyncClient, url: str) -> None:
    with anyio.fail_after(30):
        while True:
            try:
                if (await http.get(url.replace("/mcp", "/health"))).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            await anyio.sleep(POLL)


async def test_kill_9_loses_nothing_a_client_read(
    tmp_path: Path, project: Path, figures: Callable[[str], None]
) -> None:
    home, log = tmp_path / "state", tmp_path / "server.log"
    cuts = 0
    (tmp_path / "agent-home").mkdir()
    seen: dict[str, dict[int, Any]] = {}  # task -> seq -> data, as clients read them
    chance = random.Random(os.environ.get("AGENTDECK_CRASH_SEED", "7"))
    async with httpx2.AsyncClient(timeout=30) as http:
        for round_ in range(ROUNDS):
            with server(home, project, log) as (url, proc):
                await healthy(http, url)
                ids = [
                    (
                        await tool(
                            http,
                            url,
                            "create_task",
                            title=f"r{round_}-{i}",
                            instructions="EMIT 200000",
                        )
                    )["task_id"]
                    for i in range(TASKS)
                ]
                with anyio.move_on_after(chance.uniform(0.5, 2.5)):  # then kill it, mid-stream
                    while True:
                        for task_id in ids:
                            after = max(seen.get(task_id, {0: None}))
                            page = await read(
                                http, url, f"task://{task_id}/events?after={after}&limit=500"
                            )
                            for event in page["events"]:
                                seen.setdefault(task_id, {})[event["seq"]] = event["data"]
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
            with server(home, project, log) as (url, proc):
                await healthy(http, url)
                with sqlite3.connect(home / "agentdeck.db") as db:
                    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                for task_id, events in seen.items():
                    assert alive_members(None, marker=task_id) == []  # nothing unsupervised
                    task = await read(http, url, f"task://{task_id}")
                    assert task["status"] in ("interrupted", "waiting", "completed"), task
                    stored: dict[int, Any] = {}
                    after = 0
                    while after < max(events):
                        page = await read(
                            http, url, f"task://{task_id}/events?after={after}&limit=1000"
                        )
                        stored.update({e["seq"]: e["data"] for e in page["events"]})
                        after = page["last_seq"]
                        if not page["more"]:
                            break
                    assert sorted(stored)[: len(stored)] == list(
                        range(1, len(stored) + 1)
                    )  # no gaps
                    assert {s: stored.get(s) for s in events} == events  # all read, unchanged
                cut = [
                    t
                    for t in seen
                    if (await read(http, url, f"task://{t}"))["status"] == "interrupted"
                ]
                assert cut, "the kill came after every turn had finished: no crash was tested"
                cuts += len(cut)
                resumed = cut[0]
                await tool(http, url, "update_task", id=resumed, instructions="SAY resumed")
                with anyio.fail_after(60):
                    while (await read(http, url, f"task://{resumed}"))["status"] not in (
                        "waiting",
                        "failed",
                    ):
                        await anyio.sleep(POLL)
                assert (await read(http, url, f"task://{resumed}"))["status"] == "waiting"
                for task_id in seen:  # settle every task before the next round kills again
                    status = (await read(http, url, f"task://{task_id}"))["status"]
                    if status in ("pending", "in_progress", "interrupted"):
                        await tool(http, url, "end_task", id=task_id)
    total = sum(len(events) for events in seen.values())
    figures(
        f"{ROUNDS} rounds of kill -9 over {TASKS} streaming tasks each: {total:,} events read "
        f"by clients, 0 lost or changed; {cuts} turns cut, all interrupted and resumable"
    )
