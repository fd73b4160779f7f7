"""What the CLI adapters (codex, gemini, command) share: find, probe, spawn, read, kill.

The agent runs in a session (process group) of its own with stdin closed; its
stdout and stderr are read line by line. Whatever way ``run_lines`` ends —
exit, error, cancel by the runner (user cancel or timeout) — the process tree,
its group and every process carrying the task's marker are stopped before it
returns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream

from agentdeck.agents.base import AgentInfo, Emit, TurnRequest
from agentdeck.model import EventKind, NewEvent
from agentdeck.proctree import MARKER_VAR, kill_tree
from agentdeck.redact import redact_argv

TOOL_OUTPUT_LIMIT = 8_000
STDERR_TAIL = 20
DRAIN_SECONDS = 2.0  # after the agent exits, how long a leftover child may hold its pipes
VERSION_TIMEOUT = 20.0


def find_binary(cli_path: str | None, name: str, env: dict[str, str] | None = None) -> str | None:
    """``cli_path`` (a path, or a name looked up on PATH), else ``name`` on PATH."""
    path = (env or os.environ).get("PATH")
    if cli_path:
        if os.sep in cli_path:
            return cli_path if os.access(cli_path, os.X_OK) else None
        return shutil.which(cli_path, path=path)
    return shutil.which(name, path=path)


def missing_message(label: str, cli_path: str | None, name: str, setting: str) -> str:
    where = f"{cli_path!r} is not an executable" if cli_path else f"`{name}` is not on PATH"
    return f"{label} is not available: {where}; install it or set {setting}"


async def probe_binary(
    agent: str,
    cli: str | None,
    problem: str,
    version_args: Sequence[str] = ("--version",),
    capabilities: dict[str, Any] | None = None,
) -> AgentInfo:
    """Available when the binary exists and ``<cli> --version`` starts and exits 0."""
    if cli is None:
        return AgentInfo(agent, available=False, problem=problem)
    version: str | None = None
    if version_args:
        try:
            with anyio.fail_after(VERSION_TIMEOUT):
                result = await anyio.run_process(
                    [cli, *version_args], check=False, stdin=subprocess.DEVNULL
                )
        except (OSError, TimeoutError) as exc:
            return AgentInfo(agent, False, None, cli, f"cannot start {cli}: {exc!r}")
        words = result.stdout.decode(errors="replace").split()
        version = words[-1] if words else None
        if result.returncode != 0:
            argv = " ".join([cli, *version_args])
            return AgentInfo(
                agent, False, version, cli, f"`{argv}` exited with {result.returncode}"
            )
    return AgentInfo(agent, True, version, cli, capabilities=capabilities or {})


def tool_result(
    tool_id: str, output: str, is_error: bool, **extra: Any
) -> dict[str, Any]:  # the data of a ``tool_result`` event
    return {
        "id": tool_id,
        "output": output[:TOOL_OUTPUT_LIMIT],
        "size": len(output),
        "truncated": len(output) > TOOL_OUTPUT_LIMIT,
        "is_error": is_error,
        **extra,
    }


class Turn:
    """Bookkeeping for one CLI turn: spawn notice, stderr tail, the final event."""

    def __init__(self, agent: str, request: TurnRequest, emit: Emit) -> None:
        self.agent = agent
        self.request = request
        self._emit = emit
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self.finished = False
        self.started = time.monotonic()

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        self.finished = self.finished or kind == EventKind.TURN_FINISHED
        self._emit(NewEvent(kind, data, self.request.turn))

    def on_stderr(self, line: str) -> None:
        line = line.rstrip()
        if line:
            self.stderr_tail.append(line)
            self.emit(EventKind.STDERR, {"line": line})

    def started_event(self, pid: int, argv: list[str], model: str | None) -> None:
        self.emit(
            EventKind.TURN_STARTED,
            {
                "instructions": self.request.instructions,
                "agent": self.agent,
                "argv": redact_argv(argv),
                "pid": pid,
                "cwd": str(self.request.cwd),
                "resume": self.request.resume_session_id,
                "model": model,
            },
        )

    @property
    def duration_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def fail(self, error: str, exit_code: int | None = None, **extra: Any) -> None:
        data: dict[str, Any] = {
            "success": False,
            "error": error,
            "exit_code": exit_code,
            "duration_ms": self.duration_ms,
            **extra,
        }
        if self.stderr_tail:
            data["stderr_tail"] = list(self.stderr_tail)
        self.emit(EventKind.TURN_FINISHED, data)


def agent_env(request: TurnRequest, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The agent's environment: ours, then the adapter's additions, then the request's."""
    return {**os.environ, **(extra or {}), **request.env}


async def _pump(stream: ByteReceiveStream | None, on_line: Callable[[str], None]) -> None:
    if stream is None:
        return
    buffer = b""
    try:
        async for chunk in stream:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                on_line(line.decode("utf-8", "replace").rstrip("\r"))
    except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass
    if buffer:
        on_line(buffer.decode("utf-8", "replace").rstrip("\r"))


async def run_lines(
    argv: list[str],
    *,
    request: TurnRequest,
    env: dict[str, str],
    on_spawn: Callable[[int], None],
    on_stdout: Callable[[str], None],
    on_stderr: Callable[[str], None],
) -> int:
    """Run ``argv`` to its end, passing each output line on; return its exit code."""
    process = await anyio.open_process(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=request.cwd,
        env=env,
        start_new_session=True,
    )
    pid = process.pid
    try:
        on_spawn(pid)
        async with anyio.create_task_group() as tg:
            drained = [anyio.Event(), anyio.Event()]

            async def pump(
                stream: ByteReceiveStream | None, on_line: Callable[[str], None], done: anyio.Event
            ) -> None:
                try:
                    await _pump(stream, on_line)
                finally:
                    done.set()

            tg.start_soon(pump, process.stdout, on_stdout, drained[0])
            tg.start_soon(pump, process.stderr, on_stderr, drained[1])
            code = await process.wait()
            with anyio.move_on_after(DRAIN_SECONDS):
                for done in drained:
                    await done.wait()
            tg.cancel_scope.cancel()
        return code
    finally:
        await kill_tree(pid, pgid=pid, marker=request.env.get(MARKER_VAR))
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await process.aclose()
