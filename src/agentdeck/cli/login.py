"""``agentdeck login`` and ``agentdeck logout``: the server and token client commands use."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.text import Text

from agentdeck.cli import credentials
from agentdeck.cli.output import EXIT_OK, EXIT_USAGE, fail, out, problems, run_client
from agentdeck.cli.remote import (
    TOKEN_VAR,
    URL_VAR,
    Target,
    Unauthorized,
    Unreachable,
    beside,
    configured_url,
    connect,
    normalize_url,
)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def login(
    url: Annotated[
        str | None,
        typer.Argument(
            help="The server: its MCP URL, or just its address (https://deck.example.com). "
            f"Default: ${URL_VAR}, else the configured host and port.",
            show_default=False,
        ),
    ] = None,
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin",
            help=f"Read the token from stdin (else ${TOKEN_VAR}, else a hidden prompt).",
        ),
    ] = False,
) -> None:
    """Check a server and its token, then store both for every client command.

    Stored in agentdeck's config directory, readable by you only. Afterwards commands
    without --url use this server, with this token; --url, $AGENTDECK_URL and
    $AGENTDECK_TOKEN still win. `agentdeck logout` forgets it.
    """
    target_url = normalize_url(url or os.environ.get(URL_VAR) or "") or None
    token = _token(token_stdin)

    async def work() -> int:
        where = target_url or configured_url()
        target = Target(where, token, "login" if token else None)
        health = await _health(where)
        try:
            async with connect(target=target) as remote:
                status = await remote.get("/status")
        except Unauthorized as exc:
            raise fail(_refused(where, token, exc), EXIT_USAGE) from None
        path = credentials.save(credentials.Login(where, token))
        version = status.get("version") or health.get("version") or "?"
        out.print(
            Text.assemble(
                ("logged in to ", "bold"),
                (where, "bold"),
                f" (agentdeck {version}; ",
                "token checked" if token else "it needs no token",
                f"); stored in {path}",
            )
        )
        if not token:
            out.print(
                Text(
                    "that stays true only while the server has no token and you are on its "
                    "loopback: once one exists, log in again with it",
                    style="dim",
                )
            )
        if _cleartext(where) and token:
            problems.print(
                Text(
                    f"warning: {where} is plain http to another machine: the token travels "
                    "unencrypted; prefer https (a tunnel, docs/remote-access.md)",
                    style="yellow",
                )
            )
        return EXIT_OK

    run_client(work)


def logout() -> None:
    """Forget the server and token `agentdeck login` stored."""
    gone = credentials.remove()
    if gone is None:
        out.print("not logged in: nothing stored")
    else:
        out.print(f"logged out of {gone.url}: its token is no longer stored on this machine")
    raise typer.Exit(EXIT_OK)


def _token(from_stdin: bool) -> str | None:
    """The token to log in with: stdin, else ``$AGENTDECK_TOKEN``, else asked (hidden)."""
    if from_stdin:
        line = sys.stdin.readline().strip()
        if not line:
            raise fail("error: --token-stdin: stdin gave no token", EXIT_USAGE)
        return line
    if token := os.environ.get(TOKEN_VAR, "").strip():
        return token
    if sys.stdin.isatty():
        typed: str = typer.prompt(
            "Token (adk_…; Enter if the server needs none)",
            default="",
            show_default=False,
            hide_input=True,
        )
        return typed.strip() or None
    return None


async def _health(url: str) -> dict[str, Any]:
    """``GET /health`` next to the MCP endpoint; `Unreachable` unless agentdeck answers."""
    import httpx2

    health_url = beside(url, "/health")
    try:
        async with httpx2.AsyncClient(timeout=15) as http:
            response = await http.get(health_url)
    except httpx2.TransportError as exc:
        raise Unreachable(url) from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or body.get("status") != "ok":
        raise Unreachable(url, f"GET {health_url} answered {response.status_code}, not agentdeck")
    return body


def _refused(url: str, token: str | None, exc: Unauthorized) -> str:
    why = f" (HTTP 401: {exc.reason})" if exc.reason else " (HTTP 401)"
    if token is None:
        return (
            f"error: authentication failed: {url} needs a token{why} — give it with "
            f"--token-stdin, ${TOKEN_VAR}, or type it when asked (on a terminal); create one "
            "on the server's machine: agentdeck token create --name NAME"
        )
    return (
        f"error: authentication failed: {url} refused this token{why}: it is wrong, expired "
        "or revoked; nothing was stored"
    )


def _cleartext(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "") not in LOOPBACK_HOSTS
