"""What lets a task go on on another worker when its own is gone.

After every turn's commit, a worker pushes the task's branch to its ``git_remote`` (a
remote the checkouts share) and, when the task's Claude conversation is in the shared
session store too, records in ``travels`` that the task can travel. The front reads
that record when the worker that holds a task's conversation is dead
(`agentdeck.workers.front`); the worker that takes it over brings the branch up from the
remote before its turn (`agentdeck.core.isolation.prepare`), and the Claude adapter
resumes the conversation from the store. Anything else (no remote, a refused push,
another agent's session) keeps the task with its worker, as before.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from agentdeck.agents.claude_store import project_key
from agentdeck.core import workspace
from agentdeck.errors import GitError
from agentdeck.model import EventKind, NewEvent, Task
from agentdeck.workers.registry import Registry
from agentdeck.workers.sessions import PostgresSessionStore


class Travel:
    """A worker's `Turn.publish` hook (see the module)."""

    def __init__(
        self, worker: str, remote: str, registry: Registry, sessions: PostgresSessionStore
    ) -> None:
        self.worker = worker
        self.remote = remote
        self.registry = registry
        self.sessions = sessions

    async def publish(self, task: Task) -> list[NewEvent]:
        """Push the task's branch; record whether the task can travel. The events to
        record (a push made, or refused). On a failure the task stays with its worker."""
        try:
            return await self._publish(task)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await self.registry.forget_travel(task.id)
            return [_event(task, f"the task stays on worker {self.worker}: {exc}")]

    async def _publish(self, task: Task) -> list[NewEvent]:
        git = task.git
        if git is None or not git.worktree_path or not self.remote:
            await self.registry.forget_travel(task.id)
            return []
        repo = Path(git.repo_path)
        if not await workspace.has_remote(repo, self.remote):
            await self.registry.forget_travel(task.id)
            return []
        sha = await workspace.rev(repo, f"refs/heads/{git.branch}")
        if sha is None:
            await self.registry.forget_travel(task.id)
            return []
        before = await workspace.rev(repo, f"refs/remotes/{self.remote}/{git.branch}")
        try:
            await workspace.push_branch(repo, self.remote, git.branch)
        except GitError as exc:
            await self.registry.forget_travel(task.id)
            text = f"could not push {git.branch} to {self.remote}: {exc.message}"
            return [_event(task, text, remote=self.remote)]
        session = task.session_id
        if session and await self.sessions.holds(project_key(task.id), session):
            await self.registry.record_travel(
                task.id, self.worker, session, self.remote, git.branch, sha
            )
        else:
            await self.registry.forget_travel(task.id)
        if before == sha:
            return []  # the remote had it already
        text = f"pushed {git.branch} to {self.remote} ({sha[:10]})"
        return [_event(task, text, remote=self.remote, commit=sha)]


def _event(task: Task, text: str, **data: str) -> NewEvent:
    return NewEvent(EventKind.LOG, {"source": "worktree", "text": text, **data}, task.turns)
