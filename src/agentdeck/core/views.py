"""How events read: one log line per event, durations, the kinds that make the log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agentdeck import model
from agentdeck.model import Event, EventKind, Task, now


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
        return f"{'notice' if data.get('notice') else 'stderr'}: {data.get('line', '')}"
    if kind == EventKind.LOG:
        return f"agentdeck: {data.get('text') or data}"
    if kind == EventKind.GATE:
        verdict = "passed" if data.get("passed") else "failed"
        detail = data.get("error") or f"exit {data.get('exit_code')}"
        return f"acceptance check {verdict} ({detail}): {' '.join(data.get('command') or [])}"
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


LOG_KINDS = tuple(sorted(model.LOG_KINDS))
