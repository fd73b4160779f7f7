"""The OpenAI Codex CLI, run headless: ``codex exec --json`` (one process per turn).

The default path is ``codex app-server`` (`agentdeck.agents.codex_app`); this one is
``[agents.codex] protocol = "exec"``, and the fallback where ``codex app-server`` is
missing. It never asks for approvals: each permission mode gets the nearest sandbox.

``codex exec --json --skip-git-repo-check -C <cwd> <mode flags> -- "<instructions>"``
starts a thread; ``codex exec --json ... resume <thread_id> -- "<next>"`` continues
it. stdout is JSONL: ``thread.started``, ``turn.started``, ``item.started`` /
``item.completed`` (``command_execution``, ``agent_message``, ``file_change``,
``error`` = a warning, ...), top-level ``error`` (also non-fatal: e.g.
"Reconnecting..."), and ``turn.completed`` (usage) or ``turn.failed``.

Measured with codex-cli 0.171.0 (docs/agents.md): ``turn.completed.usage`` is the
*thread's* running total, so a resumed turn reports its usage as the difference
from the total before it. A dead model server makes Codex wait forever: the
turn's timeout ends it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio

from agentdeck.agents._cli import CliAgent, Stream, Turn, exited, tool_result
from agentdeck.agents.base import Capabilities, TurnRequest
from agentdeck.agents.codex_setup import CodexSetup, provider_config
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


class _Stream(Stream):
    """Maps one turn's JSONL lines to normalized events (``session_id``: the thread)."""

    def __init__(self, turn: Turn, totals_before: dict[str, int] | None) -> None:
        super().__init__(turn)
        self.before = totals_before or dict.fromkeys(TOKEN_KEYS, 0)
        self.completed: dict[str, int] | None = None
        self.failed: str | None = None
        self.last_error: str | None = None
        self.started_items: set[str] = set()

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        emit = self.turn.emit
        if kind == "thread.started":
            self.session_id = str(event.get("thread_id") or "") or None
            emit(
                EventKind.SESSION,
                {"session_id": self.session_id, "cwd": str(self.turn.request.cwd)},
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

    def error(self, exit_code: int) -> str | None:
        if self.failed is None and self.completed is not None and exit_code == 0:
            return None
        if self.failed is not None:
            return f"Codex: {self.failed}"
        if exit_code != 0:
            return exited("Codex", exit_code, self.last_error)
        return "Codex ended without completing the turn"


class CodexAgent(CliAgent[_Stream]):
    """Adapter for the Codex CLI through ``codex exec --json``."""

    name = "codex"
    protocol = "exec --json"
    capabilities = Capabilities(resume=True)

    def __init__(self, settings: CodexSettings | None = None, home: Path | None = None) -> None:
        self.setup = CodexSetup(settings, home)
        self.settings = self.setup.settings
        self._totals: dict[str, dict[str, int]] = {}

    def cli(self) -> str | None:
        return self.setup.cli()

    def problem(self) -> str:
        return self.setup.problem()

    def extra_capabilities(self) -> dict[str, Any]:
        return {"custom_provider": self.setup.own_home is not None}

    def model(self, request: TurnRequest) -> str | None:
        return self.setup.model(request)

    def env(self, request: TurnRequest) -> dict[str, str]:
        return self.setup.env(request)

    def argv(self, cli: str, request: TurnRequest) -> list[str]:
        argv = [cli, "exec", "--json", "--skip-git-repo-check", "-C", str(request.cwd)]
        argv += permission_args(request.permission_mode)
        model = self.model(request)
        if model:
            argv += ["-m", model]
        argv += self.settings.extra_args
        if request.resume_session_id:
            argv += ["resume", request.resume_session_id]
        return [*argv, "--", request.instructions]

    async def new_stream(self, turn: Turn, env: dict[str, str]) -> _Stream:
        """A resumed thread's usage counts from its totals before this turn."""
        thread = turn.request.resume_session_id
        before = self._totals.get(thread) if thread else None
        if thread and before is None:
            codex_home = Path(
                env.get("CODEX_HOME") or Path(env.get("HOME") or "~").expanduser() / ".codex"
            )
            before = await anyio.to_thread.run_sync(rollout_totals, codex_home, thread)
        return _Stream(turn, before)

    def finish(self, turn: Turn, stream: _Stream, exit_code: int) -> None:
        if stream.session_id and stream.completed is not None:
            self._totals[stream.session_id] = stream.completed
        super().finish(turn, stream, exit_code)


__all__ = ["CodexAgent", "permission_args", "provider_config", "rollout_totals"]
