"""``agentdeck open``: a one-time link that logs a browser in to the dashboard."""

from __future__ import annotations

import webbrowser
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.text import Text

from agentdeck.cli.output import EXIT_OK, UrlOption, local_time, out, problems, run_client
from agentdeck.cli.remote import ToolFailed, Unauthorized, Unreachable, resolve_target


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
        import httpx2

        target = resolve_target(url)
        parts = urlsplit(target.url)
        path = parts.path.removesuffix("/").removesuffix("/mcp") + "/api/session/codes"
        codes = urlunsplit(parts._replace(path=path, query="", fragment=""))
        headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
        try:
            async with httpx2.AsyncClient(timeout=30) as http:
                response = await http.post(codes, headers=headers)
        except httpx2.TransportError as exc:
            raise Unreachable(target.url, stored=target.stored_url) from exc
        body = _json(response)
        error = body.get("error") if isinstance(body.get("error"), dict) else None
        if response.status_code == 401:
            raise Unauthorized(target, error.get("message") if error else None)
        if response.status_code != 201 or not isinstance(body.get("url"), str):
            if error is None:
                raise Unreachable(target.url, f"POST {codes} answered {response.status_code}")
            raise ToolFailed(str(error.get("type")), str(error.get("message")))
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


def _json(response: Any) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
