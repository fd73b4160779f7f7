"""The OpenAI Codex CLI through ``codex app-server``: JSON-RPC on stdio, with approvals.

One ``codex app-server`` process per turn. A per-turn process is the simplest shape
that is also robust: ``thread/resume`` reloads the thread (its rollout file under
CODEX_HOME) by id, so the conversation lives in the thread, not in the process, and
the turn's process group is killed whole at the turn's end, by cancel or by timeout,
like every other adapter's. Measured: a start costs ~120 ms a turn, an idle
app-server holds ~124 MB (docs/agents.md), so none is kept between turns.

The wire (measured with codex-cli 0.171.0; ``codex app-server generate-json-schema``
prints the schema): newline-delimited JSON-RPC 2.0 *without* the ``"jsonrpc"`` field,
integer ids. agentdeck is the client:

- ``initialize`` (``clientInfo``) → ``initialized`` → ``thread/start`` (``cwd``,
  ``model``, ``approvalPolicy``, ``sandbox``) or ``thread/resume`` (``threadId``: the
  task's session id) → ``turn/start`` (``threadId``, ``input``);
- notifications become normalized events: ``item/started`` / ``item/completed``
  (``commandExecution`` → tool ``shell``, ``fileChange`` → ``apply_patch``, MCP and web
  tools, ``agentMessage`` → ``message``, ``reasoning`` → ``log``),
  ``thread/tokenUsage/updated`` (thread totals: the turn's usage is the difference),
  ``error`` (``codexErrorInfo``; ``usageLimitExceeded`` parks the task until the
  "try again at ..." time of its text), and
  ``turn/completed`` (its ``status`` judges the turn);
- server requests ``item/commandExecution/requestApproval`` and
  ``item/fileChange/requestApproval`` ask agentdeck (``TurnRequest.approve``), named
  like Claude's tools (``Bash`` with the unwrapped command, ``Edit`` with the file)
  so that policies and rules apply: allowed → ``accept``, refused → ``decline`` (the
  protocol carries no message: the user's words are logged). "Allow always" is kept by
  agentdeck (the task's ``always_allow``), so it also holds in the next turn's process;
  Codex's own ``acceptForSession`` is not used;
- steering: while the turn runs, words from the turn's inbox go to ``turn/steer``; a
  steer Codex refuses (the turn was ending) runs as a follow-up ``turn/start`` in the
  same process, so the words are never lost;
- cancel (user, timeout) sends ``turn/interrupt``, then the process tree is stopped.

A stdout line that is not JSON-RPC (a banner, truncated JSON, invalid UTF-8) is a
``stderr`` event with ``stream: "stdout"``; the turn goes on.

Permission modes: ``bypassPermissions`` → ``approvalPolicy "never"`` +
``danger-full-access``; ``default`` (agentdeck asks) → ``"untrusted"`` +
``workspace-write`` (every command that is not known read-only asks); ``acceptEdits``
→ ``"never"`` + ``workspace-write`` and ``plan`` → ``"never"`` + ``read-only``, as
``codex exec`` runs them.

Where the binary has no ``app-server`` (``codex app-server --help`` fails; asked once
per binary), turns run through ``codex exec --json`` (`agentdeck.agents.codex`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from agentdeck import __version__
from agentdeck.agents import stdio
from agentdeck.agents._cli import (
    NotReady,
    Turn,
    exited,
    parse_line,
    probe_binary,
)
from agentdeck.agents.base import AgentInfo, Capabilities, Emit, Inbox, TurnRequest
from agentdeck.agents.codex import CodexAgent
from agentdeck.agents.codex_app_events import (
    COMMAND_APPROVAL,
    FILE_APPROVAL,
    LEGACY_APPROVALS,
    TurnEvents,
    approval_question,
    approval_reply,
    thread_policy,
)
from agentdeck.agents.codex_setup import CodexSetup
from agentdeck.config import CodexSettings
from agentdeck.model import EventKind
from agentdeck.proctree import MARKER_VAR, kill_tree

HELP_TIMEOUT = 20.0  # ``codex app-server --help``
INTERRUPT_TIMEOUT = 2.0  # how long cancel waits for ``turn/interrupt`` to be answered
EXIT_GRACE = 2.0  # after stdout closes, how long to wait for the exit code
PROTOCOL = "app-server"


# -- JSON-RPC over the process's stdio ----------------------------------------------


class RpcError(Exception):
    """A JSON-RPC error answer of the app-server."""

    def __init__(self, error: object) -> None:
        data = error if isinstance(error, dict) else {"message": str(error)}
        self.code = data.get("code")
        self.data = data.get("data")
        message = str(data.get("message") or f"error {self.code}")
        super().__init__(message)


Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class Connection:
    """agentdeck's side of one app-server: requests out, answers and notifications in."""

    def __init__(
        self,
        writer: asyncio.StreamWriter,
        on_notification: Callable[[str, dict[str, Any]], None],
        on_request: Handler,
        tg: TaskGroup,
        on_close: Callable[[], None] = lambda: None,
    ) -> None:
        self.writer = writer
        self.on_close = on_close
        self.on_notification = on_notification
        self.on_request = on_request
        self.tg = tg
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.closed = False

    async def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            raise ConnectionError("the app-server closed its stdout")
        self.writer.write(json.dumps(message).encode() + b"\n")
        await self.writer.drain()

    async def request(self, method: str, params: dict[str, Any]) -> Any:
        request_id = next(self.ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        try:
            await self.send({"id": request_id, "method": method, "params": params})
            return await future
        finally:
            self.waiting.pop(request_id, None)

    async def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        message: dict[str, Any] = {"method": method}
        if params is not None:
            message["params"] = params
        await self.send(message)

    def feed(self, message: dict[str, Any]) -> None:
        """One message from the server's stdout."""
        method = message.get("method")
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        if isinstance(method, str) and "id" in message:
            self.tg.start_soon(self._answer, message["id"], method, params)
        elif isinstance(method, str):
            self.on_notification(method, params)
        elif "id" in message:
            future = self.waiting.get(message["id"])
            if future is None or future.done():
                return
            if "error" in message:
                future.set_exception(RpcError(message["error"]))
            else:
                future.set_result(message.get("result"))

    async def _answer(self, request_id: Any, method: str, params: dict[str, Any]) -> None:
        try:
            result = await self.on_request(method, params)
        except RpcError as exc:
            reply: dict[str, Any] = {
                "id": request_id,
                "error": {"code": exc.code or -32601, "message": str(exc)},
            }
        else:
            reply = {"id": request_id, "result": result}
        with contextlib.suppress(ConnectionError, OSError):
            await self.send(reply)

    def close(self) -> None:
        """stdout ended: every request still waiting fails."""
        self.closed = True
        self.on_close()
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the app-server closed its stdout"))


async def _pump_stdout(stream: asyncio.StreamReader, conn: Connection, turn: Turn) -> None:
    """JSON-RPC lines to the connection (`stdio.read_json_lines`); closed at the end."""
    try:
        await stdio.read_json_lines(stream, turn, lambda message, _raw: conn.feed(message))
    except anyio.get_cancelled_exc_class():
        raise  # the turn is being stopped: `interrupt` may still talk to the server
    except BaseException:
        conn.close()
        raise
    conn.close()  # stdout ended: the server is gone


def _text_input(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "text_elements": []}]


