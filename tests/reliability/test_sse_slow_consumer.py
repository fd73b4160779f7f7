"""A consumer of ``GET /api/events`` that stops reading while a task floods events (one
stuck browser tab): the server's memory stays bounded, the server drops the stream, and
once the consumer reads again it sees the stream end, reconnects with ``Last-Event-ID``
and still gets every event exactly once, compared with the store.

The server is a real ``agentdeck serve`` subprocess (its RSS is measured with psutil):
a first flood with nobody listening warms the server, a second one sets the baseline,
then the same flood with the consumer stuck may grow the server by `RSS_BOUND` more.
The agent is tests/fakes/faulty_agent.py (``huge N``: N lines as fast as it can, each a ``message``
event). The stuck consumer is a raw socket with a small receive buffer. The drop is
seen in the server's log; its socket may linger until the client reads (uvicorn
flushes before it closes), which costs kernel buffers, not the server's memory.
``AGENTDECK_SOAK=1`` floods 300k lines, not 60k.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import psutil
import pytest

from support.cli import free_port
from support.paths import FAKES
from support.sse import Parser, open_stream
from support.waiting import POLL

pytestmark = pytest.mark.anyio

FAULTY = FAKES / "faulty_agent.py"
FLOOD = 300_000 if os.environ.get("AGENTDECK_SOAK") == "1" else 60_000
RSS_BOUND = 24 * 2**20  # what one stuck consumer may add to a flood nobody listens to
DROP_DEADLINE = 90.0  # web/events.py drops a stream that takes nothing for 30 s
RCVBUF = 16 * 1024


@contextmanager
def server(tmp_path: Path, project: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    home = tmp_path / "state"
    home.mkdir()
    command = json.dumps([sys.executable, str(FAULTY), "{instructions}"])
    (home / "config.toml").write_text(
        f'[agents.faulty]\ncommand = {command}\noutput = "text"\nversion_command = []\n'
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTDECK_")}
    env |= {
        "HOME": str(tmp_path / "agent-home"),
        "AGENTDECK_HOME": str(home),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_DEFAULT_AGENT": "faulty",
        "AGENTDECK_APPROVAL_POLICY": "bypass",
    }
    (tmp_path / "agent-home").mkdir()
    with (tmp_path / "server.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentdeck", "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)


async def healthy(http: httpx2.AsyncClient, base: str, proc: subprocess.Popen[bytes]) -> None:
    with anyio.fail_after(30):
        while True:
            assert proc.poll() is None, "the server exited"
            try:
                if (await http.get(f"{base}/health")).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            await anyio.sleep(POLL)


async def run_task(http: httpx2.AsyncClient, base: str, instructions: str) -> str:
    made = await http.post(
        f"{base}/api/tasks",
        json={"title": instructions, "instructions": instructions, "isolation": "none"},
    )
    assert made.status_code == 201, made.text
    task_id: str = made.json()["id"]
    return task_id


async def status(http: httpx2.AsyncClient, base: str, task_id: str) -> str:
    response = await http.get(f"{base}/api/tasks/{task_id}")
    assert response.status_code == 200, response.text
    value: str = response.json()["status"]
    return value


async def stored(http: httpx2.AsyncClient, base: str, task_id: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    after = 0
    while True:
        response = await http.get(
            f"{base}/api/tasks/{task_id}/events", params={"after": after, "limit": 500}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        out.extend((e["task_id"], e["seq"]) for e in page["events"])
        if not page["more"]:
            return out
        after = page["last_seq"]


class StuckConsumer:
    """``GET /api/events?after=0`` on a raw socket that reads only when told to."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        self.sock.settimeout(30)
        self.sock.connect((host, int(port)))
        self.local_port: int = self.sock.getsockname()[1]
        self.sock.sendall(
            f"GET /api/events?after=0 HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n".encode()
        )
        self._raw = b""
        self._head_done = False
        self._chunked = False
        self.parser = Parser()
        self.events: list[dict[str, Any]] = []
        self.closed = False

    def read_some(self) -> None:
        """One recv(): whatever has arrived, parsed; ``closed`` at end of stream."""
        data = self.sock.recv(65536)
        if not data:
            self.closed = True
            return
        self._raw += data
        if not self._head_done:
            head, sep, rest = self._raw.partition(b"\r\n\r\n")
            if not sep:
                return
            lines = head.decode("latin-1").split("\r\n")
            assert lines[0].split()[1] == "200", lines[0]
            self._chunked = any(
                ln.lower().startswith("transfer-encoding:") and "chunked" in ln.lower()
                for ln in lines[1:]
            )
            self._head_done, self._raw = True, rest
        self._parse()

    def _parse(self) -> None:
        body = b""
        if self._chunked:  # take every whole chunk; keep a partial one for later
            while True:
                size_line, sep, rest = self._raw.partition(b"\r\n")
                if not sep:
                    break
                size = int(size_line.split(b";")[0], 16)
                if len(rest) < size + 2:
                    break
                body += rest[:size]
                self._raw = rest[size + 2 :]
                if size == 0:
                    break
        else:
            body, self._raw = self._raw, b""
        for event in self.parser.feed(body.decode("utf-8", errors="replace")):
            self.events.append(json.loads(event.data))

    def close(self) -> None:
        self.sock.close()


