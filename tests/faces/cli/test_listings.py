"""Listings: `tasks` and `audit` fit 80 columns (status, cost and outcome whole), `--wide`,
`--json`; task ids accept any unique prefix."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import pytest
from click.testing import Result

from agentdeck.agents.base import Capabilities
from agentdeck.agents.testing import Ask, FakeAgent
from agentdeck.config import Settings
from support.core import create, task_in
from support.servers import serve

pytestmark = pytest.mark.anyio
Agentdeck = Callable[..., Awaitable[Result]]

LONG_TITLE = "Refactor the authentication middleware so that every route checks scopes " * 2
EXPENSIVE = {"input_tokens": 10, "output_tokens": 5, "cost_usd": 12.3456}


def unique_prefix(task_id: str, others: list[str]) -> str:
    """The shortest prefix of ``task_id`` (without ``t-``) no other id starts with."""
    bare = task_id.removeprefix("t-")
    for size in range(1, len(bare) + 1):
        if not any(o.removeprefix("t-").startswith(bare[:size]) for o in others):
            return bare[:size]
    raise AssertionError("ids are unique")


async def test_tasks_fit_80_columns_with_status_and_cost_whole(
    cli_settings: Settings, agentdeck: Agentdeck
) -> None:
    agent = FakeAgent(steps=[Ask("Bash", {"command": "make deploy"})], usage=EXPENSIVE)
    async with serve(cli_settings, {"fake": agent}) as srv:
        core = srv.deck.core
        done = await create(core, LONG_TITLE, "go")
        await task_in(core, done.id, "waiting")
        asking = await create(core, LONG_TITLE, "go", policy="ask")
        await task_in(core, asking.id, "input_required")

        listed = await agentdeck("tasks", "--url", srv.url)
        assert listed.exit_code == 0, listed.output
        lines = listed.stdout.splitlines()
        assert all(len(line) <= 80 for line in lines), listed.stdout
        row = next(line for line in lines if line.startswith(asking.id))
        assert " input_required " in row and "…" in row  # the title is what gets cut
        assert next(line for line in lines if line.startswith(done.id)).endswith("$12.3456")
        assert "2 shown of 2 tasks" in listed.stdout

        wide = await agentdeck("tasks", "--wide", "--url", srv.url)
        assert wide.exit_code == 0 and "branch" in wide.stdout and "agent" in wide.stdout

        as_json = await agentdeck("tasks", "--json", "--status", "waiting", "--url", srv.url)
        assert as_json.exit_code == 0, as_json.output
        rows = json.loads(as_json.stdout)
        assert [(r["id"], r["status"], r["cost_usd"]) for r in rows] == [
            (done.id, "waiting", 12.3456)
        ]
        empty = await agentdeck("tasks", "--json", "--status", "failed", "--url", srv.url)
        assert json.loads(empty.stdout) == []


async def test_task_ids_accept_any_unique_prefix(
    cli_settings: Settings, agentdeck: Agentdeck
) -> None:
    async with serve(cli_settings, {"fake": FakeAgent()}) as srv:
        core = srv.deck.core
        ids = [(await create(core, f"task {i}", "hello")).id for i in range(6)]
        for task_id in ids:
            await task_in(core, task_id, "waiting")
        target = ids[0]
        prefix = unique_prefix(target, ids[1:])

        for ref in (prefix, f"t-{prefix}", target):
            shown = await agentdeck("show", ref, "--url", srv.url)
            assert shown.exit_code == 0, shown.output
            assert shown.stdout.startswith("task") and target in shown.stdout.splitlines()[0]
        ended = await agentdeck("end", prefix, "--url", srv.url)
        assert ended.exit_code == 0 and f"task {target} completed" in ended.stdout

        ambiguous = await agentdeck("logs", "t-", "--url", srv.url)
        assert ambiguous.exit_code == 2
        assert "ambiguous: 6 tasks match" in ambiguous.stderr
        assert all(task_id in ambiguous.stderr for task_id in ids)

        unknown = await agentdeck("cancel", "zzzz", "--url", srv.url)
        assert unknown.exit_code == 1
        assert "error (not_found)" in unknown.stderr and "'zzzz'" in unknown.stderr


async def test_audit_fits_80_columns_wide_and_json(
    cli_settings: Settings, agentdeck: Agentdeck
) -> None:
    async with serve(cli_settings, {"fake": FakeAgent()}) as srv:
        long = "x" * 300
        ran = await agentdeck("run", "--no-wait", "--title", "audited", long, "--url", srv.url)
        assert ran.exit_code == 0, ran.output
        task_id = ran.stdout.strip()
        await task_in(srv.deck.core, task_id, "waiting")

    shown = await agentdeck("audit")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), shown.stdout
    row = next(line for line in lines if "POST /api/tasks" in line)
    assert task_id in row and row.rstrip().endswith("ok")
    assert "xxxx" not in shown.stdout  # the arguments are a --wide column

    wide = await agentdeck("audit", "--wide")
    assert "client" in wide.stdout and "xxxx" in wide.stdout

    entries = json.loads((await agentdeck("audit", "--json")).stdout)
    assert entries[0]["tool"] == "POST /api/tasks" and entries[0]["task_id"] == task_id
    assert entries[0]["outcome"] == "ok"


async def test_workers_says_this_server_has_none(
    cli_settings: Settings, agentdeck: Agentdeck
) -> None:
    async with serve(cli_settings) as srv:
        said = await agentdeck("workers", "--url", srv.url)
        assert said.exit_code == 0 and "runs its tasks itself" in said.stdout
        listing = json.loads((await agentdeck("workers", "--json", "--url", srv.url)).stdout)
        assert listing["dispatch"] == "here" and listing["workers"] == []


async def test_costs_per_project_agent_and_day_with_n_a(
    cli_settings: Settings, agentdeck: Agentdeck
) -> None:
    priced = FakeAgent("priced", usage=EXPENSIVE)
    silent = FakeAgent("silent", usage={"input_tokens": 7}, capabilities=Capabilities(cost=False))
    async with serve(cli_settings, {"priced": priced, "silent": silent}) as srv:
        core = srv.deck.core
        for agent in ("priced", "silent"):
            task = await create(core, "t", "go", agent=agent)
            await task_in(core, task.id, "waiting")
        by_agent = await agentdeck("costs", "--by", "agent", "--url", srv.url)
        assert by_agent.exit_code == 0, by_agent.output
        rows = {line.split()[0]: line for line in by_agent.stdout.splitlines() if line.strip()}
        assert "$12.3456" in rows["priced"] and "n/a" in rows["silent"]
        assert "$12.3456 (+1 n/a)" in rows["all"]
        as_json = await agentdeck("costs", "--json", "--url", srv.url)
        assert json.loads(as_json.stdout)["total"]["tasks"] == 2
        refused = await agentdeck("costs", "--by", "week", "--url", srv.url)
        assert refused.exit_code == 2 and "week" in refused.output
