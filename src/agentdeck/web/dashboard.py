"""The dashboard: one static shell for every page, its files, and the PWA manifest and worker.

The shell (``static/index.html``) routes on ``location.pathname`` in the browser and
reads everything through ``/api``; nothing here touches a task, so these routes carry no
data and need no credentials.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC = Path(__file__).parent / "static"

# Revalidate on every load (ETag / Last-Modified make that cheap): an upgrade shows at once.
NO_CACHE = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
SHELL_HEADERS = {
    **NO_CACHE,
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; manifest-src 'self'; worker-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class _StaticFiles(StaticFiles):
    """`StaticFiles` whose answers are revalidated on every use."""

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(NO_CACHE)
        return response


def _file(name: str, media_type: str, headers: dict[str, str]) -> Route:
    path = STATIC / name

    async def serve(request: Request) -> FileResponse:
        return FileResponse(path, media_type=media_type, headers=headers)

    return Route(f"/{name}", serve, methods=["GET", "HEAD"])


def dashboard_routes() -> list[BaseRoute]:
    """``/``, ``/tasks/{id}`` and ``/new`` (the shell), ``/static/…``, the manifest and worker."""
    shell = STATIC / "index.html"

    async def page(request: Request) -> FileResponse:
        return FileResponse(shell, media_type="text/html; charset=utf-8", headers=SHELL_HEADERS)

    return [
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/tasks/{task_id}", page, methods=["GET", "HEAD"]),
        Route("/new", page, methods=["GET", "HEAD"]),
        _file("manifest.webmanifest", "application/manifest+json", NO_CACHE),
        # At the root so that its scope is the whole dashboard.
        _file("sw.js", "text/javascript; charset=utf-8", NO_CACHE),
        Mount("/static", app=_StaticFiles(directory=STATIC), name="static"),
    ]
