"""The SQLite store: tasks and their append-only events, tokens and audit, in one file (WAL).

Each write is one transaction; events get a per-task, gap-free ``seq`` inside the
same transaction that updates the task row, so a reader after a notification
always sees a consistent task. Appending never rewrites earlier rows.
All public methods are async and run the blocking SQLite work in a worker thread.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from agentdeck.model import Event, GitBranch, NewEvent, Task, TaskStatus

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
}

SCHEMA_VERSION = max(_MIGRATIONS)
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

_TASK_FIELDS = [f.name for f in fields(Task) if f.name != "git"]
_GIT_COLUMNS = ("isolation", *GitBranch.FIELDS)
_DATETIME_FIELDS = {"created_at", "updated_at", "started_at", "ended_at", "merged_at"}
_JSON_FIELDS = {"queue", "copied_files", "allow_rules", "deny_rules", "always_allow"}


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
        return json.loads(value)
    if name == "status":
        return TaskStatus(value)
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
        data=json.loads(row["data"]),
    )


class SqliteStore:
    """The `agentdeck.store.Store` interface on SQLite."""

    def __init__(self, path: Path) -> None:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    # -- plumbing -------------------------------------------------------------------

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
        def locked() -> T:
            with self._lock:
                return fn(*args)

        return await anyio.to_thread.run_sync(locked)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

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
        last = self._db.execute(
            "UPDATE tasks SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq",
            (len(events), task_id),
        ).fetchone()
        if last is None:
            raise KeyError(task_id)
        # One statement for the whole batch: far cheaper than a row-by-row executemany.
        payload = _COMPACT.encode([[e.ts.isoformat(), e.turn, e.kind, e.data] for e in events])
        self._db.execute(
            "INSERT INTO events (task_id, seq, ts, turn, kind, data)"
            " SELECT ?, ? + key, json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
            " json_extract(value, '$[2]'), json_extract(value, '$[3]') FROM json_each(?)",
            (task_id, last[0] - len(events) + 1, payload),
        )
        return int(last[0])

    async def get(self, task_id: str) -> Task | None:
        return await self._run(self._get, task_id)

    def _get(self, task_id: str) -> Task | None:
        row = self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return _task_from_row(row) if row else None

    async def find_by_session(self, session_id: str) -> Task | None:
        """The newest task whose agent session id is ``session_id``."""
        return await self._run(self._find_by_session, session_id)

    def _find_by_session(self, session_id: str) -> Task | None:
        row = self._db.execute(
            "SELECT * FROM tasks WHERE session_id = ? ORDER BY created_at DESC LIMIT 1",
            (session_id,),
        ).fetchone()
        return _task_from_row(row) if row else None

    async def list_tasks(
        self,
        *,
        statuses: Iterable[TaskStatus] | None = None,
        limit: int | None = None,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> list[Task]:
        return await self._run(self._list_tasks, list(statuses or []), limit, offset, oldest_first)

    def _list_tasks(
        self, statuses: list[TaskStatus], limit: int | None, offset: int, oldest_first: bool
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
        return [_task_from_row(r) for r in self._db.execute(sql, params)]

    async def count_by_status(self) -> dict[str, int]:
        return await self._run(self._count_by_status)

    def _count_by_status(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status")
        return {r[0]: r[1] for r in rows}

    async def statistics(self) -> dict[str, Any]:
        """Counts by status and agent, mean duration of ended tasks, events stored."""
        return await self._run(self._statistics)

    def _statistics(self) -> dict[str, Any]:
        db = self._db
        by_status = {
            r[0]: r[1] for r in db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY 1")
        }
        by_agent = {r[0]: r[1] for r in db.execute("SELECT agent, COUNT(*) FROM tasks GROUP BY 1")}
        mean = db.execute(
            "SELECT AVG((julianday(ended_at) - julianday(created_at)) * 86400.0) FROM tasks"
            " WHERE ended_at IS NOT NULL"
        ).fetchone()[0]
        totals = db.execute(
            "SELECT COALESCE(SUM(last_seq), 0), COALESCE(SUM(cost_usd), 0) FROM tasks"
        ).fetchone()
        return {
            "by_status": by_status,
            "by_agent": by_agent,
            "average_duration_seconds": round(mean, 3) if mean is not None else None,
            "total_events": int(totals[0]),
            "total_cost_usd": float(totals[1]),
        }

    async def count_with_session(self) -> int:
        """Tasks whose agent conversation exists (a session id was reported)."""
        return await self._run(
            lambda: int(
                self._db.execute(
                    "SELECT COUNT(*) FROM tasks WHERE session_id IS NOT NULL"
                ).fetchone()[0]
            )
        )

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
        return await self._run(self._events, task_id, after_seq, limit, list(kinds or []))

    def _events(
        self, task_id: str, after_seq: int, limit: int | None, kinds: list[str]
    ) -> list[Event]:
        sql = "SELECT * FROM events WHERE task_id = ? AND seq > ?"
        params: list[Any] = [task_id, after_seq]
        if kinds:
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            params.extend(kinds)
        sql += " ORDER BY seq LIMIT ?"
        params.append(-1 if limit is None else limit)
        return [_event_from_row(r) for r in self._db.execute(sql, params)]

    async def last_events(self, task_id: str, n: int, kinds: Iterable[str]) -> list[Event]:
        """The newest ``n`` events of the given kinds, oldest first."""
        return await self._run(self._last_events, task_id, n, list(kinds))

    def _last_events(self, task_id: str, n: int, kinds: list[str]) -> list[Event]:
        sql = (
            f"SELECT * FROM events WHERE task_id = ? AND kind IN ({', '.join('?' * len(kinds))})"
            " ORDER BY seq DESC LIMIT ?"
        )
        rows = self._db.execute(sql, [task_id, *kinds, n]).fetchall()
        return [_event_from_row(r) for r in reversed(rows)]

    async def count_events(self, task_id: str | None = None, kinds: Iterable[str] = ()) -> int:
        return await self._run(self._count_events, task_id, list(kinds))

    def _count_events(self, task_id: str | None, kinds: list[str]) -> int:
        sql = "SELECT COUNT(*) FROM events WHERE 1=1"
        params: list[Any] = []
        if task_id is not None:
            sql += " AND task_id = ?"
            params.append(task_id)
        if kinds:
            sql += f" AND kind IN ({', '.join('?' * len(kinds))})"
            params.extend(kinds)
        return int(self._db.execute(sql, params).fetchone()[0])

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
        return True

    async def token_by_hash(self, digest: str) -> dict[str, Any] | None:
        return await self._run(self._token_by_hash, digest)

    def _token_by_hash(self, digest: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM tokens WHERE hash = ?", (digest,)).fetchone()
        return dict(row) if row else None

    async def list_tokens(self) -> list[dict[str, Any]]:
        """Every token row (revoked included), oldest first, without the hash."""
        return await self._run(self._list_tokens)

    def _list_tokens(self) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM tokens ORDER BY created_at, name").fetchall()
        return [{k: v for k, v in dict(r).items() if k != "hash"} for r in rows]

    async def has_tokens(self) -> bool:
        """Whether any token was ever created (revoked and expired ones count)."""
        return await self._run(
            lambda: self._db.execute("SELECT EXISTS(SELECT 1 FROM tokens)").fetchone()[0] == 1
        )

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
        return await self._run(self._audit_entries, limit)

    def _audit_entries(self, limit: int) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(r) for r in rows]


class _Tx:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (or ``ROLLBACK`` on error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
