"""The SQLite store: tasks and their append-only events, tokens and audit, in one file (WAL).

Each write is one transaction; events get a per-task, gap-free ``seq`` inside the
same transaction that updates the task row, so a reader after a notification
always sees a consistent task. Appending never rewrites earlier rows.
All public methods are async and run the blocking SQLite work in a worker thread:
writes on the one writer connection, reads on reader connections of their own (WAL
lets them read while the writer commits, so a read never queues behind ingest).
Counters kept on the task row as events are appended (`Tally`) keep documents and
statistics O(1) in the number of events.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
from pydantic_core import from_json

from agentdeck.model import Event, GitBranch, NewEvent, Tally, Task, TaskSnapshot, TaskStatus

T = TypeVar("T")

# Schema migrations by version; each runs once, in order, in its own transaction.
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        status TEXT NOT NULL,
        agent TEXT NOT NULL,
        project_path TEXT NOT NULL,
        cwd TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        model TEXT,
        max_turns INTEGER,
        permission_mode TEXT NOT NULL,
        timeout_seconds REAL NOT NULL,
        session_id TEXT,
        result_text TEXT,
        error TEXT,
        cost_usd REAL NOT NULL DEFAULT 0,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens INTEGER NOT NULL DEFAULT 0,
        cache_creation_tokens INTEGER NOT NULL DEFAULT 0,
        num_turns INTEGER NOT NULL DEFAULT 0,
        turns INTEGER NOT NULL DEFAULT 0,
        duration_ms INTEGER NOT NULL DEFAULT 0,
        queue TEXT NOT NULL DEFAULT '[]',
        started_at TEXT,
        ended_at TEXT,
        last_seq INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX tasks_status ON tasks(status);
    CREATE INDEX tasks_session ON tasks(session_id);
    CREATE INDEX tasks_created ON tasks(created_at, id);
    CREATE TABLE events (
        task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        ts TEXT NOT NULL,
        turn INTEGER NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (task_id, seq)
    ) WITHOUT ROWID;
    """,
    2: """
    ALTER TABLE tasks ADD COLUMN isolation TEXT NOT NULL DEFAULT 'none';
    ALTER TABLE tasks ADD COLUMN repo_path TEXT;
    ALTER TABLE tasks ADD COLUMN subdir TEXT NOT NULL DEFAULT '';
    ALTER TABLE tasks ADD COLUMN branch TEXT;
    ALTER TABLE tasks ADD COLUMN base_branch TEXT;
    ALTER TABLE tasks ADD COLUMN worktree_path TEXT;
    ALTER TABLE tasks ADD COLUMN copied_files TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE tasks ADD COLUMN diff_files INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN diff_insertions INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN diff_deletions INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN merged_at TEXT;
    ALTER TABLE tasks ADD COLUMN merge_commit TEXT;
    CREATE INDEX tasks_repo ON tasks(repo_path);
    """,
    3: """
    ALTER TABLE tasks ADD COLUMN policy TEXT NOT NULL DEFAULT 'bypass';
    ALTER TABLE tasks ADD COLUMN allow_rules TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE tasks ADD COLUMN deny_rules TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE tasks ADD COLUMN always_allow TEXT NOT NULL DEFAULT '[]';
    """,
    4: """
    CREATE TABLE tokens (
        name TEXT PRIMARY KEY,
        scope TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        last_used_at TEXT,
        revoked_at TEXT
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts TEXT NOT NULL,
        who TEXT NOT NULL,
        tool TEXT NOT NULL,
        arguments TEXT NOT NULL,
        task_id TEXT,
        client TEXT,
        outcome TEXT NOT NULL
    );
    """,
    5: """
    ALTER TABLE tasks ADD COLUMN log_events INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN tool_calls INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN commands INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN files_affected TEXT NOT NULL DEFAULT '[]';
    UPDATE tasks SET
        log_events = (SELECT COUNT(*) FROM events e WHERE e.task_id = tasks.id
                      AND e.kind != 'usage'),
        tool_calls = (SELECT COUNT(*) FROM events e WHERE e.task_id = tasks.id
                      AND e.kind = 'tool_call'),
        commands = (SELECT COUNT(*) FROM events e WHERE e.task_id = tasks.id
                    AND e.kind = 'tool_call'
                    AND json_extract(e.data, '$.name') IN ('Bash', 'shell', 'run_shell_command')),
        files_affected = COALESCE((
            SELECT json_group_array(path) FROM (
                SELECT path FROM (
                    SELECT COALESCE(json_extract(e.data, '$.input.file_path'),
                                    json_extract(e.data, '$.input.notebook_path')) AS path,
                           MIN(e.seq) AS first
                    FROM events e WHERE e.task_id = tasks.id AND e.kind = 'tool_call'
                    AND json_extract(e.data, '$.name') IN
                        ('Write', 'Edit', 'MultiEdit', 'NotebookEdit', 'write_file', 'replace',
                         'apply_patch')
                    GROUP BY path)
                WHERE path IS NOT NULL ORDER BY first LIMIT 1000)), '[]');
    CREATE INDEX events_tools ON events(task_id, seq) WHERE kind IN ('tool_call', 'tool_result');
    """,
    6: """
    CREATE TABLE task_totals (
        status TEXT NOT NULL,
        agent TEXT NOT NULL,
        tasks INTEGER NOT NULL,
        ended INTEGER NOT NULL,
        duration_sum REAL NOT NULL,
        events INTEGER NOT NULL,
        log_events INTEGER NOT NULL,
        cost REAL NOT NULL,
        PRIMARY KEY (status, agent)
    ) WITHOUT ROWID;
    INSERT INTO task_totals
        SELECT status, agent, COUNT(*), COUNT(ended_at),
               SUM(COALESCE((julianday(ended_at) - julianday(created_at)) * 86400.0, 0)),
               SUM(last_seq), SUM(log_events), SUM(cost_usd)
        FROM tasks GROUP BY status, agent;
    CREATE TRIGGER task_totals_insert AFTER INSERT ON tasks BEGIN
        INSERT INTO task_totals
        VALUES (new.status, new.agent, 1, new.ended_at IS NOT NULL, COALESCE(
                (julianday(new.ended_at) - julianday(new.created_at)) * 86400.0, 0),
                new.last_seq, new.log_events, new.cost_usd)
        ON CONFLICT (status, agent) DO UPDATE SET
            tasks = tasks + 1, ended = ended + excluded.ended,
            duration_sum = duration_sum + excluded.duration_sum,
            events = events + excluded.events, log_events = log_events + excluded.log_events,
            cost = cost + excluded.cost;
    END;
    CREATE TRIGGER task_totals_delete AFTER DELETE ON tasks BEGIN
        UPDATE task_totals SET
            tasks = tasks - 1, ended = ended - (old.ended_at IS NOT NULL),
            duration_sum = duration_sum - COALESCE(
                (julianday(old.ended_at) - julianday(old.created_at)) * 86400.0, 0),
            events = events - old.last_seq, log_events = log_events - old.log_events,
            cost = cost - old.cost_usd
        WHERE status = old.status AND agent = old.agent;
    END;
    CREATE TRIGGER task_totals_update
    AFTER UPDATE OF status, agent, created_at, ended_at, last_seq, log_events, cost_usd ON tasks
    BEGIN
        UPDATE task_totals SET
            tasks = tasks - 1, ended = ended - (old.ended_at IS NOT NULL),
            duration_sum = duration_sum - COALESCE(
                (julianday(old.ended_at) - julianday(old.created_at)) * 86400.0, 0),
            events = events - old.last_seq, log_events = log_events - old.log_events,
            cost = cost - old.cost_usd
        WHERE status = old.status AND agent = old.agent;
        INSERT INTO task_totals
        VALUES (new.status, new.agent, 1, new.ended_at IS NOT NULL, COALESCE(
                (julianday(new.ended_at) - julianday(new.created_at)) * 86400.0, 0),
                new.last_seq, new.log_events, new.cost_usd)
        ON CONFLICT (status, agent) DO UPDATE SET
            tasks = tasks + 1, ended = ended + excluded.ended,
            duration_sum = duration_sum + excluded.duration_sum,
            events = events + excluded.events, log_events = log_events + excluded.log_events,
            cost = cost + excluded.cost;
    END;
    """,
    7: """
    ALTER TABLE events ADD COLUMN id INTEGER;
    UPDATE events SET id = numbered.n FROM (
        SELECT task_id AS t, seq AS s, ROW_NUMBER() OVER (ORDER BY ts, task_id, seq) AS n
        FROM events) AS numbered
    WHERE events.task_id = numbered.t AND events.seq = numbered.s;
    CREATE UNIQUE INDEX events_id ON events(id);
    CREATE TABLE event_cursor (last INTEGER NOT NULL);
    INSERT INTO event_cursor SELECT COALESCE(MAX(id), 0) FROM events;
    """,
    8: """
    ALTER TABLE tasks ADD COLUMN status_reason TEXT;
    ALTER TABLE tasks ADD COLUMN auto_resume INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE tasks ADD COLUMN interrupted_by TEXT;
    ALTER TABLE tasks ADD COLUMN crash_cuts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN owner TEXT;
    ALTER TABLE tasks ADD COLUMN accept_command TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE tasks ADD COLUMN accept_retries INTEGER NOT NULL DEFAULT 2;
    ALTER TABLE tasks ADD COLUMN gate TEXT;
    ALTER TABLE tasks ADD COLUMN depends_on TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE tasks ADD COLUMN start_after TEXT NOT NULL DEFAULT 'done';
    ALTER TABLE tasks ADD COLUMN blocked_by TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE tasks ADD COLUMN max_cost_usd REAL;
    ALTER TABLE tasks ADD COLUMN max_tokens INTEGER;
    ALTER TABLE tasks ADD COLUMN budget_step TEXT;
    ALTER TABLE tasks ADD COLUMN cost_known INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE tasks ADD COLUMN on_usage_limit TEXT NOT NULL DEFAULT 'park';
    ALTER TABLE tasks ADD COLUMN resume_at TEXT;
    """,
    9: """
    ALTER TABLE tasks ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE tasks ADD COLUMN worker TEXT;
    ALTER TABLE tasks ADD COLUMN on_worker TEXT;
    """,
}

