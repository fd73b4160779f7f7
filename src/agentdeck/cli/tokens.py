"""``agentdeck token …`` and ``agentdeck audit``: in-process on the core, with or without a
running server (a running server sees new tokens at once)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import anyio
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from agentdeck.cli.output import exit_code_for, local_time, print_table
from agentdeck.errors import AgentdeckError

if TYPE_CHECKING:  # the core is imported when a command runs: the CLI starts fast
    from agentdeck.core import Core

T = TypeVar("T")
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

TOKEN_TIME = "%Y-%m-%d %H:%M"
token_app = typer.Typer(
    name="token",
    help="Access tokens for HTTP clients (docs/remote-access.md).",
    no_args_is_help=True,
)


def _with_core(fn: Callable[[Core], Awaitable[T]]) -> T:
    """``fn`` on this machine's core (no server needed; a running one sees the change)."""
    from agentdeck.config import load_settings
    from agentdeck.core import Core

    try:
        core = Core(load_settings(), agents={})
    except AgentdeckError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(exit_code_for(exc.kind)) from exc
    try:
        return anyio.run(fn, core)
    except AgentdeckError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(exit_code_for(exc.kind)) from exc
    finally:
        core.close()


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. phone.")],
    scope: Annotated[str, typer.Option("--scope", help="read, write or admin.")] = "write",
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime like 30d, 12h; default never.")
    ] = None,
) -> None:
    """Create a token and print it once; only its hash is kept."""
    from agentdeck.auth.scopes import SCOPES

    if scope not in SCOPES:
        err.print(f"[red]error:[/] --scope must be one of {', '.join(SCOPES)}")
        raise typer.Exit(2)
    token, info = _with_core(lambda core: core.create_token(name, scope, expires))
    err.print(f"token [bold]{info.name}[/] ({info.scope}), expires {info.expires_at or 'never'}.")
    err.print("Shown once; send it as the header  Authorization: Bearer <token>")
    out.print(token)
    err.print(
        "From now on every HTTP client needs a token (loopback included); a running "
        "server applies this at once."
    )


@token_app.command("list")
def token_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Tokens: name, scope, created, expires, last used, state (never the token)."""
    tokens = _with_core(lambda core: core.tokens())
    if as_json:
        out.print_json(json.dumps([{**t.__dict__, "state": t.state} for t in tokens]))
        return
    if not tokens:
        out.print("no tokens: loopback clients need none until the first one is created")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("name", overflow="fold")
    for name in ("scope", "created", "expires", "last used", "state"):
        table.add_column(name, no_wrap=True)
    for t in tokens:
        table.add_row(
            t.name,
            t.scope,
            *(
                local_time(ts, TOKEN_TIME) if ts else "never"
                for ts in (t.created_at, t.expires_at, t.last_used_at)
            ),
            t.state,
        )
    out.print(table)


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token at once (a running server refuses it from its next request)."""
    if not _with_core(lambda core: core.revoke_token(name)):
        err.print(f"[red]error:[/] no active token named {name!r}")
        raise typer.Exit(1)
    err.print(f"token {name} revoked")


def audit(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many entries.")] = 50,
    wide: Annotated[
        bool, typer.Option("--wide", help="Also the client and the arguments; wider than 80.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The newest mutating tool calls: when, who, tool, task, outcome (--wide: client and
    arguments)."""
    entries = _with_core(lambda core: core.audit_entries(limit))
    if as_json:
        out.print_json(json.dumps(entries))
        return
    if not entries:
        out.print("no audit entries yet: mutating tool calls are recorded here")
        return
    print_table(_audit_table(entries, wide), wide)


def _audit_table(entries: list[dict[str, Any]], wide: bool) -> Table:
    """80 columns wide unless ``wide``; only who (and, wide, the arguments) is ever cut."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("when", no_wrap=True)
    table.add_column("who", no_wrap=True, overflow="ellipsis", ratio=1, min_width=6)
    table.add_column("tool", no_wrap=True)
    table.add_column("task", no_wrap=True)
    if wide:
        table.add_column("client", no_wrap=True)
    table.add_column("outcome", no_wrap=True, min_width=max(len(e["outcome"]) for e in entries))
    if wide:
        table.add_column("arguments", overflow="fold", ratio=2)
    for e in entries:
        cells = [local_time(e["ts"], "%Y-%m-%d %H:%M:%S"), e["who"], e["tool"], e["task_id"] or ""]
        if wide:
            cells.append(e["client"] or "")
        cells.append(e["outcome"])
        if wide:
            cells.append(json.dumps(e["arguments"]))
        table.add_row(*cells)
    return table


# Standalone app (`python -m agentdeck.cli.tokens`); the main app registers the same pieces.
cli = typer.Typer(no_args_is_help=True)
cli.add_typer(token_app)
cli.command("audit")(audit)

if __name__ == "__main__":
    cli()
