"""The OpenAI Codex CLI, run headless: ``codex exec --json`` (one process per turn).

``codex exec --json --skip-git-repo-check -C <cwd> <mode flags> -- "<instructions>"``
starts a thread; ``codex exec --json ... resume <thread_id> -- "<next>"`` continues
it. stdout is JSONL: ``thread.started``, ``turn.started``, ``item.started`` /
``item.completed`` (``command_execution``, ``agent_message``, ``file_change``,
``error`` = a warning, ...), top-level ``error`` (also non-fatal: e.g.
"Reconnecting..."), and ``turn.completed`` (usage) or ``turn.failed``.

Measured with codex-cli 0.171.0 (docs/agents.md): ``turn.completed.usage`` is the
*thread's* running total, so a resumed turn reports its usage as the difference
from the total before it. A dead model server makes Codex wait forever: the
engine's timeout ends such a turn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio

from agentdeck.agents._process import (
    Turn,
    agent_env,
    find_binary,
    missing_message,
    probe_binary,
    run_lines,
    tool_result,
)
from agentdeck.agents.base import AgentInfo, Emit, TurnRequest
from agentdeck.config import CodexSettings
from agentdeck.model import EventKind

TOKEN_KEYS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)


def permission_args(mode: str) -> list[str]:
    """agentdeck's permission mode as ``codex exec`` flags (exec never asks)."""
    if mode == "bypassPermissions":
        return ["--dangerously-bypass-approvals-and-sandbox"]
    if mode == "acceptEdits":
        return ["--sandbox", "workspace-write", "-c", 'approval_policy="never"']
    return ["--sandbox", "read-only", "-c", 'approval_policy="never"']


def provider_config(settings: CodexSettings) -> str:
    """``config.toml`` of agentdeck's own CODEX_HOME, for a custom provider."""
    lines = [
        "# Written by agentdeck from [agents.codex]; edits are overwritten.",
        'model_provider = "agentdeck"',
    ]
    if settings.model:
        lines.append(f"model = {json.dumps(settings.model)}")
    lines += [
        "check_for_update_on_startup = false",
        "",
        "[model_providers.agentdeck]",
        'name = "agentdeck"',
        f"base_url = {json.dumps(settings.provider_base_url)}",
        f"env_key = {json.dumps(settings.env_key)}",
        'wire_api = "responses"',
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[otel]",
        'exporter = "none"',
        'trace_exporter = "none"',
        'metrics_exporter = "none"',
        "",
    ]
    return "\n".join(lines)


def _error_text(raw: object) -> str:
    """Codex passes API error bodies through as JSON text; keep their message."""
    text = str(raw or "")
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
    return text


def _totals(usage: dict[str, Any]) -> dict[str, int]:
    return {k: int(usage.get(k) or 0) for k in TOKEN_KEYS}


def rollout_totals(codex_home: Path, thread_id: str) -> dict[str, int] | None:
    """The thread's token totals so far, from its rollout file (None: not found)."""
    found: dict[str, int] | None = None
    for path in sorted(codex_home.glob(f"sessions/*/*/*/rollout-*-{thread_id}.jsonl")):
        try:
            with path.open(encoding="utf-8", errors="replace") as f:
                for line in f:
                    if '"token_count"' not in line:
                        continue
                    try:
                        payload = json.loads(line).get("payload") or {}
                    except ValueError:
                        continue
                    total = (payload.get("info") or {}).get("total_token_usage")
                    if payload.get("type") == "token_count" and isinstance(total, dict):
                        found = _totals(total)
        except OSError:
            continue
    return found


