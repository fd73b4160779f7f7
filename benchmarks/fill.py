"""Fill an agentdeck state directly through the store, before a server is started on it.

The events look like a real Claude turn: ``turn_started``, ``session``, then units of
assistant ``message`` / ``tool_call`` / ``tool_result`` (a Bash command or a file
write), ``usage`` and ``turn_finished``; the store's counters are kept as it appends.
"""

from __future__ import annotations

from pathlib import Path

from agentdeck.model import EventKind, NewEvent, Task, TaskStatus, new_task_id, now
from agentdeck.store import SqliteStore

BATCH = 2_000  # events per append transaction (the runner's batch size)


def make_task(project: Path, title: str, status: TaskStatus = TaskStatus.WAITING) -> Task:
    stamp = now()
    return Task(
        id=new_task_id(),
        title=title,
        status=status,
        agent="claude",
        project_path=str(project),
        cwd=str(project),
        created_at=stamp,
        updated_at=stamp,
        started_at=stamp,
        session_id=f"s-{title.replace(' ', '-')}",
        turns=1,
        num_turns=1,
        cost_usd=0.01,
        input_tokens=100,
        output_tokens=50,
        result_text="Done.",
    )


def turn_events(n: int, turn: int = 1) -> list[NewEvent]:
    """About ``n`` events of one turn (at least the frame: started, session, usage, finished)."""
    events = [
        NewEvent(
            EventKind.TURN_STARTED,
            {"instructions": "bench", "agent": "claude", "argv": ["claude"], "pid": 1},
            turn,
        ),
        NewEvent(EventKind.SESSION, {"session_id": "s-bench", "model": "m", "tools": []}, turn),
    ]
    i = 0
    while len(events) < n - 2:
        i += 1
        events.append(
            NewEvent(EventKind.MESSAGE, {"role": "assistant", "text": f"step {i}: working"}, turn)
        )
        if i % 2:
            name, tool_input = "Bash", {"command": f"ls -la src/pkg{i % 50}"}
        else:
            name, tool_input = "Write", {"file_path": f"src/mod{i % 200}.py", "content": "x = 1\n"}
        call_id = f"toolu_{i:08d}"
        events.append(
            NewEvent(EventKind.TOOL_CALL, {"id": call_id, "name": name, "input": tool_input}, turn)
        )
        events.append(
            NewEvent(
                EventKind.TOOL_RESULT,
                {
                    "id": call_id,
                    "output": "ok\n" * 5,
                    "size": 15,
                    "truncated": False,
                    "is_error": False,
                },
                turn,
            )
        )
    events.append(
        NewEvent(
            EventKind.USAGE, {"input_tokens": 100, "output_tokens": 50, "cost_usd": 0.01}, turn
        )
    )
    events.append(
        NewEvent(
            EventKind.TURN_FINISHED,
            {
                "success": True,
                "result_text": "Done.",
                "num_turns": 1,
                "duration_ms": 1000,
                "cost_usd": 0.01,
                "exit_code": 0,
            },
            turn,
        )
    )
    return events


async def fill(db_path: Path, project: Path, tasks: int, events_each: int) -> list[str]:
    """``tasks`` waiting tasks of about ``events_each`` events each; their ids, oldest first."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(db_path)
    ids: list[str] = []
    try:
        for i in range(tasks):
            task = make_task(project, f"Task {i}")
            events = turn_events(events_each)
            await store.insert_task(task, events[:BATCH])
            for start in range(BATCH, len(events), BATCH):
                await store.append(task.id, events[start : start + BATCH])
            ids.append(task.id)
    finally:
        store.close()
    return ids
