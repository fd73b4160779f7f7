"""The decisions a followed task waits on: the commands that answer them, and on a terminal
a prompt that answers them (through the ``respond_task`` tool).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from rich.console import Console
from rich.text import Text

from agentdeck.cli.remote import Event, Remote, ToolFailed

Reader = Callable[[str], Awaitable[str | None]]
"""Shows a prompt and returns the line the user typed (None: no more input)."""

CHOICES = {
    "y": "allow",
    "yes": "allow",
    "allow": "allow",
    "a": "allow_always",
    "always": "allow_always",
    "n": "deny",
    "no": "deny",
    "deny": "deny",
}
INDENT = " " * 9  # under the HH:MM:SS of the event lines above
SETTLED = frozenset({"waiting", "completed", "failed", "cancelled", "interrupted"})
"""Statuses in which no decision is open any more."""


def interactive() -> bool:
    """Whether a person sits at this terminal (stdin and stdout are TTYs)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def terminal_reader(console: Console) -> Reader:
    """Reads a line from stdin without blocking the event loop (cancellable)."""

    async def read(prompt: str) -> str | None:
        console.print(Text(prompt, style="bold magenta"), end="")
        fd = sys.stdin.fileno()
        line = b""
        while not line.endswith(b"\n"):
            await anyio.wait_readable(fd)
            chunk = os.read(fd, 1024)
            if not chunk:
                return line.decode(errors="replace").strip() or None
            line += chunk
        return line.decode(errors="replace").strip()

    return read


def answer_commands(task_id: str, request_id: str | None = None) -> str:
    """The exact commands that answer a task's decision (its oldest, or ``request_id``)."""
    which = f" --request-id {request_id}" if request_id else ""
    return (
        f"agentdeck approve {task_id}{which}  ·  agentdeck deny {task_id}{which} -m WHY"
        f"  ·  agentdeck allow-always {task_id}{which}"
    )


class Decisions:
    """Follows the open decisions of one task from its events.

    `see` prints the commands that answer each new one; with a ``reader`` (a
    terminal), `answer` asks the user for each in turn and sends the answer. A
    decision answered elsewhere meanwhile (a phone, another terminal) closes its prompt.
    """

    def __init__(self, remote: Remote, task_id: str, console: Console, reader: Reader | None):
        self.remote = remote
        self.task_id = task_id
        self.console = console
        self.reader = reader
        self.open: dict[str, dict[str, Any]] = {}
        self._asking: dict[str, anyio.CancelScope] = {}
        self._send, self._receive = anyio.create_memory_object_stream[str](math.inf)

    def see(self, event: Event) -> None:
        """Note a decision opened or settled by ``event``."""
        data: dict[str, Any] = event.get("data") or {}
        kind = event.get("kind")
        if kind == "permission_request" and data.get("request_id"):
            request_id = str(data["request_id"])
            oldest = not self.open
            self.open[request_id] = data
            commands = answer_commands(self.task_id, None if oldest else request_id)
            self.console.print(Text(f"{INDENT}  answer: {commands}", style="magenta"))
            if self.reader is not None:
                self._send.send_nowait(request_id)
        elif kind == "log" and data.get("source") == "approvals" and data.get("request_id"):
            answer = f"answered elsewhere: {data.get('decision')} by {data.get('by')}"
            self._settled(str(data["request_id"]), answer)
        elif kind == "status" and data.get("to") in SETTLED:
            for request_id in list(self.open):
                self._settled(request_id, f"no longer asked: the task is {data['to']}")

    def _settled(self, request_id: str, why: str) -> None:
        """The decision is no longer open; a prompt for it closes, saying ``why``."""
        self.open.pop(request_id, None)
        if scope := self._asking.pop(request_id, None):
            scope.cancel()
            self.console.print()
            self.console.print(Text(f"{INDENT}  {why}", style="dim"))

    async def answer(self) -> None:
        """Ask the user for each open decision in turn, until the input ends."""
        async with self._receive:
            async for request_id in self._receive:
                if request_id not in self.open or self.reader is None:
                    continue
                with anyio.CancelScope() as scope:
                    self._asking[request_id] = scope
                    try:
                        choice = await self._ask(self.open[request_id])
                    finally:
                        self._asking.pop(request_id, None)
                    if choice is None:
                        continue
                    await self._send_answer(request_id, *choice)

    async def _ask(self, request: dict[str, Any]) -> tuple[str, str] | None:
        """(decision, message) from the user; None to leave it open."""
        assert self.reader is not None
        tool = request.get("tool", "the tool")
        prompt = (
            f"{INDENT}  {tool}: [y] allow once · [a] always ({tool}, this task) · [n] deny · "
            "[Enter] later ▸ "
        )
        while True:
            line = await self.reader(prompt)
            if line is None:
                self.reader = None  # the input ended: only the printed commands remain
                return None
            if not line:
                self.console.print(
                    Text(f"{INDENT}  left open: answer with the commands above", style="dim")
                )
                return None
            decision = CHOICES.get(line.lower())
            if decision is None:
                continue
            message = ""
            if decision == "deny":
                message = (
                    await self.reader(f"{INDENT}  why? (told to the agent; Enter: no reason) ▸ ")
                    or ""
                )
            return decision, message

    async def _send_answer(self, request_id: str, decision: str, message: str) -> None:
        try:
            await self.remote.task_post(
                self.task_id,
                "respond",
                {"decision": decision, "message": message, "request_id": request_id},
            )
        except ToolFailed as exc:
            if exc.kind not in ("invalid_state", "not_found"):
                raise
            self.console.print(Text(f"{INDENT}  not sent: {exc.message}", style="dim"))
            return
        self.console.print(Text(f"{INDENT}  {decision} sent", style="magenta"))
