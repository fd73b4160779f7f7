"""``agentdeck workers``: the machines that run tasks (agent://workers)."""

from __future__ import annotations

import json
from typing import Any

from rich import box
from rich.table import Table

from agentdeck.cli.output import EXIT_OK, UrlOption, out, print_table, run_client
from agentdeck.cli.remote import connect
from agentdeck.cli.tasks import JsonOption


def workers(as_json: JsonOption = False, url: UrlOption = None) -> None:
    """The workers of a front with several machines: state, labels, agents, load and
    last heartbeat (docs/scale-out.md)."""

    async def work() -> int:
        async with connect(url) as remote:
            listing: dict[str, Any] = await remote.get("/workers")
        if as_json:
            out.print_json(json.dumps(listing))
        elif listing["dispatch"] != "workers":
            out.print("This server runs its tasks itself (dispatch = here): no workers.")
        elif not listing["workers"]:
            out.print("No worker has registered yet: start one with `agentdeck worker`.")
        else:
            print_table(_table(listing["workers"]))
        return EXIT_OK

    run_client(work)


def _table(lines: list[dict[str, Any]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("worker", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("load", justify="right", no_wrap=True)
    table.add_column("heartbeat", justify="right", no_wrap=True)
    table.add_column("labels", overflow="fold")
    table.add_column("agents", overflow="fold")
    for line in lines:
        labels = ",".join(f"{k}={v}" for k, v in line["labels"].items()) or "-"
        table.add_row(
            line["name"],
            line["state"],
            f"{line['load']}/{line['max_running']}",
            f"{line['heartbeat_age_seconds']:.0f} s ago",
            labels,
            ",".join(line["agents"]),
        )
    return table