SCHEMA_VERSION = max(_MIGRATIONS)
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

_TASK_FIELDS = [f.name for f in fields(Task) if f.name != "git"]
_GIT_COLUMNS = ("isolation", *GitBranch.FIELDS)
_DATETIME_FIELDS = {
    "created_at",
    "updated_at",
    "started_at",
    "ended_at",
    "merged_at",
    "resume_at",
}
_JSON_FIELDS = {
    "queue",
    "copied_files",
    "allow_rules",
    "deny_rules",
    "always_allow",
    "accept_command",
    "gate",
    "depends_on",
    "blocked_by",
    "budget_step",
    "labels",
}


def _column(name: str, value: Any) -> Any:
    if name in _DATETIME_FIELDS:
        return value.isoformat() if value else None
    if name in _JSON_FIELDS:
        return json.dumps(value)
    if name == "status":
        return str(value)
    return value


def _value(name: str, value: Any) -> Any:
    if name in _DATETIME_FIELDS:
        return datetime.fromisoformat(value) if value else None
    if name in _JSON_FIELDS:
        return None if value is None else json.loads(value)
    if name == "status":
        return TaskStatus(value)
    if name in ("auto_resume", "cost_known"):
        return bool(value)
    return value


def _task_row(task: Task) -> dict[str, Any]:
    row = {name: _column(name, getattr(task, name)) for name in _TASK_FIELDS}
    git = task.git
    row["isolation"] = task.isolation
    for name in GitBranch.FIELDS:
        default = GitBranch.flat(None)[name]
        row[name] = _column(name, getattr(git, name) if git else default)
    return row


