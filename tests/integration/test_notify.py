"""Push notifications: real engine turns (fake Claude CLI) -> Notifier -> Apprise -> HTTP.

The receiver is a real local HTTP server that Apprise's ``json://`` and ``ntfy://``
plugins post to. Waits are on conditions with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import typer
from typer.testing import CliRunner

from agentdeck.app import Deck
from agentdeck.cli.notify import notify_app
from agentdeck.config import NOTIFY_KINDS, NotifySettings, Settings, load_settings
from agentdeck.core import Core, EventItem
from agentdeck.model import Event, EventKind, NewEvent, Task, TaskStatus, now
from agentdeck.notify import Notifier, compose, kind_of, redact_url
from agentdeck.store import SqliteStore
from fakes.notify_receiver import NotifyReceiver, Received
from support.core import create, events_of
from support.paths import FAKE_CLI
from support.waiting import POLL

pytestmark = pytest.mark.anyio

WAIT = 15.0
DASHBOARD = "http://deck.example:3000/ui/tasks/{id}"


@pytest.fixture
def rx() -> Iterator[NotifyReceiver]:
    with NotifyReceiver() as receiver:
        yield receiver


@pytest.fixture
def make_settings(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Settings]:
    """Settings whose Claude Code is the fake CLI; ``notify`` keywords go to NotifySettings."""
    home = tmp_path / "agent-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("FAKE_CLAUDE_DIR", raising=False)

    def make(**notify: Any) -> Settings:
        env = {
            "HOME": str(home),
            "AGENTDECK_HOME": str(tmp_path / "state"),
            "AGENTDECK_ROOTS": str(project),
            "AGENTDECK_CLAUDE_CLI_PATH": str(FAKE_CLI),
            "AGENTDECK_CLAUDE_MODEL": "claude-sonnet-4-5",
        }
        fast = {"backoff_seconds": 0.01, "dashboard_url": DASHBOARD}
        return load_settings(env=env, notify={**fast, **notify})

    return make


def dead_url() -> str:
    """A json:// URL whose port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"json://127.0.0.1:{port}/dead"


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Deck]:
    async with Deck(settings).running() as deck:
        yield deck


