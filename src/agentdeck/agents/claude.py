"""Claude Code, driven through the official ``claude-agent-sdk``.

The SDK's wheel bundles the Claude Code binary; ``cli_path`` points at another
``claude`` instead. The CLI runs in a session (process group) of its own so that
cancel and timeout stop it together with everything it started.

Steering: until the turn's first result, words from the turn's inbox are written to
the CLI's stream-json input. Claude Code reads such a message at its next step, with
the tool result it waits for; one that comes while the model writes its last answer
runs as a follow-up in the same process, with a result of its own. So the turn's
``turn_finished`` is the last result's, once the CLI has exited (docs/agents.md).

With a ``session_store`` (a worker on the shared database), the SDK mirrors the
conversation into it as the CLI writes it, and a resume loads it from there, so a task
can go on on another machine (`agentdeck.agents.claude_store`, docs/scale-out.md).
"""

from __future__ import annotations

import os
import shutil
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import anyio
from claude_agent_sdk import (
    AssistantMessage,
    CanUseTool,
    ClaudeAgentOptions,
    ClaudeSDKError,
    CLINotFoundError,
    PermissionResult,
    PermissionResultAllow,
    PermissionResultDeny,
    ProcessError,
    ResultMessage,
    SessionStore,
    SystemMessage,
    TextBlock,
    ToolPermissionContext,
    ToolResultBlock,
    ToolUseBlock,
    UserMessage,
    query,
)

from agentdeck.agents._claude_sdk import (
    BAD_LINE,
    SessionTransport,
    bundled_cli,
    resume_from_store,
    with_can_use_tool,
)
from agentdeck.agents.base import AgentInfo, Capabilities, Emit, Inbox, TurnRequest, room
from agentdeck.agents.claude_store import TaskSessions
from agentdeck.agents.notices import stderr_event
from agentdeck.model import EventKind, NewEvent
from agentdeck.proctree import MARKER_VAR, kill_tree
from agentdeck.redact import redact_argv

TOOL_OUTPUT_LIMIT = 8_000
STDERR_TAIL = 20


