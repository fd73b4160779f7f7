"""CliAgent: the shared run template, with a tiny adapter around ``python -c``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest

from agentdeck.agents._cli import CliAgent, NotReady, Stream, Turn, agent_env
from agentdeck.agents.base import Agent, Capabilities, TurnRequest
from agentdeck.model import EventKind, NewEvent

pytestmark = pytest.mark.anyio

# Prints what the test asks for: argv[1] is a JSON list of [stream, text] pairs, then exits.
PRINTER = """
import json, os, subprocess, sys, time
for where, text in json.loads(sys.argv[1]):
    if where == "exit":
        sys.exit(int(text))
    if where == "hang":
        time.sleep(300)
    if where == "spawn":  # a child that outlives us unless it is stopped; print its pid
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        where, text = "out", f"child {child.pid}"
    out = sys.stderr if where == "err" else sys.stdout
    out.write(os.path.expandvars(text) + "\\n")
    out.flush()
"""


class Lines(Stream):
    """``{"text": ...}`` is a message, ``{"session": ...}`` names the session."""

    def event(self, event: dict[str, Any]) -> None:
        if "session" in event:
            self.session_id = str(event["session"])
        if "text" in event:
            self.result_text = str(event["text"])
            self.turn.emit(EventKind.MESSAGE, {"role": "assistant", "text": self.result_text})

    def usage(self) -> dict[str, Any] | None:
        return {"input_tokens": 1, "output_tokens": 2} if self.result_text else None


class PyAgent(CliAgent[Lines]):
    name = "py"
    capabilities = Capabilities(resume=True)

    def __init__(self, binary: str | None = sys.executable, not_ready: str | None = None) -> None:
        self.binary = binary
        self.not_ready = not_ready

    def cli(self) -> str | None:
        return self.binary

    def problem(self) -> str:
        return "py is not available"

    def argv(self, cli: str, request: TurnRequest) -> list[str]:
        return [cli, "-c", PRINTER, request.instructions]

    def env(self, request: TurnRequest) -> dict[str, str]:
        if self.not_ready:
            raise NotReady(self.not_ready)
        return agent_env(request, {"PY_AGENT": "from-hook"})

    async def new_stream(self, turn: Turn, env: dict[str, str]) -> Lines:
        return Lines(turn)

    def extra_capabilities(self) -> dict[str, Any]:
        return {"flavour": "python"}


def request(steps: list[list[str]], cwd: Path, **env: str) -> TurnRequest:
    return TurnRequest("t-1", 1, json.dumps(steps), cwd, model="m-1", env=env)


async def play(agent: Agent, req: TurnRequest) -> list[NewEvent]:
    events: list[NewEvent] = []
    with anyio.fail_after(30):
        await agent.run(req, events.append)
    assert [e.kind for e in events].count(EventKind.TURN_FINISHED) == 1
    assert events[-1].kind == EventKind.TURN_FINISHED
    return events


def of(events: list[NewEvent], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.kind == kind]


async def test_a_successful_turn(tmp_path: Path) -> None:
    steps = [
        ["out", '{"session": "s-9"}'],
        ["out", "not json"],
        ["err", "a warning"],
        ["out", '{"text": "hello from $PY_AGENT in $FROM_REQUEST"}'],
    ]
    events = await play(PyAgent(), request(steps, tmp_path, FROM_REQUEST="request"))
    started = events[0]
    assert started.kind == EventKind.TURN_STARTED and started.turn == 1
    assert isinstance(started.data["pid"], int)
    assert started.data["agent"] == "py" and started.data["model"] == "m-1"
    assert started.data["argv"][:2] == [sys.executable, "-c"]
    assert of(events, EventKind.LOG) == [{"source": "agent", "text": "not json"}]
    assert of(events, EventKind.STDERR) == [{"line": "a warning"}]
    text = "hello from from-hook in request"
    assert of(events, EventKind.MESSAGE) == [{"role": "assistant", "text": text}]
    assert [e.kind for e in events][-2:] == [EventKind.USAGE, EventKind.TURN_FINISHED]
    assert events[-2].data == {"input_tokens": 1, "output_tokens": 2}
    finished = events[-1].data
    assert finished["success"] is True
    assert finished["exit_code"] == 0
    assert finished["session_id"] == "s-9"
    assert finished["result_text"] == text
    assert finished["num_turns"] == 1
    assert finished["cost_usd"] is None


async def test_a_nonzero_exit_fails_the_turn_with_the_stderr_tail(tmp_path: Path) -> None:
    steps = [["err", "first problem"], ["err", "last problem"], ["exit", "3"]]
    events = await play(PyAgent(), request(steps, tmp_path))
    assert of(events, EventKind.USAGE) == []
    finished = events[-1].data
    assert finished["success"] is False
    assert finished["error"] == "py exited with code 3"
    assert finished["exit_code"] == 3
    assert finished["stderr_tail"] == ["first problem", "last problem"]


async def test_a_banner_on_stderr_is_a_notice_never_the_cause_of_a_failure(
    tmp_path: Path,
) -> None:
    banner = "YOLO mode is enabled. All tool calls will be automatically approved."
    steps = [["err", banner], ["err", "the real problem"], ["exit", "1"]]
    events = await play(PyAgent(), request(steps, tmp_path))
    lines = of(events, EventKind.STDERR)
    assert lines == [{"line": banner, "notice": True}, {"line": "the real problem"}]
    assert events[-1].data["stderr_tail"] == ["the real problem"]


async def test_a_missing_binary_fails_before_any_spawn(tmp_path: Path) -> None:
    events = await play(PyAgent(binary=None), request([], tmp_path))
    assert [e.kind for e in events] == [EventKind.TURN_FINISHED]
    assert events[0].data["error"] == "py is not available"
    assert events[0].data["success"] is False


async def test_not_ready_from_a_hook_fails_before_any_spawn(tmp_path: Path) -> None:
    events = await play(PyAgent(not_ready="no API key"), request([], tmp_path))
    assert [e.kind for e in events] == [EventKind.TURN_FINISHED]
    assert events[0].data["error"] == "no API key"


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_cancel_stops_the_process_and_its_children(tmp_path: Path) -> None:
    events: list[NewEvent] = []
    spawned = anyio.Event()

    def emit(event: NewEvent) -> None:
        events.append(event)
        if event.kind == EventKind.LOG:
            spawned.set()

    steps = [["spawn", ""], ["hang", ""]]
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(PyAgent().run, request(steps, tmp_path), emit)
            await spawned.wait()
            child = int(of(events, EventKind.LOG)[0]["text"].split()[1])
            assert alive(child)
            tg.cancel_scope.cancel()
    assert not alive(events[0].data["pid"])
    assert not alive(child)
    assert EventKind.TURN_FINISHED not in [e.kind for e in events]


async def test_probe_merges_declared_capabilities_with_details() -> None:
    info = await PyAgent().probe()
    assert info.available and info.path == sys.executable
    assert info.version == sys.version.split()[0]
    assert info.capabilities == {
        "approvals": False,
        "resume": True,
        "steer": False,
        "cost": False,
        "protocol": "cli",
        "flavour": "python",
    }
    missing = await PyAgent(binary=None).probe()
    assert not missing.available and missing.problem == "py is not available"
