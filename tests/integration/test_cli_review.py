"""The CLI's approve/deny, diff and merge commands against a real server and real agent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mcp import Client

from agentdeck.config import Settings
from support.cli import agentdeck
from support.servers import call, serve, wait_status

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]


async def test_approve_and_deny_from_the_cli(settings: Settings, project: Path) -> None:
    asking = settings.model_copy(update={"approval_policy": "ask"})
    async with serve(asking) as srv, Client(srv.url) as client:
        created = await call(
            client, "create_task", title="Two commands", instructions="BASH echo one > one.txt"
        )
        task_id = created["result"]["task_id"]
        await wait_status(client, task_id, {"input_required"})
        approved = await agentdeck("approve", task_id, "--url", srv.url)
        assert approved.code == 0, approved.output
        assert "allow sent for Bash" in approved.stdout
        await wait_status(client, task_id, {"waiting"})
        assert (project / "one.txt").exists()

        await call(client, "update_task", id=task_id, instructions="BASH echo two > two.txt")
        await wait_status(client, task_id, {"input_required"})
        denied = await agentdeck("deny", task_id, "-m", "no more files", "--url", srv.url)
        assert denied.code == 0, denied.output
        await wait_status(client, task_id, {"waiting"})
        assert not (project / "two.txt").exists()

        nothing = await agentdeck("approve", task_id, "--url", srv.url)
        assert nothing.code == 1 and "invalid_state" in nothing.stderr


async def test_diff_and_merge_from_the_cli(settings: Settings, project: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.name=T", "-c", "user.email=t@e", *args],
            cwd=project,
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    git("init", "-q", "-b", "main")
    (project / "README.md").write_text("hello\n")
    git("add", "-A")
    git("commit", "-qm", "init")
    async with serve(settings) as srv, Client(srv.url) as client:
        created = await call(
            client, "create_task", title="Add file", instructions="WRITE added.txt from the agent"
        )
        task_id = created["result"]["task_id"]
        await wait_status(client, task_id, {"waiting"})
        listed = await agentdeck("tasks", "--wide", "--url", srv.url)  # branch, diff: --wide
        assert created["result"]["branch"] in listed.stdout and "+1 -0 in 1 files" in listed.stdout
        shown = await agentdeck("diff", task_id, "--url", srv.url)
        assert shown.code == 0 and "+from the agent" in shown.stdout
        merged = await agentdeck("merge", task_id, "--strategy", "squash", "--url", srv.url)
        assert merged.code == 0, merged.output
        assert (project / "added.txt").read_text() == "from the agent"
        again = await agentdeck("merge", task_id, "--url", srv.url)
        assert again.code == 1 and "already merged" in again.stderr
