"""The REST face's task operations in-process: create, continue, review, merge, and the
agents, projects, prompts and OpenAPI documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdeck import API_HEADER, __version__
from agentdeck.agents.base import TurnRequest
from agentdeck.agents.testing import FakeAgent, Gate, Say, Step
from agentdeck.config import Settings
from agentdeck.model import TaskStatus
from support.core import create, task_in
from support.git import git, init_repo
from support.rest import error_of, rest

pytestmark = pytest.mark.anyio

APP = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"


def writes_app(request: TurnRequest) -> list[Step]:
    """Write app.py in the task's workspace on its first turn; echo later ones."""
    path = Path(request.cwd) / "app.py"
    if not path.exists():
        path.write_text(APP)
        return [Say("wrote app.py")]
    return [Say(request.instructions)]


async def test_create_continue_cancel_end_over_rest(core_settings: Settings) -> None:
    async with rest(core_settings, FakeAgent()) as (http, core, auth):
        write = auth["write"]
        made = await http.post(
            "/tasks", json={"title": "Hi", "instructions": "hello"}, headers=write
        )
        assert made.status_code == 201, made.text
        task = made.json()
        assert task["title"] == "Hi" and task["status"] in ("pending", "in_progress", "waiting")
        await task_in(core, task["id"], TaskStatus.WAITING)

        listed = (await http.get("/tasks", headers=auth["read"])).json()["tasks"]
        assert listed[0]["id"] == task["id"] and listed[0]["needs_you"] is False
        assert listed[0]["project_path"] == task["project_path"]

        url = f"/tasks/{task['id']}"
        again = await http.post(f"{url}/continue", json={"instructions": "more"}, headers=write)
        assert again.status_code == 200 and again.json()["queued"] is False
        await task_in(core, task["id"], TaskStatus.WAITING)
        events = (await http.get(f"{url}/events?after=0", headers=auth["read"])).json()
        said = [e["data"]["text"] for e in events["events"] if e["kind"] == "message"]
        assert said == ["hello", "more"]
        ids = [e["id"] for e in events["events"]]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)

        ended = await http.post(f"{url}/end", headers=write)
        assert ended.json()["status"] == "completed"
        refused = await http.post(f"{url}/cancel", headers=write)
        assert "already completed" in error_of(refused, 409, "invalid_state")


async def test_status_and_log_and_every_answer_marked(core_settings: Settings) -> None:
    async with rest(core_settings, FakeAgent()) as (http, core, auth):
        read = auth["read"]
        status = await http.get("/status", headers=read)
        assert status.json()["version"] == __version__ and "fake" in status.json()["agents"]
        assert status.headers[API_HEADER] == __version__
        task = await create(core, "Logged", "hello there")
        await task_in(core, task.id, TaskStatus.WAITING)
        log = (await http.get(f"/tasks/{task.id}/log", headers=read)).json()
        assert log["task_id"] == task.id and "hello there" in log["log"]
        missing = await http.get("/tasks/t-nope/log", headers=read)
        error_of(missing, 404, "not_found")
        assert missing.headers[API_HEADER] == __version__  # errors are marked too
        unknown = await http.get("/nope", headers=read)
        error_of(unknown, 404, "not_found")
        assert API_HEADER in unknown.headers


async def test_refusals_name_what_was_wrong(core_settings: Settings) -> None:
    async with rest(core_settings, FakeAgent()) as (http, core, auth):
        write = auth["write"]
        task = await create(core, "t", "hi")
        missing = await http.post("/tasks", json={"title": "x"}, headers=write)
        assert "instructions is required" in error_of(missing, 400, "validation_error")
        body = await http.post(f"/tasks/{task.id}/cancel", json={"now": True}, headers=write)
        assert "takes no body" in error_of(body, 400, "validation_error")
        doubled = await http.post(
            f"/tasks/{task.id}/continue", json={"id": "other", "instructions": "x"}, headers=write
        )
        assert "comes from the path" in error_of(doubled, 400, "validation_error")
        query = await http.get("/tasks?colour=red", headers=write)
        assert "colour" in error_of(query, 400, "validation_error")
        error_of(await http.get("/tasks/nope", headers=write), 404, "not_found")
        read_only = await http.post(f"/tasks/{task.id}/end", headers=auth["read"])
        assert "write scope" in error_of(read_only, 403, "forbidden")


