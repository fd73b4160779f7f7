"""The PostgreSQL store: the same `Store` interface as `SqliteStore`, for several machines.

The rules are SQLite's (see `agentdeck.store.base`): every write is one transaction; a
task's events get a gap-free ``seq`` in the transaction that updates the task row; the
task's `Tally` and the `task_totals` table (kept by a trigger) change in that same
transaction; appending never rewrites earlier rows.

**One writer for task data, like SQLite.** Every transaction that writes a task or its
events (insert, save, append, delete) starts by updating the one row of
``event_cursor``, which holds that row's lock until it commits. So those transactions
run one after another, and the global event ``id`` handed out under the lock grows in
*commit order* (a sequence would not: its values are taken before commit, so a reader
could see id 12 committed before id 11 and skip 11 for good). The same lock, taken
first, orders the trigger's updates of `task_totals`, so two saves can never deadlock.
Token and audit writes do not take it.

**Change notifications.** Each task write sends ``NOTIFY agentdeck_changes`` with a
small JSON payload (origin, task, what, status, last seq) in its transaction: PostgreSQL
delivers it only after the commit, so a listener that reads on a notification sees the
change (`changes()` yields them; the front uses it to publish what workers wrote).

Blocking psycopg work runs in worker threads on a `psycopg_pool.ConnectionPool`, so
nothing blocks the event loop and the store works from any event loop (or none).
Timestamps of tasks and events are ``timestamptz`` (sessions in UTC); task lists and
event ``data`` are ``json`` (the text as written, key order kept). PostgreSQL text cannot
hold NUL characters: a NUL in a task's text column is stored as U+FFFD.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import fields
from datetime import UTC
from typing import Any, TypeVar

import anyio.to_thread
import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Json
from psycopg_pool import ConnectionPool

from agentdeck.model import Event, GitBranch, NewEvent, Tally, Task, TaskSnapshot, TaskStatus

T = TypeVar("T")
Conn = psycopg.Connection[dict[str, Any]]

CHANNEL = "agentdeck_changes"  # NOTIFY channel of task writes
_LOCK_KEY = 0x61676E74  # advisory lock: one migrator at a time

# Schema migrations by version; each runs once, in order, in one transaction with the
# version bump. Version 1 is the whole schema of SQLite's version 8.
_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        status TEXT NOT NULL,
        agent TEXT NOT NULL,
        project_path TEXT NOT NULL,
        cwd TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        model TEXT,
        max_turns BIGINT,
        permission_mode TEXT NOT NULL,
        timeout_seconds DOUBLE PRECISION NOT NULL,
        session_id TEXT,
        result_text TEXT,
        error TEXT,
        cost_usd DOUBLE PRECISION NOT NULL DEFAULT 0,
        input_tokens BIGINT NOT NULL DEFAULT 0,
        output_tokens BIGINT NOT NULL DEFAULT 0,
        cache_read_tokens BIGINT NOT NULL DEFAULT 0,
        cache_creation_tokens BIGINT NOT NULL DEFAULT 0,
        num_turns BIGINT NOT NULL DEFAULT 0,
        turns BIGINT NOT NULL DEFAULT 0,
        duration_ms BIGINT NOT NULL DEFAULT 0,
        queue JSON NOT NULL DEFAULT '[]',
        started_at TIMESTAMPTZ,
        ended_at TIMESTAMPTZ,
        last_seq BIGINT NOT NULL DEFAULT 0,
        isolation TEXT NOT NULL DEFAULT 'none',
        repo_path TEXT,
        subdir TEXT NOT NULL DEFAULT '',
        branch TEXT,
        base_branch TEXT,
        worktree_path TEXT,
        copied_files JSON NOT NULL DEFAULT '[]',
        diff_files BIGINT NOT NULL DEFAULT 0,
        diff_insertions BIGINT NOT NULL DEFAULT 0,
        diff_deletions BIGINT NOT NULL DEFAULT 0,
        merged_at TIMESTAMPTZ,
        merge_commit TEXT,
        policy TEXT NOT NULL DEFAULT 'bypass',
        allow_rules JSON NOT NULL DEFAULT '[]',
        deny_rules JSON NOT NULL DEFAULT '[]',
        always_allow JSON NOT NULL DEFAULT '[]',
        log_events BIGINT NOT NULL DEFAULT 0,
        tool_calls BIGINT NOT NULL DEFAULT 0,
        commands BIGINT NOT NULL DEFAULT 0,
        files_affected JSON NOT NULL DEFAULT '[]',
        status_reason TEXT,
        auto_resume BOOLEAN NOT NULL DEFAULT TRUE,
        interrupted_by TEXT,
        crash_cuts BIGINT NOT NULL DEFAULT 0,
        owner TEXT,
        accept_command JSON NOT NULL DEFAULT '[]',
        accept_retries BIGINT NOT NULL DEFAULT 2,
        gate JSON,
        depends_on JSON NOT NULL DEFAULT '[]',
        start_after TEXT NOT NULL DEFAULT 'done',
        blocked_by JSON NOT NULL DEFAULT '[]',
        max_cost_usd DOUBLE PRECISION,
        max_tokens BIGINT,
        budget_step JSON,
        cost_known BOOLEAN NOT NULL DEFAULT TRUE
    );
    CREATE INDEX tasks_status ON tasks(status);
    CREATE INDEX tasks_session ON tasks(session_id);
    CREATE INDEX tasks_created ON tasks(created_at, id);
    CREATE INDEX tasks_repo ON tasks(repo_path);
    CREATE TABLE events (
        task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        seq BIGINT NOT NULL,
        id BIGINT NOT NULL,
        ts TIMESTAMPTZ NOT NULL,
        turn BIGINT NOT NULL,
        kind TEXT NOT NULL,
        data JSON NOT NULL,
        PRIMARY KEY (task_id, seq)
    );
    CREATE UNIQUE INDEX events_id ON events(id);
    CREATE INDEX events_tools ON events(task_id, seq) WHERE kind IN ('tool_call', 'tool_result');
    CREATE TABLE event_cursor (
        one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), last BIGINT NOT NULL
    );
    INSERT INTO event_cursor (last) VALUES (0);
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
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        ts TEXT NOT NULL,
        who TEXT NOT NULL,
        tool TEXT NOT NULL,
        arguments TEXT NOT NULL,
        task_id TEXT,
        client TEXT,
        outcome TEXT NOT NULL
    );
    CREATE TABLE task_totals (
        status TEXT NOT NULL,
        agent TEXT NOT NULL,
        tasks BIGINT NOT NULL,
        ended BIGINT NOT NULL,
        duration_sum DOUBLE PRECISION NOT NULL,
        events BIGINT NOT NULL,
        log_events BIGINT NOT NULL,
        cost DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (status, agent)
    );
    CREATE FUNCTION agentdeck_task_totals() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            UPDATE task_totals SET
                tasks = tasks - 1, ended = ended - (OLD.ended_at IS NOT NULL)::int,
                duration_sum = duration_sum - COALESCE(
                    EXTRACT(EPOCH FROM OLD.ended_at - OLD.created_at)::double precision, 0),
                events = events - OLD.last_seq, log_events = log_events - OLD.log_events,
                cost = cost - OLD.cost_usd
            WHERE status = OLD.status AND agent = OLD.agent;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO task_totals AS t
            VALUES (NEW.status, NEW.agent, 1, (NEW.ended_at IS NOT NULL)::int, COALESCE(
                    EXTRACT(EPOCH FROM NEW.ended_at - NEW.created_at)::double precision, 0),
                    NEW.last_seq, NEW.log_events, NEW.cost_usd)
            ON CONFLICT (status, agent) DO UPDATE SET
                tasks = t.tasks + 1, ended = t.ended + excluded.ended,
                duration_sum = t.duration_sum + excluded.duration_sum,
                events = t.events + excluded.events,
                log_events = t.log_events + excluded.log_events,
                cost = t.cost + excluded.cost;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER task_totals
    AFTER INSERT OR DELETE
        OR UPDATE OF status, agent, created_at, ended_at, last_seq, log_events, cost_usd
    ON tasks FOR EACH ROW EXECUTE FUNCTION agentdeck_task_totals();
    """,
    # Workers (agentdeck.workers): who can run turns, and which turn went where.
    2: """
    CREATE TABLE workers (
        name TEXT PRIMARY KEY,
        labels JSON NOT NULL DEFAULT '{}',
        agents JSON NOT NULL DEFAULT '[]',
        roots JSON NOT NULL DEFAULT '[]',
        max_running BIGINT NOT NULL,
        running BIGINT NOT NULL DEFAULT 0,
        state TEXT NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        heartbeat_at TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE dispatches (
        task_id TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
        worker TEXT NOT NULL,
        attempt BIGINT NOT NULL,
        state TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE INDEX dispatches_worker ON dispatches(worker, state);
    """,
    # Usage limits (SQLite's version 8 grew these too).
    3: """
    ALTER TABLE tasks ADD COLUMN on_usage_limit TEXT NOT NULL DEFAULT 'park';
    ALTER TABLE tasks ADD COLUMN resume_at TIMESTAMPTZ;
    """,
    # Routing to workers (SQLite's version 9).
    4: """
    ALTER TABLE tasks ADD COLUMN labels JSON NOT NULL DEFAULT '{}';
    ALTER TABLE tasks ADD COLUMN worker TEXT;
    ALTER TABLE tasks ADD COLUMN on_worker TEXT;
    """,
    # Approvals across machines (agentdeck.workers.decisions): the first answer to each
    # request a worker waits on.
    5: """
    CREATE TABLE decisions (
        request_id TEXT PRIMARY KEY,
        task_id TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        answer JSON NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    """,
    # Conversations that travel between workers: Claude Code transcripts mirrored by the
    # SDK (agentdeck.workers.sessions), and the tasks whose session and branch another
    # worker can pick up (agentdeck.workers.travel).
    6: """
    CREATE TABLE claude_sessions (
        project_key TEXT NOT NULL,
        session_id TEXT NOT NULL,
        subpath TEXT NOT NULL DEFAULT '',
        seq BIGSERIAL,
        entry JSON NOT NULL,
        written_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        PRIMARY KEY (project_key, session_id, subpath, seq)
    );
    CREATE TABLE travels (
        task_id TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
        worker TEXT NOT NULL,
        session_id TEXT NOT NULL,
        remote TEXT NOT NULL,
        branch TEXT NOT NULL,
        commit_sha TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    """,
}

