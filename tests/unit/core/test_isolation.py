"""Commit messages of a task's turns; a task's worktree made again on another machine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agentdeck.agents.testing import FakeAgent
from agentdeck.config import Settings, load_settings
from agentdeck.core.isolation import (
    SUBJECT_LENGTH,
    after_turn,
    commit_message,
    plan,
    prepare,
    worktree_dir,
)
from agentdeck.core.workspace import push_branch
from agentdeck.errors import InvalidInput
from agentdeck.model import GitBranch, Task, TaskStatus, now
from support.core import create, events_of, running
from support.git import git, init_repo


def _task(turns: int) -> Task:
    stamp = now()
    return Task(
        id="t-c0ffee",
        title="Add JWT auth",
        status=TaskStatus.IN_PROGRESS,
        agent="fake",
        project_path="/p",
        cwd="/p",
        created_at=stamp,
        updated_at=stamp,
        turns=turns,
    )


def test_the_first_turn_is_committed_under_the_title() -> None:
    assert commit_message(_task(1), "do it") == "Add JWT auth\n\nagentdeck task t-c0ffee, turn 1"


def test_later_turns_are_committed_under_their_own_instructions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value")
    message = commit_message(_task(2), "\n  Now add refresh tokens (s3cr3t-value)\nand tests")
    assert message == "Now add refresh tokens (***)\n\nagentdeck task t-c0ffee, turn 2"
    long = commit_message(_task(3), "x" * 200).splitlines()[0]
    assert len(long) == SUBJECT_LENGTH and long.endswith("…")
    assert commit_message(_task(4), None).startswith("Add JWT auth\n")  # e.g. before a merge


@pytest.mark.anyio
async def test_a_git_project_without_git_on_path_warns_and_runs_in_place(
    core_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    project = core_settings.roots[0]
    (project / ".git").mkdir(exist_ok=True)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    async with running(core_settings, FakeAgent()) as core:
        task = await create(core, "t", "x")
        assert task.git is None  # in place
        logs = [e.data["text"] for e in await events_of(core, task.id, "log")]
        assert any("git is not on PATH" in text for text in logs), logs
        with pytest.raises(InvalidInput, match="git is not on PATH"):
            await create(core, "t", "x", isolation="worktree")


def _machine(root: Path, name: str, origin: Path) -> tuple[Settings, Path]:
    """A machine of its own: a home and a clone of ``origin``."""
    clone = root / f"clone-{name}"
    git(root, "clone", "-q", str(origin), str(clone))
    env = {"AGENTDECK_HOME": str(root / f"home-{name}"), "AGENTDECK_ROOTS": str(clone)}
    return load_settings(env=env), clone


def _on(git_group: GitBranch, repo: Path, worktree: str | None) -> GitBranch:
    """The task's git group as another machine reads it (its checkout at ``repo``)."""
    return replace(git_group, repo_path=str(repo), worktree_path=worktree)


async def _write_and_push(task: Task, group: GitBranch, name: str, text: str) -> None:
    """A turn that writes ``name``, committed and pushed as a worker does."""
    (Path(str(group.worktree_path)) / name).write_text(text)
    await after_turn(task, group, f"write {name}")
    await push_branch(Path(group.repo_path), "origin", group.branch)


@pytest.mark.anyio
async def test_a_task_goes_on_on_another_machine_from_the_branch_its_last_turn_pushed(
    tmp_path: Path,
) -> None:
    origin = tmp_path / "origin.git"
    seed = tmp_path / "seed"
    seed.mkdir()
    init_repo(seed)
    git(tmp_path, "clone", "-q", "--bare", str(seed), str(origin))
    one, repo_one = _machine(tmp_path, "one", origin)
    two, repo_two = _machine(tmp_path, "two", origin)
    task = _task(1)
    made = await plan(one, repo_one, task.id, task.title, "worktree", None, None)
    assert made is not None
    on_one = made.branch_group()
    await prepare(one, task, on_one, "origin")
    await _write_and_push(task, on_one, "a.txt", "from one\n")

    # machine two: its own checkout; the recorded worktree is machine one's
    task.turns = 2
    on_two = _on(on_one, repo_two, on_one.worktree_path)
    events = await prepare(two, task, on_two, "origin")
    assert on_two.worktree_path == str(worktree_dir(two, repo_two, task.id))
    here = Path(on_two.worktree_path)
    assert (here / "a.txt").read_text() == "from one\n"
    assert any("taken from origin" in e.data["text"] for e in events), events
    await _write_and_push(task, on_two, "b.txt", "from two\n")

    # back on machine one, where its old worktree still stands: brought up to date
    task.turns = 3
    back = _on(on_one, repo_one, on_one.worktree_path)
    events = await prepare(one, task, back, "origin")
    assert (Path(str(back.worktree_path)) / "b.txt").read_text() == "from two\n"
    assert any("went on elsewhere" in e.data["text"] for e in events), events

    # once more on two, then on one with two's path recorded: one's old worktree is
    # replaced by a fresh one of the branch as two pushed it
    await _write_and_push(task, on_two, "c.txt", "from two again\n")
    task.turns = 4
    moved = _on(on_one, repo_one, on_two.worktree_path)
    await prepare(one, task, moved, "origin")
    assert moved.worktree_path == on_one.worktree_path
    assert (Path(str(moved.worktree_path)) / "c.txt").read_text() == "from two again\n"
