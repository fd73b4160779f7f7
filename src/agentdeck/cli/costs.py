"""``agentdeck costs``: what the tasks cost, per project, agent or day (agent://costs)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import typer
from rich import box
from rich.table import Table

from agentdeck.cli.output import EXIT_OK, UrlOption, cost, out, print_table, run_client
from agentdeck.cli.remote import connect
from agentdeck.cli.tasks import JsonOption


def costs(
    by: Annotated[
        Literal["project", "agent", "day"], typer.Option(help="Group by project, agent or day.")
    ] = "project",
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Cost and tokens of all tasks, per project (or agent, or day); n/a where the agent
    reports no cost."""

    async def work() -> int:
        async with connect(url) as remote:
            ledger: dict[str, Any] = await remote.get("/costs")
        if as_json:
            out.print_json(json.dumps(ledger))
            return EXIT_OK
        print_table(_table(by, [*ledger[f"by_{by}"], ledger["total"]]))
        return EXIT_OK

    run_client(work)


def _table(by: str, lines: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column(by, overflow="fold")
    for name in ("tasks", "cost", "tokens in", "out", "cache read"):
        table.add_column(name, justify="right", no_wrap=True)
    for line in lines:
        spent = cost(line["cost_usd"])
        if line["cost_usd"] is not None and line["tasks_without_cost"]:
            spent += f" (+{line['tasks_without_cost']} n/a)"
        table.add_row(
            line["key"],
            str(line["tasks"]),
            spent,
            f"{line['input_tokens']:,}",
            f"{line['output_tokens']:,}",
            f"{line['cache_read_tokens']:,}",
        )
    return table
