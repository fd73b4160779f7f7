"""What every benchmark shares: rows and the table, interleaved trials, servers, a raw MCP client.

A benchmark module has ``NAME`` and ``async def run(size: Size) -> list[Row]``; it runs
agentdeck and its baseline interleaved (A, B, A, B, ...) in the same run, so machine
load hits both alike, and returns one `Row` per figure. ``python -m benchmarks``
prints every row in one table (`print_table`).

Servers are real ``agentdeck serve`` processes on a free 127.0.0.1 port, with their
own temporary ``AGENTDECK_HOME``, ``AGENTDECK_ROOTS`` and ``HOME`` (`Workdir`); the
fake agent CLIs come from ``tests/fakes``. Every wait polls a condition under a
deadline; nothing sleeps for a fixed time to let something happen.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import anyio
import httpx2 as httpx

Size = Literal["tiny", "full"]
Status = Literal["ok", "n/a", "error"]

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FAKES = REPO / "tests" / "fakes"
FAKE_CLAUDE = FAKES / "fake_claude_cli.py"
HELLO_APP = BENCH / "hello_app.py"
SLOW_AGENT = BENCH / "slow_agent.py"
BIN = Path(sys.executable).parent

HANDSHAKE_VERSION = "2025-06-18"
MODERN_VERSION = "2026-07-28"
ACCEPT = "application/json, text/event-stream"
POLL = 0.005  # seconds between two checks of a condition that has a deadline


# -- rows and the table ------------------------------------------------------------------


@dataclass
class Row:
    """One figure: what was measured, against what, and whether it meets its target.

    ``baseline`` is in the same unit as ``measured`` (a bare Starlette app, the agent
    run by hand, ``Store.append`` alone, or agentdeck at the small size when the
    figure is about growth); ``ratio`` is measured / baseline. ``met`` is None when
    the figure has no pass/fail target (informational)."""

    figure: str
    target: str
    measured: float | None
    unit: str = "ms"
    baseline: float | None = None
    met: bool | None = None
    note: str = ""
    status: Status = "ok"
    bench: str = ""

    @property
    def ratio(self) -> float | None:
        if self.measured is None or not self.baseline or math.isnan(self.baseline):
            return None
        return self.measured / self.baseline

    def dump(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = self.ratio
        return out


def not_built(figure: str, target: str, why: str) -> Row:
    """A figure the server cannot be measured on yet (printed as ``n/a (not built)``)."""
    return Row(figure, target, None, unit="", note=f"n/a (not built): {why}", status="n/a")


def failed(figure: str, target: str, why: str) -> Row:
    """A benchmark that broke: printed, and ``python -m benchmarks`` exits 1."""
    return Row(figure, target, None, unit="", note=f"error: {why}", status="error")


def fmt(value: float | None, unit: str = "") -> str:
    """A number readably: thousands separated, decimals by magnitude, then the unit."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    size = abs(value)
    if size >= 100 or (size == int(size) and unit in ("", "B", "errors", "req")):
        text = f"{value:,.0f}"
    elif size >= 10:
        text = f"{value:.1f}"
    elif size >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".strip()


