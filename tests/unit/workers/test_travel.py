"""After a turn a worker pushes the task's branch and records whether the task can go
on elsewhere (agentdeck.workers.travel), on a real PostgreSQL and real git."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentdeck.agents.claude_store import project_key
from agentdeck.model import GitBranch, Task, TaskStatus, now
from agentdeck.store.postgres import PostgresStore
from agentdeck.workers.registry import Registry
from agentdeck.workers.sessions import PostgresSessionStore
from agentdeck.workers.travel import Travel
from support.git import git, init_repo

pytestmark = pytest.mark.anyio
SESSION = "5f0c8c1e-0000-4000-8000-000000000001"


@dataclass
class Place:
    travel: Travel
    registry: Registry
    sessions: PostgresSessionStore
    task: Task
    origin: Path


@pytest.fixture
async def place(postgres_url: str, tmp_path: Path) -> AsyncIterator[Place]:
    seed = tmp_path / "seed"
    seed.mkdir()
    init_repo(seed)
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    worktree = tmp_path / "worktree"
    git(clone, "worktree", "add", "-q", "-b", "agentdeck/t1", str(worktree))
    (worktree / "work.txt").write_text("done\n")
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", "turn 1")
    stamp = now()
    task = Task(
        id="t-travel1", title="t", status=TaskStatus.IN_PROGRESS, agent="claude",
        project_path=str(clone), cwd=str(worktree), created_at=stamp, updated_at=stamp,
        session_id=SESSION, turns=1,
        git=GitBranch(str(clone), "agentdeck/t1", "main", str(worktree)),
    )  # fmt: skip
    store = PostgresStore(postgres_url)
    await store.insert_task(task)
    registry = Registry(postgres_url)
    sessions = PostgresSessionStore(postgres_url)
    try:
        yield Place(Travel("w1", "origin", registry, sessions), registry, sessions, task, origin)
    finally:
        sessions.close()
        registry.close()
        store.close()


async def test_a_pushed_branch_and_a_stored_conversation_let_the_task_travel(
    place: Place,
) -> None:
    [pushed] = await place.travel.publish(place.task)  # no conversation stored yet
    assert pushed.data["text"].startswith("pushed agentdeck/t1 to origin")
    assert "work.txt" in git(place.origin, "ls-tree", "--name-only", "agentdeck/t1")
    assert await place.registry.travel(place.task.id) is None
    key = {"project_key": project_key(place.task.id), "session_id": SESSION}
    await place.sessions.append(key, [{"type": "user", "uuid": "u1"}])  # type: ignore[arg-type]
    assert await place.travel.publish(place.task) == []  # nothing new to say
    recorded = await place.registry.travel(place.task.id)
    assert recorded is not None and recorded["worker"] == "w1"
    assert recorded["commit_sha"] == pushed.data["commit"]


async def test_a_refused_push_keeps_the_task_with_its_worker(place: Place, tmp_path: Path) -> None:
    key = {"project_key": project_key(place.task.id), "session_id": SESSION}
    await place.sessions.append(key, [{"type": "user", "uuid": "u1"}])  # type: ignore[arg-type]
    await place.travel.publish(place.task)
    assert await place.registry.travel(place.task.id) is not None
    # someone else moves the remote's branch: this worker's push no longer fast-forwards
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "-b", "agentdeck/t1", str(place.origin), str(other))
    git(other, "commit", "-q", "--allow-empty", "-m", "elsewhere")
    git(other, "push", "-q", "origin", "agentdeck/t1")
    worktree = Path(str(place.task.cwd))
    (worktree / "more.txt").write_text("more\n")
    git(worktree, "add", "-A")
    git(worktree, "commit", "-q", "-m", "turn 2")
    [refused] = await place.travel.publish(place.task)
    assert refused.data["text"].startswith("could not push agentdeck/t1 to origin")
    assert await place.registry.travel(place.task.id) is None
