"""Any agent CLI declared in the configuration, e.g.::

    [agents.aider]
    command = ["aider", "--yes", "--message", "{instructions}"]

The argv is built without a shell: each placeholder (``{instructions}``,
``{cwd}``, ``{model}``, and ``{session_id}`` in ``resume_command``) is replaced
inside its own argv element, so instructions are always exactly one argument.
``output = "text"``: every non-empty stdout line is an assistant ``message``.
``output = "jsonl"``: each line is a JSON object; ``fields`` maps ``text``,
``session_id``, ``result`` and ``error`` to dotted paths in it (lines that are
not JSON count as text). Exit code 0 is success.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agentdeck.agents._process import (
    Turn,
    agent_env,
    find_binary,
    missing_message,
    probe_binary,
    run_lines,
)
from agentdeck.agents.base import AgentInfo, Emit, TurnRequest
from agentdeck.config import CommandAgentSettings
from agentdeck.model import EventKind

RESULT_LIMIT = 8_000
_PLACEHOLDER = re.compile(r"\{(instructions|cwd|model|session_id)\}")


def dig(obj: Any, path: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"`` (list indexes allowed); None when absent."""
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def substitute(template: list[str], values: dict[str, str]) -> list[str]:
    """Fill ``{name}`` placeholders inside each element; never splits or joins elements."""

    def fill(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    return [_PLACEHOLDER.sub(fill, arg) for arg in template]


class _Stream:
    def __init__(self, turn: Turn, settings: CommandAgentSettings) -> None:
        self.turn = turn
        self.settings = settings
        self.texts: list[str] = []
        self.session_id: str | None = None
        self.result: str | None = None
        self.error: str | None = None

    def _text(self, text: str) -> None:
        self.texts.append(text)
        self.turn.emit(EventKind.MESSAGE, {"role": "assistant", "text": text})

    def line(self, line: str) -> None:
        if not line.strip():
            return
        if self.settings.output == "text":
            self._text(line)
            return
        try:
            obj = json.loads(line)
        except ValueError:
            self._text(line)
            return
        fields = self.settings.fields
        found = False
        session = dig(obj, fields["session_id"]) if "session_id" in fields else None
        if session and str(session) != self.session_id:
            self.session_id = str(session)
            self.turn.emit(EventKind.SESSION, {"session_id": self.session_id})
            found = True
        for key in ("result", "error"):
            value = dig(obj, fields[key]) if key in fields else None
            if value is not None:
                setattr(self, key, value if isinstance(value, str) else json.dumps(value))
                found = True
        text = dig(obj, fields["text"]) if "text" in fields else None
        if isinstance(text, str) and text:
            self._text(text)
        elif not found:
            self.turn.emit(EventKind.LOG, {"source": "agent", "event": obj})


class CommandAgent:
    """Adapter for a CLI declared under ``[agents.<name>]``."""

    def __init__(self, name: str, settings: CommandAgentSettings) -> None:
        self.name = name
        self.settings = settings

    def _cli(self) -> str | None:
        return find_binary(None, self.settings.command[0]) if self.settings.command else None

    def _problem(self) -> str:
        return missing_message(
            f"agent {self.name!r}", None, self.settings.command[0], f"agents.{self.name}.command"
        )

    def argv(self, cli: str, request: TurnRequest) -> tuple[list[str], bool]:
        """The argv, and whether it resumes a session."""
        values = {
            "instructions": request.instructions,
            "cwd": str(request.cwd),
            "model": request.model or "",
        }
        template = self.settings.command
        resumed = bool(request.resume_session_id and self.settings.resume_command)
        if resumed and self.settings.resume_command:
            template = self.settings.resume_command
            values["session_id"] = request.resume_session_id or ""
        argv = substitute(template, values)
        return [cli, *argv[1:]], resumed

    async def run(self, request: TurnRequest, emit: Emit) -> None:
        turn = Turn(self.name, request, emit)
        cli = self._cli()
        if cli is None:
            turn.fail(self._problem())
            return
        argv, resumed = self.argv(cli, request)
        if request.resume_session_id and not resumed:
            turn.emit(
                EventKind.LOG,
                {"text": f"{self.name} has no resume_command: this turn starts afresh"},
            )
        stream = _Stream(turn, self.settings)
        code = await run_lines(
            argv,
            request=request,
            env=agent_env(request, self.settings.env),
            on_spawn=lambda pid: turn.started_event(pid, argv, request.model),
            on_stdout=stream.line,
            on_stderr=turn.on_stderr,
        )
        result = stream.result or "\n".join(stream.texts)[-RESULT_LIMIT:] or None
        common: dict[str, Any] = {
            "exit_code": code,
            "session_id": stream.session_id,
            "result_text": result,
            "num_turns": 1,
        }
        if code == 0 and stream.error is None:
            turn.emit(
                EventKind.TURN_FINISHED,
                {"success": True, "duration_ms": turn.duration_ms, "cost_usd": None, **common},
            )
        else:
            detail = stream.error or (turn.stderr_tail[-1] if turn.stderr_tail else None)
            error = f"{self.name} exited with code {code}" + (f": {detail}" if detail else "")
            turn.fail(error, **common)

    async def probe(self) -> AgentInfo:
        cli = self._cli()
        version = self.settings.version_command
        if version is None:
            version = [self.settings.command[0], "--version"]
        if version and cli is not None:
            cli = find_binary(None, version[0])
        return await probe_binary(
            self.name,
            cli,
            self._problem(),
            version_args=version[1:],
            capabilities={
                "resume": self.settings.resume_command is not None,
                "cost": False,
                "approvals": False,
                "output": self.settings.output,
            },
        )


__all__ = ["CommandAgent", "dig", "substitute"]