def _task_from_row(row: sqlite3.Row) -> Task:
    values = {name: _value(name, row[name]) for name in _TASK_FIELDS}
    if row["isolation"] == "worktree":
        values["git"] = GitBranch(**{n: _value(n, row[n]) for n in GitBranch.FIELDS})
    return Task(**values)


def _columns(names: Iterable[str]) -> list[str]:
    """Column names, with ``git`` standing for every column of the git group."""
    out: list[str] = []
    for name in names:
        out.extend(_GIT_COLUMNS if name == "git" else [name])
    return out


def _event_from_row(row: sqlite3.Row) -> Event:
    return Event(
        task_id=row["task_id"],
        seq=row["seq"],
        ts=datetime.fromisoformat(row["ts"]),
        turn=row["turn"],
        kind=row["kind"],
        data=from_json(row["data"]),  # 3× json.loads on an event's small document
        id=row["id"],
    )


class SqliteStore:
    """The `agentdeck.store.Store` interface on SQLite."""

    def __init__(self, path: Path) -> None:
        self._memory = str(path) == ":memory:"
        if not self._memory:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()  # the writer connection's
        self._db = self._connect()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._migrate()
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._opened: list[sqlite3.Connection] = []  # every reader, to close them
        self._opened_lock = threading.Lock()
        self._tokens_seen = False  # once a token exists, one always does

    # -- plumbing -------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=5000")
        return db

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {version}, newer than this agentdeck "
                f"({SCHEMA_VERSION}); upgrade agentdeck"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            # executescript commits on its own, so the script carries its transaction.
            self._db.executescript(
                f"BEGIN IMMEDIATE; {_MIGRATIONS[target]}; PRAGMA user_version={target}; COMMIT;"
            )

    def _transaction(self) -> _Tx:
        return _Tx(self._db)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a write on the writer connection (one at a time)."""

        def locked() -> T:
            with self._lock:
                return fn(*args)

        return await anyio.to_thread.run_sync(locked)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(db, *args)`` on a reader connection (the writer's, in memory)."""
        return await anyio.to_thread.run_sync(self._read_now, fn, *args)

    def _read_now(self, fn: Callable[..., T], *args: Any) -> T:
        if self._memory:  # one in-memory database is one connection
            with self._lock:
                return fn(self._db, *args)
        try:
            db = self._readers.get_nowait()
        except queue.Empty:
            db = self._connect()
            db.execute("PRAGMA query_only=ON")
            with self._opened_lock:
                self._opened.append(db)
        try:
            return fn(db, *args)
        finally:
            self._readers.put(db)

    def close(self) -> None:
        with self._lock, self._opened_lock:
            for db in self._opened:
                db.close()
            self._db.close()

    @property
    def schema_version(self) -> int:
        return int(self._read_now(lambda db: db.execute("PRAGMA user_version").fetchone()[0]))

    # -- tasks ----------------------------------------------------------------------

    async def insert_task(self, task: Task, events: Sequence[NewEvent] = ()) -> int:
        return await self._run(self._insert_task, task, events)

    def _insert_task(self, task: Task, events: Sequence[NewEvent]) -> int:
        row = _task_row(task)
        cols = ", ".join(row)
        marks = ", ".join(f":{c}" for c in row)
        with self._transaction():
            self._db.execute(f"INSERT INTO tasks ({cols}) VALUES ({marks})", row)
            return self._append(task.id, events)

    async def save(
        self, task: Task, events: Sequence[NewEvent] = (), columns: Iterable[str] | None = None
    ) -> int:
        """Write the task's ``columns`` (default: all) and append ``events``, atomically.

        Writers name the columns they own (``git`` names the whole git group), so
        concurrent writers (the lifecycle's changes, a turn's running summary) never
        undo each other. Returns the last event's seq (0 when no events were given).
        """
        return await self._run(self._save, task, events, columns)

    def _save(self, task: Task, events: Sequence[NewEvent], columns: Iterable[str] | None) -> int:
        row = _task_row(task)
        names = [c for c in _columns(columns or row) if c != "id"]
        unknown = set(names) - set(row)
        if unknown:
            raise ValueError(f"unknown task columns {sorted(unknown)}")
        sets = ", ".join(f"{c} = :{c}" for c in names)
        with self._transaction():
            cur = self._db.execute(f"UPDATE tasks SET {sets} WHERE id = :id", row)
            if cur.rowcount != 1:
                raise KeyError(task.id)
            return self._append(task.id, events)

    async def append(self, task_id: str, events: Sequence[NewEvent]) -> int:
        """Append events without touching the task's other fields."""
        return await self._run(self._append_tx, task_id, events)

    def _append_tx(self, task_id: str, events: Sequence[NewEvent]) -> int:
        with self._transaction():
            return self._append(task_id, events)

    def _append(self, task_id: str, events: Sequence[NewEvent]) -> int:
        if not events:
            return 0
        tally = Tally.of(events)
        row = self._db.execute(
            "UPDATE tasks SET last_seq = last_seq + ?, log_events = log_events + ?,"
            " tool_calls = tool_calls + ?, commands = commands + ?"
            " WHERE id = ? RETURNING last_seq, files_affected",
            (len(events), tally.log_events, tally.tool_calls, tally.commands, task_id),
        ).fetchone()
        if row is None:
            raise KeyError(task_id)
        if tally.files:
            known = json.loads(row[1])
            files = Tally.merge_files(known, tally.files)
            if files != known:
                self._db.execute(
                    "UPDATE tasks SET files_affected = ? WHERE id = ?",
                    (json.dumps(files), task_id),
                )
        last = int(row[0])
        # The global cursor: taken in the write's transaction, so ids grow in commit order
        # and are never reused (a deleted task's ids stay spent).
        first_id = self._db.execute(
            "UPDATE event_cursor SET last = last + ? RETURNING last - ? + 1",
            (len(events), len(events)),
        ).fetchone()[0]
        # One statement for the whole batch: far cheaper than a row-by-row executemany.
        payload = _COMPACT.encode([[e.ts.isoformat(), e.turn, e.kind, e.data] for e in events])
        self._db.execute(
            "INSERT INTO events (task_id, seq, id, ts, turn, kind, data)"
            " SELECT ?, ? + key, ? + key, json_extract(value, '$[0]'),"
            " json_extract(value, '$[1]'), json_extract(value, '$[2]'),"
            " json_extract(value, '$[3]') FROM json_each(?)",
            (task_id, last - len(events) + 1, first_id, payload),
        )
        return last

    @asynccontextmanager
    async def exclusive(self, task_id: str) -> AsyncIterator[None]:
        """Nothing to hold: one process owns a SQLite store (`Lifecycle` locks within it)."""
        yield

    async def get(self, task_id: str) -> Task | None:
        return await self._read(_get, task_id)

    async def find_by_session(self, session_id: str) -> Task | None:
        """The newest task whose agent session id is ``session_id``."""
        return await self._read(_find_by_session, session_id)

    async def list_tasks(
        self,
        *,
        statuses: Iterable[TaskStatus] | None = None,
        limit: int | None = None,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> list[Task]:
        return await self._read(_list_tasks, list(statuses or []), limit, offset, oldest_first)

    async def count_by_status(self) -> dict[str, int]:
        return await self._read(_count_by_status)

    async def statistics(self) -> dict[str, Any]:
        """Counts by status and agent, mean duration of ended tasks, events and log lines."""
        return await self._read(_statistics)

    async def ledger(self) -> list[dict[str, Any]]:
        """Cost and tokens summed by project, agent and day (of the task's creation, UTC)."""
        return await self._read(_ledger)

    async def count_with_session(self) -> int:
        """Tasks whose agent conversation exists (a session id was reported)."""
        return await self._read(_scalar, "SELECT COUNT(*) FROM tasks WHERE session_id IS NOT NULL")

    def size_bytes(self) -> int:
        """Size of the database file and its write-ahead log."""
        wal = self.path.with_name(self.path.name + "-wal")
        return sum(p.stat().st_size for p in (self.path, wal) if p.exists())

    async def delete(self, task_id: str) -> bool:
        return await self._run(self._delete, task_id)

    def _delete(self, task_id: str) -> bool:
        with self._transaction():
            return self._db.execute("DELETE FROM tasks WHERE id = ?", (task_id,)).rowcount == 1

    # -- events ---------------------------------------------------------------------

    async def events(
        self,
        task_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        kinds: Iterable[str] | None = None,
    ) -> list[Event]:
        return await self._read(_events, task_id, after_seq, limit, list(kinds or []))

    async def events_after(
        self, after_id: int, task_id: str | None = None, limit: int = 500
    ) -> list[Event]:
        """Events of every task (or of ``task_id``) whose global ``id`` is past ``after_id``,
        in id order, at most ``limit``."""
        return await self._read(_events_after, after_id, task_id, limit)

    async def last_event_id(self) -> int:
        """The newest event's global id (0 before the first event)."""
        return await self._read(_scalar, "SELECT last FROM event_cursor")

    async def last_events(self, task_id: str, n: int, kinds: Iterable[str]) -> list[Event]:
        """The newest ``n`` events of the given kinds, oldest first."""
        return await self._read(_last_events, task_id, n, list(kinds))

    async def tally(self, task_id: str) -> Tally:
        """The task's counters (zeros for an unknown task)."""
        return await self._read(_tally, task_id)

    async def snapshot(
        self, task_id: str, tool_calls: int, recent: int, kinds: Iterable[str]
    ) -> TaskSnapshot | None:
        """The task, its tally, newest tool events and newest ``kinds`` events, in one read."""
        return await self._read(_snapshot, task_id, tool_calls, recent, list(kinds))

    async def count_events(self, task_id: str | None = None, kinds: Iterable[str] = ()) -> int:
        return await self._read(_count_events, task_id, list(kinds))

    # -- access tokens and the audit log (agentdeck.auth) ------------------------------
    # Rows are plain dicts of the columns; only the token's sha256 is ever stored.

    async def add_token(self, row: dict[str, Any]) -> bool:
        """Insert a token row; False if its name (or hash) exists."""
        return await self._run(self._add_token, row)

    def _add_token(self, row: dict[str, Any]) -> bool:
        cols = ", ".join(row)
        try:
            with self._transaction():
                self._db.execute(
                    f"INSERT INTO tokens ({cols}) VALUES ({', '.join(f':{c}' for c in row)})", row
                )
        except sqlite3.IntegrityError:
            return False
        self._tokens_seen = True
        return True

    async def token_by_hash(self, digest: str) -> dict[str, Any] | None:
        return await self._read(_token_by_hash, digest)

    async def list_tokens(self) -> list[dict[str, Any]]:
        """Every token row (revoked included), oldest first, without the hash."""
        return await self._read(_list_tokens)

    async def has_tokens(self) -> bool:
        """Whether any token was ever created (revoked and expired ones count).

        Asked on every HTTP request, so: once true it stays true; until then (another
        process, the CLI, may add the first token) it is one indexed read of a few
        microseconds on a reader connection, asked inline rather than via a thread."""
        if not self._tokens_seen:
            self._tokens_seen = self._read_now(_scalar, "SELECT EXISTS(SELECT 1 FROM tokens)") == 1
        return self._tokens_seen

    async def revoke_token(self, name: str, when: str) -> bool:
        """Mark ``name`` revoked; False if no such (unrevoked) token."""
        return await self._run(self._revoke_token, name, when)

    def _revoke_token(self, name: str, when: str) -> bool:
        with self._transaction():
            cur = self._db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (when, name),
            )
            return cur.rowcount == 1

    async def touch_token(self, name: str, when: str) -> None:
        await self._run(self._touch_token, name, when)

    def _touch_token(self, name: str, when: str) -> None:
        with self._transaction():
            self._db.execute("UPDATE tokens SET last_used_at = ? WHERE name = ?", (when, name))

    async def add_audit(self, row: dict[str, Any]) -> int:
        """Insert an audit row; its id."""
        return await self._run(self._add_audit, row)

    def _add_audit(self, row: dict[str, Any]) -> int:
        cols = ", ".join(row)
        with self._transaction():
            cur = self._db.execute(
                f"INSERT INTO audit ({cols}) VALUES ({', '.join(f':{c}' for c in row)})", row
            )
            return int(cur.lastrowid or 0)

    async def finish_audit(self, entry_id: int, outcome: str, task_id: str | None) -> None:
        """Set a started audit row's outcome (and task id, if it was not known)."""
        await self._run(self._finish_audit, entry_id, outcome, task_id)

    def _finish_audit(self, entry_id: int, outcome: str, task_id: str | None) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE audit SET outcome = ?, task_id = COALESCE(task_id, ?) WHERE id = ?",
                (outcome, task_id, entry_id),
            )

    async def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` audit rows, newest first."""
        return await self._read(_audit_entries, limit)


# -- reads: each takes the connection to read on ---------------------------------------


def _scalar(db: sqlite3.Connection, sql: str) -> Any:
    return db.execute(sql).fetchone()[0]


def _get(db: sqlite3.Connection, task_id: str) -> Task | None:
    row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    return _task_from_row(row) if row else None


def _find_by_session(db: sqlite3.Connection, session_id: str) -> Task | None:
    row = db.execute(
        "SELECT * FROM tasks WHERE session_id = ? ORDER BY created_at DESC LIMIT 1",
        (session_id,),
    ).fetchone()
    return _task_from_row(row) if row else None


def _list_tasks(
    db: sqlite3.Connection,
    statuses: list[TaskStatus],
    limit: int | None,
    offset: int,
    oldest_first: bool,
) -> list[Task]:
    where = ""
    params: list[Any] = []
    if statuses:
        where = f"WHERE status IN ({', '.join('?' * len(statuses))})"
        params.extend(str(s) for s in statuses)
    order = "ASC" if oldest_first else "DESC"
    sql = f"SELECT * FROM tasks {where} ORDER BY created_at {order}, id {order}"
    sql += " LIMIT ? OFFSET ?"
    params.extend([-1 if limit is None else limit, offset])
    return [_task_from_row(r) for r in db.execute(sql, params)]


def _count_by_status(db: sqlite3.Connection) -> dict[str, int]:
    rows = db.execute("SELECT status, SUM(tasks) FROM task_totals GROUP BY 1 HAVING SUM(tasks) > 0")
    return {r[0]: r[1] for r in rows}


def _statistics(db: sqlite3.Connection) -> dict[str, Any]:
    """From `task_totals`, kept by triggers: O(statuses × agents), not O(tasks)."""
    by_status = _count_by_status(db)
    by_agent = {
        r[0]: r[1]
        for r in db.execute(
            "SELECT agent, SUM(tasks) FROM task_totals GROUP BY 1 HAVING SUM(tasks) > 0"
        )
    }
    totals = db.execute(
        "SELECT COALESCE(SUM(ended), 0), COALESCE(SUM(duration_sum), 0), COALESCE(SUM(events), 0),"
        " COALESCE(SUM(log_events), 0), COALESCE(SUM(cost), 0) FROM task_totals"
    ).fetchone()
    ended = int(totals[0])
    return {
        "by_status": by_status,
        "by_agent": by_agent,
        "average_duration_seconds": round(totals[1] / ended, 3) if ended else None,
        "total_events": int(totals[2]),
        "total_log_events": int(totals[3]),
        "total_cost_usd": max(0.0, float(totals[4])),
    }


def _ledger(db: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = db.execute(
        "SELECT project_path, agent, substr(created_at, 1, 10) AS day, COUNT(*) AS tasks,"
        " SUM(cost_known) AS cost_known_tasks, SUM(CASE WHEN cost_known THEN cost_usd END)"
        " AS cost_usd, SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens,"
        " SUM(cache_read_tokens) AS cache_read_tokens,"
        " SUM(cache_creation_tokens) AS cache_creation_tokens"
        " FROM tasks GROUP BY 1, 2, 3 ORDER BY 3, 1, 2"
    )
    return [dict(r) for r in rows]


def _events(
    db: sqlite3.Connection, task_id: str, after_seq: int, limit: int | None, kinds: list[str]
) -> list[Event]:
    sql = "SELECT * FROM events WHERE task_id = ? AND seq > ?"
    params: list[Any] = [task_id, after_seq]
    if kinds:
        sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
        params.extend(kinds)
    sql += " ORDER BY seq LIMIT ?"
    params.append(-1 if limit is None else limit)
    return [_event_from_row(r) for r in db.execute(sql, params)]


def _events_after(
    db: sqlite3.Connection, after_id: int, task_id: str | None, limit: int
) -> list[Event]:
    # By the id index, also for one task: the scan covers only what came after the cursor
    # (a watcher's cursor is recent), never the task's whole history.
    sql = "SELECT * FROM events INDEXED BY events_id WHERE id > ?"
    params: list[Any] = [after_id]
    if task_id is not None:
        sql += " AND task_id = ?"
        params.append(task_id)
    rows = db.execute(sql + " ORDER BY id LIMIT ?", [*params, limit])
    return [_event_from_row(r) for r in rows]


def _last_events(db: sqlite3.Connection, task_id: str, n: int, kinds: list[str]) -> list[Event]:
    sql = (
        f"SELECT * FROM events WHERE task_id = ? AND kind IN ({', '.join('?' * len(kinds))})"
        " ORDER BY seq DESC LIMIT ?"
    )
    rows = db.execute(sql, [task_id, *kinds, n]).fetchall()
    return [_event_from_row(r) for r in reversed(rows)]


_TOOL_EVENTS = "kind IN ('tool_call', 'tool_result')"  # the events_tools index's condition


def _last_tool_events(db: sqlite3.Connection, task_id: str, calls: int) -> list[Event]:
    first = db.execute(
        "SELECT MIN(seq) FROM (SELECT seq FROM events INDEXED BY events_tools"
        f" WHERE task_id = ? AND {_TOOL_EVENTS}"
        " AND kind = 'tool_call' ORDER BY seq DESC LIMIT ?)",
        (task_id, calls),
    ).fetchone()[0]
    if first is None:
        return []
    rows = db.execute(
        f"SELECT * FROM events INDEXED BY events_tools WHERE task_id = ? AND {_TOOL_EVENTS}"
        " AND seq >= ? ORDER BY seq",
        (task_id, first),
    )
    return [_event_from_row(r) for r in rows]


def _tally(db: sqlite3.Connection, task_id: str) -> Tally:
    row = db.execute(
        "SELECT log_events, tool_calls, commands, files_affected FROM tasks WHERE id = ?",
        (task_id,),
    ).fetchone()
    if row is None:
        return Tally()
    return Tally(row[0], row[1], row[2], json.loads(row[3]))


def _snapshot(
    db: sqlite3.Connection, task_id: str, tool_calls: int, recent: int, kinds: list[str]
) -> TaskSnapshot | None:
    db.execute("BEGIN")  # one read transaction: the rows agree with each other
    try:
        row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            return None
        tally = Tally(
            row["log_events"], row["tool_calls"], row["commands"], json.loads(row["files_affected"])
        )
        return TaskSnapshot(
            _task_from_row(row),
            tally,
            _last_tool_events(db, task_id, tool_calls),
            _last_events(db, task_id, recent, kinds),
        )
    finally:
        db.execute("COMMIT")


def _count_events(db: sqlite3.Connection, task_id: str | None, kinds: list[str]) -> int:
    sql = "SELECT COUNT(*) FROM events WHERE 1=1"
    params: list[Any] = []
    if task_id is not None:
        sql += " AND task_id = ?"
        params.append(task_id)
    if kinds:
        sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
        params.extend(kinds)
    return int(db.execute(sql, params).fetchone()[0])


def _token_by_hash(db: sqlite3.Connection, digest: str) -> dict[str, Any] | None:
    row = db.execute("SELECT * FROM tokens WHERE hash = ?", (digest,)).fetchone()
    return dict(row) if row else None


def _list_tokens(db: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = db.execute("SELECT * FROM tokens ORDER BY created_at, name").fetchall()
    return [{k: v for k, v in dict(r).items() if k != "hash"} for r in rows]


def _audit_entries(db: sqlite3.Connection, limit: int) -> list[dict[str, Any]]:
    rows = db.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
    return [dict(r) for r in rows]


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