# -- one turn ------------------------------------------------------------------------


class _Session:
    """One turn's conversation with its app-server process."""

    def __init__(self, agent: CodexAppServerAgent, turn: Turn, request: TurnRequest) -> None:
        self.agent = agent
        self.turn = turn
        self.request = request
        self.events = TurnEvents(turn.emit)
        self.conn: Connection | None = None
        self.thread_id: str | None = None
        self.followups: list[str] = []
        self.steps = 0
        self.steered: anyio.Event | None = None  # set when the steer loop has ended

    async def on_request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method in (COMMAND_APPROVAL, FILE_APPROVAL, *LEGACY_APPROVALS):
            item = self.events.items.get(str(params.get("itemId") or params.get("callId") or ""))
            tool, data, prompt = approval_question(method, params, item)
            approve = self.request.approve
            if approve is None:  # policy bypass: every tool use runs
                return approval_reply(method, True)
            allowed, message = await approve(tool, data, prompt)
            if not allowed and message:
                # The protocol carries no message with a refusal: the words are kept here.
                self.turn.emit(
                    EventKind.LOG,
                    {"source": "agentdeck", "text": f"refused {tool}: {message}", "tool": tool},
                )
            return approval_reply(method, allowed)
        raise RpcError({"code": -32601, "message": f"agentdeck does not answer {method}"})

    def start_steering(self, conn: Connection, tg: TaskGroup) -> None:
        if self.request.inbox is None:
            return
        self.request.inbox.open()
        self.steered = anyio.Event()
        tg.start_soon(self.steer, conn, self.request.inbox, self.steered)

    async def stop_steering(self) -> None:
        """Close the inbox; what is left in it (or was refused) is in `followups` after."""
        if self.request.inbox is None or self.steered is None:
            return
        self.request.inbox.close()
        await self.steered.wait()

    async def steer(self, conn: Connection, inbox: Inbox, done: anyio.Event) -> None:
        """Words from the inbox to ``turn/steer``; refused ones wait for a follow-up turn."""
        try:
            await self._steer(conn, inbox)
        finally:
            done.set()

    async def _steer(self, conn: Connection, inbox: Inbox) -> None:
        while (text := await inbox.get()) is not None:
            turn_id = self.events.turn_id
            if turn_id is None or self.events.completed.is_set():
                self.followups.append(text)
                continue
            try:
                await conn.request(
                    "turn/steer",
                    {
                        "threadId": self.thread_id,
                        "input": _text_input(text),
                        "expectedTurnId": turn_id,
                    },
                )
            except RpcError as exc:
                self.followups.append(text)
                self.turn.emit(
                    EventKind.LOG,
                    {"source": "steer", "text": f"Codex did not take it now ({exc}): it runs next"},
                )

    async def converse(self, conn: Connection, tg: TaskGroup) -> None:
        request = self.request
        init = await conn.request(
            "initialize",
            {
                "clientInfo": {"name": "agentdeck", "title": "agentdeck", "version": __version__},
                "capabilities": None,
            },
        )
        await conn.notify("initialized")
        policy = thread_policy(request.permission_mode)
        params: dict[str, Any] = {"cwd": str(request.cwd), **policy}
        model = self.agent.setup.model(request)
        if model:
            params["model"] = model
        if request.resume_session_id:
            started = await conn.request(
                "thread/resume",
                {"threadId": request.resume_session_id, "excludeTurns": True, **params},
            )
        else:
            started = await conn.request("thread/start", params)
        thread = (started or {}).get("thread") or {}
        self.thread_id = str(thread.get("id") or request.resume_session_id or "")
        self.events.thread_id = self.thread_id
        agent_version = None
        user_agent = str((init or {}).get("userAgent") or "")
        if "/" in user_agent:
            agent_version = user_agent.split("/", 1)[1].split(" ", 1)[0]
        self.turn.emit(
            EventKind.SESSION,
            {
                "session_id": self.thread_id,
                "cwd": str(request.cwd),
                "model": (started or {}).get("model") or model,
                "agent_version": agent_version,
                "protocol": PROTOCOL,
                "resumed": bool(request.resume_session_id),
                **policy,
            },
        )
        text = request.instructions
        while True:
            self.steps += 1
            self.start_steering(conn, tg)
            started_turn = await conn.request(
                "turn/start", {"threadId": self.thread_id, "input": _text_input(text)}
            )
            turn_id = ((started_turn or {}).get("turn") or {}).get("id")
            self.events.turn_id = self.events.turn_id or (str(turn_id) if turn_id else None)
            await self.events.completed.wait()
            if self.events.status is None:  # stdout closed before the turn completed
                raise ConnectionError("the app-server closed its stdout")
            await self.stop_steering()
            if self.events.status != "completed" and self.followups:
                lost = {"source": "steer", "text": "not delivered: the turn did not complete"}
                self.turn.emit(EventKind.LOG, {**lost, "instructions": self.followups})
            if self.events.status != "completed" or not self.followups:
                break
            # Steers Codex did not take: the next turn of the same thread, in this process.
            text, self.followups = "\n\n".join(self.followups), []
            self.events.completed = anyio.Event()
            self.events.status = None
            self.events.turn_id = None
        self.finish()

    def finish(self) -> None:
        events = self.events
        usage = events.usage()
        if usage is not None:
            self.turn.emit(EventKind.USAGE, usage)
        common: dict[str, Any] = {
            "session_id": self.thread_id,
            "result_text": events.result_text,
            "num_turns": self.steps,
            "exit_code": None,
        }
        failure = events.failure()
        if failure is None:
            self.turn.emit(
                EventKind.TURN_FINISHED,
                {"success": True, "duration_ms": self.turn.duration_ms, "cost_usd": None, **common},
            )
        else:
            self.turn.fail(failure[0], **failure[1], **common)

    async def interrupt(self, stdout: asyncio.StreamReader) -> None:
        """Ask Codex to stop the running turn (cancel, timeout), and wait a moment for it
        to say so; the reader tasks are gone by now, so this reads stdout itself."""
        conn, turn_id = self.conn, self.events.turn_id
        if conn is None or conn.closed or not turn_id or self.events.completed.is_set():
            return
        params = {"threadId": self.thread_id, "turnId": turn_id}
        with (
            anyio.move_on_after(INTERRUPT_TIMEOUT),
            contextlib.suppress(ConnectionError, OSError, ValueError),
        ):
            await conn.send({"id": next(conn.ids), "method": "turn/interrupt", "params": params})
            while line := await stdout.readline():
                data, _ = parse_line(line)
                if data is not None and data.get("method") == "turn/completed":
                    return


