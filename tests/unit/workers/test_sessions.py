"""The shared Claude session store on a real PostgreSQL (agentdeck.workers.sessions), and
one task's view of it (agentdeck.agents.claude_store)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from claude_agent_sdk.testing import run_session_store_conformance
from claude_agent_sdk.types import SessionKey

from agentdeck.agents.claude_store import TaskSessions, project_key
from agentdeck.store.postgres import PostgresStore
from agentdeck.workers.sessions import PostgresSessionStore

pytestmark = pytest.mark.anyio


@pytest.fixture
def sessions_url(postgres_url: str) -> Iterator[str]:
    PostgresStore(postgres_url).close()  # the schema, as the front makes it
    yield postgres_url


async def test_it_keeps_the_sdk_contract_of_a_session_store(sessions_url: str) -> None:
    made: list[PostgresSessionStore] = []

    def fresh() -> PostgresSessionStore:
        store = PostgresSessionStore(sessions_url)
        made.append(store)
        with store._pool.connection() as db:  # each contract starts from an empty table
            db.execute("DELETE FROM claude_sessions")
        return store

    try:
        await run_session_store_conformance(fresh)
    finally:
        for store in made:
            store.close()


async def test_a_task_finds_its_conversation_from_any_working_directory(
    sessions_url: str,
) -> None:
    store = PostgresSessionStore(sessions_url)
    try:
        # the SDK keys by the CLI's directory, which differs from one worker to the next
        on_one = TaskSessions(store, "t-abc")
        await on_one.append({"project_key": "-home-w1-worktrees-x", "session_id": "s1"}, [
            {"type": "user", "uuid": "u1"},
        ])  # fmt: skip
        await on_one.append(
            {"project_key": "-home-w1-worktrees-x", "session_id": "s1", "subpath": "subagents/a"},
            [{"type": "user", "uuid": "u2"}],
        )
        on_another = TaskSessions(store, "t-abc")
        key: SessionKey = {"project_key": "-srv-w2-worktrees-x", "session_id": "s1"}
        assert await on_another.load(key) == [{"type": "user", "uuid": "u1"}]
        assert await on_another.list_subkeys(key) == ["subagents/a"]
        assert await store.holds(project_key("t-abc"), "s1")
        # another task never sees it
        assert await TaskSessions(store, "t-other").load(key) is None
        assert not await store.holds(project_key("t-other"), "s1")
        await on_another.delete(key)
        assert not await store.holds(project_key("t-abc"), "s1")
        assert await on_one.list_subkeys(key) == []
    finally:
        store.close()
