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

from agentdeck.agents._cli import (
    CliAgent,
    Stream,
    Turn,
    agent_env,
    exited,
    find_binary,
    missing_message,
)
from agentdeck.agents.base import Capabilities, TurnRequest
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


class _Stream(Stream):
    """Text lines, or JSON objects whose ``fields`` say where text, session, result are."""

    def __init__(self, turn: Turn, settings: CommandAgentSettings) -> None:
        super().__init__(turn)
        self.settings = settings
        self.texts: list[str] = []
        self.result: str | None = None
        self.failure: str | None = None

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
        for key, attr in (("result", "result"), ("error", "failure")):
            value = dig(obj, fields[key]) if key in fields else None
            if value is not None:
                setattr(self, attr, value if isinstance(value, str) else json.dumps(value))
                found = True
        text = dig(obj, fields["text"]) if "text" in fields else None
        if isinstance(text, str) and text:
            self._text(text)
        elif not found:
            self.turn.emit(EventKind.LOG, {"source": "agent", "event": obj})

    def end(self) -> None:
        self.result_text = self.result or "\n".join(self.texts)[-RESULT_LIMIT:] or None

    def error(self, exit_code: int) -> str | None:
        if exit_code == 0 and self.failure is None:
            return None
        tail = self.turn.stderr_tail
        return exited(self.turn.agent, exit_code, self.failure or (tail[-1] if tail else None))


class CommandAgent(CliAgent[_Stream]):
    """Adapter for a CLI declared under ``[agents.<name>]``."""

    def __init__(self, name: str, settings: CommandAgentSettings) -> None:
        self.name = name
        self.settings = settings
        self.capabilities = Capabilities(resume=settings.resume_command is not None)
        version = settings.version_command
        if version is None:
            version = [settings.command[0], "--version"]
        self._version_cli = version[0] if version else None
        self.version_args = version[1:]

    def cli(self) -> str | None:
        return find_binary(None, self.settings.command[0]) if self.settings.command else None

    def problem(self) -> str:
        return missing_message(
            f"agent {self.name!r}", None, self.settings.command[0], f"agents.{self.name}.command"
        )

    def probe_cli(self) -> str | None:
        cli = self.cli()
        if cli is not None and self._version_cli is not None:
            return find_binary(None, self._version_cli)
        return cli

    def extra_capabilities(self) -> dict[str, Any]:
        return {"output": self.settings.output}

    def env(self, request: TurnRequest) -> dict[str, str]:
        return agent_env(request, self.settings.env)

    def argv(self, cli: str, request: TurnRequest) -> list[str]:
        values = {
            "instructions": request.instructions,
            "cwd": str(request.cwd),
            "model": request.model or "",
        }
        template = self.settings.command
        if request.resume_session_id and self.settings.resume_command:
            template = self.settings.resume_command
            values["session_id"] = request.resume_session_id
        argv = substitute(template, values)
        return [cli, *argv[1:]]

    async def new_stream(self, turn: Turn, env: dict[str, str]) -> _Stream:
        """Says first when a resumed turn cannot resume (no ``resume_command``)."""
        if turn.request.resume_session_id and not self.settings.resume_command:
            turn.emit(
                EventKind.LOG,
                {"text": f"{self.name} has no resume_command: this turn starts afresh"},
            )
        return _Stream(turn, self.settings)


__all__ = ["CommandAgent", "dig", "substitute"]
