"""Git worktrees for tasks: create, copy untracked config in, commit, diff, merge, remove.

Every git call runs without a shell (argv lists) and off the event loop.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import anyio

from agentdeck.errors import DirtyCheckout, GitError, InvalidInput, InvalidTransition, MergeConflict

GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_EDITOR": "true", "LC_ALL": "C"}
FALLBACK_IDENTITY = ["-c", "user.name=agentdeck", "-c", "user.email=agentdeck@localhost"]


@dataclass(frozen=True)
class DiffStat:
    files: int
    insertions: int
    deletions: int

    def to_dict(self) -> dict[str, int]:
        return {"files": self.files, "insertions": self.insertions, "deletions": self.deletions}


async def git(cwd: Path, *args: str, check: bool = True) -> tuple[int, str, str]:
    """Run ``git args`` in ``cwd``; return (exit code, stdout, stderr)."""
    result = await anyio.run_process(
        ["git", *args], cwd=cwd, check=False, env={**os.environ, **GIT_ENV}
    )
    out = result.stdout.decode(errors="replace")
    err = result.stderr.decode(errors="replace")
    if check and result.returncode != 0:
        raise GitError(f"git {' '.join(args[:3])} failed: {err.strip() or out.strip()}")
    return result.returncode, out, err


async def identity(repo: Path) -> list[str]:
    """``-c`` options naming a committer, only when the repo's config has none."""
    code, _, _ = await git(repo, "config", "user.email", check=False)
    return [] if code == 0 else FALLBACK_IDENTITY


async def repo_root(path: Path) -> Path | None:
    """The top of the git work tree containing ``path`` (None outside git)."""
    if shutil.which("git") is None:
        return None
    code, out, _ = await git(path, "rev-parse", "--show-toplevel", check=False)
    return Path(out.strip()).resolve() if code == 0 and out.strip() else None


async def current_branch(repo: Path) -> str:
    code, out, _ = await git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if code != 0:
        raise InvalidInput(
            f"{repo} is not on a branch (detached HEAD); pass base_branch",
            {"field": "base_branch"},
        )
    return out.strip()


async def branch_exists(repo: Path, branch: str) -> bool:
    code, _, _ = await git(
        repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False
    )
    return code == 0


async def check_branch_name(repo: Path, branch: str) -> None:
    code, _, _ = await git(repo, "check-ref-format", "--branch", branch, check=False)
    if code != 0 or branch.startswith("-"):
        raise InvalidInput(
            f"{branch!r} is not a valid git branch name", {"field": "branch", "branch": branch}
        )


def slug(text: str, limit: int = 40) -> str:
    """``"Add JWT auth!"`` → ``"add-jwt-auth"``."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:limit].rstrip("-") or "task"


async def create_worktree(repo: Path, path: Path, branch: str, base: str) -> None:
    """A new branch ``branch`` from ``base``, checked out at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if await branch_exists(repo, branch):
        await git(repo, "worktree", "add", str(path), branch)
    else:
        await git(repo, "worktree", "add", "-b", branch, str(path), base)


async def rev(repo: Path, ref: str) -> str | None:
    """The sha ``ref`` names (None: no such ref)."""
    code, out, _ = await git(repo, "rev-parse", "--verify", "--quiet", ref, check=False)
    return out.strip() if code == 0 else None


async def has_remote(repo: Path, remote: str) -> bool:
    code, _, _ = await git(repo, "remote", "get-url", "--", remote, check=False)
    return code == 0


async def push_branch(repo: Path, remote: str, branch: str) -> None:
    """Push ``branch`` to the same name on ``remote`` (raises `GitError` when refused)."""
    await git(repo, "push", "--quiet", "--", remote, f"refs/heads/{branch}:refs/heads/{branch}")


async def fetch_branch(repo: Path, remote: str, branch: str) -> bool:
    """Make (or fast-forward) the local ``branch`` from ``remote``'s; False when the
    remote has no such branch, cannot be reached, or the local one has commits it lacks."""
    code, _, _ = await git(
        repo, "fetch", "--quiet", "--", remote, f"refs/heads/{branch}:refs/heads/{branch}",
        check=False,
    )  # fmt: skip
    return code == 0


