"""A scripted approver for adapter tests: answers from a list, records what it was asked."""

from __future__ import annotations

from typing import Any


class Approvals:
    """``TurnRequest.approve``: the next answer of ``answers`` each time, an (allowed,
    message) pair or a bare bool (a refusal then says "not this one"); ``asked`` holds
    every (tool, input, prompt)."""

    def __init__(self, *answers: bool | tuple[bool, str]) -> None:
        self.answers = [a if isinstance(a, tuple) else (a, "" if a else "not this one")
                        for a in answers]  # fmt: skip
        self.asked: list[tuple[str, dict[str, Any], str | None]] = []

    async def __call__(
        self, tool: str, tool_input: dict[str, Any], prompt: str | None
    ) -> tuple[bool, str]:
        self.asked.append((tool, tool_input, prompt))
        return self.answers.pop(0)
