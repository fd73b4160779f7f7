"""A code review sent to the agent: comments anchored to lines of the task's files, turned
into one structured follow-up for the same conversation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentdeck.core.requests import Review, ReviewComment
from agentdeck.errors import InvalidInput
from agentdeck.model import Task

MAX_FILE_BYTES = 2_000_000  # larger files are not read to place a comment


@dataclass(frozen=True)
class PlacedComment:
    """A comment and where its line is now: ``moved`` when the line's text has changed,
    ``now_at`` where the same text is found (None: nowhere)."""

    file: str
    line: int
    comment: str
    snippet: str
    moved: bool
    now_at: int | None


def workspace_of(task: Task) -> Path:
    """The directory the diff's paths are relative to: the worktree, else the task's cwd."""
    git = task.git
    if git is not None and git.worktree_path and Path(git.worktree_path).is_dir():
        return Path(git.worktree_path)
    return Path(task.cwd)


def place(root: Path, comment: ReviewComment) -> PlacedComment:
    """Find the comment's line in the file as it is now."""
    path = (root / comment.file).resolve()
    if not path.is_relative_to(root.resolve()):
        raise InvalidInput(
            f"file {comment.file!r} is outside the task's workspace", {"field": "file"}
        )
    lines = _lines(path)
    current = lines[comment.line - 1] if comment.line <= len(lines) else None
    snippet = comment.snippet if comment.snippet is not None else (current or "")
    if current is not None and current.strip() == snippet.strip():
        return PlacedComment(
            comment.file, comment.line, comment.comment, snippet, False, comment.line
        )
    return PlacedComment(
        comment.file,
        comment.line,
        comment.comment,
        snippet,
        True,
        _nearest(lines, snippet, comment.line),
    )


def instructions(review: Review, placed: list[PlacedComment]) -> str:
    """The follow-up the agent receives: every comment with its file, line and code."""
    count = len(placed)
    parts = [
        f"Code review of your changes: {count} comment{'s' if count != 1 else ''}. "
        "Address each one, then say what you changed."
    ]
    if review.message.strip():
        parts.append(review.message.strip())
    for n, c in enumerate(placed, 1):
        where = f"{c.file}, line {c.line}"
        if c.moved:
            where += (
                f" (the line has moved since: now line {c.now_at})"
                if c.now_at is not None
                else " (the line has changed since the comment was written)"
            )
        parts.append(f"{n}. {where}:\n```\n{c.snippet}\n```\n{c.comment}")
    return "\n\n".join(parts)


def _lines(path: Path) -> list[str]:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            return []
        return path.read_text(errors="replace").splitlines()
    except OSError:  # deleted since, or not a file
        return []


def _nearest(lines: list[str], snippet: str, line: int) -> int | None:
    wanted = snippet.strip()
    if not wanted:
        return None
    found = [i + 1 for i, text in enumerate(lines) if text.strip() == wanted]
    return min(found, key=lambda n: abs(n - line)) if found else None