def dropped(log: Path) -> bool:
    """Whether the server says it dropped a stream that took nothing (web/events.py)."""
    text = log.read_text(errors="replace")
    return "SendTimeoutError" in text or "dropped" in text.lower()


async def flood_until_done(http: httpx2.AsyncClient, base: str, rss: Peak) -> str:
    flood = await run_task(http, base, f"huge {FLOOD}")
    with anyio.fail_after(300):
        while await status(http, base, flood) not in {"waiting", "failed"}:
            rss.sample()
            await anyio.sleep(POLL)
    assert await status(http, base, flood) == "waiting"
    return flood


class Peak:
    """The highest RSS of a process seen since `reset`."""

    def __init__(self, process: psutil.Process) -> None:
        self.process = process
        self.reset()

    def reset(self) -> None:
        self.start = self.peak = self.process.memory_info().rss

    def sample(self) -> None:
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def grown(self) -> int:
        self.sample()
        return self.peak - self.start


async def test_a_stuck_consumer_is_dropped_in_bounded_memory_and_replays_exactly(
    tmp_path: Path, project: Path, figures: Callable[[str], None]
) -> None:
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=None)) as http:
        with server(tmp_path, project) as (base, proc):
            await healthy(http, base, proc)
            rss = Peak(psutil.Process(proc.pid))
            # Two floods with nobody listening: in the first the allocator and caches
            # reach their size; the second is what a flood costs by itself.
            warm = await flood_until_done(http, base, rss)
            rss.reset()
            control = await flood_until_done(http, base, rss)
            unheard = rss.grown
            history = await stored(http, base, warm) + await stored(http, base, control)

            stuck = StuckConsumer(base)
            try:
                with anyio.fail_after(60):  # it reads the history, then nothing more
                    while len(stuck.events) < len(history):
                        await anyio.to_thread.run_sync(stuck.read_some)
                assert [(e["task_id"], e["seq"]) for e in stuck.events] == history
                rss.reset()
                flood = await flood_until_done(http, base, rss)
                store = await stored(http, base, flood)
                assert len(store) >= FLOOD
                with anyio.fail_after(DROP_DEADLINE):
                    while not dropped(tmp_path / "server.log"):
                        rss.sample()
                        await anyio.sleep(POLL)
                grown = rss.grown
                figures(
                    f"{FLOOD:,} events with one consumer stuck: server RSS peak grew "
                    f"{grown / 2**20:.0f} MiB, with none listening {unheard / 2**20:.0f} MiB "
                    f"(the consumer may add {RSS_BOUND // 2**20} MiB); the consumer dropped"
                )
                assert grown < unheard + RSS_BOUND, (
                    f"with one consumer stuck the server grew {grown / 2**20:.0f} MiB "
                    f"over {FLOOD} events (with none: {unheard / 2**20:.0f} MiB)"
                )

                # The tab wakes up: it reads what reached it, then the end of the stream.
                with anyio.fail_after(60):
                    while not stuck.closed:
                        await anyio.to_thread.run_sync(stuck.read_some)
                last_id = stuck.parser.last_event_id
                first = [(e["task_id"], e["seq"]) for e in stuck.events if e["task_id"] == flood]
                assert len(first) < len(store), "the consumer was never behind"
            finally:
                stuck.close()

            # It reconnects as EventSource does, and gets the rest: each event once.
            rest: list[tuple[str, int]] = []
            ids = [int(last_id)]
            with anyio.fail_after(120):
                async with open_stream(http, f"{base}/api/events", last_event_id=last_id) as sse:
                    async for event in sse.events():
                        data = json.loads(event.data)
                        ids.append(int(event.id))
                        rest.append((data["task_id"], data["seq"]))
                        if len(first) + len(rest) >= len(store):
                            break
            assert first + rest == store, (len(first), len(rest), len(store))
            assert all(a < b for a, b in itertools.pairwise(ids))
            assert proc.poll() is None, "the server died"
