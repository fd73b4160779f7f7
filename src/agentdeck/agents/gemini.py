"""Google's Gemini CLI: through ACP by default (`GeminiAcpAgent`, ``gemini --acp``), or headless.

`GeminiAcpAgent` runs ``gemini --acp --approval-mode <mode> --skip-trust [-m M]`` per
turn and speaks the Agent Client Protocol with it (`agentdeck.agents.acp`): in
``default`` mode the CLI asks agentdeck before tool uses, and ``session/load``
resumes a session. ``[agents.gemini] protocol = "stream-json"`` selects the older
headless path, `GeminiAgent`:

``gemini --output-format stream-json --approval-mode <mode> --skip-trust [-m M]
[--resume <session_id>] --prompt=<instructions>`` with stdin closed. stdout is
JSONL: ``init`` (session_id, model), ``message`` (user echo; assistant text in
``delta`` chunks), ``tool_use``, ``tool_result``, ``error`` (non-fatal), and one
``result`` (``status``, ``stats`` = this run's token counts, ``error``).

By default the user's own ``~/.gemini`` settings and login are used. With
``[agents.gemini] base_url`` agentdeck runs the CLI with its own
``GEMINI_CLI_HOME`` (under agentdeck's state dir) whose ``.gemini/settings.json``
selects API-key auth and turns telemetry off — the CLI refuses a base URL
without it ("Invalid auth method selected."). A dead model server makes the CLI
retry for minutes: the turn's timeout ends it.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentdeck.agents._cli import (
    CliAgent,
    NotReady,
    Stream,
    Turn,
    agent_env,
    exited,
    find_binary,
    missing_message,
    tool_result,
)
from agentdeck.agents.acp import AcpAgent
from agentdeck.agents.base import Capabilities, TurnRequest
from agentdeck.config import GeminiSettings
from agentdeck.model import EventKind

APPROVAL_MODES = {
    "bypassPermissions": "yolo",
    "acceptEdits": "auto_edit",
    "default": "default",  # headless: tools that would ask are not offered at all
    "plan": "plan",
}
OWN_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
}


class _Stream(Stream):
    """Maps one turn's stream-json lines to normalized events."""

    def __init__(self, turn: Turn) -> None:
        super().__init__(turn)
        self.result: dict[str, Any] | None = None
        self.last_error: str | None = None
        self._text: list[str] = []

    def flush(self) -> None:
        """Assistant text comes in delta chunks: one ``message`` event per run of them."""
        if self._text:
            self.result_text = "".join(self._text)
            self._text = []
            self.turn.emit(EventKind.MESSAGE, {"role": "assistant", "text": self.result_text})

    def end(self) -> None:
        self.flush()

    def event(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        emit = self.turn.emit
        if kind == "message" and event.get("role") == "assistant":
            text = str(event.get("content") or "")
            if not event.get("delta"):
                self.flush()
            self._text.append(text)
            return
        self.flush()
        if kind == "init":
            self.session_id = str(event.get("session_id") or "") or None
            emit(
                EventKind.SESSION,
                {
                    "session_id": self.session_id,
                    "model": event.get("model"),
                    "cwd": str(self.turn.request.cwd),
                },
            )
        elif kind == "tool_use":
            emit(
                EventKind.TOOL_CALL,
                {
                    "id": event.get("tool_id"),
                    "name": event.get("tool_name"),
                    "input": event.get("parameters") or {},
                },
            )
        elif kind == "tool_result":
            error = event.get("error")
            output = event.get("output")
            if output is None and isinstance(error, dict):
                output = error.get("message")
            status = event.get("status")
            extra = {"status": status} if status not in (None, "success", "error") else {}
            emit(
                EventKind.TOOL_RESULT,
                tool_result(
                    str(event.get("tool_id")), str(output or ""), status != "success", **extra
                ),
            )
        elif kind == "error":
            self.last_error = str(event.get("message") or "")
            emit(
                EventKind.LOG,
                {
                    "source": "agent",
                    "level": event.get("severity") or "error",
                    "text": self.last_error,
                },
            )
        elif kind == "result":
            self.result = event

    def usage(self) -> dict[str, Any] | None:
        stats = (self.result or {}).get("stats")
        if not isinstance(stats, dict):
            return None
        total_in = int(stats.get("input_tokens") or 0)
        cached = int(stats.get("cached") or 0)
        return {
            "input_tokens": int(stats.get("input") or max(0, total_in - cached)),
            "output_tokens": int(stats.get("output_tokens") or 0),
            "cache_read_tokens": cached,
            "cache_creation_tokens": 0,
            "cost_usd": 0.0,
            "cost_known": False,
            "tool_calls": int(stats.get("tool_calls") or 0),
        }

    def result_error(self) -> str | None:
        error = (self.result or {}).get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("type") or "error")
        return str(error) if error else None

    def error(self, exit_code: int) -> str | None:
        status = (self.result or {}).get("status")
        if status == "success" and exit_code == 0:
            return None
        if self.result is not None:
            return f"Gemini: {self.result_error() or status or 'failed'}"
        if exit_code != 0:
            return exited("Gemini CLI", exit_code, self.last_error)
        return "Gemini CLI ended without a result"

    def finished_data(self) -> dict[str, Any]:
        stats = (self.result or {}).get("stats") or {}
        return {"api_duration_ms": stats.get("duration_ms") if isinstance(stats, dict) else None}


