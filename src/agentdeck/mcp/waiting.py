"""``wait: true`` on create/update: block until the turn ends, reporting MCP progress."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from mcp.server.mcpserver import Context

from agentdeck.engine import TaskEngine
from agentdeck.model import EventKind, Task

DEFAULT_MAX_WAIT = 600.0
MAX_WAIT_LIMIT = 3600.0
_PROGRESS_KINDS = (str(EventKind.TURN_STARTED), str(EventKind.TOOL_CALL), str(EventKind.MESSAGE))


@dataclass
class WaitOutcome:
    task: Task
    timed_out: bool


def _settled(task: Task) -> bool:
    """The turn(s) asked for have run: nothing running or queued any more."""
    return not task.status.active


async def wait_for_turn(
    engine: TaskEngine, task_id: str, ctx: Context, max_wait: float
) -> WaitOutcome:
    """Wait until ``task_id`` settles or ``max_wait`` passes, sending progress meanwhile.

    Progress counts the agent's steps (tool calls and messages); its message names
    the turn and the last tool used.
    """
    seen = 0
    steps = 0
    last_tool: str | None = None
    task = await engine.get(task_id)
    async with engine.bus.listen() as changes:
        with anyio.move_on_after(max_wait):
            while not _settled(task):
                change = await changes.get()
                if change.task_id != task_id:
                    continue
                events = await engine.store.events(task_id, after_seq=seen, kinds=_PROGRESS_KINDS)
                for event in events:
                    steps += 1
                    if event.kind == EventKind.TOOL_CALL:
                        last_tool = str(event.data.get("name"))
                task = await engine.get(task_id)
                if events:
                    seen = events[-1].seq
                    tool = f", last tool: {last_tool}" if last_tool else ""
                    await ctx.report_progress(
                        steps, message=f"turn {task.turns}: {steps} steps{tool} ({task.status})"
                    )
            return WaitOutcome(task, timed_out=False)
    return WaitOutcome(await engine.get(task_id), timed_out=True)
