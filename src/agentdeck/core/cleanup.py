"""Tidying up: recovery after a crash, and deleting ended tasks."""

from __future__ import annotations

from collections.abc import Set
from datetime import timedelta

import anyio

from agentdeck import cgroup
from agentdeck.core import isolation
from agentdeck.core.lifecycle import Lifecycle
from agentdeck.core.requests import Clean
from agentdeck.model import EventKind, NewEvent, Task, TaskStatus, now
from agentdeck.proctree import kill_tree

KEEP_RECENT = timedelta(hours=24)  # clean(keep_recent=true) keeps tasks ended since
ENDED = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


async def recover(lifecycle: Lifecycle) -> list[str]:
    """Tasks found mid-turn at start-up become ``interrupted``; their ids.

    An agent that outlived a crashed server has nobody reading it, so it is stopped;
    the agent's session id is kept, so ``update_task`` resumes the conversation.
    """
    cut = await lifecycle.store.list_tasks(
        statuses=[TaskStatus.IN_PROGRESS, TaskStatus.INPUT_REQUIRED]
    )
    for stale in cut:
        await kill_tree(None, marker=stale.id)
        async with lifecycle.editing(stale.id) as task:
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
                "agentdeck stopped while the turn ran; update_task resumes the conversation",
                [finished],
            )
    await anyio.to_thread.run_sync(cgroup.sweep)  # also probes for cgroups, once
    return [t.id for t in cut]


async def clean(lifecycle: Lifecycle, running: Set[str], request: Clean) -> list[Task]:
    """Delete ended tasks (completed, failed, cancelled) and their events; the doomed.

    ``keep_recent`` keeps those that ended within `KEEP_RECENT`. Tasks that are
    running, queued, waiting or interrupted are never deleted, nor tasks whose branch
    holds unmerged work unless ``force`` (which also deletes the branch).
    """
    async with lifecycle.locked():
        ended = await lifecycle.store.list_tasks(statuses=ENDED)
        cutoff = now() - KEEP_RECENT
        doomed = [
            t
            for t in ended
            if t.id not in running
            and not (request.keep_recent and (t.ended_at or t.updated_at) >= cutoff)
            and (request.force or not await isolation.has_unmerged_work(t))
        ]
        if not request.dry_run:
            for task in doomed:
                if task.git is not None:
                    await isolation.remove(task.git, delete_branch=True)
                await lifecycle.delete(task.id)
        return doomed
