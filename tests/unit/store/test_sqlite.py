"""The SQLite store: gap-free seq, faithful round trip, append-only writes, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentdeck.model import NewEvent, Task, TaskStatus, now
from agentdeck.store import SCHEMA_VERSION, SqliteStore

pytestmark = pytest.mark.anyio


def _task(task_id: str = "t-1") -> Task:
    stamp = now()
    return Task(
        id=task_id,
        title="t",
        status=TaskStatus.PENDING,
        agent="claude",
        project_path="/p",
        cwd="/p",
        created_at=stamp,
        updated_at=stamp,
    )


async def test_events_round_trip_with_gap_free_seq(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.insert_task(_task())
    data = [{"text": 'héllo ✓ "quoted" \\ back'}, {"nested": {"a": [1, 2.5, None, True]}}, {}]
    assert await store.append("t-1", [NewEvent("message", d, turn=2) for d in data]) == 3
    assert await store.append("t-1", [NewEvent("log", {"n": 4})]) == 4
    events = await store.events("t-1")
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [e.data for e in events] == [*data, {"n": 4}]
    assert events[0].turn == 2 and events[0].kind == "message"
    assert [e.seq for e in await store.events("t-1", after_seq=2)] == [3, 4]
    store.close()


async def test_appending_never_rewrites_earlier_rows(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = SqliteStore(path)
    await store.insert_task(_task())
    await store.append("t-1", [NewEvent("log", {"i": i}) for i in range(100)])
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE changed (seq INTEGER)")
        db.execute(
            "CREATE TRIGGER no_rewrite BEFORE UPDATE ON events BEGIN"
            " INSERT INTO changed VALUES (old.seq); END"
        )
    await store.append("t-1", [NewEvent("log", {"i": i}) for i in range(100, 200)])
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM changed").fetchone()[0] == 0
    assert await store.count_events("t-1") == 200
    store.close()


async def test_append_to_missing_task_is_refused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    with pytest.raises(KeyError):
        await store.append("t-none", [NewEvent("log", {})])
    store.close()


async def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    SqliteStore(path).close()
    again = SqliteStore(path)
    assert again.schema_version == SCHEMA_VERSION
    again.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer than this agentdeck"):
        SqliteStore(path)


def _call(name: str, **tool_input: object) -> NewEvent:
    return NewEvent(
        "tool_call", {"id": f"c-{name}-{len(tool_input)}", "name": name, "input": tool_input}
    )


TALLIED = [
    NewEvent("message", {"text": "hi"}),
    NewEvent("usage", {"input_tokens": 1}),
    _call("Bash", command="ls"),
    _call("Edit", file_path="/p/a.py"),
    _call("Write", file_path="/p/b.py"),
    _call("Edit", file_path="/p/a.py"),
    NewEvent("tool_result", {"id": "c-Bash-1", "output": "a.py"}),
]


async def test_tally_is_kept_as_events_are_appended(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.insert_task(_task())
    await store.append("t-1", TALLIED[:4])
    await store.append("t-1", TALLIED[4:])
    tally = await store.tally("t-1")
    assert (tally.log_events, tally.tool_calls, tally.commands) == (6, 4, 1)
    assert tally.files == ["/p/a.py", "/p/b.py"]
    assert tally.log_events == await store.count_events("t-1") - 1  # all but the usage
    stats = await store.statistics()
    assert (stats["total_events"], stats["total_log_events"]) == (7, 6)
    store.close()


async def test_migration_tallies_the_events_already_stored(tmp_path: Path) -> None:
    """A database from before the tally (schema 4) gets its counters computed on upgrade."""
    from agentdeck.store.sqlite import _MIGRATIONS

    path = tmp_path / "db.sqlite"
    store = SqliteStore(path)
    await store.insert_task(_task())
    await store.append("t-1", TALLIED)
    store.close()
    with sqlite3.connect(path) as db:  # back to schema 4: the counters were never kept
        db.execute("UPDATE tasks SET log_events = 0, tool_calls = 0, commands = 0")
        db.execute("UPDATE tasks SET files_affected = '[]'")
        db.execute("DROP INDEX events_tools")
        for trigger in ("insert", "delete", "update"):
            db.execute(f"DROP TRIGGER task_totals_{trigger}")
        db.execute("DROP TABLE task_totals")
        for column in ("log_events", "tool_calls", "commands", "files_affected"):
            db.execute(f"ALTER TABLE tasks DROP COLUMN {column}")
        _drop_recovery_columns(db)
        _drop_event_cursor(db)
        db.execute("PRAGMA user_version = 4")
    assert max(_MIGRATIONS) == 9
    store = SqliteStore(path)
    tally = await store.tally("t-1")
    assert (tally.log_events, tally.tool_calls, tally.commands) == (6, 4, 1)
    assert tally.files == ["/p/a.py", "/p/b.py"]
    store.close()


async def test_a_snapshot_pairs_the_newest_tool_calls_with_their_results(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    await store.insert_task(_task())
    for i in range(30):
        await store.append(
            "t-1",
            [
                NewEvent("message", {"text": f"m{i}"}),
                NewEvent("tool_call", {"id": f"c{i}", "name": "Read", "input": {}}),
                NewEvent("tool_result", {"id": f"c{i}", "output": str(i)}),
            ],
        )
    snapshot = await store.snapshot("t-1", 5, 3, ["message"])
    assert snapshot is not None and snapshot.task.id == "t-1"
    assert [e.data["text"] for e in snapshot.recent] == ["m27", "m28", "m29"]
    assert snapshot.tally.tool_calls == 30
    events = snapshot.tool_events
    assert [e.data["id"] for e in events] == [f"c{i}" for i in range(25, 30) for _ in (0, 1)]
    assert {e.kind for e in events} == {"tool_call", "tool_result"}
    store.close()


async def test_reads_do_not_wait_for_the_writer(tmp_path: Path) -> None:
    """A read is answered while a write holds the writer connection (WAL readers)."""
    import anyio

    store = SqliteStore(tmp_path / "db.sqlite")
    await store.insert_task(_task())
    with store._lock:  # the writer is busy
        with anyio.fail_after(5):
            task = await store.get("t-1")
            events = await store.events("t-1")
    assert task is not None and task.id == "t-1" and events == []
    store.close()


def _brute_force_statistics(path: Path) -> dict[str, object]:
    """The statistics computed from the tasks table itself, the slow way."""
    with sqlite3.connect(path) as db:
        by_status = dict(db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY 1").fetchall())
        by_agent = dict(db.execute("SELECT agent, COUNT(*) FROM tasks GROUP BY 1").fetchall())
        mean, events, logs, cost = db.execute(
            "SELECT AVG(CASE WHEN ended_at IS NOT NULL THEN"
            " (julianday(ended_at) - julianday(created_at)) * 86400.0 END),"
            " COALESCE(SUM(last_seq), 0), COALESCE(SUM(log_events), 0),"
            " COALESCE(SUM(cost_usd), 0) FROM tasks"
        ).fetchone()
    return {
        "by_status": by_status,
        "by_agent": by_agent,
        "average_duration_seconds": None if mean is None else round(mean, 3),
        "total_events": events,
        "total_log_events": logs,
        "total_cost_usd": round(cost, 6),
    }


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["insert", "append", "status", "end", "cost", "delete"]),
            st.integers(0, 3),
            st.sampled_from(list(TaskStatus)),
        ),
        max_size=25,
    )
)
def test_statistics_kept_by_triggers_equal_a_full_count(
    steps: list[tuple[str, int, TaskStatus]],
) -> None:
    """Whatever happens to tasks, the maintained totals equal a count of the tasks table."""
    import tempfile
    from datetime import timedelta

    import anyio

    async def play(path: Path) -> tuple[dict[str, Any], dict[str, object]]:
        store = SqliteStore(path)
        alive: set[str] = set()
        for op, n, status in steps:
            task_id = f"t-{n}"
            if op == "insert" and task_id not in alive:
                task = _task(task_id)
                task.agent = ("claude", "codex")[n % 2]
                await store.insert_task(task)
                alive.add(task_id)
                continue
            task = await store.get(task_id)
            if task is None:
                continue
            if op == "append":
                await store.append(task_id, [NewEvent("message", {}), NewEvent("usage", {})])
            elif op == "status":
                task.status = status
                await store.save(task, columns=["status"])
            elif op == "end":
                task.ended_at = task.created_at + timedelta(seconds=n + 1.5)
                await store.save(task, columns=["ended_at", "status"])
            elif op == "cost":
                task.cost_usd += 0.25
                await store.save(task, columns=["cost_usd"])
            elif op == "delete":
                await store.delete(task_id)
                alive.discard(task_id)
        kept = await store.statistics()
        store.close()
        return kept, _brute_force_statistics(path)

    with tempfile.TemporaryDirectory() as tmp:
        kept, counted = anyio.run(play, Path(tmp) / "db.sqlite")
    kept["total_cost_usd"] = round(kept["total_cost_usd"], 6)
    assert kept == counted


def _drop_recovery_columns(db: sqlite3.Connection) -> None:
    """Undo migrations 9 and 8."""
    for column in (
        "labels", "worker", "on_worker",
        "status_reason", "auto_resume", "interrupted_by", "crash_cuts", "owner",
        "accept_command", "accept_retries", "gate", "depends_on", "start_after", "blocked_by",
        "max_cost_usd", "max_tokens", "budget_step", "cost_known", "on_usage_limit", "resume_at",
    ):  # fmt: skip
        db.execute(f"ALTER TABLE tasks DROP COLUMN {column}")


def _drop_event_cursor(db: sqlite3.Connection) -> None:
    """Undo migration 7: no global event ids."""
    db.execute("DROP INDEX events_id")
    db.execute("ALTER TABLE events DROP COLUMN id")
    db.execute("DROP TABLE event_cursor")


async def test_migration_numbers_stored_events_in_time_order(tmp_path: Path) -> None:
    """Events stored before the global cursor (schema 6) get ids in the order they happened."""
    path = tmp_path / "db.sqlite"
    store = SqliteStore(path)
    for task_id in ("t-1", "t-2"):
        await store.insert_task(_task(task_id))
    for n in range(3):
        for task_id in ("t-2", "t-1"):
            await store.append(task_id, [NewEvent("log", {"text": f"{task_id} {n}"})])
    store.close()
    with sqlite3.connect(path) as db:
        _drop_recovery_columns(db)
        _drop_event_cursor(db)
        db.execute("PRAGMA user_version = 6")
    store = SqliteStore(path)
    replay = await store.events_after(0)
    assert [e.data["text"] for e in replay] == [
        f"{t} {n}" for n in range(3) for t in ("t-2", "t-1")
    ]
    assert [e.id for e in replay] == list(range(1, 7))
    await store.append("t-1", [NewEvent("log", {"text": "after"})])
    assert (await store.events_after(6))[0].id == 7 == await store.last_event_id()
    store.close()


async def test_event_ids_grow_across_tasks_and_are_never_reused(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    for task_id in ("t-1", "t-2"):
        await store.insert_task(_task(task_id))
    await store.append("t-1", [NewEvent("log", {"n": 1}), NewEvent("log", {"n": 2})])
    await store.append("t-2", [NewEvent("log", {"n": 3})])
    assert [(e.task_id, e.id) for e in await store.events_after(0)] == [
        ("t-1", 1), ("t-1", 2), ("t-2", 3)
    ]  # fmt: skip
    assert [e.id for e in await store.events_after(0, "t-1")] == [1, 2]
    assert [e.id for e in await store.events_after(1, limit=1)] == [2]
    await store.delete("t-2")  # the newest ids go with it, and stay spent
    await store.append("t-1", [NewEvent("log", {"n": 4})])
    assert [e.id for e in await store.events_after(2)] == [4]
    assert (await store.events("t-1"))[-1].id == 4
    store.close()