async def test_review_reaches_the_agent_with_every_comment(
    core_settings: Settings, project: Path
) -> None:
    init_repo(project)
    agent = FakeAgent(script=writes_app)
    async with rest(core_settings, agent) as (http, core, auth):
        write = auth["write"]
        task = await create(core, "app", "write app.py")
        await task_in(core, task.id, TaskStatus.WAITING)
        diff = (await http.get(f"/tasks/{task.id}/diff", headers=auth["read"])).json()
        assert "+def add(a, b):" in diff["diff"]

        comments = [
            {"file": "app.py", "line": 2, "comment": "check types", "snippet": "    return a + b"},
            {"file": "app.py", "line": 5, "comment": "rename to minus", "snippet": "def minus()"},
        ]
        sent = await http.post(
            f"/tasks/{task.id}/review", json={"comments": comments}, headers=write
        )
        assert sent.status_code == 200, sent.text
        placed = sent.json()["comments"]
        assert [c["moved"] for c in placed] == [False, True]
        await task_in(core, task.id, TaskStatus.WAITING)
        received = agent.requests[-1].instructions
        assert "app.py, line 2" in received and "check types" in received
        assert "    return a + b" in received
        assert "app.py, line 5 (the line has changed" in received and "rename to minus" in received

        outside = await http.post(
            f"/tasks/{task.id}/review",
            json={"comments": [{"file": "../../etc/passwd", "line": 1, "comment": "x"}]},
            headers=write,
        )
        assert "outside the task's workspace" in error_of(outside, 400, "validation_error")
        empty = await http.post(f"/tasks/{task.id}/review", json={"comments": []}, headers=write)
        error_of(empty, 400, "validation_error")

        merged = await http.post(f"/tasks/{task.id}/merge", json={}, headers=write)
        assert merged.status_code == 200, merged.text
        assert merged.json()["merge_commit"]
        assert "app.py" in git(project, "show", "--stat", "HEAD")


async def test_agents_projects_prompts(core_settings: Settings, project: Path) -> None:
    (project / "web").mkdir()
    (project / ".hidden").mkdir()
    async with rest(core_settings, FakeAgent()) as (http, _core, auth):
        read = auth["read"]
        agents = (await http.get("/agents", headers=read)).json()
        assert agents["agents"]["fake"]["available"] is True and agents["default"]
        projects = (await http.get("/projects", headers=read)).json()
        paths = [p["path"] for p in projects["projects"]]
        assert str(project) in projects["roots"] and str(project / "web") in paths
        assert str(project / ".hidden") not in paths
        prompts = (await http.get("/prompts", headers=read)).json()["prompts"]
        fix = next(p for p in prompts if p["name"] == "fix_bug")
        required = [a["name"] for a in fix["arguments"] if a["required"]]
        rendered = await http.get(
            "/prompts/fix_bug", params={a: "the login page" for a in required}, headers=read
        )
        assert rendered.status_code == 200, rendered.text
        assert "the login page" in rendered.json()["text"]
        error_of(await http.get("/prompts/nope", headers=read), 404, "not_found")


async def test_openapi_describes_every_operation(core_settings: Settings) -> None:
    async with rest(core_settings, FakeAgent()) as (http, _core, _auth):
        doc = (await http.get("/openapi.json")).json()
        assert doc["openapi"].startswith("3.1")
        ops = {(m, p) for p, item in doc["paths"].items() for m in item}
        wanted = [("get", "/api/tasks"), ("post", "/api/tasks"), ("get", "/api/events")]
        wanted += [("post", "/api/tasks/{id}/review"), ("post", "/api/tasks/{id}/respond")]
        assert set(wanted) <= ops
        create_body = doc["paths"]["/api/tasks"]["post"]["requestBody"]["content"]
        assert "instructions" in create_body["application/json"]["schema"]["properties"]
        review = doc["paths"]["/api/tasks/{id}/review"]["post"]["requestBody"]["content"]
        assert "id" not in review["application/json"]["schema"]["properties"]
        for item in doc["paths"].values():
            for entry in item.values():
                assert "default" in entry["responses"]  # the one error shape


async def test_steer_says_whether_the_words_went_in_now_or_queued(
    core_settings: Settings,
) -> None:
    gate = Gate()
    agent = FakeAgent(steps=[gate, Say("done")])
    async with rest(core_settings, agent) as (http, core, auth):
        task = await create(core, "t", "work", isolation="none")
        await task_in(core, task.id, TaskStatus.IN_PROGRESS)
        url = f"/tasks/{task.id}/steer"
        queued = await http.post(
            url, json={"instructions": "also add tests"}, headers=auth["write"]
        )
        assert queued.status_code == 200, queued.text
        assert queued.json()["delivered"] == "queued"
        gate.open()
        await task_in(core, task.id, TaskStatus.WAITING)
        assert agent.requests[-1].instructions == "also add tests"  # right after the turn
        now = await http.post(url, json={"instructions": "and docs"}, headers=auth["write"])
        assert now.json()["delivered"] == "now"
