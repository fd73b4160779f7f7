"""Scale-out on one machine: a front (an in-process core, ``dispatch = "workers"``) and
`agentdeck worker` subprocesses on a private PostgreSQL cluster.

A task runs on a worker and its events reach the front's watchers; labels and a worker
name route tasks, and a task no live worker could serve is refused at create; an
approval answered at the front reaches the agent waiting on its worker; cancel at
the front stops the remote agent in ≤ 2 s with no process left; a worker killed with
SIGKILL mid-turn has its task ``interrupted`` within the heartbeat timeout + 5 s, naming
it, and the task resumes when it is back.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from agentdeck.config import Settings, load_settings
from agentdeck.core import ContinueTask, Core, Respond
from agentdeck.errors import InvalidInput, InvalidTransition
from agentdeck.model import TaskStatus
from agentdeck.proctree import alive_members
from support.core import configured, create, events_of, task_in
from support.waiting import until, wait_until

pytestmark = pytest.mark.anyio

# Short enough to keep the test quick, long enough that a worker busy starting a turn on
# a loaded 2-core machine is not taken for dead (2 s was not: CI reaped a live one).
HEARTBEAT_TIMEOUT = 5.0
# A command agent: prints, then sleeps as many seconds as its instructions say.
AGENT = ["sh", "-c", 'echo "started $0"; sleep "$0"; echo "slept $0"', "{instructions}"]
# An ACP agent that asks before it runs a tool (tests/fakes/fake_acp_agent.py).
ASKER = [sys.executable, str(Path(__file__).parents[1] / "fakes" / "fake_acp_agent.py")]


def _home(tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        f'default_agent = "sleepy"\napproval_policy = "bypass"\n\n'
        f"[agents.sleepy]\ncommand = {json.dumps(AGENT)}\nversion_command = []\n\n"
        f'[agents.asker]\ncommand = {json.dumps(ASKER)}\nprotocol = "acp"\n'
        f'env = {{ FAKE_ACP_DIR = "{tmp_path / "acp-state"}" }}\n',
        encoding="utf-8",
    )
    return home


@pytest.fixture
def front_settings(
    tmp_path: Path, project: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    for var in ("AGENTDECK_HOME", "AGENTDECK_ROOTS", "AGENTDECK_DEFAULT_AGENT"):
        monkeypatch.delenv(var, raising=False)
    env = {
        "HOME": str(tmp_path / "home"),
        "AGENTDECK_HOME": str(_home(tmp_path, "front")),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_DATABASE_URL": postgres_url,
        "AGENTDECK_DISPATCH": "workers",
        "AGENTDECK_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT),
    }
    return load_settings(env=env)


@contextmanager
def worker(
    tmp_path: Path, url: str, name: str, roots: Path, *, max_running: int = 2, labels: str = ""
) -> Iterator[subprocess.Popen[bytes]]:
    """`agentdeck worker` as a process of its own (its own home and config)."""
    env = {
        **os.environ,
        "AGENTDECK_HOME": str(_home(tmp_path, f"worker-{name}")),
        "AGENTDECK_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT),
    }
    env.pop("AGENTDECK_ROOTS", None)
    argv = [sys.executable, "-m", "agentdeck", "worker", "--database-url", url, "--name", name,
            "--max-running", str(max_running), "--roots", str(roots),
            "--labels", labels]  # fmt: skip
    log = (tmp_path / f"worker-{name}.log").open("wb")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


async def _live(core: Core, *names: str) -> None:
    async def ready() -> bool:
        live = {w.name for w in (await core.workers()).workers if w.state == "alive"}
        return set(names) <= live

    await until(core, ready, 30)


async def test_a_turn_runs_on_a_worker_and_its_events_reach_the_front(
    tmp_path: Path, project: Path, front_settings: Settings, postgres_url: str
) -> None:
    async with configured(front_settings) as core:
        with pytest.raises(InvalidInput, match=r"no worker can run this task.*Live workers: none"):
            await create(core, "nobody serves", "0")
        with worker(tmp_path, postgres_url, "w1", project):
            await _live(core, "w1")
            task = await create(core, "served", "0")
            done = await task_in(core, task.id, TaskStatus.WAITING, timeout=30)
            assert done.result_text and "slept 0" in done.result_text
            assert done.on_worker == "w1" and (await core.task(task.id)).on_worker == "w1"
            kinds = [e.kind for e in await events_of(core, task.id)]
            assert "turn_started" in kinds and kinds[-1] == "status"
            listing = await core.workers()
            assert listing.dispatch == "workers" and listing.count == 1
            [listed] = listing.workers
            assert listed.name == "w1" and "sleepy" in listed.agents
            assert listed.roots == [str(project)]


async def test_labels_and_a_worker_name_route_a_task_and_no_match_is_refused(
    tmp_path: Path, project: Path, front_settings: Settings, postgres_url: str
) -> None:
    async with configured(front_settings) as core:
        with (
            worker(tmp_path, postgres_url, "gpu", project, labels="gpu=yes,os=linux"),
            worker(tmp_path, postgres_url, "plain", project),
        ):
            await _live(core, "gpu", "plain")
            needs_gpu = await create(core, "gpu", "0", labels={"gpu": "yes"})
            named = await create(core, "named", "0", worker="plain")
            assert (
                await task_in(core, needs_gpu.id, TaskStatus.WAITING, timeout=30)
            ).on_worker == "gpu"
            assert (
                await task_in(core, named.id, TaskStatus.WAITING, timeout=30)
            ).on_worker == "plain"
            with pytest.raises(InvalidInput, match=re.escape("labels {'gpu': 'no'}")) as refused:
                await create(core, "no such", "0", labels={"gpu": "no"})
            assert (
                "gpu (agents " in refused.value.message
                and "labels gpu=yes, os=linux)" in refused.value.message
            )
            with pytest.raises(InvalidInput, match="live worker 'elsewhere'"):
                await create(core, "no such", "0", worker="elsewhere")


async def test_cancel_at_the_front_stops_the_remote_agent_within_two_seconds(
    tmp_path: Path, project: Path, front_settings: Settings, postgres_url: str
) -> None:
    async with configured(front_settings) as core:
        with worker(tmp_path, postgres_url, "w1", project):
            await _live(core, "w1")
            task = await create(core, "long", "60")
            await task_in(core, task.id, TaskStatus.IN_PROGRESS, timeout=30)
            await wait_until(lambda: alive_members(None, marker=task.id), timeout=15)
            started = time.monotonic()
            await core.cancel(task.id)
            await wait_until(lambda: not alive_members(None, marker=task.id), timeout=2)
            assert time.monotonic() - started <= 2
            assert (await core.get(task.id)).status is TaskStatus.CANCELLED


async def test_a_killed_worker_interrupts_its_turn_which_resumes_when_it_is_back(
    tmp_path: Path, project: Path, front_settings: Settings, postgres_url: str
) -> None:
    async with configured(front_settings) as core:
        with worker(tmp_path, postgres_url, "w1", project) as proc:
            await _live(core, "w1")
            task = await create(core, "cut", "60")
            await task_in(core, task.id, TaskStatus.IN_PROGRESS, timeout=30)
            await wait_until(lambda: alive_members(None, marker=task.id), timeout=15)
            killed = time.monotonic()
            proc.kill()  # SIGKILL: no goodbye, no more heartbeats
            proc.wait()
            for orphan in alive_members(
                None, marker=task.id
            ):  # the agent it leaves (its host would die too)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(orphan, signal.SIGKILL)
            cut = await task_in(
                core, task.id, TaskStatus.INTERRUPTED, timeout=HEARTBEAT_TIMEOUT + 5
            )
            assert time.monotonic() - killed <= HEARTBEAT_TIMEOUT + 5
            assert cut.status_reason and "worker w1" in cut.status_reason
        with worker(tmp_path, postgres_url, "w1", project):
            await _live(core, "w1")
            await core.continue_(ContinueTask(id=task.id, instructions="0"))
            back = await task_in(core, task.id, TaskStatus.WAITING, timeout=30)
            assert back.result_text and "slept 0" in back.result_text


async def test_an_approval_answered_at_the_front_reaches_the_agent_on_its_worker(
    tmp_path: Path, project: Path, front_settings: Settings, postgres_url: str
) -> None:
    async with configured(front_settings) as core:
        with worker(tmp_path, postgres_url, "w1", project):
            await _live(core, "w1")
            task = await create(
                core, "asks", "RUN yes.txt ran\nRUN no.txt ran\nSAY done",
                agent="asker", policy="ask",
            )  # fmt: skip
            for decision, file in (("allow", "yes.txt"), ("deny", "no.txt")):
                await task_in(core, task.id, TaskStatus.INPUT_REQUIRED, timeout=30)
                [pending] = await wait_until(lambda: core.pending().pending, timeout=10)
                assert pending.task_id == task.id and f"write {file}" in json.dumps(pending.input)
                _, answered = await core.respond(
                    Respond(id=task.id, decision=decision, message=f"{decision} at the front")
                )
                assert answered.request_id == pending.request_id
                with pytest.raises(InvalidTransition, match="already settled"):
                    await core.respond(
                        Respond(id=task.id, decision="allow", request_id=pending.request_id)
                    )
                assert not [p for p in core.pending().pending if p.task_id == task.id]
            done = await task_in(core, task.id, TaskStatus.WAITING, timeout=30)
            worktree = Path(done.cwd)
            assert (worktree / "yes.txt").read_text() == "ran"
            assert not (worktree / "no.txt").exists()
            decided = [
                e.data for e in await events_of(core, task.id, "log")
                if e.data.get("source") == "approvals"
            ]  # fmt: skip
            assert [(d["decision"], d["by"]) for d in decided] == [
                ("allow", "user"),
                ("deny", "user"),
            ]


async def test_a_restarted_front_lists_and_answers_what_a_worker_waits_on(
    tmp_path: Path, project: Path, front_settings: Settings, postgres_url: str
) -> None:
    with worker(tmp_path, postgres_url, "w1", project):
        async with configured(front_settings) as core:
            await _live(core, "w1")
            task = await create(core, "asks", "RUN yes.txt ran\nSAY done", agent="asker",
                                policy="ask")  # fmt: skip
            await task_in(core, task.id, TaskStatus.INPUT_REQUIRED, timeout=30)
            [before] = await wait_until(lambda: core.pending().pending, timeout=10)
        async with configured(front_settings) as core:  # the front again, the worker waiting
            [pending] = await wait_until(lambda: core.pending().pending, timeout=10)
            assert pending.request_id == before.request_id
            await core.respond(Respond(id=task.id, decision="allow"))
            done = await task_in(core, task.id, TaskStatus.WAITING, timeout=30)
            assert (Path(done.cwd) / "yes.txt").read_text() == "ran"
