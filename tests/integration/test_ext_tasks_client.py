"""The pinned third-party Tasks client, ``@modelcontextprotocol/ext-tasks`` 0.2.2 on
``@modelcontextprotocol/client`` 2.3.1 (tests/support/ext_tasks_client.mjs), against
agentdeck through the real Claude Code on the fake model: create → completed; an
approval answered through the library's input routing; cancel through the library.

``make test`` installs the packages with ``npm ci``; a missing node or package skips
these tests, and fails them under ``CI=true``."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process

from agentdeck.config import Settings, load_settings
from agentdeck.proctree import alive_members
from support.mcp_raw import RawMcp
from support.paths import REPO, TESTS
from support.servers import serve
from support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]

SCRIPT = TESTS / "support" / "ext_tasks_client.mjs"
PACKAGES = REPO / "node_modules" / "@modelcontextprotocol"
PINNED = {"ext-tasks": "0.2.2", "client": "2.3.1"}


def _node() -> str:
    """The ``node`` binary, once the pinned packages are checked (skip, or fail on CI)."""
    problems = []
    node = shutil.which("node")
    if node is None:
        problems.append("no `node` on PATH")
    for name, version in PINNED.items():
        manifest = PACKAGES / name / "package.json"
        found = json.loads(manifest.read_text())["version"] if manifest.exists() else None
        if found != version:
            problems.append(f"@modelcontextprotocol/{name} is {found or 'missing'}, not {version}")
    if problems:
        why = f"{'; '.join(problems)}: install Node.js 20+, run `npm ci` in {REPO}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the ext-tasks client cannot run: {why}", pytrace=False)
        pytest.skip(why)
    assert node is not None
    return node


def _settings(tmp_path: Path, project: Path, agent_env: dict[str, str], policy: str) -> Settings:
    env = {
        **agent_env,
        "AGENTDECK_HOME": str(tmp_path / "state"),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_APPROVAL_POLICY": policy,
    }
    return load_settings(env=env)


class Run:
    """One run of the script: its JSON lines, read as they come."""

    def __init__(self, process: Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self._buffer = b""

    async def _line(self) -> dict[str, Any] | None:
        assert self.process.stdout is not None
        while b"\n" not in self._buffer:
            try:
                self._buffer += await self.process.stdout.receive()
            except anyio.EndOfStream:
                return None
        line, self._buffer = self._buffer.split(b"\n", 1)
        event: dict[str, Any] = json.loads(line)
        self.events.append(event)
        return event

    async def until(self, name: str, timeout: float = 120) -> dict[str, Any]:
        """The next event called ``name``; a script error fails the test."""
        with anyio.fail_after(timeout):
            while (event := await self._line()) is not None:
                assert event["event"] != "error", self.events
                if event["event"] == name:
                    return event
        raise AssertionError(f"the script ended before {name!r}: {self.events}")

    async def send(self, line: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(f"{line}\n".encode())

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]


@asynccontextmanager
async def ext_tasks(url: str, scenario: str) -> AsyncIterator[Run]:
    """The script on ``scenario`` against ``url``; it must exit 0 after ``done``."""
    command = [_node(), str(SCRIPT), url, scenario]
    env = {**os.environ, "NO_COLOR": "1"}
    async with await anyio.open_process(command, cwd=REPO, env=env) as process:
        run = Run(process)
        try:
            yield run
            await run.until("done")
            assert process.stderr is not None
            with anyio.fail_after(30):
                errors = b"".join([chunk async for chunk in process.stderr])
                code = await process.wait()
            assert code == 0 and not errors.strip(), (run.events, errors.decode())
        finally:
            if process.returncode is None:
                process.kill()


def _session_checks(run: Run) -> None:
    (connected,) = run.named("connected")
    assert connected["era"] == "modern"
    assert "io.modelcontextprotocol/tasks" in connected["extensions"]
    (session,) = run.named("session")
    assert session["capabilities"]["execution"] is True
    assert session["capabilities"]["cancellation"] is True


async def test_create_task_settles_completed(
    tmp_path: Path, project: Path, agent_env: dict[str, str]
) -> None:
    async with (
        serve(_settings(tmp_path, project, agent_env, "bypass")) as srv,
        ext_tasks(srv.url, "create") as run,
    ):
        created = await run.until("created")
        assert created["kind"] == "task", run.events
        task_id = created["taskId"]
        settled = await run.until("settled")
        assert settled["status"] == "completed" and settled["lastStatus"] == "completed"
        result = (await run.until("result"))["result"]
    _session_checks(run)
    assert result["isError"] is False
    envelope = result["structuredContent"]["result"]
    assert envelope["task_id"] == task_id == envelope["mcp_task_id"]
    assert "hello from ext-tasks" in envelope["result_text"]
    assert task_id in result["content"][0]["text"]
    wire = {(e["method"], e["name"]) for e in run.named("wire")}
    assert ("tools/call", "create_task") in wire and ("tasks/get", task_id) in wire


async def test_approval_through_input_routing(
    tmp_path: Path, project: Path, agent_env: dict[str, str]
) -> None:
    async with (
        serve(_settings(tmp_path, project, agent_env, "ask")) as srv,
        ext_tasks(srv.url, "approve") as run,
    ):
        task_id = (await run.until("created"))["taskId"]
        asked = await run.until("input")
        assert asked["scope"] == "task" and asked["delivery"] == "task-update"
        assert asked["taskId"] == task_id
        assert "echo approved" in asked["message"]
        assert asked["decisions"] == ["allow", "deny", "allow_always"]
        settled = await run.until("settled")
        assert settled["status"] == "completed", run.events
        result = (await run.until("result"))["result"]
        task = await srv.deck.core.get(task_id)
    assert result["isError"] is False
    assert ("tasks/update", task_id) in {(e["method"], e["name"]) for e in run.named("wire")}
    assert "input_required" in {e["status"] for e in run.named("task")}
    assert (Path(task.cwd) / "ext-tasks.txt").read_text().strip() == "approved"
    assert task.always_allow == []  # allow is once, never always
    assert len(run.named("input")) == 1


async def test_cancel_through_the_library_leaves_no_process(
    tmp_path: Path, project: Path, agent_env: dict[str, str]
) -> None:
    async with (
        serve(_settings(tmp_path, project, agent_env, "bypass")) as srv,
        ext_tasks(srv.url, "cancel") as run,
    ):
        task_id = (await run.until("created"))["taskId"]
        await wait_until(lambda: len(alive_members(None, marker=task_id)) >= 2, timeout=120)
        await run.send("cancel")
        await run.until("cancel_acknowledged")
        settled = await run.until("settled")
        assert settled["status"] == "cancelled", run.events
        await wait_until(lambda: alive_members(None, marker=task_id) == [], timeout=30)
        view = await run.until("server_view")
        raw = RawMcp(srv.url)
        try:
            task = await raw.poll(task_id, {"cancelled", "completed"}, timeout=30)
        finally:
            await raw.aclose()
    assert ("tasks/cancel", task_id) in {(e["method"], e["name"]) for e in run.named("wire")}
    assert task["status"] == "cancelled"
    assert view["status"] in {"working", "cancelled"}  # the ack is eventually consistent