async def poll(check: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Call the async ``check`` until it returns something truthy; fail at the deadline."""
    with anyio.fail_after(timeout):
        while not (value := await check()):
            await anyio.sleep(POLL)
        return value


async def task_in(deck: Deck, task_id: str, *statuses: TaskStatus) -> Task:
    async def check() -> Task | None:
        task = await deck.core.get(task_id)
        return task if task.status in statuses else None

    result: Task = await poll(check)
    return result


async def messages(rx: NotifyReceiver, n: int, path: str = "/hook") -> list[Received]:
    async def check() -> list[Received] | None:
        got = [r for r in rx.received if r.path == path]
        return got if len(got) >= n else None

    result: list[Received] = await poll(check)
    return result


async def notify_events(core: Core, task_id: str, n: int) -> list[EventItem]:
    async def check() -> list[EventItem] | None:
        logs = await events_of(core, task_id, EventKind.LOG)
        found = [e for e in logs if e.data.get("source") == "notify"]
        return found if len(found) >= n else None

    result: list[EventItem] = await poll(check)
    return result


def one(received: list[Received], task: Task, status: str) -> dict[str, Any]:
    """The single JSON message about ``task`` reaching ``status``."""
    title = f"agentdeck: {task.title} — {status}"
    hits = [r.body for r in received if r.body["title"] == title]
    assert len(hits) == 1, (title, [r.body["title"] for r in received])
    body: dict[str, Any] = hits[0]
    assert f"status: {status}" in body["message"]
    assert f"cost: ${task.cost_usd:.4f}" in body["message"]
    assert "duration: " in body["message"]
    assert f"link: http://deck.example:3000/ui/tasks/{task.id}" in body["message"]
    return body


async def test_one_message_per_transition(
    make_settings: Callable[..., Settings], project: Path, rx: NotifyReceiver
) -> None:
    settings = make_settings(urls=[rx.url("json", "hook"), rx.url("ntfy", "agentdeck")])
    async with running(settings) as deck:
        core = deck.core
        done = await create(core, "Say hi", "SAY hi there")
        boom = await create(core, "Boom", "FAIL 529 model is overloaded")
        stop = await create(core, "Stop me", "WAITFILE gate\nSAY never")
        cut = await create(core, "Cut", "SAY first")

        await task_in(deck, done.id, TaskStatus.WAITING)
        await task_in(deck, boom.id, TaskStatus.FAILED)
        await task_in(deck, cut.id, TaskStatus.WAITING)
        await core.end(done.id)
        await task_in(deck, stop.id, TaskStatus.IN_PROGRESS)
        await core.cancel(stop.id)
        # turn_finished x2, completed, failed, cancelled
        await messages(rx, 5)

    # The server "died" while a second turn of `cut` ran; the next start recovers it.
    store = SqliteStore(settings.db_path)
    try:
        row = await store.get(cut.id)
        assert row is not None
        row.status = TaskStatus.IN_PROGRESS
        row.turns += 1
        started = {"from": "waiting", "to": "in_progress", "reason": "turn 2 started"}
        await store.save(row, [NewEvent(EventKind.STATUS, started, row.turns)], ("status", "turns"))
    finally:
        store.close()
    async with running(settings) as deck:  # ... and resumes it by itself

        async def resumed() -> bool:
            task = await deck.core.get(cut.id)
            return task.status == TaskStatus.WAITING and task.turns == 3

        await poll(resumed)
        received = await messages(rx, 7)
        tasks = {t: await deck.core.get(t) for t in (done.id, boom.id, stop.id, cut.id)}
        await notify_events(deck.core, cut.id, 3 * 2)  # 3 notices x 2 URLs, all recorded

    assert len(received) == 7
    body = one(received, tasks[done.id], "waiting")
    assert "result: hi there (history: 0)" in body["message"]
    assert "turn finished, turn 1" in body["message"]
    assert body["type"] == "success"
    one(received, tasks[done.id], "completed")
    failed = one(received, tasks[boom.id], "failed")
    assert "error: API Error: 529 model is overloaded" in failed["message"]
    assert failed["type"] == "failure"
    cancelled = one(received, tasks[stop.id], "cancelled")
    assert "reason: cancelled by the user" in cancelled["message"]
    cut_waiting = [r for r in received if r.body["title"] == "agentdeck: Cut — waiting"]
    assert len(cut_waiting) == 2  # its first turn, and the one resumed after the restart
    summary = [r.body for r in received if "restarted" in r.body["title"]]
    assert [b["title"] for b in summary] == ["agentdeck restarted: task Cut interrupted — resuming"]
    assert f"http://deck.example:3000/ui/tasks/{cut.id}" in summary[0]["message"]
    assert summary[0]["type"] == "info"

    # The same seven went to ntfy (JSON publish: topic, title, message).
    ntfy = await messages(rx, 7, path="/")
    assert len(ntfy) == 7
    assert {r.body["topic"] for r in ntfy} == {"agentdeck"}
    assert sorted(r.body["title"] for r in ntfy) == sorted(r.body["title"] for r in received)

    # Every delivery is on the task's record, with the URL reduced to scheme://host:port.
    store = SqliteStore(settings.db_path)
    try:
        for task_id in (done.id, boom.id, stop.id):
            for event in await store.events(task_id, kinds=[EventKind.LOG]):
                if event.data.get("source") == "notify":
                    assert event.data["ok"] is True and event.data["attempt"] == 1
                    assert event.data["url"] in {
                        f"json://127.0.0.1:{rx.port}",
                        f"ntfy://127.0.0.1:{rx.port}",
                    }
    finally:
        store.close()


async def test_failed_sends_are_retried_and_recorded(
    make_settings: Callable[..., Settings],
) -> None:
    with NotifyReceiver(fail_first=2) as flaky:
        settings = make_settings(urls=[flaky.url("json", "hook")], events=["turn_finished"])
        async with running(settings) as deck:
            task = await create(deck.core, "Flaky", "SAY ok")
            await task_in(deck, task.id, TaskStatus.WAITING)
            (got,) = await messages(flaky, 1)
            recorded = await notify_events(deck.core, task.id, 3)
        assert [r.status for r in flaky.requests] == [500, 500, 200]
    assert got.body["title"] == "agentdeck: Flaky — waiting"
    outcomes = [(e.data["attempt"], e.data["ok"]) for e in recorded]
    assert outcomes == [(1, False), (2, False), (3, True)]
    assert all(e.data["kind"] == "turn_finished" for e in recorded)
    assert recorded[0].data["error"] and "500" in recorded[0].data["error"]
    assert recorded[2].data["error"] is None


async def test_dead_receiver_does_not_slow_the_task(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    async def turn(settings: Settings) -> tuple[float, Deck, Task]:
        async with running(settings) as deck:
            begin = time.monotonic()
            task = await create(deck.core, "Turn", "SAY quick")
            done = await task_in(deck, task.id, TaskStatus.WAITING, TaskStatus.FAILED)
            took = time.monotonic() - begin
            if settings.notify.urls:  # the failure is recorded, not lost
                recorded = await notify_events(deck.core, task.id, 3)
                assert [e.data["ok"] for e in recorded] == [False] * 3
                assert "not sent" in recorded[-1].data["text"]
        return took, deck, done

    quiet, _, a = await turn(make_settings(urls=[]))
    dead, _, b = await turn(make_settings(urls=[dead_url()], retries=2, backoff_seconds=0.2))
    print(f"\nturn without notifications {quiet:.3f}s, with a dead receiver {dead:.3f}s")
    assert a.status == b.status == TaskStatus.WAITING


def test_cli_notify_test_hits_every_url(rx: NotifyReceiver, tmp_path: Path, project: Path) -> None:
    urls = f"{rx.url('json', 'hook')}, {rx.url('ntfy', 'topic')} {dead_url()}"
    env = {
        "AGENTDECK_HOME": str(tmp_path / "state"),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_NOTIFY_URLS": urls,
    }
    cli = typer.Typer()
    cli.add_typer(notify_app)  # as cli.py registers it
    result = CliRunner().invoke(cli, ["notify", "test"], env=env)
    assert result.exit_code == 1, result.output  # one URL is dead
    lines = result.output.splitlines()
    assert f"ok     json://127.0.0.1:{rx.port}" in lines
    assert f"ok     ntfy://127.0.0.1:{rx.port}" in lines
    assert any(line.startswith("error  json://127.0.0.1:") for line in lines)
    assert [r.path for r in rx.received] == ["/hook", "/"]
    assert rx.received[0].body["title"] == "agentdeck: test notification"


def test_urls_are_shown_without_secrets() -> None:
    cases = {
        "json://user:hunter22@hooks.example:9000/path?token=abcdef": "json://hooks.example:9000",
        "pover://userkey1234567890abcdef@apptoken1234567890abcd": "pover://",
        "tgram://123456789:AAHsecretsecretsecret/12345": "tgram://",
        "ntfys://tk_secrettoken@ntfy.example/topic": "ntfys://ntfy.example",
    }
    for url, prefix in cases.items():
        shown = redact_url(url)
        assert shown.startswith(prefix), shown
        for secret in ("hunter22", "abcdef", "1234567890", "secretsecret", "tk_secret", "path"):
            assert secret not in shown, shown
    assert redact_url("nonsense://what") == "nonsense://(invalid URL)"


def test_kinds_config_and_routing(project: Path, tmp_path: Path) -> None:
    def status(src: str, to: str) -> Event:
        return Event("t-1", 1, now(), 1, "status", {"from": src, "to": to, "reason": "r"})

    assert kind_of(status("in_progress", "waiting")) == "turn_finished"
    assert kind_of(status("in_progress", "input_required")) == "input_required"
    assert kind_of(status("waiting", "pending")) is None
    assert kind_of(status("pending", "in_progress")) is None

    env = {
        "AGENTDECK_HOME": str(tmp_path / "s"),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_NOTIFY_URLS": "json://a/x, ntfy://b/t  pover://u@t",
    }
    settings = load_settings(env=env)
    assert settings.notify.urls == ["json://a/x", "ntfy://b/t", "pover://u@t"]
    assert settings.notify.events == list(NOTIFY_KINDS)

    sub = project / "sub"
    sub.mkdir()
    notify = NotifySettings(
        urls=["json://global/x"],
        projects={str(sub): {"urls": ["json://sub/x"], "events": ["failed"]}},  # type: ignore[dict-item]
    )
    settings = settings.model_copy(update={"notify": notify})
    core = Core(settings.model_copy(update={"home": tmp_path / "state"}), agents={})
    notifier = Notifier(settings, core)
    core.close()
    stamp = now()
    base = Task("t-1", "T", TaskStatus.WAITING, "claude", str(project), str(project), stamp, stamp)
    deep = Task("t-2", "T", TaskStatus.WAITING, "claude", str(sub / "x"), str(sub), stamp, stamp)
    assert notifier._route(base) == (("json://global/x",), notify.events)
    assert notifier._route(deep) == (("json://sub/x",), ["failed"])
    title, body = compose(notify, base, "input_required", status("in_progress", "input_required"))
    assert title == "agentdeck: T — input_required"
    assert "reason: r" in body and "link: task://t-1" in body
