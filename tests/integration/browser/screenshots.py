"""``make screenshots``: the dashboard's main pages as PNGs in docs/screenshots/, at
desktop and phone size, over a real agentdeck with demo tasks (the real Claude Code CLI
on the fake model, offline), and the PWA's PNG icons rendered from ``icon.svg``.

Run from the repository root: ``python tests/integration/browser/screenshots.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
import httpx2
from playwright.async_api import Page

TESTS = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(TESTS), str(TESTS.parent / "src")]

from agentdeck.config import load_settings  # noqa: E402
from fakes.fake_anthropic import FakeAnthropic  # noqa: E402
from support.browser import DESKTOP, chromium  # noqa: E402
from support.git import git, init_repo  # noqa: E402
from support.servers import serve  # noqa: E402
from support.waiting import POLL  # noqa: E402

OUT = TESTS.parent / "docs" / "screenshots"
STATIC = TESTS.parent / "src" / "agentdeck" / "web" / "static"
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
BEFORE = [
    "from http.server import BaseHTTPRequestHandler",
    "",
    "",
    "class Shop(BaseHTTPRequestHandler):",
    "    def do_GET(self):",
    "        self.send_response(200)",
    "        self.end_headers()",
    '        self.wfile.write(b"welcome")',
]
AFTER = [
    "from http.server import BaseHTTPRequestHandler",
    "",
    "",
    "class Shop(BaseHTTPRequestHandler):",
    "    def do_GET(self):",
    "        # Load balancers probe /health every few seconds.",
    '        body = b"ok" if self.path == "/health" else b"welcome"',
    "        self.send_response(200)",
    "        self.end_headers()",
    "        self.wfile.write(body)",
]
# The fake model follows only the directive lines (BASH, SAY); the rest reads as a person
# would write it. The change itself is a patch the demo repository carries.
HEALTH = """Add GET /health for the load balancers; keep every other path as it is.
BASH git apply .demo/health.patch
BASH python3 -c 'import ast; ast.parse(open("app.py").read())' && echo parsed
SAY Added GET /health: it answers 200 ok; every other path is unchanged."""


def environment(home: Path, fake: FakeAnthropic) -> dict[str, str]:
    """An offline, isolated environment for the agent (as tests/conftest.py sets it up)."""
    env = {
        "HOME": str(home / "agent-home"),
        "CLAUDE_CONFIG_DIR": str(home / "agent-home" / "claude"),
        "CLAUDE_CODE_TMPDIR": str(home / "agent-home" / "tmp"),
        "XDG_RUNTIME_DIR": str(home / "agent-home" / "run"),
        "ANTHROPIC_BASE_URL": fake.base_url,
        "ANTHROPIC_API_KEY": "sk-test-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "AGENTDECK_CLAUDE_MODEL": "claude-sonnet-4-5",
        "AGENTDECK_APPROVAL_POLICY": "bypass",
        "AGENTDECK_HOME": str(home / "state"),
        "AGENTDECK_ROOTS": str(home / "projects"),
    }
    for name in ("claude", "tmp", "run"):
        (home / "agent-home" / name).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    return env


async def wait_status(http: httpx2.AsyncClient, url: str, *statuses: str) -> None:
    with anyio.fail_after(120):
        while (await http.get(url)).json()["status"] not in statuses:
            await anyio.sleep(POLL)


async def icons() -> None:
    """icon-192.png and icon-512.png from icon.svg (for the manifest and iOS)."""
    async with chromium() as browser:
        for size in (192, 512):
            page = await browser.new_page(viewport={"width": size, "height": size})
            await page.goto((STATIC / "icon.svg").as_uri())
            await page.screenshot(path=str(STATIC / f"icon-{size}.png"), omit_background=True)
            await page.close()


async def save(page: Page, name: str, full_page: bool = True) -> None:
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(OUT / f"{name}.png"), full_page=full_page)


async def shoot(base: str, ids: dict[str, str]) -> None:
    async with chromium() as browser:
        for suffix, context_options in (("desktop", DESKTOP), ("phone", PHONE)):
            context = await browser.new_context(**context_options, color_scheme="light")
            page = await context.new_page()

            await page.goto(f"{base}/")
            await page.locator(".task").first.wait_for()
            await save(page, f"list-{suffix}")
            await page.goto(f"{base}/tasks/{ids['health']}")
            await page.locator(".bubble.assistant").first.wait_for()
            await page.locator(".diff-file").first.wait_for()
            await page.locator(".tool-call").first.locator("summary").click()
            await save(page, f"task-{suffix}", suffix == "desktop")
            diff = page.locator("#diff")
            await page.get_by_role("button", name="Comment on app.py line 8").click()
            await page.get_by_role("textbox", name="Comment on app.py line 8").fill(
                "Use HTTPStatus.OK rather than a bare 200."
            )
            await page.get_by_role("button", name="Add comment").click()
            await page.get_by_role("button", name="Comment on app.py line 10").click()
            await page.get_by_role("textbox", name="Comment on app.py line 10").fill(
                "Add a test for /health."
            )
            await page.locator(".top").evaluate("top => { top.style.position = 'static'; }")
            await diff.screenshot(path=str(OUT / f"review-{suffix}.png"))
            await page.goto(f"{base}/tasks/{ids['asks']}")
            await page.locator("#approval").wait_for()
            await save(page, f"approval-{suffix}", False)
            await page.goto(f"{base}/new")
            await page.get_by_label("Title").fill("Add rate limiting to the API")
            await page.get_by_label("Instructions").fill(
                "Limit each client to 100 requests a minute; answer 429 with Retry-After."
            )
            await save(page, f"new-task-{suffix}")
            await context.close()
        context = await browser.new_context(**DESKTOP, color_scheme="dark")
        page = await context.new_page()
        await page.goto(f"{base}/tasks/{ids['health']}")
        await page.locator(".diff-file").first.wait_for()
        await save(page, "task-dark-desktop", False)
        await context.close()


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    await icons()
    with tempfile.TemporaryDirectory() as tmp, FakeAnthropic() as fake:
        home = Path(tmp)
        env = environment(home, fake)
        (home / "projects" / "webshop").mkdir(parents=True)
        shop = init_repo(home / "projects" / "webshop")
        app = shop / "app.py"
        app.write_text("\n".join(BEFORE) + "\n")
        git(shop, "add", "app.py")
        git(shop, "commit", "-qm", "the shop")
        app.write_text("\n".join(AFTER) + "\n")
        (shop / ".demo").mkdir()
        (shop / ".demo" / "health.patch").write_text(git(shop, "diff", "--no-color"))
        git(shop, "checkout", "app.py")
        git(shop, "add", ".demo")
        git(shop, "commit", "-qm", "the demo's patch")
        (home / "projects" / "docs-site").mkdir()
        settings = load_settings(env=env)
        async with serve(settings) as srv, httpx2.AsyncClient(timeout=30) as http:
            base = srv.url.removesuffix("/mcp")

            async def create(title: str, instructions: str, **fields: Any) -> str:
                body = {"title": title, "instructions": instructions, "project_path": str(shop)}
                answer = await http.post(f"{base}/api/tasks", json={**body, **fields})
                answer.raise_for_status()
                return str(answer.json()["id"])

            ids = {
                "done": await create(
                    "Update the changelog", "WRITE CHANGELOG.md ## 1.2: health checks"
                )
            }
            await wait_status(http, f"{base}/api/tasks/{ids['done']}", "waiting")
            (await http.post(f"{base}/api/tasks/{ids['done']}/end")).raise_for_status()
            ids["health"] = await create("Add a health check endpoint", HEALTH)
            await wait_status(http, f"{base}/api/tasks/{ids['health']}", "waiting")
            ids["asks"] = await create(
                "Clean the build cache", "BASH rm -rf build/cache", policy="ask"
            )
            await wait_status(http, f"{base}/api/tasks/{ids['asks']}", "input_required")
            ids["slow"] = await create("Refactor the config loader", "DELAY 600\nSAY done")
            await wait_status(http, f"{base}/api/tasks/{ids['slow']}", "in_progress")
            await shoot(base, ids)
            await http.post(f"{base}/api/tasks/{ids['slow']}/cancel")
            await http.post(f"{base}/api/tasks/{ids['asks']}/cancel")


if __name__ == "__main__":
    anyio.run(main)
