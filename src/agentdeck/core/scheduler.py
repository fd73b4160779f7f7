"""Which pending turns run now: a global limit (``max_running``) and per-repository ones."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from agentdeck.config import Settings
from agentdeck.core import dependencies, isolation, usage_limits
from agentdeck.core.runner import TurnControl
from agentdeck.core.turn import Turn
from agentdeck.errors import AgentdeckError
from agentdeck.model import TaskStatus
from agentdeck.store import TaskStore


class Scheduler:
    """Starts queued turns, oldest task first, while slots are free."""

    def __init__(self, settings: Settings, store: TaskStore, turn: Turn) -> None:
        self.settings = settings
        self.store = store
        self.turn = turn
        self.running: dict[str, TurnControl] = {}
        self._running_repo: dict[str, str] = {}  # task id -> repository, for per-repo limits
        self._wakeup = anyio.Event()
        self._tg: TaskGroup | None = None
        self._stopping = False

    def stop(self) -> dict[str, TurnControl]:
        """Start no more turns; the turns running now."""
        self._stopping = True
        return dict(self.running)

    def wake(self) -> None:
        """Something may be runnable now (a task was queued, a turn ended)."""
        self._wakeup.set()

    async def refusal(
        self, agent: str, project_path: str, labels: dict[str, str], worker: str | None
    ) -> str | None:
        """Why a new task with these routing wishes could never run (None: it can)."""
        if labels or worker:
            return (
                'labels and worker choose among workers (dispatch = "workers", see '
                "docs/scale-out.md), but this server runs its tasks itself: leave them out"
            )
        return None

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Schedule until cancelled (use with ``TaskGroup.start``)."""
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._wake_on_lifecycle_changes)
            task_status.started()
            try:
                while True:
                    await self._schedule()
                    await self._wakeup.wait()
                    self._wakeup = anyio.Event()
            finally:
                # Turns still running (`Core.stop` ran out of time, or never ran) stay
                # in_progress; the next start marks them interrupted, as after a crash.
                self._tg = None

    async def _wake_on_lifecycle_changes(self) -> None:
        """A task's lifecycle changed (it ended, was merged, …): a dependent may be ready."""
        async with self.turn.lifecycle.bus.listen() as changes:
            async for change in changes:
                if change.status is not None:
                    self.wake()

    async def _schedule(self) -> None:
        free = self.settings.max_running - len(self.running)
        if free <= 0 or self._tg is None or self._stopping:
            return
        pending = await self.store.list_tasks(statuses=[TaskStatus.PENDING], oldest_first=True)
        held = await usage_limits.held_agents(self.turn.lifecycle) if pending else {}
        per_repo: dict[str, int] = {}
        for repo in self._running_repo.values():
            per_repo[repo] = per_repo.get(repo, 0) + 1
        for task in pending:
            if free <= 0:
                break
            if task.id in self.running:
                continue
            if task.agent in held and task.resume_at is None:
                continue  # its agent's account is at its usage limit (resumes go first)
            if task.depends_on and not await dependencies.settle(self.turn.lifecycle, task):
                continue
            if task.git is not None:
                repo = task.git.repo_path
                limit = self._repo_limit(repo)
                if limit is not None and per_repo.get(repo, 0) >= limit:
                    continue
                per_repo[repo] = per_repo.get(repo, 0) + 1
                self._running_repo[task.id] = repo
            control = TurnControl()
            self.running[task.id] = control
            self._tg.start_soon(self._run_turn, task.id, control)
            free -= 1

    async def _run_turn(self, task_id: str, control: TurnControl) -> None:
        try:
            await self.turn.run(task_id, control)
        finally:
            self.running.pop(task_id, None)
            self._running_repo.pop(task_id, None)
            control.done.set()
            self.wake()

    def _repo_limit(self, repo: str) -> int | None:
        try:
            return isolation.project_settings(self.settings, Path(repo)).max_running
        except AgentdeckError:
            return None
