"""Per-task git isolation: plan the branch at create time, prepare the worktree before the
first turn, commit after every turn, then diff, merge or discard."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from hashlib import sha1
from pathlib import Path

import anyio

from agentdeck import cgroup
from agentdeck.config import ProjectSettings, Settings
from agentdeck.core import workspace
from agentdeck.errors import ConfigError, InvalidInput, InvalidTransition, SetupFailed
from agentdeck.model import EventKind, GitBranch, NewEvent, Task
from agentdeck.proctree import MARKER_VAR, kill_tree
from agentdeck.redact import redact_all

SETUP_OUTPUT_LIMIT = 20_000
REPO_SETTINGS_FILE = ".agentdeck.toml"


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

    def branch_group(self) -> GitBranch:
        return GitBranch(
            repo_path=str(self.repo),
            branch=self.branch,
            base_branch=self.base,
            worktree_path=str(self.worktree),
            subdir=self.subdir,
        )


def worktree_dir(settings: Settings, repo: Path, task_id: str) -> Path:
    tag = sha1(str(repo).encode(), usedforsecurity=False).hexdigest()[:8]
    return settings.home / "worktrees" / f"{repo.name}-{tag}" / task_id


def git_missing(project: Path) -> str | None:
    """A warning when ``project`` is in a git repository but no ``git`` is on PATH (the task
    then runs in place, without a branch of its own); None otherwise."""
    if shutil.which("git") is not None:
        return None
    if not any((p / ".git").exists() for p in (project, *project.parents)):
        return None
    return (
        f"{project} is a git project but git is not on PATH: the task runs in place, "
        "without a branch or worktree of its own (install git to isolate tasks)"
    )


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
            why = "git is not on PATH" if git_missing(project) else "it is not in a git repository"
            raise InvalidInput(
                f"{project} cannot get a worktree or branch: {why}; omit "
                "isolation/branch/base_branch to run in place",
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


def _worktree_event(turn: int, text: str, **data: object) -> NewEvent:
    return NewEvent(EventKind.LOG, {"source": "worktree", "text": text, **data}, turn)


async def _catch_up(
    worktree: Path, git: GitBranch, remote: str | None, turn: int
) -> list[NewEvent]:
    """Fast-forward an existing worktree to ``remote``'s branch (the task went on
    elsewhere since it was here)."""
    if not remote or not await workspace.has_remote(worktree, remote):
        return []
    sha = await workspace.fast_forward(worktree, remote, git.branch)
    if sha is None:
        return []
    text = f"brought up to {remote}'s {git.branch} ({sha[:10]}): the task went on elsewhere"
    return [_worktree_event(turn, text, commit=sha, remote=remote)]


def _output_event(turn: int, text: str, **data: object) -> NewEvent:
    tail = text[-SETUP_OUTPUT_LIMIT:]
    return NewEvent(EventKind.LOG, {"source": "setup", "text": tail, **data}, turn)


async def prepare(
    settings: Settings, task: Task, git: GitBranch, remote: str | None = None
) -> list[NewEvent]:
    """Create the worktree if it is missing; on creation copy files in and run setup.

    ``git`` (the task's group) gets the worktree path and copied files. A recorded path
    that is no worktree of this checkout (the task ran on another machine) is replaced by
    this machine's. With ``remote`` (on a worker: ``git_remote``), the branch is first
    brought up to ``remote``'s, which the last worker pushed. Returns the events to
    record; raises `SetupFailed` when setup fails.
    """
    repo = Path(git.repo_path)
    if git.worktree_path and await workspace.worktree_exists(repo, Path(git.worktree_path)):
        return await _catch_up(Path(git.worktree_path), git, remote, task.turns)
    worktree = worktree_dir(settings, repo, task.id)
    events: list[NewEvent] = []
    if remote and await workspace.has_remote(repo, remote):
        await workspace.remove_worktree(repo, worktree)  # left by an earlier visit
        if await workspace.fetch_branch(repo, remote, git.branch):
            text = f"branch {git.branch} taken from {remote}, as its last turn left it"
            events.append(_worktree_event(task.turns, text, remote=remote))
    await workspace.create_worktree(repo, worktree, git.branch, git.base_branch)
    git.worktree_path = str(worktree)
    text = f"worktree {worktree} on branch {git.branch} (from {git.base_branch})"
    events.append(_worktree_event(task.turns, text, branch=git.branch, path=str(worktree)))
    options = project_settings(settings, repo)
    patterns = workspace.include_patterns(repo, options.copy_files)
    copied = await anyio.to_thread.run_sync(workspace.copy_includes, repo, worktree, patterns)
    git.copied_files = sorted(set(git.copied_files) | set(copied))
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
            launcher = await anyio.to_thread.run_sync(cgroup.launcher, task.id)
            result = await anyio.run_process(
                [*launcher, *argv], cwd=worktree, env=env, check=False, stderr=subprocess.STDOUT
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


SUBJECT_LENGTH = 72


def commit_message(task: Task, instructions: str | None) -> str:
    """The turn's commit message: the title for the first turn (or without instructions),
    then the first line of that turn's instructions (secrets masked); the task and turn
    in the body."""
    subject = task.title
    if task.turns > 1 and instructions:
        lines = [ln.strip() for ln in redact_all(instructions).splitlines() if ln.strip()]
        subject = lines[0] if lines else task.title
    if len(subject) > SUBJECT_LENGTH:
        subject = subject[: SUBJECT_LENGTH - 1] + "…"
    return f"{subject}\n\nagentdeck task {task.id}, turn {task.turns}"


async def after_turn(task: Task, git: GitBranch, instructions: str | None = None) -> list[NewEvent]:
    """Commit the agent's work on the task branch and refresh the diff summary in ``git``."""
    if not git.worktree_path or not Path(git.worktree_path).is_dir():
        return []
    worktree = Path(git.worktree_path)
    events: list[NewEvent] = []
    sha = await workspace.commit_all(worktree, commit_message(task, instructions), git.copied_files)
    if sha:
        events.append(
            NewEvent(
                EventKind.LOG,
                {
                    "source": "worktree",
                    "commit": sha,
                    "text": f"committed {sha[:10]} on {git.branch}",
                },
                task.turns,
            )
        )
    stat = await workspace.diff_stat(worktree, git.base_branch, git.copied_files)
    git.diff_files, git.diff_insertions, git.diff_deletions = (
        stat.files,
        stat.insertions,
        stat.deletions,
    )
    return events


def branch_of(task: Task) -> GitBranch:
    """The task's git group, or `InvalidTransition` when it runs in place."""
    if task.git is None:
        raise InvalidTransition(
            f"task {task.id} ran in place (no branch of its own); there is no branch, "
            "diff or worktree to work on",
            {"id": task.id},
        )
    return task.git


async def diff(task: Task) -> str:
    """The task branch's unified diff against its base, uncommitted work included."""
    git = branch_of(task)
    if not git.worktree_path or not Path(git.worktree_path).is_dir():
        _, out, _ = await workspace.git(
            Path(git.repo_path), "diff", "--no-color", f"{git.base_branch}...{git.branch}"
        )
        return out
    return await workspace.diff(Path(git.worktree_path), git.base_branch, git.copied_files)


async def merge(task: Task, git: GitBranch, strategy: str) -> str:
    """Merge the branch into its base in the main checkout; the merge commit's sha."""
    worktree = Path(git.worktree_path) if git.worktree_path else None
    return await workspace.merge(
        Path(git.repo_path),
        worktree,
        git.branch,
        git.base_branch,
        strategy,
        f"Merge agentdeck task {task.id}: {task.title}",
    )


async def remove(git: GitBranch, *, delete_branch: bool) -> None:
    """Remove the worktree (and the branch, with ``delete_branch``)."""
    repo = Path(git.repo_path)
    if git.worktree_path:
        await workspace.remove_worktree(repo, Path(git.worktree_path))
        git.worktree_path = None
    if delete_branch:
        await workspace.delete_branch(repo, git.branch)


async def has_unmerged_work(task: Task) -> bool:
    git = task.git
    if git is None or git.merged_at:
        return False
    return not await workspace.is_merged(Path(git.repo_path), git.branch, git.base_branch)
