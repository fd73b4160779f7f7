"""Approval policies: which tool uses run without asking the user.

- ``bypass``: everything runs (the old system's behaviour).
- ``ask``: reading and editing files inside the task's workspace runs; anything else
  (shell commands, web access, files outside) asks the user.
- ``rules``: ``deny`` rules refuse, ``allow`` rules run, anything else asks.

A rule is a tool name (``Edit``) or a tool name with a pattern on its main argument
(``Bash(npm test:*)`` — a ``:*`` suffix is a prefix match, otherwise a glob).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agentdeck.errors import InvalidInput

POLICIES = ("bypass", "ask", "rules")
Verdict = Literal["allow", "deny", "ask"]

READ_TOOLS = frozenset({"Read", "Glob", "Grep", "LS", "NotebookRead", "TodoWrite", "TodoRead"})
EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
_RULE = re.compile(r"^(?P<tool>[A-Za-z_][\w.-]*)(?:\((?P<pattern>.*)\))?$")
_MAIN_ARGUMENT = ("command", "file_path", "notebook_path", "path", "url", "pattern", "query")


@dataclass(frozen=True)
class Rule:
    tool: str
    pattern: str | None

    @classmethod
    def parse(cls, text: str) -> Rule:
        match = _RULE.match(text.strip())
        if not match:
            raise InvalidInput(
                f"bad permission rule {text!r}: use a tool name such as Edit, or a tool with a "
                "pattern such as Bash(npm test:*)",
                {"rule": text},
            )
        return cls(match["tool"], match["pattern"])

    def matches(self, tool: str, tool_input: dict[str, Any]) -> bool:
        if tool != self.tool:
            return False
        if self.pattern is None:
            return True
        value = main_argument(tool_input)
        if value is None:
            return False
        if self.pattern.endswith(":*"):
            return value.startswith(self.pattern[:-2])
        return fnmatch.fnmatchcase(value, self.pattern)

    def __str__(self) -> str:
        return self.tool if self.pattern is None else f"{self.tool}({self.pattern})"


def main_argument(tool_input: dict[str, Any]) -> str | None:
    for key in _MAIN_ARGUMENT:
        value = tool_input.get(key)
        if isinstance(value, str):
            return value
    return None


def parse_rules(rules: Iterable[str]) -> list[str]:
    """Validate rule texts (raises `InvalidInput`); returns them normalized."""
    return [str(Rule.parse(r)) for r in rules]


def inside(path: str, workspace: Path) -> bool:
    target = Path(path)
    if not target.is_absolute():
        target = workspace / target
    try:
        return target.resolve().is_relative_to(workspace.resolve())
    except OSError:
        return False


def decide(
    policy: str,
    tool: str,
    tool_input: dict[str, Any],
    workspace: Path,
    *,
    allow: Iterable[str] = (),
    deny: Iterable[str] = (),
    always: Iterable[str] = (),
) -> tuple[Verdict, str]:
    """The verdict for one tool use, and why."""
    if policy == "bypass":
        return "allow", "policy bypass"
    for text in deny:
        if Rule.parse(text).matches(tool, tool_input):
            return "deny", f"denied by rule {text}"
    if tool in set(always):
        return "allow", f"{tool} was allowed for this task"
    for text in allow:
        if Rule.parse(text).matches(tool, tool_input):
            return "allow", f"allowed by rule {text}"
    if policy == "ask" and (tool in READ_TOOLS or tool in EDIT_TOOLS):
        target = main_argument(tool_input)
        if target is None or inside(target, workspace):
            return "allow", "file access inside the workspace"
    return "ask", "needs the user's decision"


def summary(tool: str, tool_input: dict[str, Any]) -> str:
    """A plain-language line saying what the agent wants to do."""
    if tool == "Bash":
        return f"run the command: {tool_input.get('command', '')}"
    if tool in EDIT_TOOLS:
        return f"change the file {main_argument(tool_input)}"
    if tool in READ_TOOLS:
        return f"read {main_argument(tool_input)}"
    if tool in ("WebFetch", "WebSearch"):
        return f"access the web: {main_argument(tool_input)}"
    if tool == "AskUserQuestion":
        questions = tool_input.get("questions") or []
        texts = [q.get("question", "") for q in questions if isinstance(q, dict)]
        return "answer: " + " / ".join(t for t in texts if t)
    argument = main_argument(tool_input)
    return f"use {tool}" + (f" on {argument}" if argument else "")