async def fast_forward(worktree: Path, remote: str, branch: str) -> str | None:
    """Fast-forward the worktree to ``remote``'s ``branch`` when that is ahead; the new
    sha, or None when it is not ahead (or cannot be reached, or would not fast-forward)."""
    code, _, _ = await git(worktree, "fetch", "--quiet", "--", remote, branch, check=False)
    if code != 0:
        return None
    _, head, _ = await git(worktree, "rev-parse", "HEAD")
    _, fetched, _ = await git(worktree, "rev-parse", "FETCH_HEAD")
    if head.strip() == fetched.strip():
        return None
    code, _, _ = await git(worktree, "merge", "--ff-only", "--quiet", "FETCH_HEAD", check=False)
    return fetched.strip() if code == 0 else None


async def worktree_exists(repo: Path, path: Path) -> bool:
    _, out, _ = await git(repo, "worktree", "list", "--porcelain", check=False)
    listed = {
        line.removeprefix("worktree ").strip()
        for line in out.splitlines()
        if line.startswith("worktree ")
    }
    return str(path) in listed and path.is_dir()


def include_patterns(repo: Path, configured: list[str]) -> list[str]:
    """Configured globs plus the lines of the repo's ``.worktreeinclude``, if any."""
    patterns = list(configured)
    include_file = repo / ".worktreeinclude"
    if include_file.is_file():
        for line in include_file.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line.lstrip("/"))
    return patterns


def copy_includes(repo: Path, worktree: Path, patterns: list[str]) -> list[str]:
    """Copy files matching ``patterns`` (relative globs) into the worktree; return them."""
    copied: list[str] = []
    for pattern in patterns:
        for source in sorted(repo.glob(pattern)):
            if not source.is_file() or ".git" in source.relative_to(repo).parts:
                continue
            rel = source.relative_to(repo)
            target = worktree / rel
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            copied.append(rel.as_posix())
    return copied


async def commit_all(worktree: Path, message: str, exclude: list[str]) -> str | None:
    """Commit everything in the worktree except ``exclude``; the new sha, or None."""
    await git(worktree, "add", "-A")
    if exclude:
        await git(worktree, "rm", "--cached", "--ignore-unmatch", "-q", "--", *exclude)
    code, _, _ = await git(worktree, "diff", "--cached", "--quiet", check=False)
    if code == 0:
        return None
    await git(worktree, *await identity(worktree), "commit", "--no-verify", "-q", "-m", message)
    _, sha, _ = await git(worktree, "rev-parse", "HEAD")
    return sha.strip()


async def _merge_base(worktree: Path, base: str) -> str:
    _, out, _ = await git(worktree, "merge-base", base, "HEAD")
    return out.strip()


async def _untracked(worktree: Path, exclude: list[str]) -> list[str]:
    _, out, _ = await git(worktree, "ls-files", "--others", "--exclude-standard")
    return [p for p in out.splitlines() if p and p not in exclude]


async def diff(worktree: Path, base: str, exclude: list[str]) -> str:
    """Unified diff of the task's work against ``base``, uncommitted changes included."""
    start = await _merge_base(worktree, base)
    _, out, _ = await git(worktree, "diff", "--no-color", start)
    parts = [out]
    for path in await _untracked(worktree, exclude):
        _, new, _ = await git(
            worktree, "diff", "--no-color", "--no-index", "--", "/dev/null", path, check=False
        )
        parts.append(new)
    return "".join(parts)


async def diff_stat(worktree: Path, base: str, exclude: list[str]) -> DiffStat:
    start = await _merge_base(worktree, base)
    _, out, _ = await git(worktree, "diff", "--numstat", start)
    files = insertions = deletions = 0
    for line in out.splitlines():
        added, removed, _ = line.split("\t", 2)
        files += 1
        insertions += int(added) if added.isdigit() else 0
        deletions += int(removed) if removed.isdigit() else 0
    for path in await _untracked(worktree, exclude):
        files += 1
        with contextlib.suppress(OSError):
            insertions += len((worktree / path).read_bytes().splitlines())
    return DiffStat(files, insertions, deletions)


