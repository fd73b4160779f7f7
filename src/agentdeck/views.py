"""Read-only views of tasks for every face (MCP, CLI, REST): computed from events, never stored."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentdeck.model import Event, EventKind, Task, now
from agentdeck.store import Store

# Tool names of Claude Code, Codex and Gemini CLI that change files / run commands.
FILE_TOOLS = {"Write", "Edit", "MultiEdit", "NotebookEdit", "write_file", "replace", "apply_patch"}
COMMAND_TOOLS = {"Bash", "shell", "run_shell_command"}


def human_duration(seconds: float) -> str:
    """``3723`` → ``"1h 2m 3s"``."""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    if hours or minutes:
        parts.append(f"{minutes}m")
    parts.append(f"{secs}s")
    return " ".join(parts)


def duration_seconds(task: Task) -> float:
    """Wall-clock time from creation to end (or to now while the task lives)."""
    end = task.ended_at or now()
    return max(0.0, (end - task.created_at).total_seconds())


def summary(task: Task) -> dict[str, Any]:
    """The short form used in lists."""
    return {
        "id": task.id,
        "description": task.title,
        "title": task.title,
        "status": str(task.status),
        "tool": task.agent,
        "agent": task.agent,
        "created_at": task.created_at.isoformat(),
        "updated_at": task.updated_at.isoformat(),
        "cost_usd": task.cost_usd,
        "branch": task.branch,
        "diff": f"+{task.diff_insertions} -{task.diff_deletions} in {task.diff_files} files"
        if task.isolation == "worktree"
        else None,
    }


def log_line(event: Event) -> str | None:
    """One human-readable line for an event (``None`` for events not worth a line)."""
    data = event.data
    kind = event.kind
    if kind == EventKind.STATUS:
        return f"status: {data.get('from') or '-'} -> {data.get('to')} ({data.get('reason', '')})"
    if kind == EventKind.TURN_STARTED:
        return f"turn {event.turn} started: {data.get('instructions', '')}"
    if kind == EventKind.SESSION:
        return f"agent session {data.get('session_id')} (model {data.get('model')})"
    if kind == EventKind.MESSAGE:
        return f"{data.get('role', 'assistant')}: {data.get('text', '')}"
    if kind == EventKind.TOOL_CALL:
        return f"tool {data.get('name')}: {_brief_input(data.get('input'))}"
    if kind == EventKind.TOOL_RESULT:
        mark = "error" if data.get("is_error") else "result"
        return f"tool {mark}: {_first_line(str(data.get('output', '')))}"
    if kind == EventKind.TURN_FINISHED:
        if data.get("success"):
            return f"turn {event.turn} finished: {data.get('result_text') or ''}"
        return f"turn {event.turn} failed: {data.get('error') or ''}"
    if kind == EventKind.STDERR:
        return f"stderr: {data.get('line', '')}"
    if kind == EventKind.LOG:
        return f"agentdeck: {data.get('text') or data}"
    if kind == EventKind.PERMISSION_REQUEST:
        return f"needs your decision: {data.get('summary') or data.get('tool')}"
    return None


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _brief_input(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("command", "file_path", "path", "pattern", "url"):
            if key in value:
                return str(value[key])
    return _first_line(str(value))


def log_text(events: Sequence[Event]) -> str:
    """The task's log as plain text, one timestamped line per event."""
    lines = []
    for event in events:
        line = log_line(event)
        if line is not None:
            lines.append(f"[{event.ts.strftime('%Y-%m-%d %H:%M:%S')}] {line}")
    return "\n".join(lines) + ("\n" if lines else "")


LOG_KINDS = tuple(str(k) for k in EventKind if k != EventKind.USAGE)
TOOL_KINDS = (str(EventKind.TOOL_CALL), str(EventKind.TOOL_RESULT))
RECENT_LOGS = 200


