"""A real `agentdeck serve` process killed mid-turn (or stopped with SIGTERM), then
restarted on the same state dir: cut turns resume by themselves, in the same session."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from mcp import Client

from agentdeck.proctree import alive_members
from fakes.fake_anthropic import FakeAnthropic
from fakes.notify_receiver import NotifyReceiver
from support.agents import LONG_COMMAND
from support.paths import REPO
from support.servers import call, read_json, wait_status
from support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def agentdeck_serve(
    home: Path, project: Path, log: Path, **extra: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    env = {**os.environ, "AGENTDECK_HOME": str(home), "AGENTDECK_ROOTS": str(project), **extra}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentdeck", "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def test_killed_server_leaves_an_interrupted_task_that_update_task_resumes(
    tmp_path: Path, project: Path, agent_env: dict[str, str], fake_model: FakeAnthropic
) -> None:
    home = tmp_path / "state"
    log = tmp_path / "server.log"
    with agentdeck_serve(home, project, log) as (base, proc):
        await wait_until(lambda: _healthy(base), timeout=30)
        async with Client(f"{base}/mcp") as client:
            done = await call(client, "create_task", title="First", instructions="SAY one")
            done_id = done["result"]["task_id"]
            await wait_status(client, done_id, {"waiting"})
            created = await call(
                client,
                "create_task",
                title="Long",
                instructions=f"WRITE notes.txt started\nBASH {LONG_COMMAND}",
                auto_resume=False,  # left to the user
            )
            task_id = created["result"]["task_id"]
            await wait_until(lambda: len(alive_members(None, marker=task_id)) >= 3, timeout=60)
            before = await read_json(client, f"task://{task_id}")
            before_done = await read_json(client, f"task://{done_id}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    assert before["status"] == "in_progress"
    session_id = before["session_id"]
    assert session_id

    with agentdeck_serve(home, project, log) as (base, _proc):
        await wait_until(lambda: _healthy(base), timeout=30)
        # The orphaned agent (and its sleeping child) were stopped at start-up.
        assert alive_members(None, marker=task_id) == []
        async with Client(f"{base}/mcp") as client:
            after = await read_json(client, f"task://{task_id}")
            assert after["status"] == "interrupted"
            assert after["session_id"] == session_id
            # Everything recorded before the crash is still there, unchanged.
            assert after["logs"][: len(before["logs"])] == before["logs"]
            assert after["tool_invocations"][0] == before["tool_invocations"][0]
            after_done = await read_json(client, f"task://{done_id}")
            assert after_done == {
                **before_done,
                "duration_seconds": after_done["duration_seconds"],
                "duration_human": after_done["duration_human"],
            }

            resumed = await call(client, "update_task", id=task_id, instructions="SAY resumed")
            assert resumed["status"] == "success", resumed
            task = await wait_status(client, task_id, {"waiting", "failed"})
            assert task["status"] == "waiting", task.get("error")
            assert task["session_id"] == session_id
            last = fake_model.message_requests()[-1]
            texts = FakeAnthropic.user_texts(last)
            assert texts[0].startswith("WRITE notes.txt started") and texts[-1] == "SAY resumed"


async def _long_task(base: str) -> tuple[str, dict[str, Any]]:
    """A task whose turn runs a long command; its id and document once the command runs."""
    async with Client(f"{base}/mcp") as client:
        created = await call(
            client,
            "create_task",
            title="Long",
            instructions=f"WRITE notes.txt started\nBASH {LONG_COMMAND}",
        )
        task_id = created["result"]["task_id"]
        await wait_until(lambda: len(alive_members(None, marker=task_id)) >= 3, timeout=60)
        return task_id, await read_json(client, f"task://{task_id}")


async def test_a_turn_cut_by_kill_9_resumes_by_itself_in_the_same_session(
    tmp_path: Path, project: Path, agent_env: dict[str, str], fake_model: FakeAnthropic
) -> None:
    home, log = tmp_path / "state", tmp_path / "server.log"
    with agentdeck_serve(home, project, log) as (base, proc):
        await wait_until(lambda: _healthy(base), timeout=30)
        task_id, before = await _long_task(base)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    with agentdeck_serve(home, project, log) as (base, _proc):  # nothing else is done
        await wait_until(lambda: _healthy(base), timeout=30)
        async with Client(f"{base}/mcp") as client:
            task = await wait_status(client, task_id, {"waiting", "failed"})
            assert task["status"] == "waiting", task.get("error")
            assert task["turns"] == before["turns"] + 1
            assert task["session_id"] == before["session_id"]
            events = await read_json(client, f"task://{task_id}/events?after=0")
    resumed = [e for e in events["events"] if e["data"].get("source") == "auto_resume"]
    assert resumed and "the server crashed" in resumed[0]["data"]["text"]
    last = fake_model.message_requests()[-1]
    texts = FakeAnthropic.user_texts(last)
    assert texts[0].startswith("WRITE notes.txt started")  # the earlier history
    assert "previous turn was cut off" in texts[-1]


async def test_sigterm_interrupts_the_turn_leaves_no_agent_and_exits_in_the_grace(
    tmp_path: Path, project: Path, agent_env: dict[str, str], fake_model: FakeAnthropic
) -> None:
    home, log = tmp_path / "state", tmp_path / "server.log"
    grace = 5
    with agentdeck_serve(home, project, log, AGENTDECK_SHUTDOWN_GRACE_SECONDS=str(grace)) as (
        base,
        proc,
    ):
        await wait_until(lambda: _healthy(base), timeout=30)
        task_id, _ = await _long_task(base)
        proc.send_signal(signal.SIGTERM)
        # Within the grace (and the interpreter's exit); uvicorn re-raises the SIGTERM it
        # handled, which systemd counts as a clean stop.
        assert proc.wait(timeout=grace + 3) == -signal.SIGTERM
    assert "stopped; interrupted the turns of " + task_id in log.read_text()
    assert alive_members(None, marker=task_id) == []

    with agentdeck_serve(home, project, log, AGENTDECK_AUTO_RESUME="false") as (base, _proc):
        await wait_until(lambda: _healthy(base), timeout=30)
        async with Client(f"{base}/mcp") as client:
            task = await read_json(client, f"task://{task_id}")
        events = await _events(base, task_id)
    assert task["status"] == "interrupted"
    assert task["status_reason"].startswith("interrupted; auto-resume is off")
    status = [e for e in events if e["kind"] == "status"]
    assert status[-1]["data"]["to"] == "interrupted"
    assert status[-1]["data"]["reason"].startswith("server stopping")


async def _events(base: str, task_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        page = (await http.get(f"{base}/api/tasks/{task_id}/events?after=0")).json()
    return list(page["events"])


async def test_a_task_cut_by_three_crashes_in_a_row_is_held_and_the_user_told_once(
    tmp_path: Path, project: Path, agent_env: dict[str, str]
) -> None:
    home, log = tmp_path / "state", tmp_path / "server.log"
    home.mkdir()
    faulty = REPO / "tests" / "fakes" / "faulty_agent.py"
    with NotifyReceiver() as rx:
        (home / "config.toml").write_text(
            f"[agents.faulty]\ncommand = [{json.dumps(sys.executable)}, "
            f'{json.dumps(str(faulty))}, "{{instructions}}"]\nversion_command = []\n\n'
            f"[notify]\nurls = [{json.dumps(rx.url('json', 'hook'))}]\n"
        )
        task_id = ""
        for turn in (1, 2, 3):  # the first turn, then two resumed ones: each killed
            with agentdeck_serve(home, project, log) as (base, proc):
                await wait_until(lambda: _healthy(base), timeout=30)
                if turn == 1:
                    async with Client(f"{base}/mcp") as client:
                        created = await call(
                            client, "create_task", title="Crashy", instructions="hang",
                            agent="faulty", isolation="none",
                        )  # fmt: skip
                    task_id = created["result"]["task_id"]
                await wait_until(_agent_running(task_id), timeout=30)
                assert (await _task(base, task_id))["turns"] == turn
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
        with agentdeck_serve(home, project, log) as (base, _proc):
            await wait_until(lambda: _healthy(base), timeout=30)
            needs_you = await _messages_titled(rx, "needs you")
            task = await _task(base, task_id)
    assert task["status"] == "interrupted" and task["turns"] == 3 and task["crash_cuts"] == 3
    assert "cut by 3 server crashes in a row" in task["status_reason"]
    assert alive_members(None, marker=task_id) == []
    assert [m["title"] for m in needs_you] == [
        "agentdeck restarted: task Crashy interrupted — needs you"
    ]
    assert len(await _messages_titled(rx, "needs you")) == 1  # told once
    assert len(await _messages_titled(rx, "resuming")) == 2  # the two restarts that resumed


def _agent_running(task_id: str) -> Callable[[], bool]:
    return lambda: alive_members(None, marker=task_id) != []


async def _task(base: str, task_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as http:
        return dict((await http.get(f"{base}/api/tasks/{task_id}")).json())


async def _messages_titled(rx: NotifyReceiver, words: str) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]]:
        return [r.body for r in rx.received if words in r.body.get("title", "")]

    await wait_until(lambda: bool(found()), timeout=15)
    return found()
