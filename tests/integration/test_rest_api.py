"""The REST API: tasks, pending decisions, and answering one — with tokens and scopes."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from mcp import Client

from agentdeck.auth import create_token
from agentdeck.config import Settings
from agentdeck.store import SqliteStore
from support.servers import call, serve, wait_status

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]


def _base(url: str) -> str:
    return url.removesuffix("/mcp")


async def test_answer_a_pending_decision_over_rest(settings: Settings, project: Path) -> None:
    asking = settings.model_copy(update={"approval_policy": "ask"})
    async with serve(asking) as srv, Client(srv.url) as client, httpx2.AsyncClient() as http:
        created = await call(
            client, "create_task", title="Rest", instructions="BASH echo rest > rest.txt"
        )
        task_id = created["result"]["task_id"]
        await wait_status(client, task_id, {"input_required"})
        pending = (await http.get(f"{_base(srv.url)}/api/pending")).json()
        assert pending["count"] == 1 and pending["pending"][0]["task_id"] == task_id

        bad = await http.post(
            f"{_base(srv.url)}/api/tasks/{task_id}/respond", json={"decision": "maybe"}
        )
        assert bad.status_code == 400 and "decision" in bad.json()["error"]["message"]
        extra = await http.post(
            f"{_base(srv.url)}/api/tasks/{task_id}/respond",
            json={"decision": "allow", "colour": "red"},
        )
        assert extra.status_code == 400
        answered = await http.post(
            f"{_base(srv.url)}/api/tasks/{task_id}/respond", json={"decision": "allow"}
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["tool"] == "Bash"
        await wait_status(client, task_id, {"waiting"})
        assert (project / "rest.txt").exists()
        again = await http.post(
            f"{_base(srv.url)}/api/tasks/{task_id}/respond", json={"decision": "allow"}
        )
        assert again.status_code == 409
        detail = (await http.get(f"{_base(srv.url)}/api/tasks/{task_id}")).json()
        assert detail["status"] == "waiting"
        missing = await http.get(f"{_base(srv.url)}/api/tasks/t-nope")
        assert missing.status_code == 404
        audit = await srv.deck.core.audit_entries()
        assert any(
            a["tool"] == "POST /api/tasks/{id}/respond" and a["outcome"] == "ok" for a in audit
        )


async def test_rest_needs_a_token_with_the_right_scope(settings: Settings) -> None:
    store = SqliteStore(settings.db_path)
    try:
        read_token, _ = await create_token(store, "reader", "read")
        write_token, _ = await create_token(store, "writer", "write")
    finally:
        store.close()
    async with serve(settings) as srv, httpx2.AsyncClient() as http:
        base = _base(srv.url)
        assert (await http.get(f"{base}/api/tasks")).status_code == 401
        read = {"Authorization": f"Bearer {read_token}"}
        assert (await http.get(f"{base}/api/tasks", headers=read)).status_code == 200
        denied = await http.post(
            f"{base}/api/tasks/t-x/respond", headers=read, json={"decision": "allow"}
        )
        assert denied.status_code == 403 and "write" in denied.json()["error"]["message"]
        write = {"Authorization": f"Bearer {write_token}"}
        unknown = await http.post(
            f"{base}/api/tasks/t-x/respond", headers=write, json={"decision": "allow"}
        )
        assert unknown.status_code == 404
