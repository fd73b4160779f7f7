"""Start-up: ``agentdeck serve`` exec → first ``/health`` 200, ``agentdeck version``, and a CLI
command against a running server, each interleaved with its baseline.

Baselines: the bare Starlette hello app under uvicorn (benchmarks/hello_app.py) for the
server; ``python -c pass`` for ``agentdeck version``; the smallest Python client of the
running server (stdlib ``urllib`` GET /health) for ``agentdeck tasks``. Every figure
is the median over the rounds, after one warm-up round (it fills the page cache and
writes the bytecode).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.harness import (
    Row,
    Size,
    Workdir,
    agentdeck_argv,
    agentdeck_server,
    interleaved,
    launch_agentdeck,
    launch_hello,
    mcp_session,
    p50,
    run_command,
    stop,
    wait_healthy,
)

NAME = "startup"
ROUNDS = {"tiny": 1, "full": 7}
MS = 1000.0


async def _serve_to_health(start: Workdir | Path) -> float:
    server = launch_agentdeck(start) if isinstance(start, Workdir) else launch_hello(start)
    try:
        healthy = await wait_healthy(server)
    finally:
        await stop(server)
    return healthy - server.started


async def run(size: Size) -> list[Row]:
    rounds = ROUNDS[size]
    warmup = 0 if size == "tiny" else 1
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        base = Path(tmp)
        wd = Workdir(base / "serve")
        hello = base / "hello"

        async def agentdeck_serve() -> float:
            return await _serve_to_health(wd)

        async def hello_app() -> float:
            return await _serve_to_health(hello)

        serve = await interleaved(
            {"agentdeck": agentdeck_serve, "hello": hello_app}, rounds, warmup
        )

        env = wd.env()

        async def version() -> float:
            return await run_command(agentdeck_argv("version"), env)

        async def python_pass() -> float:
            return await run_command([sys.executable, "-c", "pass"], env)

        version_times = await interleaved(
            {"agentdeck": version, "python": python_pass}, rounds, warmup
        )

        cli_wd = Workdir(base / "cli")
        async with agentdeck_server(cli_wd) as server:
            async with mcp_session(server.mcp_url) as mcp:  # a few tasks for it to list
                for i in range(3):
                    await mcp.tool(
                        "create_task", {"title": f"Listed {i}", "instructions": "SAY hi"}
                    )
            cli_env = cli_wd.env(AGENTDECK_URL=server.mcp_url)
            probe = f"import urllib.request; urllib.request.urlopen('{server.base}/health').read()"

            async def tasks() -> float:
                return await run_command(agentdeck_argv("tasks"), cli_env)

            async def client() -> float:
                return await run_command([sys.executable, "-c", probe], cli_env)

            cli_times = await interleaved({"agentdeck": tasks, "client": client}, rounds, warmup)

    serve_ms = p50(serve["agentdeck"]) * MS
    version_ms = p50(version_times["agentdeck"]) * MS
    tasks_ms = p50(cli_times["agentdeck"]) * MS
    return [
        Row(
            "serve exec → /health 200 (vs Starlette hello)",
            "≤ 1 s",
            serve_ms,
            baseline=p50(serve["hello"]) * MS,
            met=serve_ms <= 1000,
        ),
        Row(
            "agentdeck version (vs python -c pass)",
            "≤ 300 ms",
            version_ms,
            baseline=p50(version_times["python"]) * MS,
            met=version_ms <= 300,
        ),
        Row(
            "agentdeck tasks, running server (vs urllib GET)",
            "≤ 400 ms",
            tasks_ms,
            baseline=p50(cli_times["client"]) * MS,
            met=tasks_ms <= 400,
        ),
    ]
