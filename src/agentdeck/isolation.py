"""Per-task git isolation: plan the branch at create time, prepare the worktree before the
first turn, commit after every turn, then diff, merge or discard."""

from __future__ import annotations

import os
import subprocess
import tomllib
from dataclasses import dataclass
from hashlib import sha1
from pathlib import Path

import anyio

from agentdeck import workspace
from agentdeck.config import ProjectSettings, Settings
from agentdeck.errors import ConfigError, InvalidInput, InvalidTransition
from agentdeck.model import EventKind, NewEvent, Task
from agentdeck.proctree import MARKER_VAR, kill_tree

SETUP_OUTPUT_LIMIT = 20_000
REPO_SETTINGS_FILE = ".agentdeck.toml"
STRATEGIES = ("merge", "squash", "rebase")


class SetupFailed(Exception):
    """The project's setup command failed; the message carries its output."""


def project_settings(settings: Settings, repo: Path) -> ProjectSettings:
    """``[projects."<repo>"]`` from config, overlaid by the repo's ``.agentdeck.toml``."""
    data: dict[str, object] = {}
    configured = settings.projects.get(str(repo))
    if configured is not None:
        data.update(configured.model_dump(exclude_unset=True))
    repo_file = repo / REPO_SETTINGS_FILE
    if repo_file.is_file():
        try:
            data.update(tomllib.loads(repo_file.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{repo_file}: not valid TOML: {exc}") from exc
    try:
        return ProjectSettings.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"project settings for {repo}: {exc}") from exc


@dataclass(frozen=True)
class Plan:
    """Where a worktree task will run."""

    repo: Path
    subdir: str
    branch: str
    base: str
    worktree: Path

    @property
    def cwd(self) -> Path:
        return self.worktree / self.subdir if self.subdir else self.worktree


def worktree_dir(settings: Settings, repo: Path, task_id: str) -> Path:
    tag = sha1(str(repo).encode(), usedforsecurity=False).hexdigest()[:8]
    return settings.home / "worktrees" / f"{repo.name}-{tag}" / task_id


async def plan(
    settings: Settings,
    project: Path,
    task_id: str,
    title: str,
    isolation: str | None,
    branch: str | None,
    base_branch: str | None,
) -> Plan | None:
    """Validate the git options of a new task; None when it runs in place."""
    if isolation not in (None, "worktree", "none"):
        raise InvalidInput(
            f"isolation must be 'worktree' or 'none', not {isolation!r}", {"field": "isolation"}
        )
    repo = await workspace.repo_root(project)
    if repo is None:
        if isolation == "worktree" or branch or base_branch:
            raise InvalidInput(
                f"{project} is not inside a git repository, so it cannot get a worktree or "
                "branch; omit isolation/branch/base_branch to run in place",
                {"field": "isolation"},
            )
        return None
    choice = isolation or project_settings(settings, repo).isolation
    if choice == "none":
        if branch or base_branch:
            raise InvalidInput(
                "branch and base_branch need isolation 'worktree'", {"field": "branch"}
            )
        return None
    base = base_branch or await workspace.current_branch(repo)
    if not await workspace.branch_exists(repo, base):
        raise InvalidInput(
            f"base branch {base!r} does not exist in {repo}",
            {"field": "base_branch", "base_branch": base},
        )
    name = branch or f"agentdeck/{task_id.removeprefix('t-')[:6]}-{workspace.slug(title)}"
    await workspace.check_branch_name(repo, name)
    if await workspace.branch_exists(repo, name):
        raise InvalidInput(
            f"branch {name!r} already exists in {repo}; choose another name",
            {"field": "branch", "branch": name},
        )
    subdir = project.relative_to(repo).as_posix() if project != repo else ""
    return Plan(repo, subdir, name, base, worktree_dir(settings, repo, task_id))


def _output_event(turn: int, text: str, **data: object) -> NewEvent:
    tail = text[-SETUP_OUTPUT_LIMIT:]
    return NewEvent(EventKind.LOG, {"source": "setup", "text": tail, **data}, turn)


async def prepare(settings: Settings, task: Task) -> list[NewEvent]:
    """Create the worktree if it is missing; on creation copy files in and run setup.

    Returns the events to record; raises `SetupFailed` when setup fails.
    """
    assert task.repo_path and task.worktree_path and task.branch and task.base_branch
    repo, worktree = Path(task.repo_path), Path(task.worktree_path)
    if await workspace.worktree_exists(repo, worktree):
        return []
    events: list[NewEvent] = []
    await workspace.create_worktree(repo, worktree, task.branch, task.base_branch)
    events.append(
        NewEvent(
            EventKind.LOG,
            {
                "source": "worktree",
                "text": f"worktree {worktree} on branch {task.branch} (from {task.base_branch})",
                "branch": task.branch,
                "path": str(worktree),
            },
            task.turns,
        )
    )
    options = project_settings(settings, repo)
    patterns = workspace.include_patterns(repo, options.copy_files)
    copied = await anyio.to_thread.run_sync(workspace.copy_includes, repo, worktree, patterns)
    task.copied_files = sorted(set(task.copied_files) | set(copied))
    if copied:
        events.append(
            NewEvent(
                EventKind.LOG,
                {"source": "worktree", "text": f"copied {', '.join(copied)}", "copied": copied},
                task.turns,
            )
        )
    if options.setup:
        events.append(await _run_setup(task, worktree, options))
    return events


async def _run_setup(task: Task, worktree: Path, options: ProjectSettings) -> NewEvent:
    command = options.setup
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command or [])
    env = {**os.environ, MARKER_VAR: task.id}
    result = None
    with anyio.move_on_after(options.setup_timeout_seconds):
        try:
            result = await anyio.run_process(
                argv, cwd=worktree, env=env, check=False, stderr=subprocess.STDOUT
            )
        except OSError as exc:
            raise SetupFailed(f"setup command {argv!r} could not start: {exc}") from exc
    if result is None:
        await kill_tree(None, marker=task.id)
        raise SetupFailed(f"setup timed out after {options.setup_timeout_seconds:g} s")
    output = result.stdout.decode(errors="replace")
    if result.returncode != 0:
        raise SetupFailed(f"setup exited with {result.returncode}: {output[-2000:].strip()}")
    return _output_event(task.turns, output, exit_code=0, command=argv)


