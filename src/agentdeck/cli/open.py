"""``agentdeck open``: a one-time link that logs a browser in to the dashboard."""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer
from rich.text import Text

from agentdeck.cli.output import EXIT_OK, UrlOption, local_time, out, problems, run_client
from agentdeck.cli.remote import Unreachable, connect


def open_(
    url: UrlOption = None,
    browser: Annotated[
        bool, typer.Option("--open", help="Also open the link in this machine's browser.")
    ] = False,
) -> None:
    """Print a link that logs a browser in to the dashboard, once, within a few minutes.

    The browser then acts with the token this command uses (it needs the write scope);
    the link holds a short-lived code, never the token. While the server has no token,
    loopback browsers need no login and the link is just the dashboard's address.
    """

    async def work() -> int:
        async with connect(url) as remote:
            body = await remote.post("/session/codes")
        if not isinstance(body.get("url"), str):
            raise Unreachable(remote.url, "POST /api/session/codes answered no link")
        link = body["url"]
        out.print(Text(link))
        if body.get("expires_at"):
            problems.print(
                Text(
                    f"works once, until {local_time(body['expires_at'])}; the browser acts "
                    "as this command's token",
                    style="dim",
                )
            )
        else:
            problems.print(Text("no token exists: loopback browsers need no login", style="dim"))
        if browser:
            webbrowser.open(link)
        return EXIT_OK

    run_client(work)
