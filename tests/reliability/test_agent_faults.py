"""Agents that crash, hang, print garbage or floods, exit without a result, or leave
daemons behind: the task's state is always right, and no process is left.

Through the real path: a command agent (a real process, tests/fakes/faulty_agent.py)
on a running core. ``AGENTDECK_SOAK=1`` floods 300k lines instead of 30k.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from agentdeck import cgroup
from agentdeck.agents.command import CommandAgent
from agentdeck.config import CommandAgentSettings, Settings
from agentdeck.core import Core
from agentdeck.model import Task, TaskStatus
from agentdeck.proctree import alive_members
from support.core import create, events_of, running, task_in
from support.paths import REPO
from support.requires import missing
from support.waiting import wait_until

pytestmark = pytest.mark.anyio

FAULTY = REPO / "tests" / "fakes" / "faulty_agent.py"
FLOOD = 300_000 if os.environ.get("AGENTDECK_SOAK") == "1" else 30_000
DONE = (TaskStatus.WAITING, TaskStatus.FAILED, TaskStatus.CANCELLED)


def faulty() -> CommandAgent:
    return CommandAgent(
        "faulty",
        CommandAgentSettings(
            command=[sys.executable, str(FAULTY), "{instructions}"], version_command=[]
        ),
    )


async def run(core: Core, how: str, timeout: float = 60, **options: object) -> Task:
    task = await create(core, how, how, agent="faulty", isolation="none", **options)
    return await task_in(core, task.id, *DONE, timeout=timeout)


async def no_process_left(task_id: str) -> None:
    await wait_until(lambda: alive_members(None, marker=task_id) == [], timeout=10)


async def test_a_crash_fails_the_task_with_its_exit_code(core_settings: Settings) -> None:
    async with running(core_settings, faulty()) as core:
        task = await run(core, "crash 3")
        assert task.status == TaskStatus.FAILED and "3" in (task.error or ""), task.error
        await no_process_left(task.id)
        again = await run(core, "silent")  # the next task runs normally
        assert again.status == TaskStatus.WAITING


async def test_a_hang_is_stopped_by_the_timeout(core_settings: Settings) -> None:
    async with running(core_settings, faulty()) as core:
        task = await run(core, "hang", timeout_seconds=2)
        assert task.status == TaskStatus.FAILED and "timed out" in (task.error or "").lower(), (
            task.error
        )
        await no_process_left(task.id)


async def test_garbage_and_silence_are_not_failures(core_settings: Settings) -> None:
    async with running(core_settings, faulty()) as core:
        garbage = await run(core, "garbage")
        assert garbage.status == TaskStatus.WAITING, garbage.error
        texts = [e.data.get("text", "") for e in await events_of(core, garbage.id, "message")]
        assert "ok line" in texts and any("broken" in t for t in texts), texts
        assert any("no newline at the end" in t for t in texts)
        assert not any("UnicodeDecodeError" in t or "b'" in t for t in texts)
        silent = await run(core, "silent")
        assert silent.status == TaskStatus.WAITING and silent.error is None


async def test_a_flood_is_stored_whole_in_bounded_memory(
    core_settings: Settings, figures: Callable[[str], None]
) -> None:
    me = psutil.Process()
    async with running(core_settings, faulty()) as core:
        before = me.memory_info().rss
        task = await run(core, f"huge {FLOOD}", timeout=300)
        grown = me.memory_info().rss - before
        assert task.status == TaskStatus.WAITING, task.error
        detail = await core.task(task.id)
        assert detail.logs_count >= FLOOD  # every line is an event
        assert grown < 150 * 2**20, f"RSS grew {grown / 2**20:.0f} MiB for {FLOOD} lines"
        figures(
            f"{FLOOD:,} lines stored as {detail.logs_count:,} events; RSS grew "
            f"{grown / 2**20:.0f} MiB (bound 150 MiB)"
        )


async def test_an_escaping_daemon_does_not_outlive_its_turn(
    core_settings: Settings, project: Path
) -> None:
    async with running(core_settings, faulty()) as core:
        task = await run(core, "daemon")
        assert task.status == TaskStatus.WAITING, task.error
        pid_file = Path(task.cwd) / "daemon.pid"
        await wait_until(lambda: pid_file.exists() and pid_file.read_text(), timeout=10)
        daemon = int(pid_file.read_text())
        if cgroup.base() is None:
            missing(
                "no cgroup: such a daemon escapes (docs/security.md, what remains)",
                "run the tests as root on a cgroup v2 host",
            )
        await wait_until(lambda: not _running(daemon), timeout=10)


def _running(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