async def run_turn(agent: CodexAppServerAgent, request: TurnRequest, emit: Emit) -> None:
    """Run one turn through ``codex app-server``; emit events ending with ``turn_finished``."""
    turn = Turn(agent.name, request, emit)
    cli = agent.cli()
    if cli is None:
        turn.fail(agent.problem())
        return
    try:
        env = agent.setup.env(request)
    except NotReady as exc:
        turn.fail(str(exc))
        return
    argv = agent.argv(cli, request)
    began = time.time()
    process = await stdio.start(turn, request, argv, env, "Codex")
    if process is None:
        return
    turn.started_event(process.pid, argv, agent.setup.model(request))
    session = _Session(agent, turn, request)
    assert process.stdin and process.stdout and process.stderr
    try:
        async with anyio.create_task_group() as tg:
            conn = Connection(
                process.stdin,
                session.events.notification,
                session.on_request,
                tg,
                on_close=lambda: session.events.completed.set(),
            )
            session.conn = conn
            tg.start_soon(_pump_stdout, process.stdout, conn, turn)
            tg.start_soon(stdio.read_stderr, process.stderr, turn)
            try:
                await session.converse(conn, tg)
            except (ConnectionError, BrokenPipeError):
                await _died(process, turn)
            except RpcError as exc:
                turn.fail(f"Codex: {exc}", session_id=session.thread_id)
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            if request.inbox is not None:
                request.inbox.close()
            if not turn.finished:
                await session.interrupt(process.stdout)  # Codex's own stop, then the tree
            with contextlib.suppress(OSError):
                process.stdin.close()
            marker = request.env.get(MARKER_VAR)
            await kill_tree(process.pid, pgid=process.pid, marker=marker, since=began)
            with anyio.move_on_after(5):
                await process.wait()