class GeminiAgent(CliAgent[_Stream]):
    """Adapter for the Gemini CLI."""

    name = "gemini"
    protocol = "stream-json"
    capabilities = Capabilities(resume=True)

    def __init__(self, settings: GeminiSettings | None = None, home: Path | None = None) -> None:
        self.settings = settings or GeminiSettings()
        self.own_home = (home / "gemini") if home and self.settings.base_url else None

    def cli(self) -> str | None:
        return find_binary(self.settings.cli_path, "gemini")

    def problem(self) -> str:
        return missing_message(
            "Gemini CLI", self.settings.cli_path, "gemini", "agents.gemini.cli_path"
        )

    def extra_capabilities(self) -> dict[str, Any]:
        return {"custom_endpoint": self.own_home is not None}

    def model(self, request: TurnRequest) -> str | None:
        return request.model or self.settings.model

    def _prepare_home(self, env: dict[str, str]) -> dict[str, str]:
        if self.own_home is None:
            return {}
        settings_file = self.own_home / ".gemini" / "settings.json"
        settings_file.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(OWN_SETTINGS, indent=2) + "\n"
        if not settings_file.is_file() or settings_file.read_text(encoding="utf-8") != text:
            settings_file.write_text(text, encoding="utf-8")
        extra = {
            "GEMINI_CLI_HOME": str(self.own_home),
            "GOOGLE_GEMINI_BASE_URL": str(self.settings.base_url),
        }
        key = env.get(self.settings.env_key)
        if key:
            extra["GEMINI_API_KEY"] = key
        return extra

    def env(self, request: TurnRequest) -> dict[str, str]:
        env = agent_env(request)
        extra = self._prepare_home(env)
        if self.own_home is not None and "GEMINI_API_KEY" not in extra:
            raise NotReady(
                f"Gemini: the API key variable {self.settings.env_key} is not set "
                "(agents.gemini.env_key)"
            )
        return {**env, **extra}

    def argv(self, cli: str, request: TurnRequest) -> list[str]:
        mode = APPROVAL_MODES.get(request.permission_mode, "default")
        argv = [cli, "--output-format", "stream-json", "--approval-mode", mode, "--skip-trust"]
        model = self.model(request)
        if model:
            argv += ["-m", model]
        if request.resume_session_id:
            argv += ["--resume", request.resume_session_id]
        # One argv element, even when the instructions start with "-".
        return [*argv, *self.settings.extra_args, f"--prompt={request.instructions}"]

    async def new_stream(self, turn: Turn, env: dict[str, str]) -> _Stream:
        return _Stream(turn)


_SESSION_FILE = re.compile(r"^session-(\d{4}-\d\d-\d\dT\d\d-\d\d)-([0-9a-f]{8})\.jsonl$")


def keep_session_file(gemini_home: Path, session_id: str, now: datetime | None = None) -> None:
    """Move a session's recording out of the way of the one ``session/load`` starts.

    Gemini CLI 0.61 names a recording ``session-<UTC minute>-<id[:8]>.jsonl``, and
    ``session/load`` starts a fresh recording (same id) before it reads the old one:
    within the same minute that is the same file, the history is overwritten and
    the load fails ("No previous sessions found"). A recording from the last
    minute is renamed ``session-<minute>-x<n>-<id[:8]>.jsonl``, which the CLI still
    finds (it reads every ``session-*.jsonl``) and keeps writing to.
    """
    short = session_id[:8]
    recent = (now or datetime.now(UTC)) - timedelta(minutes=1)
    for path in gemini_home.glob(f".gemini/tmp/*/chats/session-*-{short}.jsonl"):
        match = _SESSION_FILE.match(path.name)
        if match is None:
            continue
        stamp = datetime.strptime(match[1], "%Y-%m-%dT%H-%M").replace(tzinfo=UTC)
        if stamp >= recent.replace(second=0, microsecond=0):
            if '"type":"gemini"' not in path.read_text(encoding="utf-8", errors="replace"):
                path.unlink()  # a previous load's fresh recording: nothing to resume in it
                continue
            n = 1
            while (kept := path.with_name(f"session-{match[1]}-x{n}-{short}.jsonl")).exists():
                n += 1
            path.rename(kept)


class GeminiAcpAgent(AcpAgent):
    """Adapter for the Gemini CLI through ACP (``gemini --acp``)."""

    def __init__(self, settings: GeminiSettings | None = None, home: Path | None = None) -> None:
        super().__init__("gemini", label="Gemini CLI")
        self.headless = GeminiAgent(settings, home)  # binary, home and environment are shared
        self.settings = self.headless.settings

    def cli(self) -> str | None:
        return self.headless.cli()

    def problem(self) -> str:
        return self.headless.problem()

    def env(self, request: TurnRequest) -> dict[str, str]:
        env = self.headless.env(request)
        if request.resume_session_id:
            home = env.get("GEMINI_CLI_HOME") or env.get("HOME") or os.path.expanduser("~")
            with suppress(OSError):  # the load then says what is wrong
                keep_session_file(Path(home), request.resume_session_id)
        return env

    def model(self, request: TurnRequest) -> str | None:
        return self.headless.model(request)

    def argv(self, cli: str, request: TurnRequest) -> list[str]:
        mode = APPROVAL_MODES.get(request.permission_mode, "default")
        argv = [cli, "--acp", "--approval-mode", mode, "--skip-trust"]
        model = self.model(request)
        if model:
            argv += ["-m", model]
        return [*argv, *self.settings.extra_args]


__all__ = ["APPROVAL_MODES", "GeminiAcpAgent", "GeminiAgent"]
