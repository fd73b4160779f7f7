"""`run` and its options, decisions in the terminal, `show`, `diff` and timestamped logs."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import Result

from agentdeck.agents.testing import Ask, FakeAgent, Say
from agentdeck.cli import decisions
from agentdeck.config import Settings
from agentdeck.core import Core, Respond
from support.core import create, events_of, task_in
from support.git import init_repo
from support.servers import serve
from support.waiting import wait_until

pytestmark = pytest.mark.anyio
Agentdeck = Callable[..., Awaitable[Result]]
CLOCK = re.compile(r"^\d\d:\d\d:\d\d ")
DEPLOY = Ask("Bash", {"command": "make deploy"}, output="deployed")


async def first_task(core: Core, status: str) -> str:
    """The id of the first task that reaches ``status``."""

    async def check() -> str | None:
        listing = await core.tasks()
        return next((t.id for t in listing.tasks if t.status == status), None)

    with anyio.fail_after(10):
        while not (found := await check()):
            await anyio.sleep(0.02)
    return found


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """What the user types at the decision prompt (as if on a terminal), line by line."""
    typed: list[str | None] = []
    prompts: list[str] = []

    def reader(console: Any) -> decisions.Reader:
        async def read(prompt: str) -> str | None:
            prompts.append(prompt)
            return typed.pop(0) if typed else None

        return read

    monkeypatch.setattr(decisions, "interactive", lambda: True)
    monkeypatch.setattr(decisions, "terminal_reader", reader)
    return typed


async def test_run_passes_its_options_to_the_task(
    cli_settings: Settings, agentdeck: Agentdeck
) -> None:
    async with serve(cli_settings, {"fake": FakeAgent(), "other": FakeAgent("other")}) as srv:
        ran = await agentdeck(
            "run",
            "--no-wait",
            *("--agent", "other", "--model", "big-model", "--timeout", "30m"),
            *("--max-turns", "3", "--policy", "rules", "--allow", "Bash(npm test:*)"),
            *("--deny", "WebFetch", "--url", srv.url),
            "add tests",
        )
        assert ran.exit_code == 0, ran.output
        task = await srv.deck.core.get(ran.stdout.strip())
        assert (task.agent, task.model, task.timeout_seconds, task.max_turns) == (
            "other",
            "big-model",
            1800.0,
            3,
        )
        assert (task.policy, task.allow_rules, task.deny_rules) == (
            "rules",
            ["Bash(npm test:*)"],
            ["WebFetch"],
        )

        bad = await agentdeck("run", "--timeout", "soon", "--url", srv.url, "x")
        assert bad.exit_code == 2 and "not a duration" in bad.output
        bad_policy = await agentdeck("run", "--policy", "yolo", "--url", srv.url, "x")
        assert bad_policy.exit_code == 2 and "policy" in bad_policy.stderr


async def test_run_prints_the_commands_that_answer_a_decision(
    cli_settings: Settings, agentdeck: Agentdeck
) -> None:
    agent = FakeAgent(steps=[DEPLOY, Say("all done\nsecond line")])
    async with serve(cli_settings, {"fake": agent}) as srv, anyio.create_task_group() as tg:
        results: list[Result] = []

        async def run() -> None:
            results.append(await agentdeck("run", "--policy", "ask", "--url", srv.url, "deploy"))

        tg.start_soon(run)
        core = srv.deck.core
        task_id = await first_task(core, "input_required")
        await core.respond(Respond(id=task_id, decision="allow"))
        await wait_until(lambda: results, timeout=10)
    ran = results[0]
    assert ran.exit_code == 0, ran.output
    assert f"agentdeck approve {task_id}" in ran.stdout
    assert f"agentdeck deny {task_id}" in ran.stdout
    assert "✓ waiting" in ran.stdout
    body = ran.stdout.splitlines()[1:-2]  # the event lines (after the header, before the outcome)
    stamped = [line for line in body if CLOCK.match(line)]
    assert stamped and all(CLOCK.match(line) or line.startswith(" " * 9) for line in body)
    assert "         second line" in ran.stdout  # a message's further lines under its first


async def test_the_terminal_prompt_answers_allow_always(
    cli_settings: Settings, agentdeck: Agentdeck, answers: list[str | None]
) -> None:
    answers += ["maybe", "a"]  # an unknown answer is asked again
    async with serve(cli_settings, {"fake": FakeAgent(steps=[DEPLOY])}) as srv:
        ran = await agentdeck("run", "--policy", "ask", "--url", srv.url, "deploy")
        assert ran.exit_code == 0, ran.output
        assert "allow_always sent" in ran.stdout
        task_id = (await srv.deck.core.tasks()).tasks[0].id
        assert (await srv.deck.core.get(task_id)).always_allow == ["Bash"]
    assert answers == []


async def test_the_terminal_prompt_denies_with_a_reason(
    cli_settings: Settings, agentdeck: Agentdeck, answers: list[str | None]
) -> None:
    answers += ["n", "not on a Friday"]
    agent = FakeAgent(steps=[DEPLOY])
    async with serve(cli_settings, {"fake": agent}) as srv:
        ran = await agentdeck("run", "--policy", "ask", "--url", srv.url, "deploy")
    assert ran.exit_code == 0, ran.output
    assert "deny sent" in ran.stdout
    assert agent.answers == [(False, "not on a Friday")]


async def test_a_prompt_closes_when_answered_elsewhere(
    cli_settings: Settings, agentdeck: Agentdeck, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = threading.Event()

    def reader(console: Any) -> decisions.Reader:
        async def read(prompt: str) -> str | None:
            asked.set()
            await anyio.sleep_forever()
            return None  # pragma: no cover

        return read

    monkeypatch.setattr(decisions, "interactive", lambda: True)
    monkeypatch.setattr(decisions, "terminal_reader", reader)
    async with serve(cli_settings, {"fake": FakeAgent(steps=[DEPLOY])}) as srv:
        results: list[Result] = []
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                results.append(await agentdeck("run", "--policy", "ask", "--url", srv.url, "go"))

            tg.start_soon(run)
            await wait_until(asked.is_set, timeout=10)
            task_id = await first_task(srv.deck.core, "input_required")
            await srv.deck.core.respond(Respond(id=task_id, decision="allow"), by="phone")
    ran = results[0]
    assert ran.exit_code == 0, ran.output
    assert "answered elsewhere: allow by phone" in ran.stdout and "✓ waiting" in ran.stdout


async def test_show_has_the_decision_policy_branch_and_worktree(
    cli_settings: Settings, agentdeck: Agentdeck
) -> None:
    init_repo(cli_settings.roots[0])
    async with serve(cli_settings, {"fake": FakeAgent(steps=[DEPLOY])}) as srv:
        task = await create(srv.deck.core, "Deploy", "deploy it", policy="ask")
        await task_in(srv.deck.core, task.id, "input_required")
        shown = await agentdeck("show", task.id, "--url", srv.url)
        assert shown.exit_code == 0, shown.output
        fields = dict(
            (line[:16].strip(), line[16:]) for line in shown.stdout.splitlines() if line[:1] != " "
        )
        assert "make deploy" in fields["waiting on you"]
        assert f"agentdeck approve {task.id}" in shown.stdout
        assert f"agentdeck deny {task.id}" in shown.stdout
        assert fields["policy"] == "ask"
        detail = await srv.deck.core.get(task.id)
        assert detail.git is not None and detail.git.worktree_path
        assert fields["branch"].startswith(f"{detail.git.branch} from main")
        assert fields["worktree"] == detail.git.worktree_path
        assert "bypassPermissions" not in shown.stdout


async def test_diff_says_when_there_are_no_changes(
    cli_settings: Settings, agentdeck: Agentdeck
) -> None:
    init_repo(cli_settings.roots[0])
    async with serve(cli_settings, {"fake": FakeAgent()}) as srv:
        task = await create(srv.deck.core, "Nothing", "say hi")
        await task_in(srv.deck.core, task.id, "waiting")
        diffed = await agentdeck("diff", task.id, "--url", srv.url)
    assert diffed.exit_code == 0, diffed.output
    assert diffed.stdout == ""  # a pipe (agentdeck diff ID | git apply) gets nothing
    assert "no changes" in diffed.stderr and "main" in diffed.stderr


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local time zone that is not UTC (UTC+05:30)."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


async def test_every_log_line_has_its_local_time(
    cli_settings: Settings, agentdeck: Agentdeck, zone: None
) -> None:
    async with serve(cli_settings, {"fake": FakeAgent(steps=[Say("one\ntwo")])}) as srv:
        task = await create(srv.deck.core, "Talk", "talk")
        await task_in(srv.deck.core, task.id, "waiting")
        events = await events_of(srv.deck.core, task.id)
        logged = await agentdeck("logs", task.id, "--url", srv.url)
        followed = await agentdeck("logs", "-f", task.id, "--url", srv.url)
    first = datetime.fromisoformat(events[0].ts).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    for shown in (logged, followed):
        assert shown.exit_code == 0, shown.output
        lines = shown.stdout.splitlines()
        assert lines[0].startswith(f"[{first}] status:")
        assert "assistant: one" in shown.stdout and f"\n{' ' * 22}two\n" in shown.stdout
        assert all(re.match(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] | {22}", ln) for ln in lines)


def test_serve_root_replaces_the_configured_roots(
    cli_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from agentdeck.cli import app

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda asgi, **options: served.append(asgi))
    first, second = tmp_path / "code", tmp_path / "more"
    first.mkdir()
    second.mkdir()
    result = CliRunner().invoke(
        app, ["serve", "--port", "0", "--root", str(first), "--root", str(second)]
    )
    assert result.exit_code == 0, result.output
    assert len(served) == 1
    assert f"projects under: {first}, {second}" in result.stderr
    missing = CliRunner().invoke(app, ["serve", "--root", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "not an existing directory" in missing.stderr