def machine_line() -> str:
    one, five, fifteen = os.getloadavg()
    return (
        f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs · "
        f"python {sys.version.split()[0]} · {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )


def print_table(rows: Sequence[Row], title: str = "agentdeck benchmarks", out: Any = None) -> None:
    """One aligned table: figure | target | measured | baseline | ratio | met, then notes."""
    out = out or sys.stdout
    header = ("figure", "target", "measured", "baseline", "ratio", "met")
    cells: list[tuple[str, ...]] = []
    for row in rows:
        measured = fmt(row.measured, row.unit) if row.status == "ok" else row.note.split(":")[0]
        ratio = "—" if row.ratio is None else f"{row.ratio:.2f}×"
        met = {True: "met", False: "MISSED", None: "—"}[row.met]
        if row.status == "error":
            met = "ERROR"
        cells.append((row.figure, row.target, measured, fmt(row.baseline, row.unit), ratio, met))
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
    right = {2, 3, 4}

    def line(values: Iterable[str]) -> str:
        parts = [
            v.rjust(w) if i in right else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return " | ".join(parts).rstrip()

    print(f"\n{title} · {machine_line()}", file=out)
    print(line(header), file=out)
    print("-+-".join("-" * w for w in widths), file=out)
    for c in cells:
        print(line(c), file=out)
    notes = [(row.figure, row.note) for row in rows if row.note]
    if notes:
        print("\nnotes:", file=out)
        for figure, note in notes:
            print(f"  {figure}: {note}", file=out)
    out.flush()


# -- statistics and interleaved trials ---------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1), linear between the two nearest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def p50(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def p99(values: Sequence[float]) -> float:
    return pct(values, 0.99)


async def interleaved(
    trials: Mapping[str, Callable[[], Awaitable[float]]], rounds: int, warmup: int = 0
) -> dict[str, list[float]]:
    """Run each trial once per round, in turn (A, B, A, B, ...); ``warmup`` rounds are dropped.

    A trial returns what it measured (seconds, usually)."""
    out: dict[str, list[float]] = {name: [] for name in trials}
    for r in range(warmup + rounds):
        for name, trial in trials.items():
            value = await trial()
            if r >= warmup:
                out[name].append(value)
    return out


async def timed(action: Callable[[], Awaitable[Any]]) -> float:
    """Seconds that ``action`` took."""
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


async def wait_for(
    condition: Callable[[], Awaitable[Any]], timeout: float, what: str, interval: float = POLL
) -> Any:
    """Poll the async ``condition`` until it is truthy; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await anyio.sleep(interval)


def innermost(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (task groups wrap what went wrong)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


# -- processes and servers ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def agentdeck_argv(*args: str) -> list[str]:
    """The ``agentdeck`` command as a user runs it (the venv's console script)."""
    script = BIN / "agentdeck"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "agentdeck", *args]


def clean_env() -> dict[str, str]:
    """This environment without agentdeck's settings, and with bytecode caching on.

    ``PYTHONDONTWRITEBYTECODE`` (set in some sandboxes) would make every process
    compile agentdeck's modules again; an installed agentdeck has its bytecode, so
    the benchmarks let the warm-up round write it."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AGENTDECK_") and k != "PYTHONDONTWRITEBYTECODE"
    }


@dataclass
class Workdir:
    """One agentdeck state: ``AGENTDECK_HOME`` (with its config.toml), a project root, a HOME."""

    root: Path
    config: str = ""

    def __post_init__(self) -> None:
        for path in (self.home, self.project, self.user_home):
            path.mkdir(parents=True, exist_ok=True)
        if self.config:
            (self.home / "config.toml").write_text(self.config, encoding="utf-8")

    @property
    def home(self) -> Path:
        return self.root / "state"

    @property
    def project(self) -> Path:
        return self.root / "project"

    @property
    def user_home(self) -> Path:
        return self.root / "home"

    @property
    def db_path(self) -> Path:
        return self.home / "agentdeck.db"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a server (or CLI command) on this state: offline, isolated."""
        env = clean_env()
        env.update(
            {
                # The fakes' "#!/usr/bin/env python3" must find a real interpreter, not a shim.
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
                "HOME": str(self.user_home),
                "AGENTDECK_HOME": str(self.home),
                "AGENTDECK_ROOTS": str(self.project),
                "AGENTDECK_CLAUDE_CLI_PATH": str(FAKE_CLAUDE),
                "AGENTDECK_CLAUDE_MODEL": "claude-sonnet-4-5",
                "AGENTDECK_APPROVAL_POLICY": "bypass",
                "NO_COLOR": "1",
                "COLUMNS": "200",
            }
        )
        env.update(extra)
        return env


@dataclass
class Proc:
    """A server process on a loopback port."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    started: float  # perf_counter() just before the exec

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base}/mcp"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def isolated_env(home: Path) -> Iterator[None]:
    """For benchmarks that run agentdeck in this process: ``HOME`` is ``home`` (the fake
    CLIs keep their state there) and the venv's python comes first on ``PATH``;
    both restored after."""
    saved = {key: os.environ.get(key) for key in ("HOME", "PATH")}
    home.mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = str(home)
    os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def launch(argv: list[str], env: dict[str, str], port: int, log: Path) -> Proc:
    """Exec ``argv`` (a server that will listen on ``port``), output to ``log``."""
    with log.open("ab") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )
    return Proc(proc, port, log, started)


async def wait_healthy(server: Proc, timeout: float = 60) -> float:
    """Poll ``GET /health`` until it answers 200; the perf_counter() time it did."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                response = await http.get(f"{server.base}/health")
                if response.status_code == 200:
                    return time.perf_counter()
            except httpx.TransportError:
                pass
            if server.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {server.proc.returncode}:\n{server.log_tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"no /health 200 within {timeout:.0f} s:\n{server.log_tail()}")
            await anyio.sleep(POLL)


async def stop(server: Proc, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            await anyio.to_thread.run_sync(lambda: server.proc.wait(timeout))
        except subprocess.TimeoutExpired:
            server.proc.kill()
            await anyio.to_thread.run_sync(server.proc.wait)


def launch_agentdeck(wd: Workdir, **env: str) -> Proc:
    port = free_port()
    argv = agentdeck_argv("serve", "--port", str(port))
    return launch(argv, wd.env(**env), port, wd.root / "server.log")


def launch_hello(root: Path, port: int | None = None) -> Proc:
    """The baseline: a bare Starlette app under uvicorn (benchmarks/hello_app.py)."""
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    return launch(
        [sys.executable, str(HELLO_APP), str(port)], clean_env(), port, root / "hello.log"
    )


@asynccontextmanager
async def running(server: Proc, timeout: float = 60) -> AsyncIterator[Proc]:
    """``server`` healthy for one block, stopped after it."""
    try:
        await wait_healthy(server, timeout)
        yield server
    finally:
        await stop(server)


@asynccontextmanager
async def agentdeck_server(wd: Workdir, **env: str) -> AsyncIterator[Proc]:
    async with running(launch_agentdeck(wd, **env)) as server:
        yield server


@asynccontextmanager
async def hello_server(root: Path) -> AsyncIterator[Proc]:
    async with running(launch_hello(root)) as server:
        yield server


def rss_bytes(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


# -- a raw MCP client (JSON-RPC over httpx: the client's own cost stays small) -----------


class McpError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def parse_reply(response: httpx.Response, request_id: int) -> dict[str, Any]:
    """The JSON-RPC response of ``request_id`` in a JSON or an SSE reply."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return dict(response.json())
    for message in sse_messages(response.text):
        if message.get("id") == request_id:
            return message
    raise McpError(-1, f"no reply to request {request_id} in {response.text[:200]!r}")


def sse_messages(text: str) -> list[dict[str, Any]]:
    """The JSON ``data:`` payloads of an SSE body."""
    out: list[dict[str, Any]] = []
    data: list[str] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            out.append(json.loads("\n".join(data)))
            data = []
    return out


def modern_meta() -> dict[str, Any]:
    """The ``_meta`` envelope of a stateless 2026-07-28 request."""
    return {
        "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "agentdeck-bench", "version": "1"},
    }


class RawMcp:
    """One handshake-era MCP session: ``initialize``, ``notifications/initialized``, then
    requests with the ``Mcp-Session-Id`` header."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id: str | None = None
        self._ids = itertools.count(1)

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
            headers["MCP-Protocol-Version"] = HANDSHAKE_VERSION
        return headers

    async def open(self) -> RawMcp:
        params = {
            "protocolVersion": HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "agentdeck-bench", "version": "1"},
        }
        request_id = next(self._ids)
        body = {"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": params}
        response = await self.http.post(self.url, json=body, headers=self.headers)
        response.raise_for_status()
        _result(parse_reply(response, request_id))
        self.session_id = response.headers["mcp-session-id"]
        await self.notify("notifications/initialized")
        return self

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            body["params"] = params
        response = await self.http.post(self.url, json=body, headers=self.headers)
        response.raise_for_status()

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The request's ``result``; McpError for a JSON-RPC error, HTTPStatusError for a
        refusal."""
        request_id = next(self._ids)
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            body["params"] = params
        response = await self.http.post(self.url, json=body, headers=self.headers)
        response.raise_for_status()
        return _result(parse_reply(response, request_id))

    async def read(self, uri: str) -> str:
        result = await self.call("resources/read", {"uri": uri})
        return str(result["contents"][0]["text"])

    async def read_json(self, uri: str) -> Any:
        return json.loads(await self.read(uri))

    async def tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """A tool's envelope (``structuredContent``) plus ``isError``."""
        result = await self.call("tools/call", {"name": name, "arguments": arguments})
        envelope = dict(result.get("structuredContent") or {})
        envelope["isError"] = bool(result.get("isError"))
        return envelope

    async def close(self) -> int | None:
        """``DELETE`` the session; its HTTP status (None: no session, or no answer)."""
        status: int | None = None
        if self.session_id:
            with suppress(httpx.HTTPError):
                status = (await self.http.delete(self.url, headers=self.headers)).status_code
            self.session_id = None
        return status


def _result(reply: dict[str, Any]) -> dict[str, Any]:
    if "error" in reply:
        error = reply["error"]
        raise McpError(int(error.get("code", 0)), str(error.get("message", "")))
    return dict(reply["result"])


@asynccontextmanager
async def mcp_session(url: str, timeout: float = 60) -> AsyncIterator[RawMcp]:
    """A handshake-era session on its own HTTP connection, closed after the block."""
    async with httpx.AsyncClient(timeout=timeout) as http:
        session = await RawMcp(http, url).open()
        try:
            yield session
        finally:
            await session.close()


async def run_command(argv: list[str], env: dict[str, str], timeout: float = 120) -> float:
    """Seconds from exec to exit of ``argv``; RuntimeError if it fails."""
    start = time.perf_counter()
    with anyio.fail_after(timeout):
        done = await anyio.run_process(argv, env=env, check=False)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv[:3])} exited {done.returncode}: {done.stderr.decode()[-500:]}"
        )
    return took
