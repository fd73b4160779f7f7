"""Debian's Chromium driven by Playwright for Python: the browser tests' one way in.

Never a downloaded browser: Playwright's own Node driver (inside its wheel) starts
``/usr/bin/chromium`` (``apt-get install chromium``; ``make test`` installs it) with
``executable_path``. Where Chromium or Playwright is missing the test is skipped —
except under ``CI=true``, where that is a failure, never a silent skip.

Fixtures (registered for every test by ``tests/conftest.py``; async, for
``pytest.mark.anyio`` tests)::

    async def test_it(page: Page) -> None:         # a fresh context at 1280x800
        await page.goto(f"{base}/")

    async def test_phone(browser: Browser) -> None:
        context = await browser.new_context(**PHONE)  # 390x844, touch, mobile
        ...

`page_errors(page)` collects a page's uncaught and console errors. Outside pytest (a
screenshot script), `chromium()` is the async context manager and `chromium_sync()`
the synchronous one; `require_browser()` raises `BrowserMissing`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page
    from playwright.sync_api import Browser as SyncBrowser

__all__ = [
    "ARGS",
    "CHROMIUM",
    "DESKTOP",
    "PHONE",
    "BrowserMissing",
    "browser",
    "chromium",
    "chromium_sync",
    "page",
    "page_errors",
    "require_browser",
]

CHROMIUM = Path(os.environ.get("AGENTDECK_CHROMIUM", "/usr/bin/chromium"))
# Headless, and quiet: no GPU, no QUIC, no first-run, update, sync or background
# traffic (the tests reach only 127.0.0.1). --no-sandbox: CI runs as root.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}
LAUNCH_TIMEOUT_MS = 30_000
HOW_TO_INSTALL = (
    "make test installs it (as root or with passwordless sudo: "
    "apt-get install --no-install-recommends chromium; pip install -e '.[test]')"
)


class BrowserMissing(RuntimeError):
    """Chromium or Playwright for Python is not installed here."""


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_browser() -> None:
    """Raise `BrowserMissing` unless Debian's Chromium and Playwright are both here."""
    problems = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        problems.append(f"no Chromium at {CHROMIUM}")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        problems.append("Playwright for Python is not installed")
    if problems:
        raise BrowserMissing(f"{'; '.join(problems)}: {HOW_TO_INSTALL}")


def _require_or_skip() -> None:
    """In a test: skip when the browser is missing, fail under ``CI=true``."""
    try:
        require_browser()
    except BrowserMissing as missing:
        if in_ci():
            pytest.fail(f"CI=true and the browser tests cannot run: {missing}", pytrace=False)
        pytest.skip(str(missing))


@asynccontextmanager
async def chromium(**launch: Any) -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, for one block (``launch`` adds launch options)."""
    require_browser()
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            timeout=LAUNCH_TIMEOUT_MS,
            **launch,
        )
        try:
            yield browser
        finally:
            await browser.close()


@contextmanager
def chromium_sync(**launch: Any) -> Iterator[SyncBrowser]:
    """`chromium` for synchronous code (not inside a running event loop)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=ARGS,
            timeout=LAUNCH_TIMEOUT_MS,
            **launch,
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium for the test (skipped where missing; a failure under CI)."""
    _require_or_skip()
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A page in a fresh desktop-sized context (closed after the test)."""
    context = await browser.new_context(**DESKTOP)
    try:
        yield await context.new_page()
    finally:
        await context.close()


def page_errors(page: Page) -> list[str]:
    """A list that collects the page's uncaught errors and console errors from now on."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors
