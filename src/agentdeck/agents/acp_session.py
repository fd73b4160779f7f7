"""One ACP turn of an `AcpAgent` (agentdeck.agents.acp), and its probe.

agentdeck is the ACP *client* (the ``agent-client-protocol`` library, pinned): it
starts the agent's argv in a session (process group) of its own, then
``initialize`` → ``session/new`` (or ``session/load`` of the task's session when
the agent declares ``loadSession``) → ``session/prompt`` with the turn's
instructions. While the prompt runs:

- ``session/update`` notifications become normalized events: message chunks are
  joined into one ``message`` per run of them, thoughts into a ``log`` (reasoning),
  ``tool_call`` / ``tool_call_update`` into ``tool_call`` and ``tool_result``, plans
  into a ``log`` with ``plan``; the replay that ``session/load`` sends is dropped;
- ``session/request_permission`` asks agentdeck (``TurnRequest.approve``), the same
  policies and faces as Claude's; the agent's tool kinds are named like Claude's
  tools (``execute`` → ``Bash``, ``edit`` → ``Edit``, ...) so policy rules apply;
- a stdout line that is not JSON-RPC (a banner, truncated JSON, invalid UTF-8) is a
  ``stderr`` event with ``stream: "stdout"``; stderr lines are ``stderr`` events.

Cancel (user, timeout) sends ``session/cancel`` and stops the process tree. The
prompt's ``stopReason`` judges the turn: ``end_turn`` succeeds; an agent that dies
mid-turn fails it with its exit code and last stderr line.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio
from acp import PROTOCOL_VERSION, Client, RequestError
from acp.client.connection import ClientSideConnection
from acp.helpers import text_block
from acp.schema import (
    AgentMessageChunk,
    AgentPlanUpdate,
    AgentThoughtChunk,
    AllowedOutcome,
    ClientCapabilities,
    ContentToolCallContent,
    DeniedOutcome,
    FileEditToolCallContent,
    Implementation,
    InitializeResponse,
    PermissionOption,
    PromptResponse,
    RequestPermissionResponse,
    ToolCallProgress,
    ToolCallStart,
    ToolCallUpdate,
    UsageUpdate,
)

from agentdeck import __version__
from agentdeck.agents import stdio
from agentdeck.agents._cli import (
    NotReady,
    Turn,
    exited,
    tool_result,
)
from agentdeck.agents.base import AgentInfo, Emit, TurnRequest
from agentdeck.model import EventKind
from agentdeck.proctree import MARKER_VAR, kill_tree

if TYPE_CHECKING:
    from agentdeck.agents.acp import AcpAgent

HANDSHAKE_TIMEOUT = 60.0  # probe: start, ``initialize``, stop
REPLAY_QUIET = 0.3  # seconds without an update that end a ``session/load`` replay
REPLAY_LIMIT = 10.0  # the longest a replay may go on
EXIT_GRACE = 2.0  # after the connection drops, how long to wait for the exit code

# ACP tool kinds, named like Claude's tools so that approval policies and rules apply.
TOOL_NAMES = {
    "read": "Read",
    "edit": "Edit",
    "delete": "Delete",
    "move": "Move",
    "search": "Grep",
    "execute": "Bash",
    "fetch": "WebFetch",
    "think": "Think",
    "switch_mode": "SwitchMode",
}
_PATH_KINDS = ("read", "edit", "delete", "move")


def tool_name(kind: str | None, title: str | None) -> str:
    """agentdeck's name for an ACP tool call: its kind's name, else its title."""
    if kind in TOOL_NAMES:
        return TOOL_NAMES[kind]
    return (title or "tool").strip() or "tool"


def tool_input(call: ToolCallStart | ToolCallUpdate) -> dict[str, Any]:
    """The call's ``rawInput``, plus ``file_path`` / ``command`` where the kind implies one."""
    raw = call.raw_input
    data: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
    if raw is not None and not isinstance(raw, dict):
        data["input"] = raw
    if call.kind in _PATH_KINDS and "file_path" not in data:
        path = data.get("path") or (call.locations[0].path if call.locations else None)
        if path:
            data["file_path"] = str(path)
    if call.kind == "execute" and "command" not in data and call.title:
        data["command"] = call.title
    if call.title:
        data.setdefault("title", call.title)
    return data


def _content_text(content: Sequence[Any] | None) -> str:
    parts: list[str] = []
    for item in content or []:
        if isinstance(item, ContentToolCallContent):
            text = getattr(item.content, "text", None)
            if text:
                parts.append(str(text))
        elif isinstance(item, FileEditToolCallContent):
            parts.append(f"{item.path}:\n{item.new_text}")
    return "\n".join(parts)


def _output_text(update: ToolCallStart | ToolCallUpdate) -> str:
    text = _content_text(update.content)
    if text or update.raw_output is None:
        return text
    raw = update.raw_output
    return raw if isinstance(raw, str) else json.dumps(raw, default=str)


def choose_option(options: Sequence[PermissionOption], allowed: bool) -> str | None:
    """The option that says ``allowed`` once (else for good); None: there is none."""
    kinds = ("allow_once", "allow_always") if allowed else ("reject_once", "reject_always")
    for kind in kinds:
        for option in options:
            if option.kind == kind:
                return option.option_id
    return None


def request_error_text(exc: RequestError) -> str:
    """A JSON-RPC error as one readable line (its message, then its details)."""
    text = str(exc) or f"error {exc.code}"
    data = exc.data
    if isinstance(data, dict):
        detail = data.get("details") or data.get("message")
        if detail and str(detail) not in text:
            text = f"{text}: {detail}"
    elif isinstance(data, str) and data and data not in text:
        text = f"{text}: {data}"
    return text


