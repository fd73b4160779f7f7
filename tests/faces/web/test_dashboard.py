"""The dashboard's routes in-process: the shell on every page, its files, the PWA parts."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx2
import pytest
from starlette.applications import Starlette

from agentdeck.web.dashboard import STATIC, dashboard_routes

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    app = Starlette(routes=dashboard_routes())
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.mark.parametrize("path", ["/", "/tasks/t-123", "/new"])
async def test_every_page_is_the_shell(http: httpx2.AsyncClient, path: str) -> None:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.text == (STATIC / "index.html").read_text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in response.text
    assert '<script type="module" src="/static/app.js">' in response.text


async def test_the_shell_names_only_files_that_are_served(http: httpx2.AsyncClient) -> None:
    shell = (await http.get("/")).text
    names = re.findall(r'(?:src|href)="(/[^"]*)"', shell)
    assert "/static/style.css" in names and "/manifest.webmanifest" in names
    for name in names:
        response = await http.get(name)
        assert response.status_code == 200, name


async def test_modules_import_only_served_modules(http: httpx2.AsyncClient) -> None:
    for module in STATIC.glob("*.js"):
        for imported in re.findall(r'from "\./([^"]+)"', module.read_text()):
            response = await http.get(f"/static/{imported}")
            assert response.status_code == 200, (module.name, imported)
            assert "javascript" in response.headers["content-type"]
            assert response.headers["cache-control"] == "no-cache"


async def test_nothing_is_fetched_from_elsewhere() -> None:
    for path in STATIC.iterdir():
        if path.suffix in {".html", ".js", ".css", ".webmanifest"}:
            assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", path.read_text()), path
            assert "innerHTML" not in path.read_text(), path


async def test_the_manifest(http: httpx2.AsyncClient) -> None:
    response = await http.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = json.loads(response.text)
    assert manifest["name"] == "agentdeck"
    assert manifest["start_url"] == "/" and manifest["scope"] == "/"
    assert manifest["display"] == "standalone"
    assert any(
        icon["sizes"] == "any" and icon["type"] == "image/svg+xml" for icon in manifest["icons"]
    )
    for icon in manifest["icons"]:
        assert (await http.get(icon["src"])).status_code == 200, icon["src"]


async def test_the_service_worker_caches_the_shell_and_never_the_api(
    http: httpx2.AsyncClient,
) -> None:
    response = await http.get("/sw.js")
    assert response.status_code == 200
    assert "javascript" in response.headers["content-type"]
    worker = response.text
    listed = re.search(r"const SHELL = \[(.*?)\];", worker, re.S)
    assert listed is not None
    shell = re.findall(r'"([^"]+)"', listed.group(1))
    assert "/" in shell and "/static/app.js" in shell
    assert not [path for path in shell if path.startswith("/api")]
    for path in shell:
        assert (await http.get(path)).status_code == 200, path
    # Every module the shell loads is in the offline cache.
    assert {f"/static/{path.name}" for path in STATIC.glob("*.js") if path.name != "sw.js"} <= set(
        shell
    )
    assert 'url.pathname.startsWith("/api/")' in worker


async def test_an_unknown_static_file_is_404(http: httpx2.AsyncClient) -> None:
    assert (await http.get("/static/nope.js")).status_code == 404
    assert (await http.get("/tasks/a/b")).status_code == 404
