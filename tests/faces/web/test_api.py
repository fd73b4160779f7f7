"""The REST face in-process: tokens and scopes, answers, and JSON for every error."""

from __future__ import annotations

import pytest

from agentdeck.agents.testing import Ask, FakeAgent
from agentdeck.config import Settings
from agentdeck.model import TaskStatus
from agentdeck.web.api import MAX_BODY
from support.core import create, task_in
from support.rest import error_of, rest

pytestmark = pytest.mark.anyio


async def test_answer_a_pending_decision(core_settings: Settings) -> None:
    agent = FakeAgent(steps=[Ask("Bash", {"command": "make"})])
    settings = core_settings.model_copy(update={"approval_policy": "ask"})
    async with rest(settings, agent) as (http, core, auth):
        task = await create(core, "rest", "build")
        await task_in(core, task.id, TaskStatus.INPUT_REQUIRED)
        pending = (await http.get("/pending", headers=auth["read"])).json()
        assert pending["count"] == 1 and pending["pending"][0]["tool"] == "Bash"

        url = f"/tasks/{task.id}/respond"
        forbidden = await http.post(url, json={"decision": "allow"}, headers=auth["read"])
        assert "needs the write scope" in error_of(forbidden, 403, "forbidden")
        bad = await http.post(url, json={"decision": "maybe"}, headers=auth["write"])
        assert "decision" in error_of(bad, 400, "validation_error")
        extra = await http.post(url, json={"decision": "allow", "colour": 1}, headers=auth["write"])
        assert "unknown argument 'colour'" in error_of(extra, 400, "validation_error")
        answered = await http.post(url, json={"decision": "allow"}, headers=auth["write"])
        assert answered.status_code == 200, answered.text
        assert answered.json()["tool"] == "Bash"
        done = await task_in(core, task.id, TaskStatus.WAITING)
        assert done.status == TaskStatus.WAITING
        again = await http.post(url, json={"decision": "allow"}, headers=auth["write"])
        error_of(again, 409, "invalid_state")

        detail = (await http.get(f"/tasks/{task.id}", headers=auth["read"])).json()
        assert detail["status"] == "waiting" and detail["logs_count"] > 0
        error_of(await http.get("/tasks/t-nope", headers=auth["read"]), 404, "not_found")
        audit = await core.audit_entries()
        assert [(a["tool"], a["outcome"], a["who"]) for a in audit[:2]] == [
            ("POST /api/tasks/{id}/respond", "error", "write"),
            ("POST /api/tasks/{id}/respond", "ok", "write"),
        ]
    assert agent.answers == [(True, "")]


async def test_every_error_is_json(core_settings: Settings) -> None:
    async with rest(core_settings, FakeAgent()) as (http, core, auth):
        task = await create(core, "t", "hi")
        write = auth["write"]
        unauthorized = await http.get("/tasks")
        error_of(unauthorized, 401, "unauthorized")
        assert unauthorized.headers["www-authenticate"].startswith("Bearer")
        error_of(
            await http.get("/tasks", headers={"Authorization": "Bearer adk_x"}), 401, "unauthorized"
        )
        assert "no such endpoint" in error_of(
            await http.get("/nothing", headers=write), 404, "not_found"
        )
        error_of(await http.delete(f"/tasks/{task.id}", headers=write), 405, "method_not_allowed")
        url = f"/tasks/{task.id}/respond"
        big = await http.post(
            url,
            content=b"{" + b" " * MAX_BODY + b"}",
            headers={**write, "Content-Type": "application/json"},
        )
        assert str(MAX_BODY) in error_of(big, 413, "too_large")
        typed = await http.post(
            url, content=b"decision=allow", headers={**write, "Content-Type": "text/plain"}
        )
        assert "application/json" in error_of(typed, 400, "validation_error")
        broken = await http.post(
            url, content=b"{nope", headers={**write, "Content-Type": "application/json"}
        )
        assert "not valid JSON" in error_of(broken, 400, "validation_error")
        listed = await http.post(url, json=["allow"], headers=write)
        assert "JSON object" in error_of(listed, 400, "validation_error")
        error_of(await http.get("/tasks?limit=ten", headers=write), 400, "validation_error")
        error_of(await http.get("/tasks?status=sleeping", headers=write), 400, "validation_error")
        error_of(await http.get("/tasks?cursor=zzz", headers=write), 400, "validation_error")


async def test_tasks_are_paged_by_cursor_and_filtered(core_settings: Settings) -> None:
    async with rest(core_settings, FakeAgent()) as (http, core, auth):
        ids = [(await create(core, f"t{i}", "hi")).id for i in range(5)]
        for task_id in ids:
            await task_in(core, task_id, TaskStatus.WAITING)
        await core.end(ids[0])
        seen: list[str] = []
        cursor = None
        while True:
            query = "/tasks?limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = (await http.get(query, headers=auth["read"])).json()
            assert page["count"] == 5
            seen += [t["id"] for t in page["tasks"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids[::-1]  # newest first, each once
        done = (await http.get("/tasks?status=completed", headers=auth["read"])).json()
        assert [t["id"] for t in done["tasks"]] == [ids[0]] and done["count"] == 1