def _text_of(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [c.get("text", "") for c in content if isinstance(c, dict)]
    return "\n".join(p for p in parts if p)


def _tool_result(block: ToolResultBlock) -> dict[str, Any]:
    text = _text_of(block.content)
    return {
        "id": block.tool_use_id,
        "output": text[:TOOL_OUTPUT_LIMIT],
        "size": len(text),
        "truncated": len(text) > TOOL_OUTPUT_LIMIT,
        "is_error": bool(block.is_error),
    }


def _partial_usage(message: AssistantMessage) -> dict[str, Any]:
    usage = message.usage or {}
    return {
        "partial": True,
        "message_id": message.message_id,
        "model": message.model,
        "input_tokens": int(usage.get("input_tokens") or 0),
        "output_tokens": int(usage.get("output_tokens") or 0),
        "cache_read_tokens": int(usage.get("cache_read_input_tokens") or 0),
        "cache_creation_tokens": int(usage.get("cache_creation_input_tokens") or 0),
    }


def message_events(message: object, turn: int) -> list[NewEvent]:
    """Normalized events for one SDK message (unknown kinds map to nothing)."""
    events: list[NewEvent] = []
    if isinstance(message, SystemMessage):
        data = message.data
        if message.subtype == "init":
            events.append(
                NewEvent(
                    EventKind.SESSION,
                    {
                        "session_id": data.get("session_id"),
                        "model": data.get("model"),
                        "tools": data.get("tools", []),
                        "cwd": data.get("cwd"),
                        "permission_mode": data.get("permissionMode"),
                        "agent_version": data.get("claude_code_version"),
                    },
                    turn,
                )
            )
        elif message.subtype == BAD_LINE:
            # A stdout line that is no message (truncated JSON, invalid UTF-8, ...):
            # kept as a ``stderr`` event, and the turn goes on.
            line = stderr_event(
                str(data.get("line") or ""), stream="stdout", problem=data.get("problem")
            )
            events.append(NewEvent(EventKind.STDERR, line, turn))
        elif message.subtype in ("api_retry", "permission_denied", "compact_boundary"):
            events.append(NewEvent(EventKind.LOG, {"source": "agent", **data}, turn))
        elif message.subtype == "mirror_error":  # the shared session store refused a write
            text = f"the conversation could not be saved to the shared store: {data.get('error')}"
            events.append(NewEvent(EventKind.LOG, {"source": "session_store", "text": text}, turn))
    elif isinstance(message, AssistantMessage):
        if message.usage:  # provisional, per API message; the result has the turn's totals
            events.append(NewEvent(EventKind.USAGE, _partial_usage(message), turn))
        for block in message.content:
            if isinstance(block, TextBlock) and block.text:
                events.append(
                    NewEvent(EventKind.MESSAGE, {"role": "assistant", "text": block.text}, turn)
                )
            elif isinstance(block, ToolUseBlock):
                events.append(
                    NewEvent(
                        EventKind.TOOL_CALL,
                        {"id": block.id, "name": block.name, "input": block.input},
                        turn,
                    )
                )
    elif isinstance(message, UserMessage) and isinstance(message.content, list):
        for block in message.content:
            if isinstance(block, ToolResultBlock):
                events.append(NewEvent(EventKind.TOOL_RESULT, _tool_result(block), turn))
    elif isinstance(message, ResultMessage):
        usage = message.usage or {}
        events.append(
            NewEvent(
                EventKind.USAGE,
                {
                    "input_tokens": int(usage.get("input_tokens") or 0),
                    "output_tokens": int(usage.get("output_tokens") or 0),
                    "cache_read_tokens": int(usage.get("cache_read_input_tokens") or 0),
                    "cache_creation_tokens": int(usage.get("cache_creation_input_tokens") or 0),
                    "cost_usd": message.total_cost_usd or 0.0,
                    "cost_is_session_total": True,
                },
                turn,
            )
        )
        success = not message.is_error and message.terminal_reason in (None, "completed")
        finished: dict[str, Any] = {
            "success": success,
            "result_text": message.result,
            "num_turns": message.num_turns,
            "duration_ms": message.duration_ms,
            "cost_usd": message.total_cost_usd,
            "session_id": message.session_id,
            "terminal_reason": message.terminal_reason,
            "subtype": message.subtype,
        }
        if not success:
            detail = message.result or "; ".join(message.errors or []) or message.subtype
            reason = message.terminal_reason or message.subtype
            finished["error"] = f"Claude Code: {reason}: {detail}"
            if message.api_error_status:
                finished["api_error_status"] = message.api_error_status
        events.append(NewEvent(EventKind.TURN_FINISHED, finished, turn))
    return events


class ClaudeAgent:
    """Adapter for Claude Code."""

    name = "claude"
    # It asks agentdeck before tool uses (can_use_tool); usage carries the session's cost;
    # a running turn reads further user messages (see the module docstring).
    capabilities = Capabilities(approvals=True, resume=True, steer=True, cost=True)

    def __init__(
        self,
        cli_path: str | None = None,
        default_model: str | None = None,
        session_store: SessionStore | None = None,
    ) -> None:
        self.cli_path = cli_path
        self.default_model = default_model
        self.session_store = session_store  # shared by workers: conversations travel

    def _cli(self) -> str | None:
        if self.cli_path:
            return self.cli_path
        bundled = bundled_cli()
        return str(bundled) if bundled else shutil.which("claude")

    def _env(self, request: TurnRequest) -> dict[str, str]:
        env = dict(request.env)
        if request.permission_mode == "bypassPermissions" and os.geteuid() == 0:
            # Claude Code refuses bypass mode as root unless IS_SANDBOX is exactly "1".
            env["IS_SANDBOX"] = "1"
        return env

    def options(self, request: TurnRequest, stderr: Callable[[str], None]) -> ClaudeAgentOptions:
        options = ClaudeAgentOptions(
            cwd=str(request.cwd),
            cli_path=self._cli(),
            model=request.model or self.default_model,
            max_turns=request.max_turns,
            permission_mode=request.permission_mode,  # type: ignore[arg-type]
            resume=request.resume_session_id,
            system_prompt={"type": "preset", "preset": "claude_code"},
            setting_sources=["user", "project", "local"],
            env=self._env(request),
            stderr=stderr,
            # Each user message is echoed once the CLI reads it: when a steer was taken.
            extra_args={"replay-user-messages": None},
        )
        if self.session_store is not None:
            scoped = TaskSessions(self.session_store, request.task_id)
            options = replace(options, session_store=scoped)
        if request.approve is None:
            return options
        # Permission prompts come back over the control protocol to `_can_use_tool`.
        return replace(options, can_use_tool=_can_use_tool(request))

    async def run(self, request: TurnRequest, emit: Emit) -> None:
        """Run one turn; emit normalized events ending with ``turn_finished``."""
        stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)

        def on_stderr(line: str) -> None:
            line = line.rstrip()
            if line:
                data = stderr_event(line)
                if not data.get("notice"):
                    stderr_tail.append(line)
                emit(NewEvent(EventKind.STDERR, data, request.turn))

        options, cleanup = await self._resumed(request, emit, self.options(request, on_stderr))
        try:
            await self._run(request, emit, options, stderr_tail)
        finally:
            if cleanup is not None:
                with anyio.CancelScope(shield=True):
                    await cleanup()

    @staticmethod
    async def _resumed(
        request: TurnRequest, emit: Emit, options: ClaudeAgentOptions
    ) -> tuple[ClaudeAgentOptions, Callable[[], Awaitable[None]] | None]:
        """The options of a resume from the shared store, if there is one (and the
        call that removes its files); else the CLI resumes from this machine's copy."""
        try:
            return await resume_from_store(options)
        except RuntimeError as exc:
            text = f"the conversation could not be loaded from the shared store: {exc}"
            emit(NewEvent(EventKind.LOG, {"source": "session_store", "text": text}, request.turn))
            return options, None

    async def _run(
        self,
        request: TurnRequest,
        emit: Emit,
        options: ClaudeAgentOptions,
        stderr_tail: deque[str],
    ) -> None:
        def on_spawn(pid: int, argv: list[str]) -> None:
            emit(_turn_started(request, options, pid, argv))

        if request.inbox is not None:
            request.inbox.open()
        prompt = _prompts(request.instructions, request.inbox)
        # query() configures its own copy; the transport needs the configured one too.
        transport = SessionTransport(
            prompt,
            with_can_use_tool(options),
            on_spawn,
            request.env.get(MARKER_VAR),
            request.launcher,
        )
        results = _Results(request, emit)
        began = time.time()
        try:
            try:
                async for message in query(prompt=prompt, options=options, transport=transport):
                    results.take(message)
                    await room(emit)  # a flood waits in the CLI's pipe, not in memory
            except ProcessError as exc:
                if not results.finish():
                    emit(
                        _failure(
                            request,
                            f"Claude Code exited with code {exc.exit_code}",
                            stderr_tail,
                            exc.exit_code,
                        )
                    )
            except CLINotFoundError as exc:
                if not results.finish():
                    emit(_failure(request, f"Claude Code is not available: {exc}", stderr_tail))
            except ClaudeSDKError as exc:
                if not results.finish():
                    emit(_failure(request, f"Claude Code failed: {exc}", stderr_tail))
            except Exception as exc:  # the SDK's reader failing in a way it does not type
                if not results.finish():
                    text = f"{type(exc).__name__}: {exc}"
                    emit(_failure(request, f"Claude Code failed: {text}", stderr_tail))
            else:
                if not results.finish():
                    emit(_failure(request, "Claude Code ended without a result", stderr_tail))
        finally:
            if request.inbox is not None:
                request.inbox.close()
            marker = request.env.get(MARKER_VAR)
            if transport.pid is not None or marker:
                await kill_tree(transport.pid, pgid=transport.pid, marker=marker, since=began)

    async def probe(self) -> AgentInfo:
        cli = self._cli()
        if not cli or not await anyio.Path(cli).exists():
            return AgentInfo(
                self.name,
                available=False,
                problem="Claude Code binary not found: reinstall agentdeck "
                "(claude-agent-sdk bundles it) or set claude.cli_path",
            )
        version: str | None = None
        try:
            with anyio.fail_after(20):
                result = await anyio.run_process([cli, "--version"], check=False)
            version = result.stdout.decode(errors="replace").strip().split(" ")[0] or None
            if result.returncode != 0:
                return AgentInfo(
                    self.name,
                    False,
                    version,
                    cli,
                    f"`{cli} --version` exited with {result.returncode}",
                )
        except (OSError, TimeoutError) as exc:
            return AgentInfo(self.name, False, None, cli, f"cannot start {cli}: {exc}")
        return AgentInfo(
            self.name,
            True,
            version,
            cli,
            capabilities=self.capabilities.to_dict(),
        )


