"""A scripted approver for adapter tests: answers from a list, records what it was asked."""

from __future__ import annotations

from typing import Any


class Approvals:
    """``TurnRequest.approve``: the next answer of ``answers`` each time (a refusal says
    "not this one"); ``asked`` holds every (tool, input, prompt)."""

    def __init__(self, *answers: bool) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, dict[str, Any], str | None]] = []

    async def __call__(
        self, tool: str, tool_input: dict[str, Any], prompt: str | None
    ) -> tuple[bool, str]:
        self.asked.append((tool, tool_input, prompt))
        allowed = self.answers.pop(0)
        return allowed, "" if allowed else "not this one"
