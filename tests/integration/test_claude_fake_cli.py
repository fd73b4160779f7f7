"""Fast engine tests: the real engine, claude-agent-sdk and adapter, against the fake CLI.

Each test runs an in-process `Deck` whose ``claude.cli_path`` is
``tests/fakes/fake_claude_cli.py`` (no Claude Code binary, no model): the turns go
through SDK -> subprocess -> stream-json -> adapter -> runner -> SQLite for real.
Nothing sleeps a fixed time: waits are on store conditions, woken by the bus.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from agentdeck.app import Deck
from agentdeck.config import Settings, load_settings
from agentdeck.core import EventItem
from agentdeck.model import EventKind, NewEvent, TaskStatus
from agentdeck.proctree import alive_members
from agentdeck.store import SqliteStore
from support.core import continue_, create, events_of, task_in
from support.paths import FAKE_CLI
from support.waiting import until

pytestmark = pytest.mark.anyio

MODEL = "claude-sonnet-4-5"


# -- fixtures -----------------------------------------------------------------------


@pytest.fixture
def fake_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME for the fake CLI (its session histories live in ``$HOME/.fake-claude``).

    ``python3`` on PATH is this interpreter's: the fake's ``#!/usr/bin/env python3``
    must not go through a pyenv shim (~120 ms and two extra processes per spawn).
    """
    home = tmp_path / "agent-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("FAKE_CLAUDE_DIR", raising=False)
    for var in (
        "AGENTDECK_HOME",
        "AGENTDECK_ROOTS",
        "AGENTDECK_CLAUDE_CLI_PATH",
        "AGENTDECK_MAX_RUNNING",
        "AGENTDECK_TIMEOUT_SECONDS",
    ):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def make_settings(tmp_path: Path, project: Path, fake_home: Path) -> Callable[..., Settings]:
    """Settings whose Claude Code is the fake CLI; keyword arguments override settings."""

    def make(**overrides: Any) -> Settings:
        env = {
            "HOME": str(fake_home),
            "AGENTDECK_HOME": str(tmp_path / "state"),
            "AGENTDECK_ROOTS": str(project),
            "AGENTDECK_CLAUDE_CLI_PATH": str(FAKE_CLI),
            "AGENTDECK_CLAUDE_MODEL": MODEL,
        }
        return load_settings(env=env, **overrides)

    return make


@pytest.fixture
def fake_cli_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


# -- helpers ------------------------------------------------------------------------


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Deck]:
    async with Deck(settings).running() as deck:
        yield deck


async def spawned(deck: Deck, task_id: str, turn: int) -> EventItem:
    """Wait for the ``turn_started`` event of ``turn`` (the CLI process exists)."""

    async def check() -> EventItem | None:
        started = await events_of(deck.core, task_id, EventKind.TURN_STARTED)
        return next((e for e in started if e.turn == turn), None)

    event: EventItem = await until(deck.core, check)
    return event


def history(home: Path, session_id: str) -> list[dict[str, Any]]:
    """The fake CLI's record of a session: user messages and results, in order."""
    path = home / ".fake-claude" / f"{session_id}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


# -- tests --------------------------------------------------------------------------


async def test_fake_cli_speaks_the_sdk_protocol(fake_home: Path, project: Path) -> None:
    """The fake alone, driven by claude_agent_sdk.query(): init, resume, errors, --version."""
    from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, SystemMessage, query
    from claude_agent_sdk._errors import ProcessError

    async def turn(text: str, resume: str | None = None) -> list[Any]:
        async def prompt() -> AsyncIterator[dict[str, Any]]:
            yield {"type": "user", "message": {"role": "user", "content": text}}

        options = ClaudeAgentOptions(
            cli_path=str(FAKE_CLI), cwd=str(project), model=MODEL, resume=resume
        )
        return [m async for m in query(prompt=prompt(), options=options)]

    first = await turn("WRITE a.txt hi\nSAY one")
    init, result = first[0], first[-1]
    assert isinstance(init, SystemMessage) and init.subtype == "init"
    assert init.data["model"] == MODEL and init.data["cwd"] == str(project)
    assert init.data["claude_code_version"] == "2.1.332"
    assert isinstance(result, ResultMessage) and not result.is_error
    assert result.result == "one (history: 0)" and result.num_turns == 2
    assert (project / "a.txt").read_text() == "hi"

    second = await turn("SAY two", resume=result.session_id)
    assert second[0].data["session_id"] == result.session_id
    assert second[-1].result == "two (history: 1)"
    assert second[-1].total_cost_usd > result.total_cost_usd  # a session total, as real

    with pytest.raises(ProcessError) as failed:
        await turn("FAIL 529 overloaded")
    assert failed.value.exit_code == 1 and "API Error: 529 overloaded" in str(failed.value)
    with pytest.raises(ProcessError) as crashed:
        await turn("CRASH 7")
    assert crashed.value.exit_code == 7

    version = await anyio.run_process([str(FAKE_CLI), "--version"])
    assert version.stdout.decode().strip() == "2.1.332 (Fake Claude)"