class _Stream:
    """Maps one turn's JSONL lines to normalized events."""

    def __init__(self, turn: Turn, totals_before: dict[str, int] | None) -> None:
        self.turn = turn
        self.before = totals_before or dict.fromkeys(TOKEN_KEYS, 0)
        self.thread_id: str | None = None
        self.result_text: str | None = None
        self.completed: dict[str, int] | None = None
        self.failed: str | None = None
        self.last_error: str | None = None
        self.started_items: set[str] = set()

    def line(self, line: str) -> None:
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
        kind = event.get("type")
        emit = self.turn.emit
        if kind == "thread.started":
            self.thread_id = str(event.get("thread_id") or "") or None
            emit(
                EventKind.SESSION, {"session_id": self.thread_id, "cwd": str(self.turn.request.cwd)}
            )
        elif kind in ("item.started", "item.updated", "item.completed"):
            item = event.get("item")
            if isinstance(item, dict):
                self.item(item, done=kind == "item.completed")
        elif kind == "error":
            self.last_error = _error_text(event.get("message"))
            emit(EventKind.LOG, {"source": "agent", "level": "error", "text": self.last_error})
        elif kind == "turn.completed":
            self.completed = _totals(event.get("usage") or {})
        elif kind == "turn.failed":
            error = event.get("error") or {}
            message = error.get("message") if isinstance(error, dict) else error
            self.failed = _error_text(message) or self.last_error or "turn failed"

    def item(self, item: dict[str, Any], done: bool) -> None:
        emit = self.turn.emit
        item_id = str(item.get("id") or "")
        kind = item.get("type")
        call: tuple[str, dict[str, Any]] | None = None
        if kind == "command_execution":
            call = ("shell", {"command": item.get("command")})
        elif kind == "file_change":
            call = ("apply_patch", {"changes": item.get("changes") or []})
        elif kind == "mcp_tool_call":
            name = f"{item.get('server')}.{item.get('tool')}"
            call = (name, {"arguments": item.get("arguments")})
        elif kind == "web_search":
            call = ("web_search", {"query": item.get("query")})
        if call is not None:
            if item_id not in self.started_items:
                self.started_items.add(item_id)
                emit(EventKind.TOOL_CALL, {"id": item_id, "name": call[0], "input": call[1]})
            if done:
                emit(EventKind.TOOL_RESULT, self._result(item_id, item))
            return
        if not done:
            return
        if kind == "agent_message" and item.get("text"):
            self.result_text = str(item["text"])
            emit(EventKind.MESSAGE, {"role": "assistant", "text": self.result_text})
        elif kind == "reasoning" and item.get("text"):
            emit(EventKind.LOG, {"source": "agent", "reasoning": True, "text": item["text"]})
        elif kind == "error":
            emit(
                EventKind.LOG, {"source": "agent", "level": "warning", "text": item.get("message")}
            )
        elif kind == "todo_list":
            emit(EventKind.LOG, {"source": "agent", "todo": item.get("items") or []})

    @staticmethod
    def _result(item_id: str, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("type") == "command_execution":
            code = item.get("exit_code")
            failed = item.get("status") == "failed" or (code is not None and code != 0)
            output = str(item.get("aggregated_output") or "")
            return tool_result(item_id, output, failed, exit_code=code)
        output = json.dumps(item.get("result") or item.get("changes") or item.get("error") or "")
        return tool_result(item_id, output, item.get("status") == "failed")

    def usage(self) -> dict[str, Any] | None:
        if self.completed is None:
            return None
        delta = {k: max(0, self.completed[k] - self.before.get(k, 0)) for k in TOKEN_KEYS}
        return {
            "input_tokens": max(0, delta["input_tokens"] - delta["cached_input_tokens"]),
            "output_tokens": delta["output_tokens"],
            "cache_read_tokens": delta["cached_input_tokens"],
            "cache_creation_tokens": delta["cache_write_input_tokens"],
            "reasoning_tokens": delta["reasoning_output_tokens"],
            "cost_usd": 0.0,
            "cost_known": False,
        }


class CodexAgent:
    """Adapter for the Codex CLI (``codex exec``)."""

    name = "codex"

    def __init__(self, settings: CodexSettings | None = None, home: Path | None = None) -> None:
        self.settings = settings or CodexSettings()
        # agentdeck's own CODEX_HOME, used only when a custom provider is configured.
        self.own_home = (home / "codex") if home and self.settings.provider_base_url else None
        self._totals: dict[str, dict[str, int]] = {}

    def _cli(self) -> str | None:
        return find_binary(self.settings.cli_path, "codex")

    def _problem(self) -> str:
        return missing_message(
            "Codex CLI", self.settings.cli_path, "codex", "agents.codex.cli_path"
        )

    def _prepare_home(self) -> dict[str, str]:
        if self.own_home is None:
            return {}
        self.own_home.mkdir(parents=True, exist_ok=True)
        config = self.own_home / "config.toml"
        text = provider_config(self.settings)
        if not config.is_file() or config.read_text(encoding="utf-8") != text:
            config.write_text(text, encoding="utf-8")
        return {"CODEX_HOME": str(self.own_home)}

    def argv(self, cli: str, request: TurnRequest) -> list[str]:
        argv = [cli, "exec", "--json", "--skip-git-repo-check", "-C", str(request.cwd)]
        argv += permission_args(request.permission_mode)
        model = request.model or self.settings.model
        if model:
            argv += ["-m", model]
        argv += self.settings.extra_args
        if request.resume_session_id:
            argv += ["resume", request.resume_session_id]
        return [*argv, "--", request.instructions]

    async def run(self, request: TurnRequest, emit: Emit) -> None:
        """Run one turn; emit normalized events ending with ``turn_finished``."""
        turn = Turn(self.name, request, emit)
        cli = self._cli()
        if cli is None:
            turn.fail(self._problem())
            return
        extra = self._prepare_home()
        env = agent_env(request, extra)
        if self.own_home is not None and not env.get(self.settings.env_key):
            turn.fail(
                f"Codex: the provider API key variable {self.settings.env_key} is not set "
                "(agents.codex.env_key)"
            )
            return
        before = None
        if request.resume_session_id:
            before = self._totals.get(request.resume_session_id)
            if before is None:
                codex_home = Path(
                    env.get("CODEX_HOME") or Path(env.get("HOME") or "~").expanduser() / ".codex"
                )
                before = await anyio.to_thread.run_sync(
                    rollout_totals, codex_home, request.resume_session_id
                )
        stream = _Stream(turn, before)
        argv = self.argv(cli, request)
        model = request.model or self.settings.model
        code = await run_lines(
            argv,
            request=request,
            env=env,
            on_spawn=lambda pid: turn.started_event(pid, argv, model),
            on_stdout=stream.line,
            on_stderr=turn.on_stderr,
        )
        if stream.thread_id and stream.completed is not None:
            self._totals[stream.thread_id] = stream.completed
        usage = stream.usage()
        if usage is not None:
            turn.emit(EventKind.USAGE, usage)
        common: dict[str, Any] = {
            "exit_code": code,
            "session_id": stream.thread_id,
            "result_text": stream.result_text,
            "num_turns": 1,
        }
        if stream.failed is None and stream.completed is not None and code == 0:
            turn.emit(
                EventKind.TURN_FINISHED,
                {"success": True, "duration_ms": turn.duration_ms, "cost_usd": None, **common},
            )
            return
        if stream.failed is not None:
            error = f"Codex: {stream.failed}"
        elif code != 0:
            error = f"Codex exited with code {code}" + (
                f": {stream.last_error}" if stream.last_error else ""
            )
        else:
            error = "Codex ended without completing the turn"
        turn.fail(error, **common)

    async def probe(self) -> AgentInfo:
        return await probe_binary(
            self.name,
            self._cli(),
            self._problem(),
            capabilities={
                "resume": True,
                "cost": False,
                "approvals": False,
                "custom_provider": self.own_home is not None,
            },
        )


__all__ = ["CodexAgent", "permission_args", "provider_config", "rollout_totals"]
