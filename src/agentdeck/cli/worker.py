"""``agentdeck worker``: take turns from the front through the shared PostgreSQL database."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path
from typing import Annotated

import anyio
import typer
from rich.console import Console

from agentdeck.errors import ConfigError

err = Console(stderr=True, soft_wrap=True)


def _labels(raw: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"labels are k=v,…; not {item!r}")
        out[key.strip()] = value.strip()
    return out


def worker(
    database_url: Annotated[
        str | None,
        typer.Option(help="postgresql://… of the front (default: AGENTDECK_DATABASE_URL)."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="This worker's name (default: hostname).")
    ] = None,
    labels: Annotated[str | None, typer.Option(help="k=v,… that tasks may require.")] = None,
    max_running: Annotated[int, typer.Option(min=1, help="Turns at once.")] = 2,
    roots: Annotated[
        list[Path] | None,
        typer.Option("--roots", help="Directories it runs tasks in (repeat for more)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Register with the front's database and run the turns it sends (docs/scale-out.md)."""
    import socket

    from agentdeck.config import load_settings
    from agentdeck.workers.worker import Worker, WorkerOptions

    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = load_settings(database_url=database_url, roots=roots or None)
    except ConfigError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    if not settings.database_url:
        err.print("error: a worker needs --database-url (or AGENTDECK_DATABASE_URL)")
        raise typer.Exit(2)
    options = WorkerOptions(
        name=name or socket.gethostname(), labels=_labels(labels), max_running=max_running
    )

    async def main() -> None:
        runtime = Worker(settings, options)
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(runtime.run)
                err.print(f"worker {options.name} ready ({max_running} slots)")
                with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                    async for _ in signals:
                        break
                tg.cancel_scope.cancel()
        finally:
            runtime.close()

    anyio.run(main)