class AcpClient:
    """agentdeck's side of one turn's ACP connection: updates to events, permissions asked."""

    def __init__(self, turn: Turn, label: str) -> None:
        self.turn = turn
        self.label = label
        self.replaying = False  # ``session/load`` replays the history: not this turn's events
        self.replayed = anyio.Event()  # set by each update while replaying
        self.text: list[str] = []
        self.thought: list[str] = []
        self.result_text: str | None = None
        self.calls: dict[str, tuple[str, dict[str, Any]]] = {}
        self.results: set[str] = set()
        self.usage: UsageUpdate | None = None

    # -- events ---------------------------------------------------------------------

    def flush(self) -> None:
        """Chunks come one at a time: one ``message`` (and ``log``) per run of them."""
        if self.thought:
            text, self.thought = "".join(self.thought), []
            self.turn.emit(EventKind.LOG, {"source": "agent", "reasoning": True, "text": text})
        if self.text:
            self.result_text, self.text = "".join(self.text), []
            self.turn.emit(EventKind.MESSAGE, {"role": "assistant", "text": self.result_text})

    def _call(self, update: ToolCallStart | ToolCallUpdate) -> tuple[str, dict[str, Any]]:
        """The call's name and input, announced with a ``tool_call`` event the first time."""
        known = self.calls.get(update.tool_call_id)
        if known is not None:
            return known
        name, data = tool_name(update.kind, update.title), tool_input(update)
        self.calls[update.tool_call_id] = (name, data)
        event: dict[str, Any] = {"id": update.tool_call_id, "name": name, "input": data}
        if update.kind:
            event["kind"] = update.kind
        self.turn.emit(EventKind.TOOL_CALL, event)
        return name, data

    def _result(self, update: ToolCallStart | ToolCallUpdate) -> None:
        if update.status not in ("completed", "failed") or update.tool_call_id in self.results:
            return
        self.results.add(update.tool_call_id)
        output = _output_text(update)
        failed = update.status == "failed"
        self.turn.emit(EventKind.TOOL_RESULT, tool_result(update.tool_call_id, output, failed))

    async def quiet(self) -> None:
        """Wait until the replay stops (agents may send it after ``session/load`` answers)."""
        with anyio.move_on_after(REPLAY_LIMIT):
            while True:
                self.replayed = anyio.Event()
                with anyio.move_on_after(REPLAY_QUIET) as scope:
                    await self.replayed.wait()
                if scope.cancelled_caught:
                    return

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        if self.replaying:
            self.replayed.set()
            return
        if isinstance(update, AgentMessageChunk):
            text = getattr(update.content, "text", None)
            if text:
                if self.thought:
                    self.flush()
                self.text.append(str(text))
            return
        if isinstance(update, AgentThoughtChunk):
            text = getattr(update.content, "text", None)
            if text:
                if self.text:
                    self.flush()
                self.thought.append(str(text))
            return
        self.flush()
        if isinstance(update, ToolCallStart | ToolCallProgress):
            self._call(update)
            self._result(update)
        elif isinstance(update, AgentPlanUpdate):
            plan = [
                {"content": e.content, "status": e.status, "priority": e.priority}
                for e in update.entries
            ]
            self.turn.emit(EventKind.LOG, {"source": "agent", "plan": plan})
        elif isinstance(update, UsageUpdate):
            self.usage = update

    # -- permissions ----------------------------------------------------------------

    async def request_permission(
        self,
        options: list[PermissionOption],
        session_id: str,
        tool_call: ToolCallUpdate,
        **kwargs: Any,
    ) -> RequestPermissionResponse:
        self.flush()
        name, data = self._call(tool_call)
        approve = self.turn.request.approve
        if approve is None:  # policy bypass: every tool use runs
            allowed, message = True, ""
        else:
            allowed, message = await approve(name, data, tool_call.title)
        option = choose_option(options, allowed)
        if not allowed and message:
            # ACP carries no message with a refusal: the user's words are kept here.
            self.turn.emit(
                EventKind.LOG,
                {"source": "agentdeck", "text": f"refused {name}: {message}", "tool": name},
            )
        if option is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=option)
        )

    # -- what agentdeck does not offer (the agent uses its own files and shell) --

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise RequestError.method_not_found(method)

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        return None


async def _pump_stdout(
    stream: asyncio.StreamReader, feed: asyncio.StreamReader, turn: Turn
) -> None:
    """JSON-RPC lines on to the connection's reader (`stdio.read_json_lines`)."""
    try:
        await stdio.read_json_lines(stream, turn, lambda _message, raw: feed.feed_data(raw + b"\n"))
    finally:
        feed.feed_eof()


def _meta_tokens(response: PromptResponse) -> dict[str, int] | None:
    """Gemini CLI's tokens: ``_meta.quota.token_count`` (it sends no ``usage``)."""
    quota = (response.field_meta or {}).get("quota")
    counts = quota.get("token_count") if isinstance(quota, dict) else None
    if not isinstance(counts, dict):
        return None
    return {k: int(counts.get(k) or 0) for k in ("input_tokens", "output_tokens")}


def _usage(response: PromptResponse, update: UsageUpdate | None) -> dict[str, Any] | None:
    usage = response.usage
    cost = update.cost if update is not None else None
    tokens = _meta_tokens(response) if usage is None else None
    if usage is None and cost is None and tokens is None:
        return None
    data: dict[str, Any] = {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_creation_tokens": 0,
        "cost_usd": 0.0,
        "cost_known": False,
    }
    if usage is not None:
        cached = usage.cached_read_tokens or 0
        data.update(
            input_tokens=max(0, usage.input_tokens - cached),
            output_tokens=usage.output_tokens,
            cache_read_tokens=cached,
            cache_creation_tokens=usage.cached_write_tokens or 0,
            reasoning_tokens=usage.thought_tokens or 0,
        )
    elif tokens is not None:
        data.update(tokens)
    if cost is not None and cost.currency.upper() == "USD":
        data.update(cost_usd=cost.amount, cost_known=True)
    if update is not None:
        data["context"] = {"used": update.used, "size": update.size}
    return data


