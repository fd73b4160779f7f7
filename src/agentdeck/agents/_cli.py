"""What the CLI adapters (codex, gemini, command) share: the `CliAgent` run template.

One turn is one process: find the binary (or fail), prepare its environment,
spawn it, map its stdout lines to normalized events (a `Stream`), then emit
``usage`` and the one ``turn_finished``. An adapter fills in the hooks that
differ; `CliAgent.run` and `CliAgent.probe` do the rest.

The agent runs in a session (process group) of its own with stdin closed; its
stdout and stderr are read line by line. Whatever way ``run_lines`` ends —
exit, error, cancel by the runner (user cancel or timeout) — the process tree,
its group and every process carrying the task's marker are stopped before it
returns.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import anyio
from anyio.abc import ByteReceiveStream

from agentdeck.agents.base import AgentInfo, Capabilities, Emit, TurnRequest, room
from agentdeck.agents.notices import stderr_event
from agentdeck.model import EventKind, NewEvent
from agentdeck.proctree import MARKER_VAR, kill_tree
from agentdeck.redact import redact_argv

TOOL_OUTPUT_LIMIT = 8_000
STDERR_TAIL = 20
DRAIN_SECONDS = 2.0  # after the agent exits, how long a leftover child may hold its pipes
VERSION_TIMEOUT = 20.0
BAD_LINE_LIMIT = 2_000  # characters of a bad stdout line kept in its event


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


def exited(label: str, exit_code: int, detail: str | None) -> str:
    """``"<label> exited with code N"``, with ``": <detail>"`` when there is one."""
    return f"{label} exited with code {exit_code}" + (f": {detail}" if detail else "")


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
            return AgentInfo(agent, False, None, cli, f"cannot start {cli}: {exc}")
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


def parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One stdout line: (its message, None), (None, what is wrong), or (None, None) if blank.

    Never raises: invalid UTF-8, a line that is not JSON, a truncated object and a
    JSON value that is not an object are all reported, not fatal.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 (byte {exc.start})"
    text = text.strip()
    if not text:
        return None, None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        what = "truncated JSON" if text.startswith("{") else "not JSON"
        return None, f"{what} ({exc.msg} at column {exc.colno})"
    if not isinstance(data, dict):
        return None, "not a JSON object"
    return data, None


def line_text(raw: bytes) -> str:
    """A bad line as text for an event: undecodable bytes become U+FFFD, cut to a limit."""
    text = raw.decode("utf-8", "replace").strip()
    return text if len(text) <= BAD_LINE_LIMIT else text[:BAD_LINE_LIMIT] + "…"


def split_lines(buffer: bytearray) -> list[bytes]:
    """Take every complete line out of ``buffer`` (what stays is the partial tail)."""
    lines: list[bytes] = []
    start = 0
    while (end := buffer.find(b"\n", start)) >= 0:
        lines.append(bytes(buffer[start:end]))
        start = end + 1
    del buffer[:start]
    return lines


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

    async def room(self) -> None:
        await room(self._emit)

    def on_stderr(self, line: str) -> None:
        line = line.rstrip()
        if line:
            data = stderr_event(line)
            if not data.get("notice"):  # a failure quotes real problems, not banners
                self.stderr_tail.append(line)
            self.emit(EventKind.STDERR, data)

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


async def _pump(
    stream: ByteReceiveStream | None,
    on_line: Callable[[str], None],
    room: Callable[[], Awaitable[None]],
) -> None:
    if stream is None:
        return
    buffer = b""
    try:
        async for chunk in stream:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                on_line(line.decode("utf-8", "replace").rstrip("\r"))
            await room()  # a flood waits in the pipe while the store catches up
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
    room: Callable[[], Awaitable[None]],
) -> int:
    """Run ``argv`` to its end, passing each output line on (and waiting for ``room``
    between reads); return its exit code."""
    began = time.time()
    process = await anyio.open_process(
        [*request.launcher, *argv],
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
                    await _pump(stream, on_line, room)
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
        await kill_tree(pid, pgid=pid, marker=request.env.get(MARKER_VAR), since=began)
        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
            await process.aclose()


class NotReady(Exception):
    """Raised by a `CliAgent` hook: the turn fails with this message before any spawn."""


class Stream:
    """Maps one turn's stdout lines to normalized events, and judges the turn at its end.

    By default each line is JSON: objects go to `event`, other text is logged.
    """

    session_id: str | None = None
    result_text: str | None = None

    def __init__(self, turn: Turn) -> None:
        self.turn = turn

    def line(self, line: str) -> None:
        """One line of the agent's stdout."""
        line = line.strip()
        if not line:
            return
        try:
            event = json.loads(line)
        except ValueError:
            self.turn.emit(EventKind.LOG, {"source": "agent", "text": line})
            return
        if isinstance(event, dict):
            self.event(event)

    def event(self, event: dict[str, Any]) -> None:
        """One JSON object from stdout."""

    def end(self) -> None:
        """The process has exited: flush what is buffered."""

    def usage(self) -> dict[str, Any] | None:
        """The data of the turn's ``usage`` event; None: no usage was reported."""
        return None

    def error(self, exit_code: int) -> str | None:
        """Why the turn failed; None: it succeeded."""
        return None if exit_code == 0 else exited(self.turn.agent, exit_code, None)

    def finished_data(self) -> dict[str, Any]:
        """Extra data for a successful ``turn_finished``."""
        return {}


