"""Tidying up: deleting ended tasks."""

from __future__ import annotations

from collections.abc import Set
from datetime import timedelta

from agentdeck.core import isolation
from agentdeck.core.lifecycle import Lifecycle
from agentdeck.core.requests import Clean
from agentdeck.model import Task, TaskStatus, now

KEEP_RECENT = timedelta(hours=24)  # clean(keep_recent=true) keeps tasks ended since
ENDED = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


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
