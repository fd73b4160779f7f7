"""Dependencies between tasks: ``depends_on`` (task ids) and ``start_after`` (``done``: the
dependency's turn ended well and its acceptance check passed; ``merged``: its branch was
merged). A dependent waits ``pending`` while blocked, and is cancelled, naming the
dependency, once one can no longer be met (failed, cancelled, discarded, deleted)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentdeck.core import workspace
from agentdeck.core.lifecycle import Lifecycle
from agentdeck.errors import InvalidInput
from agentdeck.model import Task, TaskStatus

DEPENDENCIES_MAX = 20
_DONE = (TaskStatus.WAITING, TaskStatus.COMPLETED)
_LOST = (TaskStatus.FAILED, TaskStatus.CANCELLED)


@dataclass(frozen=True)
class Verdict:
    """``ready``; else ``blocked_by`` (ids, with why, in ``reason``), or ``doomed`` (why)."""

    ready: bool
    blocked_by: tuple[str, ...] = ()
    reason: str = ""
    doomed: str | None = None


def refuse_unusable(dependencies: list[Task | None], ids: list[str]) -> None:
    """At create: every dependency exists and has not failed or been cancelled."""
    for ref, dep in zip(ids, dependencies, strict=True):
        if dep is None:
            raise InvalidInput(f"depends_on names {ref!r}: no such task", {"depends_on": ref})
        if dep.status in _LOST:
            raise InvalidInput(
                f"depends_on names task {dep.id}, which is {dep.status}: it can never be met",
                {"depends_on": dep.id, "status": str(dep.status)},
            )


def _met(dep: Task, start_after: str) -> bool:
    if start_after == "merged":
        return dep.git is not None and dep.git.merged_at is not None
    gate_ok = dep.gate is None or bool(dep.gate.get("passed"))
    return dep.status in _DONE and gate_ok


def _lost(dep: Task, start_after: str) -> str | None:
    if dep.status in _LOST:
        return f"its dependency {dep.id} ({dep.title}) {dep.status}"
    if start_after == "merged" and dep.status.terminal and not _met(dep, start_after):
        return f"its dependency {dep.id} ({dep.title}) ended without being merged"
    if start_after == "merged" and dep.git is None:
        return f"its dependency {dep.id} has no branch to merge"
    return None


async def judge(lifecycle: Lifecycle, task: Task) -> Verdict:
    """Whether ``task`` may start now."""
    blocked: list[tuple[str, str]] = []
    for dep_id in task.depends_on:
        dep = await lifecycle.store.get(dep_id)
        if dep is None:
            return Verdict(False, doomed=f"its dependency {dep_id} was deleted")
        if (lost := _lost(dep, task.start_after)) is not None:
            return Verdict(False, doomed=lost)
        if not _met(dep, task.start_after):
            need = "merged" if task.start_after == "merged" else "done"
            blocked.append((dep.id, f"{dep.id} ({dep.status}, not {need} yet)"))
    if not blocked:
        return Verdict(True)
    return Verdict(
        False,
        blocked_by=tuple(i for i, _ in blocked),
        reason="blocked by " + ", ".join(why for _, why in blocked),
    )


async def settle(lifecycle: Lifecycle, task: Task) -> bool:
    """Apply the verdict on a pending ``task``: True if it may start now (its branch moved
    to the merged base first, for ``merged``); else record why not, or cancel it."""
    verdict = await judge(lifecycle, task)
    async with lifecycle.editing(task.id) as fresh:
        if fresh.status != TaskStatus.PENDING:
            return False
        if verdict.doomed is not None:
            await lifecycle.transition(fresh, TaskStatus.CANCELLED, f"cancelled: {verdict.doomed}")
            return False
        if not verdict.ready:
            if (
                fresh.blocked_by != list(verdict.blocked_by)
                or fresh.status_reason != verdict.reason
            ):
                fresh.blocked_by = list(verdict.blocked_by)
                fresh.status_reason = verdict.reason
                await lifecycle.save(fresh)
            return False
        if fresh.blocked_by:
            fresh.blocked_by = []
            if fresh.start_after == "merged" and fresh.git is not None and fresh.turns == 0:
                # Not started yet: the branch starts from the base as it is now, merged work in.
                git = fresh.git
                await workspace.git(
                    Path(git.repo_path), "branch", "-f", git.branch, git.base_branch
                )
            fresh.status_reason = "its dependencies are met"
            await lifecycle.save(fresh)
    return True