async def after_turn(task: Task) -> list[NewEvent]:
    """Commit the agent's work on the task branch and refresh the diff summary."""
    if not task.worktree_path or not Path(task.worktree_path).is_dir():
        return []
    worktree = Path(task.worktree_path)
    events: list[NewEvent] = []
    sha = await workspace.commit_all(
        worktree,
        f"{task.title} (agentdeck task {task.id}, turn {task.turns})",
        task.copied_files,
    )
    if sha:
        events.append(
            NewEvent(
                EventKind.LOG,
                {
                    "source": "worktree",
                    "commit": sha,
                    "text": f"committed {sha[:10]} on {task.branch}",
                },
                task.turns,
            )
        )
    await refresh_diff(task)
    return events


async def refresh_diff(task: Task) -> None:
    if not task.worktree_path or not task.base_branch:
        return
    stat = await workspace.diff_stat(Path(task.worktree_path), task.base_branch, task.copied_files)
    task.diff_files, task.diff_insertions, task.diff_deletions = (
        stat.files,
        stat.insertions,
        stat.deletions,
    )


async def diff(task: Task) -> str:
    if task.isolation != "worktree" or not task.base_branch:
        raise InvalidTransition(
            f"task {task.id} runs in place; it has no branch to diff", {"id": task.id}
        )
    if not task.worktree_path or not Path(task.worktree_path).is_dir():
        assert task.repo_path and task.branch
        _, out, _ = await workspace.git(
            Path(task.repo_path), "diff", "--no-color", f"{task.base_branch}...{task.branch}"
        )
        return out
    return await workspace.diff(Path(task.worktree_path), task.base_branch, task.copied_files)


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise InvalidInput(
            f"strategy must be one of {', '.join(STRATEGIES)}",
            {"field": "strategy", "accepted": list(STRATEGIES)},
        )
    return strategy


async def merge(task: Task, strategy: str) -> str:
    assert task.repo_path and task.branch and task.base_branch
    worktree = Path(task.worktree_path) if task.worktree_path else None
    return await workspace.merge(
        Path(task.repo_path),
        worktree,
        task.branch,
        task.base_branch,
        strategy,
        f"Merge agentdeck task {task.id}: {task.title}",
    )


async def remove(task: Task, *, delete_branch: bool) -> None:
    assert task.repo_path
    repo = Path(task.repo_path)
    if task.worktree_path:
        await workspace.remove_worktree(repo, Path(task.worktree_path))
    if delete_branch and task.branch:
        await workspace.delete_branch(repo, task.branch)


async def has_unmerged_work(task: Task) -> bool:
    if task.isolation != "worktree" or task.merged_at or not task.repo_path or not task.branch:
        return False
    if not task.base_branch:
        return False
    return not await workspace.is_merged(Path(task.repo_path), task.branch, task.base_branch)