async def run_turn(agent: AcpAgent, request: TurnRequest, emit: Emit) -> None:
    """Run one turn of ``agent``; emit normalized events ending with ``turn_finished``."""
    turn = Turn(agent.name, request, emit)
    cli = agent.cli()
    if cli is None:
        turn.fail(agent.problem())
        return
    try:
        env = agent.env(request)
    except NotReady as exc:
        turn.fail(str(exc))
        return
    argv = agent.argv(cli, request)
    began = time.time()
    process = await stdio.start(turn, request, argv, env, agent.label)
    if process is None:
        return
    turn.started_event(process.pid, argv, agent.model(request))
    client = AcpClient(turn, agent.label)
    session_id: str | None = None
    conn: ClientSideConnection | None = None
    assert process.stdin and process.stdout and process.stderr
    feed = asyncio.StreamReader(limit=stdio.LINE_LIMIT)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_pump_stdout, process.stdout, feed, turn)
            tg.start_soon(stdio.read_stderr, process.stderr, turn)
            conn = ClientSideConnection(cast(Client, client), process.stdin, feed)
            try:
                session_id = await _turn(agent, conn, client, turn, request)
            except (ConnectionError, BrokenPipeError):
                await _died(agent, process, turn, client)
            except RequestError as exc:
                client.flush()
                turn.fail(f"{agent.label}: {request_error_text(exc)}")
            finally:
                tg.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            if conn is not None:
                if session_id is not None and not turn.finished:
                    with anyio.move_on_after(1):
                        await conn.cancel(session_id=session_id)  # the agent's own stop
                with anyio.move_on_after(2):
                    await conn.close()
            marker = request.env.get(MARKER_VAR)
            await kill_tree(process.pid, pgid=process.pid, marker=marker, since=began)
            with anyio.move_on_after(5):
                await process.wait()


async def _turn(
    agent: AcpAgent,
    conn: ClientSideConnection,
    client: AcpClient,
    turn: Turn,
    request: TurnRequest,
) -> str | None:
    init = await conn.initialize(
        protocol_version=PROTOCOL_VERSION,
        client_capabilities=ClientCapabilities(),
        client_info=Implementation(name="agentdeck", version=__version__),
    )
    can_load = bool(init.agent_capabilities and init.agent_capabilities.load_session)
    cwd = str(request.cwd)
    session_id = request.resume_session_id
    resumed = False
    if session_id and can_load:
        client.replaying = True
        try:
            await conn.load_session(cwd=cwd, session_id=session_id, mcp_servers=[])
            await client.quiet()
        finally:
            client.replaying = False
        resumed = True
    else:
        if session_id:
            turn.emit(
                EventKind.LOG,
                {
                    "source": "agentdeck",
                    "text": f"{agent.label} cannot load sessions: this turn starts a new one",
                },
            )
        session_id = (await conn.new_session(cwd=cwd, mcp_servers=[])).session_id
    info = init.agent_info
    turn.emit(
        EventKind.SESSION,
        {
            "session_id": session_id,
            "cwd": cwd,
            "model": agent.model(request),
            "agent_version": info.version if info else None,
            "agent_name": info.name if info else None,
            "protocol": "acp",
            "resumed": resumed,
        },
    )
    response = await conn.prompt(session_id=session_id, prompt=[text_block(request.instructions)])
    client.flush()
    usage = _usage(response, client.usage)
    if usage is not None:
        turn.emit(EventKind.USAGE, usage)
    common: dict[str, Any] = {
        "session_id": session_id,
        "result_text": client.result_text,
        "stop_reason": response.stop_reason,
        "num_turns": 1,
        "exit_code": None,
    }
    if response.stop_reason == "end_turn":
        turn.emit(
            EventKind.TURN_FINISHED,
            {"success": True, "duration_ms": turn.duration_ms, "cost_usd": None, **common},
        )
    else:
        reason = response.stop_reason.replace("_", " ")
        turn.fail(f"{agent.label} stopped the turn: {reason}", **common)
    return session_id