async def _died(process: asyncio.subprocess.Process, turn: Turn) -> None:
    """The app-server went away mid-turn: fail with its exit code and last stderr line."""
    code: int | None = None
    with anyio.move_on_after(EXIT_GRACE):
        code = await process.wait()
    tail = turn.stderr_tail[-1] if turn.stderr_tail else None
    if code is None:
        turn.fail("Codex closed the app-server connection mid-turn" + (f": {tail}" if tail else ""))
    else:
        turn.fail(exited("Codex app-server", code, tail), exit_code=code)


# -- the adapter -----------------------------------------------------------------------

_HAS_APP_SERVER: dict[str, bool] = {}


async def has_app_server(cli: str) -> bool:
    """Whether ``cli app-server --help`` succeeds (asked once per binary)."""
    known = _HAS_APP_SERVER.get(cli)
    if known is not None:
        return known
    try:
        with anyio.fail_after(HELP_TIMEOUT):
            result = await anyio.run_process(
                [cli, "app-server", "--help"], check=False, stdin=subprocess.DEVNULL
            )
        found = result.returncode == 0
    except (OSError, TimeoutError):
        found = False
    _HAS_APP_SERVER[cli] = found
    return found


APP_SERVER_CAPABILITIES = Capabilities(approvals=True, resume=True, steer=True)


