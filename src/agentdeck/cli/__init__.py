"""The CLI face: the ``agentdeck`` command (client commands talk to a server over MCP)."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import anyio
import typer
import uvicorn
from rich.console import Console

from agentdeck import __version__
from agentdeck.app import Deck, build_app
from agentdeck.auth import auth_configured, check_binding, reachable_urls
from agentdeck.cli import doctor as cli_doctor
from agentdeck.cli import tasks as cli_tasks
from agentdeck.cli.notify import notify_app
from agentdeck.cli.tokens import audit, token_app
from agentdeck.config import load_settings
from agentdeck.errors import ConfigError
from agentdeck.redact import install_log_redaction

app = typer.Typer(
    name="agentdeck",
    help="Run AI coding agents on this machine, steered from any MCP client.",
    no_args_is_help=True,
    add_completion=False,
)
err = Console(stderr=True)

app.command()(cli_tasks.run)
app.command("continue")(cli_tasks.continue_)
app.command()(cli_tasks.tasks)
app.command()(cli_tasks.show)
app.command()(cli_tasks.logs)
app.command()(cli_tasks.cancel)
app.command()(cli_tasks.end)
app.command("approve")(cli_tasks.respond("allow"))
app.command("allow-always")(cli_tasks.respond("allow_always"))
app.command("deny")(cli_tasks.respond("deny"))
app.command()(cli_tasks.diff)
app.command()(cli_tasks.merge)
app.command()(cli_doctor.doctor)
app.add_typer(notify_app)
app.add_typer(token_app, name="token")
app.command("audit")(audit)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 3000).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    stdio: Annotated[
        bool,
        typer.Option("--stdio", help="Speak MCP on stdin/stdout (for clients that launch it)."),
    ] = False,
) -> None:
    """Serve MCP on http://HOST:PORT/mcp (and GET /health), or on stdio."""
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_log_redaction()
    try:
        settings = load_settings(host=host, port=port)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from exc
    if stdio:
        anyio.run(_serve_stdio, Deck(settings))
        return
    try:
        check_binding(settings, auth_configured(settings))
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from exc
    deck = Deck(settings)
    err.print(
        f"[bold]agentdeck {__version__}[/] · state {settings.home} · projects under "
        f"{', '.join(map(str, settings.roots))}"
    )
    for url in reachable_urls(settings):
        err.print(f"  MCP: [cyan]{url}[/]")
    uvicorn.run(
        build_app(deck),
        host=settings.host,
        port=settings.port,
        log_level=log_level.lower(),
        lifespan="on",
    )


async def _serve_stdio(deck: Deck) -> None:
    async with deck.running():
        await deck.mcp.run_stdio_async()


@app.command()
def version() -> None:
    """Print the version."""
    print(__version__)


def main() -> None:
    app(prog_name="agentdeck")


if __name__ == "__main__":
    main()