def detail(
    task: Task, tool_events: Sequence[Event], recent: Sequence[Event], logs_count: int
) -> dict[str, Any]:
    """The whole task as the old contract's ``task://{id}`` shows it, plus our fields.

    ``tool_events`` are all its tool calls and results; ``recent`` its newest log
    events (the full log is ``task://{id}/logs``); ``logs_count`` how many there are.
    """
    tool_calls = [e for e in tool_events if e.kind == EventKind.TOOL_CALL]
    results = {e.data.get("id"): e.data for e in tool_events if e.kind == EventKind.TOOL_RESULT}
    invocations = []
    files: list[str] = []
    commands = []
    for call in tool_calls:
        data = call.data
        name = data.get("name")
        tool_input = data.get("input") or {}
        result = results.get(data.get("id"))
        invocations.append(
            {
                "id": data.get("id"),
                "tool": name,
                "input": tool_input,
                "turn": call.turn,
                "timestamp": call.ts.isoformat(),
                "is_error": bool(result and result.get("is_error")),
                "output": result.get("output") if result else None,
            }
        )
        if name in FILE_TOOLS and isinstance(tool_input, dict):
            path = tool_input.get("file_path") or tool_input.get("notebook_path")
            if path and path not in files:
                files.append(path)
        if name in COMMAND_TOOLS and isinstance(tool_input, dict):
            commands.append(
                {
                    "command": tool_input.get("command"),
                    "timestamp": call.ts.isoformat(),
                    "is_error": bool(result and result.get("is_error")),
                    "output": result.get("output") if result else None,
                }
            )
    logs = [
        {"seq": e.seq, "timestamp": e.ts.isoformat(), "turn": e.turn, "kind": e.kind, "text": line}
        for e in recent
        if (line := log_line(e)) is not None
    ]
    out = task.to_dict()
    out.update(
        {
            "description": task.title,
            "tool": task.agent,
            "queued_instructions": len(task.queue),
            "duration_seconds": round(duration_seconds(task), 3),
            "duration_human": human_duration(duration_seconds(task)),
            **git_summary(task),
            "logs": logs,
            "logs_count": logs_count,
            "tool_invocations": invocations,
            "files_affected": files,
            "commands_executed": commands,
            "tokens": {
                "input": task.input_tokens,
                "output": task.output_tokens,
                "cache_read": task.cache_read_tokens,
                "cache_creation": task.cache_creation_tokens,
            },
        }
    )
    out.pop("queue", None)
    return out


def git_summary(task: Task) -> dict[str, Any]:
    """The task's branch, worktree and diff size (``git: null`` when it runs in place)."""
    if task.isolation != "worktree":
        return {"git": None}
    return {
        "git": {
            "branch": task.branch,
            "base_branch": task.base_branch,
            "worktree_path": task.worktree_path,
            "repo_path": task.repo_path,
            "diff": {
                "files": task.diff_files,
                "insertions": task.diff_insertions,
                "deletions": task.diff_deletions,
            },
            "merged": task.merged_at is not None,
            "merged_at": task.merged_at.isoformat() if task.merged_at else None,
            "merge_commit": task.merge_commit,
        }
    }


def result_document(task: Task) -> dict[str, Any]:
    """``task://{id}/result``: how the task ended (or stands)."""
    return {
        "id": task.id,
        "status": str(task.status),
        "result": task.result_text,
        "error": task.error,
        "session_id": task.session_id,
        "turns": task.turns,
        "num_turns": task.num_turns,
        "cost_usd": task.cost_usd,
        "tokens": {"input": task.input_tokens, "output": task.output_tokens},
        "duration_ms": task.duration_ms,
        "ended_at": task.ended_at.isoformat() if task.ended_at else None,
    }


async def load_detail(store: Store, task: Task) -> dict[str, Any]:
    """`detail` with its events read from the store."""
    tool_events = await store.events(task.id, kinds=TOOL_KINDS)
    recent = await store.last_events(task.id, RECENT_LOGS, LOG_KINDS)
    logs_count = await store.count_events(task.id, LOG_KINDS)
    return detail(task, tool_events, recent, logs_count)
