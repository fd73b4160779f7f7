"""The SQLite store: gap-free seq, faithful round trip, append-only writes, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

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
