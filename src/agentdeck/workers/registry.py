"""The workers, dispatches and decisions tables (PostgreSQL; created by the store's migrations).

A worker registers (name, labels, agents, roots, capacity) and heartbeats; the clock is
the database's, so machines need not agree on the time. A *dispatch* is one turn sent
to one worker: ``queued`` (the front deferred a job), ``running`` (the worker claimed
it), ``done`` or ``lost`` (its worker died). Its ``attempt`` grows with each dispatch of
the task, and a worker claims only the attempt it was sent: a duplicate or late
delivery of an old job finds nothing to claim and exits. A *decision* is the first
answer to a request a worker's turn waits on (`agentdeck.workers.decisions`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Json

from agentdeck.store.postgres import CHANNEL
from agentdeck.workers.pooled import Conn, Pooled

OPEN = ("queued", "running")  # dispatches that hold a slot of their worker
_SCHEMA_LOCK = 0x70726F63  # advisory lock: one procrastinate schema install at a time


@dataclass
class WorkerInfo:
    """One registered worker, as listed (``alive`` by its last heartbeat)."""

    name: str
    state: str  # alive | dead
    labels: dict[str, str] = field(default_factory=dict)
    agents: list[str] = field(default_factory=list)
    roots: list[str] = field(default_factory=list)
    max_running: int = 1
    load: int = 0  # open dispatches
    started_at: str | None = None
    heartbeat_at: str | None = None
    heartbeat_age_seconds: float = 0.0

    def serves(self, agent: str, project_path: str) -> bool:
        """Whether it has the agent and one of its roots holds ``project_path``."""
        return agent in self.agents and any(_within(project_path, r) for r in self.roots)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _within(path: str, root: str) -> bool:
    return Path(path) == Path(root) or Path(root) in Path(path).parents


def matches(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def choose(
    workers: Sequence[WorkerInfo],
    agent: str,
    project_path: str,
    *,
    labels: dict[str, str] | None = None,
    worker: str | None = None,
) -> tuple[WorkerInfo | None, str]:
    """The live worker for a turn (least loaded first), or None and why none.

    The reason starts with ``none`` when no live worker could ever serve it and with
    ``full`` when some could but have no free slot."""
    able = [
        w
        for w in workers
        if w.state == "alive"
        and w.serves(agent, project_path)
        and matches(w.labels, labels or {})
        and (worker is None or w.name == worker)
    ]
    if not able:
        wanted = f"live worker {worker!r}" if worker else "live worker"
        extra = f" with labels {labels}" if labels else ""
        return (
            None,
            f"none: no {wanted}{extra} has agent {agent!r} and a root holding {project_path}",
        )
    free = [w for w in able if w.load < w.max_running]
    if not free:
        return None, f"full: waiting for a free slot on {', '.join(w.name for w in able)}"
    best = min(free, key=lambda w: (w.load / w.max_running, w.load, w.name))
    return best, ""


class Registry(Pooled):
    """Workers and dispatches on the shared database."""

    # -- workers ------------------------------------------------------------------

    async def register(
        self,
        name: str,
        labels: dict[str, str],
        agents: list[str],
        roots: list[str],
        max_running: int,
    ) -> None:
        def go(db: Conn) -> None:
            db.execute(
                "INSERT INTO workers (name, labels, agents, roots, max_running, state,"
                " started_at, heartbeat_at) VALUES (%s, %s, %s, %s, %s, 'alive', now(), now())"
                " ON CONFLICT (name) DO UPDATE SET labels = excluded.labels,"
                " agents = excluded.agents, roots = excluded.roots,"
                " max_running = excluded.max_running, state = 'alive', running = 0,"
                " started_at = now(), heartbeat_at = now()",
                (name, Json(labels), Json(agents), Json(roots), max_running),
            )
            # What it held before it (re)started is gone with its old process.
            db.execute(
                "UPDATE dispatches SET state = 'lost', updated_at = now()"
                " WHERE worker = %s AND state = 'running'",
                (name,),
            )

        await self._run(go)

    async def heartbeat(self, name: str, running: int) -> None:
        await self._run(
            _exec,
            "UPDATE workers SET heartbeat_at = now(), running = %s, state = 'alive'"
            " WHERE name = %s",
            (running, name),
        )

    async def leave(self, name: str) -> None:
        """A worker stopping cleanly: dead at once, not after a timeout."""
        await self._run(_exec, "UPDATE workers SET state = 'dead' WHERE name = %s", (name,))

    async def workers(self, silent_for: float) -> list[WorkerInfo]:
        """Every registered worker; one silent for ``silent_for`` seconds counts as dead."""
        return await self._run(_workers, silent_for)

    async def reap(self, silent_for: float) -> list[tuple[str, list[str]]]:
        """Mark workers silent for ``silent_for`` seconds dead; for each dead worker that
        held dispatches, its tasks (those dispatches are now ``lost``)."""
        return await self._run(_reap, silent_for)

    # -- dispatches ---------------------------------------------------------------

    async def open_dispatches(self) -> dict[str, str]:
        """task id -> worker, for every queued or running dispatch."""
        rows = await self._run(
            _rows, "SELECT task_id, worker FROM dispatches WHERE state = ANY(%s)", (list(OPEN),)
        )
        return {r["task_id"]: r["worker"] for r in rows}

    async def last_worker(self, task_id: str) -> str | None:
        rows = await self._run(
            _rows, "SELECT worker FROM dispatches WHERE task_id = %s", (task_id,)
        )
        return rows[0]["worker"] if rows else None

    async def dispatch(self, task_id: str, worker: str) -> int | None:
        """Open a dispatch of the task to ``worker``; its attempt (None: one is open)."""

        def go(db: Conn) -> int | None:
            row = db.execute(
                "INSERT INTO dispatches AS d (task_id, worker, attempt, state)"
                " VALUES (%s, %s, 1, 'queued') ON CONFLICT (task_id) DO UPDATE SET"
                " worker = excluded.worker, attempt = d.attempt + 1, state = 'queued',"
                " updated_at = now() WHERE d.state <> ALL(%s) RETURNING attempt",
                (task_id, worker, list(OPEN)),
            ).fetchone()
            return int(row["attempt"]) if row else None

        return await self._run(go)

    async def claim(self, task_id: str, attempt: int, worker: str) -> bool:
        """The worker takes the dispatch it was sent; False for a duplicate or stale one."""
        return await self._run(
            _exec,
            "UPDATE dispatches SET state = 'running', updated_at = now() WHERE task_id = %s"
            " AND attempt = %s AND worker = %s AND state = 'queued'",
            (task_id, attempt, worker),
        )

    async def finish(self, task_id: str, attempt: int) -> None:
        await self._run(
            _exec,
            "UPDATE dispatches SET state = 'done', updated_at = now() WHERE task_id = %s"
            " AND attempt = %s AND state = ANY(%s)",
            (task_id, attempt, list(OPEN)),
        )

    # -- travel -------------------------------------------------------------------

    async def record_travel(
        self, task_id: str, worker: str, session_id: str, remote: str, branch: str, sha: str
    ) -> None:
        """The task can go on on another worker: its conversation is in the shared store
        and its branch, at ``sha``, on ``remote``."""
        await self._run(
            _exec,
            "INSERT INTO travels (task_id, worker, session_id, remote, branch, commit_sha)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (task_id) DO UPDATE SET"
            " worker = excluded.worker, session_id = excluded.session_id,"
            " remote = excluded.remote, branch = excluded.branch,"
            " commit_sha = excluded.commit_sha, updated_at = now()",
            (task_id, worker, session_id, remote, branch, sha),
        )

    async def forget_travel(self, task_id: str) -> None:
        await self._run(_exec, "DELETE FROM travels WHERE task_id = %s", (task_id,))

    async def travel(self, task_id: str) -> dict[str, Any] | None:
        """What `record_travel` last said of the task (None: it stays where it ran)."""
        rows = await self._run(_rows, "SELECT * FROM travels WHERE task_id = %s", (task_id,))
        return rows[0] if rows else None

    # -- decisions ----------------------------------------------------------------

    async def answer(self, request_id: str, task_id: str, answer: dict[str, Any]) -> dict[str, Any]:
        """Record ``answer`` unless the request has one; the one recorded first. A new
        answer is announced on the changes channel (``what`` = ``answered``)."""

        def go(db: Conn) -> dict[str, Any]:
            if _exec(
                db,
                "INSERT INTO decisions (request_id, task_id, answer) VALUES (%s, %s, %s)"
                " ON CONFLICT (request_id) DO NOTHING",
                (request_id, task_id, Json(answer)),
            ):
                note = {"o": "decisions", "t": task_id, "w": "answered", "s": None, "q": 0}
                db.execute("SELECT pg_notify(%s, %s)", (CHANNEL, json.dumps(note)))
            row = db.execute(
                "SELECT answer FROM decisions WHERE request_id = %s", (request_id,)
            ).fetchone()
            assert row is not None
            return dict(row["answer"])

        return await self._run(go)

    async def answers(self, request_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """request id -> its recorded answer, for those of ``request_ids`` that have one."""
        rows = await self._run(
            _rows,
            "SELECT request_id, answer FROM decisions WHERE request_id = ANY(%s)",
            (list(request_ids),),
        )
        return {r["request_id"]: dict(r["answer"]) for r in rows}


def _exec(db: Conn, sql: str, params: Sequence[Any]) -> bool:
    return db.execute(sql, params).rowcount >= 1


def _rows(db: Conn, sql: str, params: Sequence[Any]) -> list[dict[str, Any]]:
    return db.execute(sql, params).fetchall()


def _workers(db: Conn, timeout: float) -> list[WorkerInfo]:
    rows = db.execute(
        "SELECT w.*, EXTRACT(EPOCH FROM now() - w.heartbeat_at)::double precision AS age,"
        " (SELECT COUNT(*) FROM dispatches d WHERE d.worker = w.name"
        "  AND d.state = ANY(%s)) AS load FROM workers w ORDER BY w.name",
        (list(OPEN),),
    ).fetchall()
    return [
        WorkerInfo(
            name=r["name"],
            state="alive" if r["state"] == "alive" and r["age"] < timeout else "dead",
            labels=r["labels"],
            agents=r["agents"],
            roots=r["roots"],
            max_running=int(r["max_running"]),
            load=int(r["load"]),
            started_at=r["started_at"].isoformat(),
            heartbeat_at=r["heartbeat_at"].isoformat(),
            heartbeat_age_seconds=round(float(r["age"]), 3),
        )
        for r in rows
    ]


def _reap(db: Conn, timeout: float) -> list[tuple[str, list[str]]]:
    db.execute(
        "UPDATE workers SET state = 'dead' WHERE state = 'alive'"
        " AND heartbeat_at < now() - make_interval(secs => %s)",
        (timeout,),
    )
    lost = db.execute(
        "UPDATE dispatches d SET state = 'lost', updated_at = now() FROM workers w"
        " WHERE w.name = d.worker AND w.state = 'dead' AND d.state = ANY(%s)"
        " RETURNING d.worker, d.task_id",
        (list(OPEN),),
    ).fetchall()
    out: dict[str, list[str]] = {}
    for row in lost:
        out.setdefault(row["worker"], []).append(row["task_id"])
    return sorted(out.items())


def ensure_queue_schema(url: str) -> None:
    """Install procrastinate's schema once (the first front or worker to start does)."""
    import procrastinate

    with psycopg.connect(url) as db, db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        row = db.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
        if row is not None and row[0]:
            return
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
        db.execute(app.schema_manager.get_schema().encode())
