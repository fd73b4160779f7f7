"""``agentdeck serve`` (HTTP or stdio) and ``agentdeck version``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import anyio
import typer
from rich.console import Console

from agentdeck import __version__
from agentdeck.errors import ConfigError

if TYPE_CHECKING:
    from agentdeck.app import Deck
    from agentdeck.config import Settings

err = Console(stderr=True, soft_wrap=True)  # paths and URLs stay whole


def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 3000).")] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    stdio: Annotated[
        bool,
        typer.Option("--stdio", help="Speak MCP on stdin/stdout (for clients that launch it)."),
    ] = False,
    root: Annotated[
        list[Path] | None,
        typer.Option(
            "--root",
            help="A directory tasks may run in (and below); repeat for more. Replaces "
            "AGENTDECK_ROOTS and roots in config.toml; the first is the default project "
            "unless default_project is set. Default: the directory you start it in.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve MCP on http://HOST:PORT/mcp (and GET /health), or on stdio."""
    # The server's parts are imported here, not at the top: every other command starts fast.
    import uvicorn

    from agentdeck.app import Deck, build_app
    from agentdeck.auth import auth_configured, check_binding, reachable_urls
    from agentdeck.config import load_settings
    from agentdeck.redact import install_log_redaction

    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_log_redaction()
    try:
        settings = load_settings(host=host, port=port, roots=root or None)
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
    for line in banner(settings, reachable_urls(settings), auth_configured(settings)):
        err.print(line, highlight=False)
    uvicorn.run(
        build_app(deck),
        host=settings.host,
        port=settings.port,
        log_level=log_level.lower(),
        lifespan="on",
        # Open connections get a third of the grace; stopping the turns has the rest.
        timeout_graceful_shutdown=max(1, int(settings.shutdown_grace_seconds / 3)),
    )


def banner(settings: Settings, urls: list[str], tokens_required: bool) -> list[str]:
    """What ``serve`` prints before it listens: where, who may call, which projects."""
    lines = [f"[bold]agentdeck {__version__}[/] · state {settings.home}"]
    for url in urls:
        lines.append(f"  MCP:  [cyan]{url}[/]")
        lines.append(f"  REST: [cyan]{url.removesuffix('/mcp')}/api[/]")
    if tokens_required:
        lines.append("  auth: tokens required (Authorization: Bearer …; agentdeck login URL)")
    else:
        lines.append(
            "  auth: open to loopback clients until the first token (agentdeck token create)"
        )
    lines.append(f"  projects under: {', '.join(map(str, settings.roots))}")
    if settings.port != type(settings).model_fields["port"].default and urls:
        lines.append(f"  for the CLI: export AGENTDECK_URL={urls[0]}")
    return lines


async def _serve_stdio(deck: Deck) -> None:
    async with deck.running():
        await deck.mcp.run_stdio_async()


def version() -> None:
    """Print the version."""
    print(__version__)