SCHEMA_VERSION = max(_MIGRATIONS)
_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

_TASK_FIELDS = [f.name for f in fields(Task) if f.name != "git"]
_GIT_COLUMNS = ("isolation", *GitBranch.FIELDS)
_DATETIME_FIELDS = {"created_at", "updated_at", "started_at", "ended_at", "merged_at", "resume_at"}
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
    if name in _JSON_FIELDS:
        return None if value is None else Json(value, dumps=_COMPACT.encode)
    if name == "status":
        return str(value)
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def _value(name: str, value: Any) -> Any:
    if name in _DATETIME_FIELDS:
        return value.astimezone(UTC) if value else None
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


def _task_from_row(row: dict[str, Any]) -> Task:
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


def _event_from_row(row: dict[str, Any]) -> Event:
    return Event(
        task_id=row["task_id"],
        seq=row["seq"],
        ts=row["ts"].astimezone(UTC),
        turn=row["turn"],
        kind=row["kind"],
        data=row["data"],
        id=row["id"],
    )


def _task_lock_key(task_id: str) -> int:
    """A task's advisory lock key: a signed 64-bit hash of its id."""
    digest = hashlib.blake2b(f"agentdeck-task:{task_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _advisory(conn: Conn, function: str, key: int) -> None:
    """``SELECT function(key)`` committed at once (session locks outlive it)."""
    conn.execute(f"SELECT {function}(%s)", (key,))  # function: one of two literals
    conn.commit()


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


class PostgresStore:
    """The `agentdeck.store.Store` interface on PostgreSQL (``postgresql://…`` URL)."""

    def __init__(self, url: str, *, max_connections: int = 10) -> None:
        self.url = url
        self.origin = uuid.uuid4().hex[:12]  # this store's mark on its notifications
        with psycopg.connect(url) as db:
            self._migrate(db)
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"row_factory": dict_row},
            configure=_configure,
            open=True,
            name="agentdeck",
        )
        self._tokens_seen = False

    # -- plumbing -------------------------------------------------------------------

    @staticmethod
    def _migrate(db: psycopg.Connection[Any]) -> None:
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            db.execute("CREATE TABLE IF NOT EXISTS agentdeck_schema (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM agentdeck_schema").fetchone()
            if row is None:
                db.execute("INSERT INTO agentdeck_schema VALUES (0)")
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"the database has schema version {version}, newer than this agentdeck "
                    f"({SCHEMA_VERSION}); upgrade agentdeck"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                db.execute(_MIGRATIONS[target])
                db.execute("UPDATE agentdeck_schema SET version = %s", (target,))

    def _now(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one transaction on a pooled connection (blocking)."""
        with self._pool.connection() as conn:
            return fn(conn, *args)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one transaction, in a worker thread."""
        return await anyio.to_thread.run_sync(self._now, fn, *args)

    def close(self) -> None:
        self._pool.close()

    @asynccontextmanager
    async def exclusive(self, task_id: str) -> AsyncIterator[None]:
        """A session advisory lock on ``task_id`` for the block, on a connection of its
        own: the front and every worker take it in `Lifecycle.editing`, so their
        read-modify-writes of one task never interleave."""
        key = _task_lock_key(task_id)
        conn = await anyio.to_thread.run_sync(self._pool.getconn)
        held = False
        try:
            await anyio.to_thread.run_sync(_advisory, conn, "pg_advisory_lock", key)
            held = True
            yield
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    if held:
                        await anyio.to_thread.run_sync(_advisory, conn, "pg_advisory_unlock", key)
                    else:  # cancelled while waiting: the lock may be ours; closing frees it
                        conn.close()
                except psycopg.Error:
                    conn.close()
            self._pool.putconn(conn)

    @property
    def schema_version(self) -> int:
        return int(self._now(_scalar, "SELECT version FROM agentdeck_schema"))

    def _notify(self, db: Conn, task_id: str, what: str, status: str | None, last: int) -> None:
        payload = {"o": self.origin, "t": task_id, "w": what, "s": status, "q": last}
        db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, _COMPACT.encode(payload)))

    async def changes(
        self, ready: Callable[[], object] | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Every task write committed by *another* store on this database, as it commits:
        ``{"task_id", "what", "status", "last_seq"}`` (the payload of its NOTIFY).

        ``ready`` is called once the LISTEN is in place. Runs until cancelled; a dropped
        connection ends it with the error."""
        aconn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        async with aconn:
            await aconn.execute(f"LISTEN {CHANNEL}")
            if ready is not None:
                ready()
            async for note in aconn.notifies():
                raw = json.loads(note.payload)
                if raw.get("o") == self.origin:
                    continue
                yield {
                    "task_id": raw["t"],
                    "what": raw["w"],
                    "status": raw.get("s"),
                    "last_seq": int(raw.get("q") or 0),
                }

    # -- tasks ----------------------------------------------------------------------

    async def insert_task(self, task: Task, events: Sequence[NewEvent] = ()) -> int:
        return await self._run(self._insert_task, task, events)

    def _insert_task(self, db: Conn, task: Task, events: Sequence[NewEvent]) -> int:
        row = _task_row(task)
        cols = ", ".join(row)
        marks = ", ".join(f"%({c})s" for c in row)
        first_id = self._take_ids(db, len(events))
        db.execute(f"INSERT INTO tasks ({cols}) VALUES ({marks})", row)
        last = self._append(db, task.id, events, first_id)
        self._notify(db, task.id, "created", str(task.status), last)
        return last

    async def save(
        self, task: Task, events: Sequence[NewEvent] = (), columns: Iterable[str] | None = None
    ) -> int:
        """Write the task's ``columns`` (default: all) and append ``events``, atomically.

        Writers name the columns they own (``git`` names the whole git group), so
        concurrent writers never undo each other. Returns the last event's seq (0 when
        no events were given)."""
        return await self._run(self._save, task, events, columns)

    def _save(
        self, db: Conn, task: Task, events: Sequence[NewEvent], columns: Iterable[str] | None
    ) -> int:
        row = _task_row(task)
        names = [c for c in _columns(columns or row) if c != "id"]
        unknown = set(names) - set(row)
        if unknown:
            raise ValueError(f"unknown task columns {sorted(unknown)}")
        first_id = self._take_ids(db, len(events))
        sets = ", ".join(f"{c} = %({c})s" for c in names)
        cur = db.execute(f"UPDATE tasks SET {sets} WHERE id = %(id)s", row)
        if cur.rowcount != 1:
            raise KeyError(task.id)
        last = self._append(db, task.id, events, first_id)
        status = str(task.status) if "status" in names else None
        self._notify(db, task.id, "updated", status, last)
        return last

    async def append(self, task_id: str, events: Sequence[NewEvent]) -> int:
        """Append events without touching the task's other fields."""
        return await self._run(self._append_tx, task_id, events)

    def _append_tx(self, db: Conn, task_id: str, events: Sequence[NewEvent]) -> int:
        if not events:
            return 0
        first_id = self._take_ids(db, len(events))
        last = self._append(db, task_id, events, first_id)
        self._notify(db, task_id, "updated", None, last)
        return last

    @staticmethod
    def _take_ids(db: Conn, n: int) -> int:
        """Lock the event cursor for this transaction (the one-writer rule, see the module)
        and spend ``n`` ids; the first of them."""
        row = db.execute("UPDATE event_cursor SET last = last + %s RETURNING last", (n,)).fetchone()
        assert row is not None
        return int(row["last"]) - n + 1

    @staticmethod
    def _append(db: Conn, task_id: str, events: Sequence[NewEvent], first_id: int) -> int:
        if not events:
            return 0
        tally = Tally.of(events)
        row = db.execute(
            "UPDATE tasks SET last_seq = last_seq + %s, log_events = log_events + %s,"
            " tool_calls = tool_calls + %s, commands = commands + %s"
            " WHERE id = %s RETURNING last_seq, files_affected",
            (len(events), tally.log_events, tally.tool_calls, tally.commands, task_id),
        ).fetchone()
        if row is None:
            raise KeyError(task_id)
        if tally.files:
            known = row["files_affected"]
            files = Tally.merge_files(known, tally.files)
            if files != known:
                db.execute(
                    "UPDATE tasks SET files_affected = %s WHERE id = %s",
                    (Json(files), task_id),
                )
        last = int(row["last_seq"])
        # One statement for the whole batch, as SQLite's store does (arrays, unnested: a
        # json document of the batch would choke on a \u0000 escape in an event's data).
        db.execute(
            "INSERT INTO events (task_id, seq, id, ts, turn, kind, data)"
            " SELECT %s, %s + n, %s + n, ts, turn, kind, data"
            " FROM unnest(%s::timestamptz[], %s::bigint[], %s::text[], %s::json[])"
            " WITH ORDINALITY AS x(ts, turn, kind, data, n)",
            (
                task_id,
                last - len(events),
                first_id - 1,
                [e.ts for e in events],
                [e.turn for e in events],
                [e.kind for e in events],
                [_COMPACT.encode(e.data) for e in events],
            ),
        )
        return last

    async def get(self, task_id: str) -> Task | None:
        return await self._run(_get, task_id)

    async def find_by_session(self, session_id: str) -> Task | None:
        """The newest task whose agent session id is ``session_id``."""
        return await self._run(_find_by_session, session_id)

    async def list_tasks(
        self,
        *,
        statuses: Iterable[TaskStatus] | None = None,
        limit: int | None = None,
        offset: int = 0,
        oldest_first: bool = False,
    ) -> list[Task]:
        return await self._run(_list_tasks, list(statuses or []), limit, offset, oldest_first)

    async def count_by_status(self) -> dict[str, int]:
        return await self._run(_count_by_status)

    async def statistics(self) -> dict[str, Any]:
        """Counts by status and agent, mean duration of ended tasks, events and log lines."""
        return await self._run(_statistics)

    async def ledger(self) -> list[dict[str, Any]]:
        """Cost and tokens summed by project, agent and day (of the task's creation, UTC)."""
        return await self._run(_rows, _LEDGER, ())

    async def count_with_session(self) -> int:
        """Tasks whose agent conversation exists (a session id was reported)."""
        return int(
            await self._run(_scalar, "SELECT COUNT(*) FROM tasks WHERE session_id IS NOT NULL")
        )

    def size_bytes(self) -> int:
        """Size of the database (all of it: tasks, events, tokens, audit, indexes)."""
        return int(self._now(_scalar, "SELECT pg_database_size(current_database())"))

    async def delete(self, task_id: str) -> bool:
        return await self._run(self._delete, task_id)

    def _delete(self, db: Conn, task_id: str) -> bool:
        self._take_ids(db, 0)
        gone = db.execute("DELETE FROM tasks WHERE id = %s", (task_id,)).rowcount == 1
        if gone:
            self._notify(db, task_id, "deleted", None, 0)
        return gone

    # -- events ---------------------------------------------------------------------

    async def events(
        self,
        task_id: str,
        *,
        after_seq: int = 0,
        limit: int | None = None,
        kinds: Iterable[str] | None = None,
    ) -> list[Event]:
        return await self._run(_events, task_id, after_seq, limit, list(kinds or []))

    async def events_after(
        self, after_id: int, task_id: str | None = None, limit: int = 500
    ) -> list[Event]:
        """Events of every task (or of ``task_id``) whose global ``id`` is past ``after_id``,
        in id order, at most ``limit``."""
        return await self._run(_events_after, after_id, task_id, limit)

    async def last_event_id(self) -> int:
        """The newest event's global id (0 before the first event)."""
        return int(await self._run(_scalar, "SELECT last FROM event_cursor"))

    async def last_events(self, task_id: str, n: int, kinds: Iterable[str]) -> list[Event]:
        """The newest ``n`` events of the given kinds, oldest first."""
        return await self._run(_last_events, task_id, n, list(kinds))

    async def tally(self, task_id: str) -> Tally:
        """The task's counters (zeros for an unknown task)."""
        return await self._run(_tally, task_id)

    async def snapshot(
        self, task_id: str, tool_calls: int, recent: int, kinds: Iterable[str]
    ) -> TaskSnapshot | None:
        """The task, its tally, newest tool events and newest ``kinds`` events, in one read."""
        return await self._run(_snapshot, task_id, tool_calls, recent, list(kinds))

    async def count_events(self, task_id: str | None = None, kinds: Iterable[str] = ()) -> int:
        return await self._run(_count_events, task_id, list(kinds))

    # -- access tokens and the audit log (agentdeck.auth) ------------------------------

    async def add_token(self, row: dict[str, Any]) -> bool:
        """Insert a token row; False if its name (or hash) exists."""
        try:
            await self._run(_insert_row, "tokens", row, False)
        except psycopg.errors.UniqueViolation:
            return False
        self._tokens_seen = True
        return True

    async def token_by_hash(self, digest: str) -> dict[str, Any] | None:
        return await self._run(_token_by_hash, digest)

    async def list_tokens(self) -> list[dict[str, Any]]:
        """Every token row (revoked included), oldest first, without the hash."""
        return await self._run(_list_tokens)

    async def has_tokens(self) -> bool:
        """Whether any token was ever created (revoked and expired ones count); once true
        it stays true, so it is asked of the database only until then."""
        if not self._tokens_seen:
            self._tokens_seen = bool(
                await self._run(_scalar, "SELECT EXISTS(SELECT 1 FROM tokens)")
            )
        return self._tokens_seen

    async def revoke_token(self, name: str, when: str) -> bool:
        """Mark ``name`` revoked; False if no such (unrevoked) token."""
        return await self._run(
            _rowcount,
            "UPDATE tokens SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL",
            (when, name),
        )

    async def touch_token(self, name: str, when: str) -> None:
        await self._run(
            _rowcount, "UPDATE tokens SET last_used_at = %s WHERE name = %s", (when, name)
        )

    async def add_audit(self, row: dict[str, Any]) -> int:
        """Insert an audit row; its id."""
        return int(await self._run(_insert_row, "audit", row, True))

    async def finish_audit(self, entry_id: int, outcome: str, task_id: str | None) -> None:
        """Set a started audit row's outcome (and task id, if it was not known)."""
        await self._run(
            _rowcount,
            "UPDATE audit SET outcome = %s, task_id = COALESCE(task_id, %s) WHERE id = %s",
            (outcome, task_id, entry_id),
        )

    async def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` audit rows, newest first."""
        return await self._run(_rows, "SELECT * FROM audit ORDER BY id DESC LIMIT %s", (limit,))


# -- statements: each takes the connection (its transaction) to run on ------------------


def _scalar(db: Conn, sql: str) -> Any:
    row = db.execute(sql).fetchone()
    assert row is not None
    return next(iter(row.values()))


def _rows(db: Conn, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    return db.execute(sql, params).fetchall()


def _rowcount(db: Conn, sql: str, params: Sequence[Any]) -> bool:
    return db.execute(sql, params).rowcount == 1


def _insert_row(db: Conn, table: str, row: dict[str, Any], returning: bool) -> int:
    cols = ", ".join(row)
    sql = f"INSERT INTO {table} ({cols}) VALUES ({', '.join(f'%({c})s' for c in row)})"
    if not returning:
        db.execute(sql, row)
        return 0
    got = db.execute(sql + " RETURNING id", row).fetchone()
    assert got is not None
    return int(got["id"])


def _get(db: Conn, task_id: str) -> Task | None:
    row = db.execute("SELECT * FROM tasks WHERE id = %s", (task_id,)).fetchone()
    return _task_from_row(row) if row else None


def _find_by_session(db: Conn, session_id: str) -> Task | None:
    row = db.execute(
        "SELECT * FROM tasks WHERE session_id = %s ORDER BY created_at DESC LIMIT 1",
        (session_id,),
    ).fetchone()
    return _task_from_row(row) if row else None


def _list_tasks(
    db: Conn, statuses: list[TaskStatus], limit: int | None, offset: int, oldest_first: bool
) -> list[Task]:
    where = ""
    params: list[Any] = []
    if statuses:
        where = "WHERE status = ANY(%s)"
        params.append([str(s) for s in statuses])
    order = "ASC" if oldest_first else "DESC"
    sql = f"SELECT * FROM tasks {where} ORDER BY created_at {order}, id {order}"
    sql += " LIMIT %s OFFSET %s"
    params.extend([limit, offset])
    return [_task_from_row(r) for r in db.execute(sql, params)]


def _count_by_status(db: Conn) -> dict[str, int]:
    rows = db.execute(
        "SELECT status, SUM(tasks)::bigint AS n FROM task_totals GROUP BY 1 HAVING SUM(tasks) > 0"
    )
    return {r["status"]: int(r["n"]) for r in rows}


def _statistics(db: Conn) -> dict[str, Any]:
    """From `task_totals`, kept by a trigger: O(statuses × agents), not O(tasks)."""
    by_status = _count_by_status(db)
    by_agent = {
        r["agent"]: int(r["n"])
        for r in db.execute(
            "SELECT agent, SUM(tasks)::bigint AS n FROM task_totals"
            " GROUP BY 1 HAVING SUM(tasks) > 0"
        )
    }
    totals = db.execute(
        "SELECT COALESCE(SUM(ended), 0)::bigint AS ended,"
        " COALESCE(SUM(duration_sum), 0)::double precision AS duration,"
        " COALESCE(SUM(events), 0)::bigint AS events,"
        " COALESCE(SUM(log_events), 0)::bigint AS logs,"
        " COALESCE(SUM(cost), 0)::double precision AS cost FROM task_totals"
    ).fetchone()
    assert totals is not None
    ended = int(totals["ended"])
    return {
        "by_status": by_status,
        "by_agent": by_agent,
        "average_duration_seconds": round(totals["duration"] / ended, 3) if ended else None,
        "total_events": int(totals["events"]),
        "total_log_events": int(totals["logs"]),
        "total_cost_usd": max(0.0, float(totals["cost"])),
    }


_LEDGER = (
    "SELECT project_path, agent, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,"
    " COUNT(*) AS tasks, SUM(cost_known::int)::bigint AS cost_known_tasks,"
    " SUM(CASE WHEN cost_known THEN cost_usd END) AS cost_usd,"
    " SUM(input_tokens)::bigint AS input_tokens, SUM(output_tokens)::bigint AS output_tokens,"
    " SUM(cache_read_tokens)::bigint AS cache_read_tokens,"
    " SUM(cache_creation_tokens)::bigint AS cache_creation_tokens"
    " FROM tasks GROUP BY 1, 2, 3 ORDER BY 3, 1, 2"
)


def _events(
    db: Conn, task_id: str, after_seq: int, limit: int | None, kinds: list[str]
) -> list[Event]:
    sql = "SELECT * FROM events WHERE task_id = %s AND seq > %s"
    params: list[Any] = [task_id, after_seq]
    if kinds:
        sql += " AND kind = ANY(%s)"
        params.append(kinds)
    sql += " ORDER BY seq LIMIT %s"
    params.append(limit)
    return [_event_from_row(r) for r in db.execute(sql, params)]


def _events_after(db: Conn, after_id: int, task_id: str | None, limit: int) -> list[Event]:
    sql = "SELECT * FROM events WHERE id > %s"
    params: list[Any] = [after_id]
    if task_id is not None:
        sql += " AND task_id = %s"
        params.append(task_id)
    rows = db.execute(sql + " ORDER BY id LIMIT %s", [*params, limit])
    return [_event_from_row(r) for r in rows]


def _last_events(db: Conn, task_id: str, n: int, kinds: list[str]) -> list[Event]:
    rows = db.execute(
        "SELECT * FROM events WHERE task_id = %s AND kind = ANY(%s) ORDER BY seq DESC LIMIT %s",
        (task_id, kinds, n),
    ).fetchall()
    return [_event_from_row(r) for r in reversed(rows)]


_TOOL_EVENTS = "kind IN ('tool_call', 'tool_result')"  # the events_tools index's condition


def _last_tool_events(db: Conn, task_id: str, calls: int) -> list[Event]:
    row = db.execute(
        "SELECT MIN(seq) AS first FROM (SELECT seq FROM events"
        f" WHERE task_id = %s AND {_TOOL_EVENTS}"
        " AND kind = 'tool_call' ORDER BY seq DESC LIMIT %s) AS newest",
        (task_id, calls),
    ).fetchone()
    first = row["first"] if row else None
    if first is None:
        return []
    rows = db.execute(
        f"SELECT * FROM events WHERE task_id = %s AND {_TOOL_EVENTS} AND seq >= %s ORDER BY seq",
        (task_id, first),
    )
    return [_event_from_row(r) for r in rows]


def _tally(db: Conn, task_id: str) -> Tally:
    row = db.execute(
        "SELECT log_events, tool_calls, commands, files_affected FROM tasks WHERE id = %s",
        (task_id,),
    ).fetchone()
    if row is None:
        return Tally()
    return Tally(row["log_events"], row["tool_calls"], row["commands"], row["files_affected"])


def _snapshot(
    db: Conn, task_id: str, tool_calls: int, recent: int, kinds: list[str]
) -> TaskSnapshot | None:
    # One snapshot for every statement: the rows agree with each other.
    db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    row = db.execute("SELECT * FROM tasks WHERE id = %s", (task_id,)).fetchone()
    if row is None:
        return None
    tally = Tally(row["log_events"], row["tool_calls"], row["commands"], row["files_affected"])
    return TaskSnapshot(
        _task_from_row(row),
        tally,
        _last_tool_events(db, task_id, tool_calls),
        _last_events(db, task_id, recent, kinds),
    )


def _count_events(db: Conn, task_id: str | None, kinds: list[str]) -> int:
    sql = "SELECT COUNT(*) AS n FROM events WHERE TRUE"
    params: list[Any] = []
    if task_id is not None:
        sql += " AND task_id = %s"
        params.append(task_id)
    if kinds:
        sql += " AND kind = ANY(%s)"
        params.append(kinds)
    row = db.execute(sql, params).fetchone()
    return int(row["n"]) if row else 0


def _token_by_hash(db: Conn, digest: str) -> dict[str, Any] | None:
    return db.execute("SELECT * FROM tokens WHERE hash = %s", (digest,)).fetchone()


def _list_tokens(db: Conn) -> list[dict[str, Any]]:
    rows = db.execute("SELECT * FROM tokens ORDER BY created_at, name").fetchall()
    return [{k: v for k, v in r.items() if k != "hash"} for r in rows]


__all__ = ["CHANNEL", "SCHEMA_VERSION", "PostgresStore"]