async def test_one_turn_at_a_time_per_task(
    fake_cli_settings: Settings, project: Path, fake_home: Path
) -> None:
    async with running(fake_cli_settings) as deck:
        task = await create(deck.core, "Gate", "WAITFILE gate\nSAY first")
        await spawned(deck, task.id, 1)

        # Two more instructions while turn 1 runs: both queue behind it.
        _, queued = await continue_(deck.core, task.id, "SAY second")
        assert queued
        _, queued = await continue_(deck.core, task.id, "SAY third")
        assert queued
        now = await deck.core.get(task.id)
        assert now.status == TaskStatus.IN_PROGRESS
        assert now.queue == ["SAY second", "SAY third"]
        assert len(alive_members(None, marker=task.id)) == 1  # only turn 1's CLI

        (project / "gate").touch()
        done = await task_in(deck.core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
        assert done.status == TaskStatus.WAITING, done.error
        assert done.turns == 3
        assert done.result_text == "third (history: 2)"

        events = await events_of(deck.core, task.id)
        turn_marks = [
            (e.kind, e.turn)
            for e in events
            if e.kind in (EventKind.TURN_STARTED, EventKind.TURN_FINISHED)
        ]
        assert turn_marks == [
            ("turn_started", 1),
            ("turn_finished", 1),
            ("turn_started", 2),
            ("turn_finished", 2),
            ("turn_started", 3),
            ("turn_finished", 3),
        ]
        started = [e for e in events if e.kind == EventKind.TURN_STARTED]
        assert started[0].data["resume"] is None
        assert started[1].data["resume"] == started[2].data["resume"] == done.session_id

    # The fake saw one process per turn, each resuming the session after the last ended.
    entries = history(fake_home, done.session_id or "")
    assert [e["role"] for e in entries] == ["user", "result"] * 3
    users = [e for e in entries if e["role"] == "user"]
    assert [u["content"] for u in users] == ["WAITFILE gate\nSAY first", "SAY second", "SAY third"]
    assert len({u["pid"] for u in users}) == 3


async def test_global_limit_keeps_second_task_pending(
    make_settings: Callable[..., Settings], project: Path
) -> None:
    async with running(make_settings(max_running=1)) as deck:
        most = 0

        async def watch() -> None:
            nonlocal most
            async with deck.core.watch() as changes:
                async for _ in changes:
                    most = max(most, len(deck.core.running_task_ids()))

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            first = await create(deck.core, "First", "WAITFILE gate\nSAY a")
            await spawned(deck, first.id, 1)
            second = await create(deck.core, "Second", "SAY b")
            # The slot is taken: the second task stays queued while the first runs.
            waiting = await deck.core.get(second.id)
            assert waiting.status == TaskStatus.PENDING
            assert await events_of(deck.core, second.id, EventKind.TURN_STARTED) == []
            assert len(deck.core.running_task_ids()) == 1

            (project / "gate").touch()
            b = await task_in(deck.core, second.id, TaskStatus.WAITING, TaskStatus.FAILED)
            tg.cancel_scope.cancel()

        a = await deck.core.get(first.id)
        assert a.status == TaskStatus.WAITING
        assert b.status == TaskStatus.WAITING and b.result_text == "b (history: 0)"
        (a_done,) = await events_of(deck.core, first.id, EventKind.TURN_FINISHED)
        (b_started,) = await events_of(deck.core, second.id, EventKind.TURN_STARTED)
        assert b_started.ts > a_done.ts
        assert most == 1


async def test_stderr_noise_does_not_fail_the_task(fake_cli_settings: Settings) -> None:
    async with running(fake_cli_settings) as deck:
        task = await create(
            deck.core,
            "Noisy",
            "STDERR warning: something odd\nSTDERR Error: not really\nEMIT 3\nSAY fine",
        )
        done = await task_in(deck.core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
        assert done.status == TaskStatus.WAITING, done.error
        assert done.error is None
        assert done.result_text == "fine (history: 0)"
        stderr = [e.data["line"] for e in await events_of(deck.core, task.id, EventKind.STDERR)]
        assert stderr == ["warning: something odd", "Error: not really"]
        (finished,) = await events_of(deck.core, task.id, EventKind.TURN_FINISHED)
        assert finished.data["success"] is True


async def test_crash_without_result_fails_with_exit_code(fake_cli_settings: Settings) -> None:
    async with running(fake_cli_settings) as deck:
        task = await create(deck.core, "Crash", "EMIT 2\nSTDERR about to die\nCRASH 3")
        done = await task_in(deck.core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
        assert done.status == TaskStatus.FAILED
        assert done.error is not None and "exited with code 3" in done.error
        (finished,) = await events_of(deck.core, task.id, EventKind.TURN_FINISHED)
        assert finished.data["exit_code"] == 3
        assert "about to die" in finished.data.get("stderr_tail", [])
        assert alive_members(None, marker=task.id) == []


async def test_error_result_fails_with_its_message(fake_cli_settings: Settings) -> None:
    async with running(fake_cli_settings) as deck:
        task = await create(deck.core, "Boom", "EMIT 1\nFAIL 529 model is overloaded")
        done = await task_in(deck.core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
        assert done.status == TaskStatus.FAILED
        assert done.error is not None
        assert "API Error: 529 model is overloaded" in done.error
        assert "api_error" in done.error
        # Queued instructions die with the failed task.
        assert done.queue == []


async def test_timeout_stops_agent_and_its_children(fake_cli_settings: Settings) -> None:
    async with running(fake_cli_settings) as deck:
        task = await create(deck.core, "Slow", "SLEEP 60", timeout_seconds=0.5)
        await spawned(deck, task.id, 1)

        async def sleeping() -> list[int]:
            calls = await events_of(deck.core, task.id, EventKind.TOOL_CALL)
            members = alive_members(None, marker=task.id)
            return members if calls and len(members) >= 2 else []

        members = await until(deck.core, sleeping)  # the CLI and its `sleep` (own session)
        started = time.monotonic()
        done = await task_in(deck.core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
        stopped_after = time.monotonic() - started
        assert done.status == TaskStatus.FAILED
        assert done.error is not None and "timed out" in done.error
        assert alive_members(None, marker=task.id) == []
        assert not any(_alive(pid) for pid in members)
    # See the report: the SDK waits 5 s for a CLI to exit after stdin EOF before it
    # terminates it, so a timeout takes >= 5 s to act unless the adapter kills first.
    assert stopped_after < 15


async def test_cancel_is_prompt(fake_cli_settings: Settings) -> None:
    async with running(fake_cli_settings) as deck:
        task = await create(deck.core, "Slow", "SLEEP 60")

        async def sleeping() -> list[int]:
            calls = await events_of(deck.core, task.id, EventKind.TOOL_CALL)
            members = alive_members(None, marker=task.id)
            return members if calls and len(members) >= 2 else []

        await until(deck.core, sleeping)
        started = time.monotonic()
        cancelled = await deck.core.cancel(task.id)
        took = time.monotonic() - started
        assert cancelled.status == TaskStatus.CANCELLED
        assert alive_members(None, marker=task.id) == []
        # Not a speed target: the SDK alone would wait 5 s for the CLI before stopping it.
        assert took < 4.0, f"cancel took {took:.1f} s"


async def test_restart_marks_interrupted_and_resumes_the_session(
    fake_cli_settings: Settings, fake_home: Path
) -> None:
    async with running(fake_cli_settings) as deck:
        task = await create(deck.core, "Resume me", "SAY first")
        done = await task_in(deck.core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
        assert done.status == TaskStatus.WAITING, done.error
        session_id = done.session_id
        assert session_id

    # The server "died" while turn 2 ran: the task row says in_progress.
    store = SqliteStore(fake_cli_settings.db_path)
    try:
        cut = await store.get(task.id)
        assert cut is not None
        cut.status = TaskStatus.IN_PROGRESS
        cut.turns += 1
        await store.save(
            cut,
            [
                NewEvent(
                    EventKind.STATUS,
                    {"from": "waiting", "to": "in_progress", "reason": f"turn {cut.turns} started"},
                    cut.turns,
                )
            ],
            ("status", "turns", "updated_at"),
        )
        before = [EventItem(**e.to_dict()) for e in await store.events(task.id)]
    finally:
        store.close()

    # Auto-resume off: this is the manual path (test_restart_real.py runs the automatic).
    async with running(fake_cli_settings.model_copy(update={"auto_resume": False})) as deck:
        recovered = await deck.core.get(task.id)
        assert recovered.status == TaskStatus.INTERRUPTED
        after = await events_of(deck.core, task.id)
        assert after[: len(before)] == before  # recovery only appends
        appended = [
            (e.kind, e.data.get("interrupted"), e.data.get("to")) for e in after[len(before) :]
        ]
        assert appended == [
            ("turn_finished", True, None),
            ("status", None, "interrupted"),
            ("log", None, None),  # auto-resume is off for this task: update_task resumes it
        ]

        _, queued = await continue_(deck.core, task.id, "SAY resumed")
        assert not queued
        resumed = await task_in(deck.core, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
        assert resumed.status == TaskStatus.WAITING, resumed.error
        assert resumed.session_id == session_id
        assert resumed.result_text == "resumed (history: 1)"
        started = await events_of(deck.core, task.id, EventKind.TURN_STARTED)
        assert started[-1].data["resume"] == session_id

    users = [e["content"] for e in history(fake_home, session_id) if e["role"] == "user"]
    assert users == ["SAY first", "SAY resumed"]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return not stat.rsplit(") ", 1)[1].startswith("Z")