def _can_use_tool(request: TurnRequest) -> CanUseTool:
    approve = request.approve
    assert approve is not None

    async def can_use_tool(
        tool: str, tool_input: dict[str, Any], context: ToolPermissionContext
    ) -> PermissionResult:
        allowed, message = await approve(tool, tool_input, context.title)
        if allowed:
            return PermissionResultAllow()
        return PermissionResultDeny(message=message)

    return can_use_tool


def _user_message(text: str) -> dict[str, Any]:
    return {
        "type": "user",
        "session_id": "",
        "message": {"role": "user", "content": text},
        "parent_tool_use_id": None,
    }


async def _prompts(first: str, inbox: Inbox | None) -> AsyncIterator[dict[str, Any]]:
    """The SDK's streaming prompt: the turn's instructions, then any steer, until the
    inbox closes (at the turn's first result); then the CLI's stdin closes."""
    yield _user_message(first)
    while inbox is not None and (text := await inbox.get()) is not None:
        yield _user_message(text)


class _Results:
    """Emits a turn's events as they come, except ``turn_finished``: a steer that came
    after the model's last step is answered with a result of its own, so the turn's is
    the last one (its steps counted over all of them), emitted by `finish`."""

    def __init__(self, request: TurnRequest, emit: Emit) -> None:
        self.request, self.emit = request, emit
        self.final: NewEvent | None = None
        self.steps = 0
        self.read = 0  # user messages the CLI has read (echoed back)

    def take(self, message: object) -> None:
        if isinstance(message, UserMessage) and isinstance(message.content, str):
            self.read += 1
            if self.read > 1:  # the first is the turn's own instructions
                note = {"source": "steer", "text": "the agent read the message", "read": True}
                self.emit(NewEvent(EventKind.LOG, note, self.request.turn))
            return
        for event in message_events(message, self.request.turn):
            if event.kind != EventKind.TURN_FINISHED:
                self.emit(event)
                continue
            if self.request.inbox is not None:
                self.request.inbox.close()  # later words wait for the next turn
            self.steps += int(event.data.get("num_turns") or 0)
            self.final = NewEvent(event.kind, {**event.data, "num_turns": self.steps}, event.turn)

    def finish(self) -> bool:
        """Emit the turn's ``turn_finished``; False when no result came."""
        if self.final is None:
            return False
        self.emit(self.final)
        self.final = None
        return True


def _turn_started(
    request: TurnRequest, options: ClaudeAgentOptions, pid: int, argv: list[str]
) -> NewEvent:
    return NewEvent(
        EventKind.TURN_STARTED,
        {
            "instructions": request.instructions,
            "agent": "claude",
            "argv": redact_argv(argv),
            "pid": pid,
            "cwd": str(request.cwd),
            "resume": request.resume_session_id,
            "model": options.model,
        },
        request.turn,
    )


def _failure(
    request: TurnRequest, message: str, stderr_tail: deque[str], exit_code: int | None = None
) -> NewEvent:
    data: dict[str, Any] = {"success": False, "error": message, "exit_code": exit_code}
    if stderr_tail:
        data["stderr_tail"] = list(stderr_tail)
    return NewEvent(EventKind.TURN_FINISHED, data, request.turn)
