"""Claude Code conversations in the shared PostgreSQL database, so they can travel.

`PostgresSessionStore` is a claude-agent-sdk ``SessionStore``: the SDK mirrors every
transcript line the CLI writes into it (``append``), and a resume on any worker loads
the transcript back (``load``, ``list_subkeys`` for subagents) into a temporary config
directory the CLI resumes from. Rows are kept per key (project key, session id,
subpath) in call order; entries are ``json`` (the text as written). The SDK never
deletes through a store by itself: ``delete`` removes a session and its subagent
transcripts; the conformance suite of the SDK (``claude_agent_sdk.testing``) pins the
contract in ``tests/unit/workers/test_sessions.py``. ``list_sessions`` and
``list_session_summaries`` are left out (agentdeck resumes by session id).
"""

from __future__ import annotations

from claude_agent_sdk import SessionStore
from claude_agent_sdk.types import SessionKey, SessionListSubkeysKey, SessionStoreEntry
from psycopg.types.json import Json

from agentdeck.workers.pooled import Conn, Pooled


class PostgresSessionStore(Pooled, SessionStore):
    """Claude session transcripts in the ``claude_sessions`` table (see the module)."""

    # Absent, as the SDK sees it: the protocol's own (agentdeck resumes by session id).
    list_sessions = SessionStore.list_sessions
    list_session_summaries = SessionStore.list_session_summaries

    def __init__(self, url: str) -> None:
        super().__init__(url, min_size=0, max_size=2)

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        if not entries:
            return
        where = _where(key)

        def go(db: Conn) -> None:
            with db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO claude_sessions (project_key, session_id, subpath, entry)"
                    " VALUES (%s, %s, %s, %s)",
                    [(*where, Json(entry)) for entry in entries],
                )

        await self._run(go)

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        def go(db: Conn) -> list[SessionStoreEntry]:
            rows = db.execute(
                "SELECT entry FROM claude_sessions WHERE project_key = %s AND session_id = %s"
                " AND subpath = %s ORDER BY seq",
                _where(key),
            ).fetchall()
            return [row["entry"] for row in rows]

        entries = await self._run(go)
        return entries or None

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        def go(db: Conn) -> list[str]:
            rows = db.execute(
                "SELECT DISTINCT subpath FROM claude_sessions WHERE project_key = %s"
                " AND session_id = %s AND subpath <> '' ORDER BY subpath",
                (key["project_key"], key["session_id"]),
            ).fetchall()
            return [row["subpath"] for row in rows]

        return await self._run(go)

    async def delete(self, key: SessionKey) -> None:
        """Remove a transcript; the main one takes its subagent transcripts with it."""
        subpath = key.get("subpath")

        def go(db: Conn) -> None:
            sql = "DELETE FROM claude_sessions WHERE project_key = %s AND session_id = %s"
            params: tuple[str, ...] = (key["project_key"], key["session_id"])
            if subpath:
                sql, params = f"{sql} AND subpath = %s", (*params, subpath)
            db.execute(sql, params)

        await self._run(go)

    async def holds(self, project_key: str, session_id: str) -> bool:
        """Whether the main transcript of ``session_id`` is here (it can be resumed)."""

        def go(db: Conn) -> bool:
            row = db.execute(
                "SELECT 1 FROM claude_sessions WHERE project_key = %s AND session_id = %s"
                " AND subpath = '' LIMIT 1",
                (project_key, session_id),
            ).fetchone()
            return row is not None

        return await self._run(go)


def _where(key: SessionKey) -> tuple[str, str, str]:
    return key["project_key"], key["session_id"], key.get("subpath") or ""
