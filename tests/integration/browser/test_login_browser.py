"""Login and approval links in real headless Chromium over a real agentdeck (the real
Claude Code on the fake model): no task data before login, the cookie after it, and a
signed link that allows once and is refused after."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, expect

from agentdeck.auth.links import ApprovalLinks
from integration.browser.deck import TURN, UI_MS, Deck

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]


async def test_with_a_token_the_dashboard_needs_a_login(deck: Deck, page: Page) -> None:
    task = await deck.create("Browser secret plan", "SAY hi")
    await deck.wait_status(task["id"], "waiting")
    token, _ = await deck.srv.deck.core.create_token("browser", "read")
    answers: list[tuple[str, int]] = []  # (path, status) of every API call the page made
    page.on("response", lambda r: answers.append((urlsplit(r.url).path, r.status)))
    await page.goto(f"{deck.base}/")
    await expect(page.get_by_label("Token")).to_be_visible(timeout=UI_MS)
    assert "Browser secret plan" not in await page.content()
    for path in ("/", f"/tasks/{task['id']}"):
        await page.goto(f"{deck.base}{path}")
        await expect(page.get_by_label("Token")).to_be_visible(timeout=UI_MS)
        assert "Browser secret plan" not in await page.content()
    assert ("/api/session", 200) in answers
    data = [(path, status) for path, status in answers if path.startswith("/api/tasks")]
    assert all(status == 401 for _, status in data), data  # asked or not: refused

    await page.get_by_label("Token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_text("Browser secret plan")).to_be_visible(timeout=UI_MS)
    cookies = {c["name"]: c for c in await page.context.cookies()}
    session = cookies["agentdeck_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict" and session["value"] != token
    assert cookies["agentdeck_csrf"]["sameSite"] == "Strict"
    readable = await page.evaluate("document.cookie")
    assert "agentdeck_csrf=" in readable and "agentdeck_session" not in readable


async def test_allow_through_a_signed_link_then_it_is_refused(
    asking_deck: Deck, project: Path, page: Page
) -> None:
    task = await asking_deck.create("Linked approval", "BASH echo via-link > via-link.txt")
    await asking_deck.wait_status(task["id"], "input_required")
    pending = (await asking_deck.http.get(f"{asking_deck.base}/api/pending")).json()
    (decision,) = pending["pending"]
    settings = asking_deck.srv.deck.settings  # the link a notification would carry
    signed = ApprovalLinks(settings.home, 600).issue(task["id"], decision["request_id"])
    link = f"{asking_deck.base}/a/{signed}"

    stale = await page.context.new_page()  # the same link, opened twice
    await stale.goto(link)
    await page.goto(link)
    await expect(page.get_by_text("Linked approval")).to_be_visible()
    await expect(page.locator("pre")).to_contain_text("echo via-link")
    assert (await asking_deck.task(task["id"]))["status"] == "input_required"  # GET: nothing

    await page.get_by_role("button", name="Allow").click()
    await expect(page.get_by_role("heading")).to_contain_text("Allowed", timeout=UI_MS)
    await asking_deck.wait_status(task["id"], "waiting", timeout=TURN)
    assert (project / "via-link.txt").read_text() == "via-link\n"

    await stale.get_by_role("button", name="Deny").click()  # reuse: refused, nothing changes
    await expect(stale.get_by_role("heading")).to_have_text("Nothing was decided")
    await expect(stale.locator("body")).to_contain_text("used")
    reopened = await page.goto(link)
    assert reopened is not None and reopened.status == 410
    await expect(page.locator("body")).to_contain_text("used")
    events = await asking_deck.events(task["id"])
    answers = [e for e in events if e["kind"] == "log" and "decision" in e["data"]]
    assert [(a["data"]["decision"], a["data"]["by"]) for a in answers] == [("allow", "link")]
    assert (await asking_deck.task(task["id"]))["status"] == "waiting"