class CodexAppServerAgent:
    """Adapter for the Codex CLI through ``codex app-server`` (see the module docstring).

    ``exec`` is the ``codex exec --json`` adapter, used where the binary has no
    app-server; until that is known the app-server's capabilities are declared.
    """

    name = "codex"

    def __init__(self, settings: CodexSettings | None = None, home: Path | None = None) -> None:
        self.setup = CodexSetup(settings, home)
        self.settings = self.setup.settings
        self.exec = CodexAgent(self.settings, home)
        self.capabilities = APP_SERVER_CAPABILITIES

    async def _app_server(self) -> bool:
        """Whether the binary has an app-server; without, exec's capabilities hold."""
        cli = self.cli()
        found = cli is None or await has_app_server(cli)
        self.capabilities = APP_SERVER_CAPABILITIES if found else self.exec.capabilities
        return found

    def cli(self) -> str | None:
        return self.setup.cli()

    def problem(self) -> str:
        return self.setup.problem()

    def argv(self, cli: str, request: TurnRequest) -> list[str]:
        return [cli, "app-server", *self.settings.extra_args]

    async def run(self, request: TurnRequest, emit: Emit) -> None:
        """Run one turn; emit normalized events ending with ``turn_finished``."""
        if not await self._app_server():  # exec cannot ask: its sandbox for each mode
            await self.exec.run(replace(request, inbox=None), emit)
            return
        await run_turn(self, request, emit)

    async def probe(self) -> AgentInfo:
        if not await self._app_server():
            info = await self.exec.probe()
            info.capabilities["app_server"] = False
            return info
        return await probe_binary(
            self.name,
            self.cli(),
            self.problem(),
            capabilities={
                **APP_SERVER_CAPABILITIES.to_dict(),
                "protocol": PROTOCOL,
                "custom_provider": self.setup.own_home is not None,
            },
        )


def codex_agent(
    settings: CodexSettings | None = None, home: Path | None = None
) -> CodexAppServerAgent | CodexAgent:
    """The Codex adapter ``[agents.codex] protocol`` names (default: the app-server)."""
    settings = settings or CodexSettings()
    if settings.protocol == "exec":
        return CodexAgent(settings, home)
    return CodexAppServerAgent(settings, home)


__all__ = [
    "CodexAppServerAgent",
    "Connection",
    "RpcError",
    "codex_agent",
    "has_app_server",
]
