"""The store contract, on every store: SQLite (embedded) and PostgreSQL (a private cluster).

Gap-free per-task seq, a global event id that grows in commit order (also under
concurrent writers on several connections), the tally and totals kept as tasks change,
named-column saves, tokens and audit. SQLite's migrations are tested in test_sqlite.py.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentdeck.model import GitBranch, NewEvent, Task, TaskStatus, now
from agentdeck.store import SqliteStore, Store, open_store
from support.postgres import Cluster

pytestmark = pytest.mark.anyio


@dataclass
class Backend:
    """Opens stores of one kind: ``open()`` on this test's database, ``fresh()`` on a new
    empty one (for property tests, one per example)."""

    name: str
    open: Callable[[], Store]
    fresh: Callable[[], Store]
    opened: list[Store] = field(default_factory=list)

    def store(self) -> Store:
        store = self.open()
        self.opened.append(store)
        return store


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        counter = iter(range(10**6))
        made = Backend(
            "sqlite",
            lambda: SqliteStore(tmp_path / "db.sqlite"),
            lambda: SqliteStore(tmp_path / f"fresh-{next(counter)}.sqlite"),
        )
        yield made
    else:
        cluster: Cluster = request.getfixturevalue("postgres")
        url = request.getfixturevalue("postgres_url")
        databases: list[str] = []

        def fresh() -> Store:
            databases.append(cluster.create_database())
            return open_store(None, cluster.url(databases[-1]))

        made = Backend("postgres", lambda: open_store(None, url), fresh)
        yield made
        for name in databases:
            cluster.drop_database(name)
    for store in made.opened:
        store.close()


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


async def test_events_round_trip_with_gap_free_seq(backend: Backend) -> None:
    store = backend.store()
    await store.insert_task(_task())
    data: list[dict[str, Any]] = [
        {"text": 'héllo ✓ "quoted" \\ back \u0000 nul'},
        {"nested": {"z": [1, 2.5, None, True], "a": {}}},
        {},
    ]
    assert await store.append("t-1", [NewEvent("message", d, turn=2) for d in data]) == 3
    assert await store.append("t-1", [NewEvent("log", {"n": 4})]) == 4
    events = await store.events("t-1")
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert [e.data for e in events] == [*data, {"n": 4}]
    assert list(events[1].data["nested"]) == ["z", "a"]  # key order kept
    assert events[0].turn == 2 and events[0].kind == "message"
    assert events[0].ts.utcoffset() == timedelta(0)
    assert [e.seq for e in await store.events("t-1", after_seq=2)] == [3, 4]
    assert [e.seq for e in await store.events("t-1", limit=2, kinds=["message"])] == [1, 2]
    assert await store.count_events("t-1", kinds=["log"]) == 1
    assert [e.seq for e in await store.last_events("t-1", 2, ["message", "log"])] == [3, 4]


async def test_a_task_round_trips_every_field(backend: Backend) -> None:
    store = backend.store()
    task = _task()
    task.git = GitBranch("/repo", "agentdeck/t-1", "main", "/wt", subdir="sub",
                         copied_files=[".env"], diff_files=2, merged_at=now())  # fmt: skip
    task.queue = ["next", "then"]
    task.gate = {"passed": False, "output": "x"}
    task.auto_resume = False
    task.max_cost_usd = 1.5
    task.result_text = "done\x00"
    task.started_at = now()
    await store.insert_task(task)
    got = await store.get("t-1")
    assert got is not None
    task.result_text = "done\ufffd" if backend.name == "postgres" else task.result_text
    assert got == task
    assert await store.get("t-none") is None


async def test_save_writes_only_the_named_columns(backend: Backend) -> None:
    store = backend.store()
    await store.insert_task(_task())
    a = await store.get("t-1")
    b = await store.get("t-1")
    assert a is not None and b is not None
    a.status, a.title = TaskStatus.IN_PROGRESS, "new title"
    b.cost_usd = 0.5
    await store.save(a, [NewEvent("status", {"to": "in_progress"})], columns=["status"])
    await store.save(b, columns=["cost_usd"])
    got = await store.get("t-1")
    assert got is not None
    assert (got.status, got.title, got.cost_usd) == (TaskStatus.IN_PROGRESS, "t", 0.5)
    with pytest.raises(ValueError, match="unknown task columns"):
        await store.save(a, columns=["nope"])
    with pytest.raises(KeyError):
        await store.save(_task("t-none"), columns=["status"])


async def test_append_to_missing_task_is_refused(backend: Backend) -> None:
    store = backend.store()
    with pytest.raises(KeyError):
        await store.append("t-none", [NewEvent("log", {})])
    assert await store.last_event_id() == 0  # no id was spent


async def test_lists_counts_and_sessions(backend: Backend) -> None:
    store = backend.store()
    base = now()
    for n in range(5):
        task = _task(f"t-{n}")
        task.created_at = base + timedelta(seconds=n)
        task.status = TaskStatus.WAITING if n % 2 else TaskStatus.PENDING
        task.session_id = f"s-{n}" if n < 3 else None
        await store.insert_task(task)
    assert [t.id for t in await store.list_tasks(limit=2)] == ["t-4", "t-3"]
    assert [t.id for t in await store.list_tasks(oldest_first=True, offset=3)] == ["t-3", "t-4"]
    waiting = await store.list_tasks(statuses=[TaskStatus.WAITING])
    assert [t.id for t in waiting] == ["t-3", "t-1"]
    assert await store.count_by_status() == {"pending": 3, "waiting": 2}
    assert await store.count_with_session() == 3
    found = await store.find_by_session("s-1")
    assert found is not None and found.id == "t-1"
    assert await store.delete("t-1") and not await store.delete("t-1")
    assert await store.count_by_status() == {"pending": 3, "waiting": 1}
    assert store.size_bytes() > 0


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


async def test_tally_is_kept_as_events_are_appended(backend: Backend) -> None:
    store = backend.store()
    await store.insert_task(_task())
    await store.append("t-1", TALLIED[:4])
    await store.append("t-1", TALLIED[4:])
    tally = await store.tally("t-1")
    assert (tally.log_events, tally.tool_calls, tally.commands) == (6, 4, 1)
    assert tally.files == ["/p/a.py", "/p/b.py"]
    assert tally.log_events == await store.count_events("t-1") - 1  # all but the usage
    stats = await store.statistics()
    assert (stats["total_events"], stats["total_log_events"]) == (7, 6)
    assert (await store.tally("t-none")).tool_calls == 0


async def test_a_snapshot_pairs_the_newest_tool_calls_with_their_results(
    backend: Backend,
) -> None:
    store = backend.store()
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
    assert await store.snapshot("t-none", 5, 3, ["message"]) is None


async def test_event_ids_grow_across_tasks_and_are_never_reused(backend: Backend) -> None:
    store = backend.store()
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
    assert (await store.events("t-1"))[-1].id == 4 == await store.last_event_id()


async def test_state_outlives_the_store_and_the_schema_is_versioned(backend: Backend) -> None:
    first = backend.store()
    await first.insert_task(_task(), [NewEvent("log", {"n": 1})])
    first.close()
    again = backend.store()
    assert again.schema_version >= 1
    assert [e.seq for e in await again.events("t-1")] == [1]


async def test_concurrent_writers_commit_ids_in_order(backend: Backend) -> None:
    """Writers on their own connections (stores, as on several machines) append at once; a
    reader following the cursor never sees an id before an earlier one has committed:
    every page continues the cursor with no hole (a hole skipped would be lost for good)."""
    writers = [backend.store() for _ in range(3)]
    reader = backend.store()
    tasks = [f"t-{n}" for n in range(6)]
    for task_id in tasks:
        await writers[0].insert_task(_task(task_id))
    batches = 40
    done = anyio.Event()
    seen: list[int] = []

    async def write(store: Store, n: int) -> None:
        rng = random.Random(n)
        for i in range(batches):
            task_id = rng.choice(tasks)
            events = [NewEvent("log", {"w": n, "i": i}) for _ in range(rng.randint(1, 4))]
            if i % 3:
                await store.append(task_id, events)
            else:
                task = await store.get(task_id)
                assert task is not None
                task.cost_usd += 0.01
                await store.save(task, events, columns=["cost_usd"])

    async def follow() -> None:
        cursor = 0
        while True:
            finished = done.is_set()
            page = await reader.events_after(cursor)
            assert [e.id for e in page] == list(range(cursor + 1, cursor + 1 + len(page)))
            seen.extend(e.id for e in page)
            cursor = page[-1].id if page else cursor
            if finished and not page:
                return
            await anyio.lowlevel.checkpoint()

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            group.start_soon(follow)
            async with anyio.create_task_group() as writing:
                for n, store in enumerate(writers * 2):  # two writers per store
                    writing.start_soon(write, store, n)
            done.set()
    total = sum([await reader.count_events(t) for t in tasks])
    assert seen == list(range(1, total + 1)) and total == await reader.last_event_id()
    for task_id in tasks:  # each task's seq is still 1, 2, 3 … with no gap
        seqs = [e.seq for e in await reader.events(task_id)]
        assert seqs == list(range(1, len(seqs) + 1))


async def test_tokens_and_audit(backend: Backend) -> None:
    store = backend.store()
    assert not await store.has_tokens()
    row = {"name": "ci", "scope": "write", "hash": "h1", "created_at": "2026-01-01T00:00:00+00:00",
           "expires_at": None}  # fmt: skip
    assert await store.add_token(row)
    assert not await store.add_token({**row, "hash": "h2"})  # the name exists
    assert not await store.add_token({**row, "name": "other"})  # the hash exists
    assert await store.has_tokens()
    got = await store.token_by_hash("h1")
    assert got is not None and got["name"] == "ci" and got["revoked_at"] is None
    await store.touch_token("ci", "2026-01-02T00:00:00+00:00")
    assert await store.revoke_token("ci", "2026-01-03T00:00:00+00:00")
    assert not await store.revoke_token("ci", "2026-01-04T00:00:00+00:00")
    [listed] = await store.list_tokens()
    assert "hash" not in listed and listed["last_used_at"] == "2026-01-02T00:00:00+00:00"
    assert listed["revoked_at"] == "2026-01-03T00:00:00+00:00"
    audit = {"ts": "2026-01-01T00:00:00+00:00", "who": "ci", "tool": "create_task",
             "arguments": "{}", "task_id": None, "client": None, "outcome": "started"}  # fmt: skip
    first = await store.add_audit(audit)
    second = await store.add_audit({**audit, "tool": "cancel_task"})
    assert second > first
    await store.finish_audit(first, "ok", "t-1")
    entries = await store.audit_entries(10)
    assert [e["tool"] for e in entries] == ["cancel_task", "create_task"]
    assert (entries[1]["outcome"], entries[1]["task_id"]) == ("ok", "t-1")


async def _brute_force_statistics(store: Store) -> dict[str, object]:
    """The statistics computed from every task, the slow way, through the interface."""
    tasks = await store.list_tasks()
    by_status: dict[str, int] = {}
    by_agent: dict[str, int] = {}
    for task in tasks:
        by_status[str(task.status)] = by_status.get(str(task.status), 0) + 1
        by_agent[task.agent] = by_agent.get(task.agent, 0) + 1
    durations = [(t.ended_at - t.created_at).total_seconds() for t in tasks if t.ended_at]
    return {
        "by_status": by_status,
        "by_agent": by_agent,
        "average_duration_seconds": round(sum(durations) / len(durations), 3)
        if durations
        else None,
        "total_events": await store.count_events(),
        "total_log_events": sum([(await store.tally(t.id)).log_events for t in tasks]),
        "total_cost_usd": round(sum(t.cost_usd for t in tasks), 6),
    }


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
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
def test_statistics_kept_equal_a_full_count(
    backend: Backend, steps: list[tuple[str, int, TaskStatus]]
) -> None:
    """Whatever happens to tasks, the maintained totals equal a count of the tasks."""

    async def play() -> tuple[dict[str, Any], dict[str, object]]:
        store = backend.fresh()
        try:
            alive: set[str] = set()
            for op, n, status in steps:
                task_id = f"t-{n}"
                if op == "insert" and task_id not in alive:
                    new = _task(task_id)
                    new.agent = ("claude", "codex")[n % 2]
                    await store.insert_task(new)
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
            return await store.statistics(), await _brute_force_statistics(store)
        finally:
            store.close()

    with tempfile.TemporaryDirectory():
        kept, counted = anyio.run(play)
    kept["total_cost_usd"] = round(kept["total_cost_usd"], 6)
    assert kept == counted


async def test_postgres_notifies_other_stores_after_commit(
    postgres_url: str,
) -> None:
    """Each task write is announced (NOTIFY, after its commit) to the other stores on the
    database, not to the one that wrote it: how the front learns what workers wrote."""
    from agentdeck.store.postgres import PostgresStore

    front, worker = PostgresStore(postgres_url), PostgresStore(postgres_url)
    try:
        got: list[dict[str, Any]] = []
        listening = anyio.Event()

        async def listen() -> None:
            async with contextlib.aclosing(front.changes(ready=listening.set)) as changes:
                async for change in changes:
                    got.append(change)
                    if len(got) == 3:
                        return

        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                group.start_soon(listen)
                await listening.wait()
                await front.insert_task(_task("t-front"))  # its own: not announced to it
                await worker.insert_task(_task("t-1"))
                task = await worker.get("t-1")
                assert task is not None
                task.status = TaskStatus.IN_PROGRESS
                await worker.save(task, [NewEvent("status", {})], columns=["status"])
                await worker.append("t-1", [NewEvent("log", {}), NewEvent("log", {})])
        assert [(c["task_id"], c["what"], c["status"], c["last_seq"]) for c in got] == [
            ("t-1", "created", "pending", 0),
            ("t-1", "updated", "in_progress", 1),
            ("t-1", "updated", None, 3),
        ]
    finally:
        front.close()
        worker.close()


async def test_a_core_on_postgres_runs_a_task_and_keeps_it(
    core_settings: Any, postgres_url: str
) -> None:
    """``database_url`` puts the core's state in PostgreSQL (migrated at start-up): a task
    runs there, and a second core on the database (a restart) finds it and its events."""
    from support.core import create, events_of, running, task_in

    settings = core_settings.model_copy(update={"database_url": postgres_url})
    async with running(settings) as core:
        task = await create(core, "pg", "say hi")
        await task_in(core, task.id, TaskStatus.WAITING)
    async with running(settings) as again:
        assert (await again.get(task.id)).status is TaskStatus.WAITING
        kinds = [e.kind for e in await events_of(again, task.id)]
        assert "turn_finished" in kinds and kinds[0] == "status"
