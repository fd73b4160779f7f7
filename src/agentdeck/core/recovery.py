"""After a restart: turns cut by a crash or a stop are found, and resume by themselves.

At start-up a task found mid-turn was cut by a crash: it becomes ``interrupted``. Then
every task cut by the last crash or stop (``interrupted_by``) resumes in its own agent
session, one at a time once the normal queue is empty, under the normal limits, unless
auto-resume is off (the setting, or the task's ``auto_resume``) or the crash-loop guard
holds it: a task cut by crashes ``auto_resume_limit`` times in a row stays
``interrupted`` and needs the user.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from agentdeck import cgroup
from agentdeck.bus import Bus
from agentdeck.config import Settings
from agentdeck.core.lifecycle import Lifecycle
from agentdeck.errors import NotFound
from agentdeck.model import EventKind, NewEvent, Task, TaskStatus
from agentdeck.proctree import kill_tree

log = logging.getLogger(__name__)

RESUME_PROMPT = (
    "Your previous turn was cut off: the agentdeck server {why} while you were working. "
    "Check the state of the workspace (some of your last steps may not have finished), "
    "then carry on with the task from where you left off."
)
WHY = {"crash": "crashed", "stop": "was stopped"}


@dataclass
class Recovery:
    """What start-up found: tasks queued to resume, and tasks left for the user."""

    resuming: list[Task] = field(default_factory=list)
    held: list[Task] = field(default_factory=list)  # by the crash-loop guard


async def recover(lifecycle: Lifecycle, settings: Settings) -> Recovery:
    """Mark turns cut by a crash ``interrupted``, and sort out which cut tasks resume.

    An agent that outlived a crashed server has nobody reading it, so it is stopped;
    the agent's session id is kept, so the conversation goes on when the task resumes.
    """
    cut = await lifecycle.store.list_tasks(
        statuses=[TaskStatus.IN_PROGRESS, TaskStatus.INPUT_REQUIRED]
    )
    for stale in cut:
        await kill_tree(None, marker=stale.id)
        async with lifecycle.editing(stale.id) as task:
            task.interrupted_by = "crash"
            task.crash_cuts += 1
            finished = NewEvent(
                EventKind.TURN_FINISHED,
                {
                    "success": False,
                    "error": "agentdeck stopped while this turn ran",
                    "interrupted": True,
                },
                task.turns,
            )
            await lifecycle.transition(
                task,
                TaskStatus.INTERRUPTED,
                "agentdeck stopped while the turn ran (a crash); the conversation is kept",
                [finished],
            )
    await anyio.to_thread.run_sync(cgroup.sweep)  # also probes for cgroups, once
    found = Recovery()
    for task in await lifecycle.store.list_tasks(
        statuses=[TaskStatus.INTERRUPTED], oldest_first=True
    ):
        if task.interrupted_by is None:
            continue  # cut before an earlier start, and left to the user then
        if not (settings.auto_resume and task.auto_resume):
            await _leave(lifecycle, task, "auto-resume is off for this task")
        elif task.crash_cuts >= settings.auto_resume_limit:
            await _leave(
                lifecycle,
                task,
                f"its turn was cut by {_crashes(task.crash_cuts)} in a row, so it is not "
                "resumed again by itself",
            )
            found.held.append(task)
        else:
            found.resuming.append(task)
    return found


async def resume_one_at_a_time(
    lifecycle: Lifecycle,
    bus: Bus,
    wake: Callable[[], None],
    tasks: list[Task],
    limit: int,
) -> None:
    """Queue each task's resumed turn once nothing else is pending, and wait for that turn
    to end before the next (so a restart never stampedes)."""
    for found in tasks:
        await _until(bus, functools.partial(_anything_pending, lifecycle))
        try:
            resumed = await _queue_resume(lifecycle, found.id, limit)
        except NotFound:
            continue  # deleted meanwhile
        if not resumed:
            continue
        wake()
        await _until(bus, functools.partial(_still_running, lifecycle, found.id))


async def _queue_resume(lifecycle: Lifecycle, task_id: str, limit: int) -> bool:
    async with lifecycle.editing(task_id) as task:
        if task.status != TaskStatus.INTERRUPTED or task.interrupted_by is None:
            return False  # the user acted first
        why = WHY.get(task.interrupted_by, "stopped")
        if task.session_id is not None:
            task.queue.insert(0, RESUME_PROMPT.format(why=why))
        else:  # no conversation to go on with: the cut turn's instructions again
            task.queue.insert(0, await _last_instructions(lifecycle, task))
        cuts = f", {task.crash_cuts} of {limit} crashes in a row" if task.crash_cuts else ""
        reason = f"resuming by itself: the server {why} during turn {task.turns}{cuts}"
        note = NewEvent(
            EventKind.LOG,
            {"source": "auto_resume", "text": reason, "cut_by": task.interrupted_by},
            task.turns,
        )
        await lifecycle.transition(task, TaskStatus.PENDING, reason, [note])
        log.info("task %s: %s", task.id, reason)
        return True


async def _leave(lifecycle: Lifecycle, task: Task, why: str) -> None:
    async with lifecycle.editing(task.id) as fresh:
        fresh.status_reason = f"interrupted; {why} (update_task resumes it)"
        fresh.interrupted_by = None  # decided: later starts leave it too
        note = NewEvent(EventKind.LOG, {"source": "auto_resume", "text": fresh.status_reason})
        await lifecycle.save(fresh, [note])
    task.status_reason = fresh.status_reason


def _crashes(n: int) -> str:
    return f"{n} server crash" + ("es" if n != 1 else "")


async def _last_instructions(lifecycle: Lifecycle, task: Task) -> str:
    started = await lifecycle.store.last_events(task.id, 1, [EventKind.TURN_STARTED])
    text = started[0].data.get("instructions") if started else None
    return str(text) if text else RESUME_PROMPT.format(why="stopped")


async def _anything_pending(lifecycle: Lifecycle) -> bool:
    return bool(await lifecycle.store.list_tasks(statuses=[TaskStatus.PENDING], limit=1))


async def _still_running(lifecycle: Lifecycle, task_id: str) -> bool:
    task = await lifecycle.store.get(task_id)
    return task is not None and task.status in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS)


async def _until(bus: Bus, busy: Callable[[], Awaitable[bool]]) -> None:
    """Wait, re-checking at every change, until ``busy()`` is false."""
    async with bus.listen() as changes:
        while await busy():
            await changes.settle()
