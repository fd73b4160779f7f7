"""Codex app-server: what one process per turn costs, against keeping one per task.

The pinned ``codex`` (node_modules) with a CODEX_HOME of its own that names an unused
provider (nothing is asked of a model). Per trial: start ``codex app-server``, answer
``initialize`` and ``thread/start``, stop it; the baseline is ``codex --version`` (the
binary's own start), interleaved. Then the RSS of one idle app-server (with its child
processes): what keeping a process for each waiting task would hold instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import psutil

from benchmarks.harness import REPO, Row, Size, p50

NAME = "codex"
CODEX = REPO / "node_modules" / ".bin" / "codex"
SIZES = {"tiny": 2, "full": 10}
MS = 1000.0
CONFIG = """model_provider = "unused"
model = "m"
check_for_update_on_startup = false
[model_providers.unused]
name = "unused"
base_url = "http://127.0.0.1:9/v1"
env_key = "UNUSED_KEY"
wire_api = "responses"
[analytics]
enabled = false
"""


def _ask(proc: subprocess.Popen[bytes], request_id: int, method: str, params: Any) -> Any:
    assert proc.stdin is not None and proc.stdout is not None
    message = {"id": request_id, "method": method, "params": params}
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()
    while line := proc.stdout.readline():
        answer = json.loads(line)
        if answer.get("id") == request_id:
            if "error" in answer:
                raise RuntimeError(f"{method}: {answer['error']}")
            return answer.get("result")
    raise RuntimeError(f"codex app-server exited before answering {method}")


def _start(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(CODEX), "app-server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    )
    client = {"name": "bench", "title": "bench", "version": "1"}
    _ask(proc, 1, "initialize", {"clientInfo": client, "capabilities": None})
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(20)


def _turn_start(env: dict[str, str], cwd: Path) -> float:
    began = time.perf_counter()
    proc = _start(env, cwd)
    try:
        policy = {"approvalPolicy": "never", "sandbox": "read-only"}
        _ask(proc, 2, "thread/start", {"cwd": str(cwd), **policy})
        return time.perf_counter() - began
    finally:
        _stop(proc)


def _version(env: dict[str, str], cwd: Path) -> float:
    began = time.perf_counter()
    subprocess.run([str(CODEX), "--version"], env=env, cwd=cwd, capture_output=True, check=True)
    return time.perf_counter() - began


def _idle_rss(env: dict[str, str], cwd: Path) -> int:
    proc = _start(env, cwd)
    try:
        root = psutil.Process(proc.pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    finally:
        _stop(proc)


def _measure(trials: int) -> tuple[list[float], list[float], int]:
    with tempfile.TemporaryDirectory(prefix="bench-codex-") as tmp:
        home, cwd = Path(tmp) / "codex-home", Path(tmp) / "project"
        home.mkdir()
        cwd.mkdir()
        (home / "config.toml").write_text(CONFIG, encoding="utf-8")
        env = {**os.environ, "CODEX_HOME": str(home), "UNUSED_KEY": "unused"}
        starts: list[float] = []
        versions: list[float] = []
        for _ in range(trials + 1):  # the first of each warms the disk cache: dropped
            starts.append(_turn_start(env, cwd))
            versions.append(_version(env, cwd))
        return starts[1:], versions[1:], _idle_rss(env, cwd)


async def run(size: Size) -> list[Row]:
    if not CODEX.exists():
        raise RuntimeError(f"{CODEX} is missing: make installs the pinned agent CLIs")
    starts, versions, rss = await anyio.to_thread.run_sync(_measure, SIZES[size])
    return [
        Row(
            "Codex app-server per turn: start → initialize + thread/start, median "
            "(vs `codex --version`)",
            "none (the cost of a process per turn)",
            p50(starts) * MS,
            baseline=p50(versions) * MS,
            note=f"{len(starts)} trials",
        ),
        Row(
            "Codex app-server idle RSS (what one kept per waiting task would hold)",
            "none",
            rss / 2**20,
            unit="MB",
        ),
    ]
