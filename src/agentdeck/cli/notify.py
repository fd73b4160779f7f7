"""``agentdeck notify …``: check the push-notification setup (docs/notifications.md)."""

from __future__ import annotations

import anyio
import typer
from rich.console import Console

from agentdeck.errors import ConfigError

notify_app = typer.Typer(name="notify", help="Push notifications (Apprise).", no_args_is_help=True)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


@notify_app.command("test")
def test() -> None:
    """Send a test message to every configured URL and print each result."""
    from agentdeck.config import load_settings  # imported when used: the CLI starts fast

    try:
        settings = load_settings()
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from exc
    from agentdeck.notify import send_test  # imported when used: the CLI starts fast

    results = anyio.run(send_test, settings.notify)
    if not results:
        err.print(
            "no notification URLs configured: set notify.urls in config.toml "
            "or AGENTDECK_NOTIFY_URLS"
        )
        raise typer.Exit(1)
    for url, result in results:
        if result.ok:
            out.print(f"[green]ok[/]     {url}")
        else:
            out.print(f"[red]error[/]  {url}: {result.error}")
    raise typer.Exit(0 if all(r.ok for _, r in results) else 1)