async def is_dirty(repo: Path) -> list[str]:
    """Tracked files with uncommitted changes in the main checkout."""
    _, out, _ = await git(repo, "status", "--porcelain", "--untracked-files=no")
    return [line[3:] for line in out.splitlines() if line.strip()]


async def conflicts(repo: Path, base: str, branch: str) -> list[str]:
    """Files that would conflict if ``branch`` were merged into ``base`` (nothing changes)."""
    code, out, _ = await git(
        repo, "merge-tree", "--write-tree", "--name-only", base, branch, check=False
    )
    if code == 0:
        return []
    lines = out.splitlines()
    files: list[str] = []
    for line in lines[1:]:
        if not line.strip():
            break
        files.append(line.strip())
    return files or ["(unknown: git merge-tree reported a conflict)"]


async def merge(
    repo: Path, worktree: Path | None, branch: str, base: str, strategy: str, message: str
) -> str:
    """Merge ``branch`` into ``base`` in the main checkout; return the new HEAD sha.

    Refuses (changing nothing) when the checkout is not on ``base``, has uncommitted
    changes, or the merge would conflict.
    """
    on = await current_branch(repo)
    if on != base:
        raise DirtyCheckout(
            f"the main checkout {repo} is on {on!r}, not the task's base {base!r}; "
            f"switch it to {base!r} first",
            {"checkout_branch": on, "base_branch": base},
        )
    dirty = await is_dirty(repo)
    if dirty:
        raise DirtyCheckout(
            f"the main checkout {repo} has uncommitted changes ({', '.join(dirty[:5])}); "
            "commit or stash them first",
            {"files": dirty},
        )
    _, ahead, _ = await git(repo, "rev-list", "--count", f"{base}..{branch}")
    if int(ahead.strip() or 0) == 0:
        raise InvalidTransition(
            f"{branch} has no changes that {base} lacks; there is nothing to merge",
            {"branch": branch, "base_branch": base},
        )
    conflicting = await conflicts(repo, base, branch)
    if conflicting:
        raise MergeConflict(
            f"merging {branch} into {base} conflicts in {', '.join(conflicting)}; nothing was "
            f'changed. Ask the agent to resolve it: update_task "merge {base} into your branch '
            'and resolve the conflicts"',
            {"conflicting_files": conflicting},
        )
    who = await identity(repo)
    if strategy == "squash":
        await git(repo, "merge", "--squash", branch)
        await git(repo, *who, "commit", "--no-verify", "-q", "-m", message)
    elif strategy == "rebase":
        if worktree is None or not worktree.is_dir():
            raise GitError("rebase needs the task's worktree; use strategy merge or squash")
        code, _, err = await git(worktree, *who, "rebase", "--quiet", base, check=False)
        if code != 0:
            await git(worktree, "rebase", "--abort", check=False)
            raise MergeConflict(f"rebasing {branch} onto {base} failed: {err.strip()}")
        await git(repo, "merge", "--ff-only", "--quiet", branch)
    else:
        await git(repo, *who, "merge", "--no-ff", "--no-edit", "-q", "-m", message, branch)
    _, sha, _ = await git(repo, "rev-parse", "HEAD")
    return sha.strip()


async def remove_worktree(repo: Path, path: Path) -> None:
    if await worktree_exists(repo, path):
        await git(repo, "worktree", "remove", "--force", str(path))
    await git(repo, "worktree", "prune", check=False)


async def delete_branch(repo: Path, branch: str) -> None:
    if await branch_exists(repo, branch):
        await git(repo, "branch", "-D", branch)


async def is_merged(repo: Path, branch: str, base: str) -> bool:
    """Whether every commit of ``branch`` is already in ``base``."""
    if not await branch_exists(repo, branch):
        return True
    code, _, _ = await git(repo, "merge-base", "--is-ancestor", branch, base, check=False)
    return code == 0