S = TypeVar("S", bound=Stream)


class CliAgent(ABC, Generic[S]):
    """An `Agent` that runs one CLI process per turn; subclasses fill in the hooks.

    ``run``: `cli` (None: fail with `problem`), `env` (may raise `NotReady`),
    `new_stream`, `argv`, spawn (``turn_started``), then `finish`.
    ``probe``: `probe_cli` with `version_args`; `capabilities` plus
    `extra_capabilities` become ``AgentInfo.capabilities``.
    """

    name: str
    capabilities: Capabilities = Capabilities()
    version_args: Sequence[str] = ("--version",)
    """The arguments that make the CLI print its version; empty: do not ask."""
    protocol: str = "cli"
    """How agentdeck talks to it (``doctor`` and ``check_status`` say so)."""

    @abstractmethod
    def cli(self) -> str | None:
        """The binary to run; None when it is missing."""

    @abstractmethod
    def problem(self) -> str:
        """Why `cli` found nothing, and which setting fixes it."""

    @abstractmethod
    def argv(self, cli: str, request: TurnRequest) -> list[str]:
        """The full argv of the turn's process."""

    @abstractmethod
    async def new_stream(self, turn: Turn, env: dict[str, str]) -> S:
        """The `Stream` that reads this turn's stdout (it may emit notices first)."""

    def env(self, request: TurnRequest) -> dict[str, str]:
        """The process environment; raise `NotReady` to fail the turn instead."""
        return agent_env(request)

    def model(self, request: TurnRequest) -> str | None:
        """The model the turn uses, as ``turn_started`` reports it."""
        return request.model

    def finish(self, turn: Turn, stream: S, exit_code: int) -> None:
        """After the exit: the ``usage`` event, then success or ``turn.fail``."""
        stream.end()
        usage = stream.usage()
        if usage is not None:
            turn.emit(EventKind.USAGE, usage)
        common: dict[str, Any] = {
            "exit_code": exit_code,
            "session_id": stream.session_id,
            "result_text": stream.result_text,
            "num_turns": 1,
        }
        error = stream.error(exit_code)
        if error is not None:
            turn.fail(error, **common)
            return
        turn.emit(
            EventKind.TURN_FINISHED,
            {
                "success": True,
                "duration_ms": turn.duration_ms,
                **stream.finished_data(),
                "cost_usd": None,
                **common,
            },
        )

    async def run(self, request: TurnRequest, emit: Emit) -> None:
        """Run one turn; emit normalized events ending with ``turn_finished``."""
        turn = Turn(self.name, request, emit)
        cli = self.cli()
        if cli is None:
            turn.fail(self.problem())
            return
        try:
            env = self.env(request)
        except NotReady as exc:
            turn.fail(str(exc))
            return
        stream = await self.new_stream(turn, env)
        argv = self.argv(cli, request)
        model = self.model(request)
        code = await run_lines(
            argv,
            request=request,
            env=env,
            on_spawn=lambda pid: turn.started_event(pid, argv, model),
            on_stdout=stream.line,
            on_stderr=turn.on_stderr,
            room=turn.room,
        )
        self.finish(turn, stream, code)

    def probe_cli(self) -> str | None:
        """The binary that `probe` asks for its version."""
        return self.cli()

    def extra_capabilities(self) -> dict[str, Any]:
        """Details added to ``AgentInfo.capabilities`` (e.g. a custom provider)."""
        return {}

    async def probe(self) -> AgentInfo:
        return await probe_binary(
            self.name,
            self.probe_cli(),
            self.problem(),
            version_args=self.version_args,
            capabilities={
                **self.capabilities.to_dict(),
                "protocol": self.protocol,
                **self.extra_capabilities(),
            },
        )