async def _died(
    agent: AcpAgent, process: asyncio.subprocess.Process, turn: Turn, client: AcpClient
) -> None:
    """The connection dropped mid-turn: fail with the exit code and last stderr line."""
    client.flush()
    code: int | None = None
    with anyio.move_on_after(EXIT_GRACE):
        code = await process.wait()
    tail = turn.stderr_tail[-1] if turn.stderr_tail else None
    if code is None:
        turn.fail(f"{agent.label} closed the connection mid-turn" + (f": {tail}" if tail else ""))
    else:
        turn.fail(exited(agent.label, code, tail), exit_code=code)


async def probe(agent: AcpAgent) -> AgentInfo:
    """Available when ``agent`` starts and answers ACP ``initialize``."""
    cli = agent.cli()
    capabilities: dict[str, Any] = {**agent.capabilities.to_dict(), "protocol": "acp"}
    if cli is None:
        return AgentInfo(agent.name, False, problem=agent.problem(), capabilities=capabilities)
    with tempfile.TemporaryDirectory(prefix="agentdeck-probe-") as cwd:
        request = TurnRequest("probe", 0, "", Path(cwd))
        try:
            env = agent.env(request)
        except NotReady as exc:
            return AgentInfo(agent.name, False, None, cli, str(exc), capabilities)
        try:
            with anyio.fail_after(HANDSHAKE_TIMEOUT):
                init = await handshake(agent.argv(cli, request), env, Path(cwd))
        except TimeoutError:
            problem = f"{agent.label} did not answer ACP initialize in {HANDSHAKE_TIMEOUT:.0f} s"
            return AgentInfo(agent.name, False, None, cli, problem, capabilities)
        except (OSError, ConnectionError, RequestError) as exc:
            text = request_error_text(exc) if isinstance(exc, RequestError) else str(exc)
            problem = f"{agent.label}: ACP initialize failed: {text or 'connection closed'}"
            return AgentInfo(agent.name, False, None, cli, problem, capabilities)
    agent_caps = init.agent_capabilities
    can_load = bool(agent_caps and agent_caps.load_session)
    capabilities.update(resume=can_load, load_session=can_load)
    info = init.agent_info
    version = info.version if info else None
    if info:
        capabilities["agent_info"] = {"name": info.name, "version": info.version}
    return AgentInfo(agent.name, True, version, cli, capabilities=capabilities)


async def handshake(argv: list[str], env: dict[str, str], cwd: Path) -> InitializeResponse:
    """Start ``argv``, ask ACP ``initialize``, stop it; what the agent answered."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        env=env,
        start_new_session=True,
    )
    assert process.stdin and process.stdout
    began = time.time()
    conn = ClientSideConnection(cast(Client, _NoClient()), process.stdin, process.stdout)
    try:
        return await conn.initialize(
            protocol_version=PROTOCOL_VERSION,
            client_capabilities=ClientCapabilities(),
            client_info=Implementation(name="agentdeck", version=__version__),
        )
    finally:
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(2):
                await conn.close()
            await kill_tree(process.pid, pgid=process.pid, since=began)
            with anyio.move_on_after(5):
                await process.wait()


class _NoClient:
    """A client for ``initialize`` only."""

    async def request_permission(self, **kwargs: Any) -> RequestPermissionResponse:
        return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))

    async def session_update(self, **kwargs: Any) -> None:
        return None


__all__ = [
    "AcpClient",
    "choose_option",
    "handshake",
    "probe",
    "run_turn",
    "tool_input",
    "tool_name",
]
