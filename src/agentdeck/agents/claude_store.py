"""One task's view of a shared claude-agent-sdk ``SessionStore``.

The SDK keys a transcript by a *project key* derived from the CLI's working directory.
A task's worktree lies at a different path on each worker, so agentdeck keys its
transcripts by the task instead: `TaskSessions` replaces every key's project with
``agentdeck-<task id>``, and a resume on another worker finds the conversation.
"""

from __future__ import annotations

from claude_agent_sdk import SessionStore
from claude_agent_sdk.types import SessionKey, SessionListSubkeysKey, SessionStoreEntry


def project_key(task_id: str) -> str:
    """The project key of ``task_id``'s transcripts in a shared store."""
    return f"agentdeck-{task_id}"


class TaskSessions(SessionStore):
    """``store`` with every key scoped to one task (see the module)."""

    # Absent, as the SDK sees it: the protocol's own (agentdeck resumes by session id).
    list_sessions = SessionStore.list_sessions
    list_session_summaries = SessionStore.list_session_summaries

    def __init__(self, store: SessionStore, task_id: str) -> None:
        self.store = store
        self.project_key = project_key(task_id)

    def _key(self, key: SessionKey) -> SessionKey:
        scoped: SessionKey = {"project_key": self.project_key, "session_id": key["session_id"]}
        if subpath := key.get("subpath"):
            scoped["subpath"] = subpath
        return scoped

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        await self.store.append(self._key(key), entries)

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        return await self.store.load(self._key(key))

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        return await self.store.list_subkeys(
            {"project_key": self.project_key, "session_id": key["session_id"]}
        )

    async def delete(self, key: SessionKey) -> None:
        await self.store.delete(self._key(key))
