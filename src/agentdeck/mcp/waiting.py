"""``wait: true`` on create/update: block until the turn ends, reporting MCP progress."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import anyio
from mcp.server.mcpserver import Context

from agentdeck.core import Core, PendingDecision
from agentdeck.model import EventKind, Task

DEFAULT_MAX_WAIT = 600.0
MAX_WAIT_LIMIT = 3600.0
_PROGRESS_KINDS = (str(EventKind.TURN_STARTED), str(EventKind.TOOL_CALL), str(EventKind.MESSAGE))


@dataclass
class WaitOutcome:
    task: Task
    timed_out: bool
    asked: list[PendingDecision] = field(default_factory=list)  # (with ``ask_from``)


def _asked(
    core: Core, task_id: str, from_turn: int, answered: Collection[str]
) -> list[PendingDecision]:
    return [
        p
        for p in core.pending().pending
        if p.task_id == task_id and p.turn >= from_turn and p.request_id not in answered
    ]


async def wait_for_turn(
    core: Core,
    task_id: str,
    ctx: Context,
    max_wait: float,
    *,
    ask_from: int | None = None,
    answered: Collection[str] = (),
) -> WaitOutcome:
    """Wait until ``task_id`` settles (nothing running or queued) or ``max_wait`` passes,
    sending progress meanwhile: the agent's steps (tool calls and messages), the turn
    and the last tool used.

    With ``ask_from`` (a turn), also stop when a decision of that turn or a later one
    waits on the user (except the ``answered`` ones): the outcome's ``asked``."""
    seen = 0
    steps = 0
    last_tool: str | None = None
    task = await core.get(task_id)
    async with core.watch(task_id, after=0) as changes:
        with anyio.move_on_after(max_wait):
            while task.status.active:
                if ask_from is not None and (asked := _asked(core, task_id, ask_from, answered)):
                    return WaitOutcome(task, timed_out=False, asked=asked)
                await changes.get()
                page = await core.events(task_id, after=seen, kinds=_PROGRESS_KINDS)
                for event in page.events:
                    steps += 1
                    if event.kind == EventKind.TOOL_CALL:
                        last_tool = str(event.data.get("name"))
                task = await core.get(task_id)
                if page.events:
                    seen = page.last_seq
                    tool = f", last tool: {last_tool}" if last_tool else ""
                    await ctx.report_progress(
                        steps, message=f"turn {task.turns}: {steps} steps{tool} ({task.status})"
                    )
            return WaitOutcome(task, timed_out=False)
    return WaitOutcome(await core.get(task_id), timed_out=True)
