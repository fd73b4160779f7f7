"""The dashboard in real headless Chromium over a real agentdeck, the real Claude Code
CLI on the fake model (tests/fakes/fake_anthropic.py): what a user does and relies on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from fakes.fake_anthropic import FakeAnthropic
from integration.browser.deck import TURN, UI_MS, Deck
from support.browser import PHONE, page_errors
from support.git import git
from support.waiting import wait_until

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]

TURN_MS = int(TURN * 1000)


async def accept_dialogs(dialog: Dialog) -> None:
    await dialog.accept()


async def no_reload_since(page: Page) -> None:
    """Mark the document; `still_same_document` fails if it has been reloaded since."""
    await page.evaluate("window.__sameDocument = true")


async def still_same_document(page: Page) -> None:
    assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"


async def create_from_form(page: Page, base: str, title: str, instructions: str) -> str:
    """Fill the new task form and submit it; the new task's id (from the page's URL)."""
    await page.goto(f"{base}/new")
    await expect(page.get_by_label("Project")).to_have_value(re.compile(".+"), timeout=UI_MS)
    await expect(page.get_by_label("Agent")).to_have_value("claude", timeout=UI_MS)
    await page.get_by_label("Title").fill(title)
    await page.get_by_label("Instructions").fill(instructions)
    await page.get_by_role("button", name="Start task").click()
    await expect(page).to_have_url(re.compile(r"/tasks/[^/]+$"), timeout=UI_MS)
    await expect(page.get_by_role("heading", level=1)).to_have_text(title, timeout=UI_MS)
    return page.url.rsplit("/", 1)[1]


async def test_create_a_task_and_watch_its_output_arrive(deck: Deck, page: Page) -> None:
    errors = page_errors(page)
    task_id = await create_from_form(
        page,
        deck.base,
        "Greet the browser",
        "BASH echo hello-from-the-tool\nDELAY 4\nSAY Finished greeting the browser",
    )
    await no_reload_since(page)
    conversation = page.locator(".conversation")
    final = conversation.locator(".bubble.assistant", has_text="Finished greeting the browser")
    await expect(final).to_have_count(0)  # not yet: it comes 4 s after the tool's output
    # The tool call, folded, then the agent's last message: streamed into the open page.
    tool = conversation.locator(".tool-call", has_text="Bash")
    await expect(tool).to_be_visible(timeout=TURN_MS)
    await expect(final).to_be_visible(timeout=TURN_MS)
    await tool.locator("summary").click()
    await expect(tool.locator(".tool-output")).to_contain_text("hello-from-the-tool")
    await expect(page.locator(".task-status")).to_contain_text("waiting for you to continue")
    await expect(page.locator(".timeline")).to_contain_text("working")

    # Continue the same conversation from the page: the second turn streams in too.
    await page.get_by_role("textbox", name="Continue the conversation").fill("SAY Second turn here")
    await page.get_by_role("button", name="Continue", exact=True).click()
    await expect(page.get_by_role("textbox", name="Continue the conversation")).to_have_value("")
    await expect(
        conversation.locator(".bubble.assistant", has_text="Second turn here")
    ).to_be_visible(timeout=TURN_MS)
    await expect(conversation.locator(".turn-label")).to_have_text(["Turn 1", "Turn 2"])
    await still_same_document(page)
    task = await deck.wait_status(task_id, "waiting")
    assert task["title"] == "Greet the browser" and task["turns"] == 2
    assert errors == []


async def test_a_refused_task_shows_why_and_keeps_what_was_typed(deck: Deck, page: Page) -> None:
    await page.goto(f"{deck.base}/new")
    await expect(page.get_by_label("Agent")).to_have_value("claude", timeout=UI_MS)
    await page.get_by_label("Title").fill("Blank instructions")
    await page.get_by_label("Instructions").fill("   ")
    await page.get_by_label("Model (optional)").fill("claude-sonnet-4-5")
    await page.get_by_role("button", name="Start task").click()
    await expect(page.locator(".new-task .error")).to_contain_text("instructions", timeout=UI_MS)
    assert page.url == f"{deck.base}/new"
    await expect(page.get_by_label("Title")).to_have_value("Blank instructions")
    await expect(page.get_by_label("Model (optional)")).to_have_value("claude-sonnet-4-5")
    listed = (await deck.http.get(f"{deck.base}/api/tasks")).json()
    assert listed["count"] == 0


async def test_review_two_comments_reach_the_agents_next_turn(
    deck: Deck, repo: Path, page: Page, fake_model: FakeAnthropic
) -> None:
    task = await deck.create(
        "Write a module",
        "BASH printf 'def first():\\n    return 1\\n\\nLIMIT = 10\\n' > module.py",
    )
    await deck.wait_status(task["id"], "waiting")
    await page.goto(f"{deck.base}/tasks/{task['id']}")
    diff = page.locator(".diff-file", has_text="module.py")
    await expect(diff).to_be_visible(timeout=UI_MS)
    await expect(diff.locator(".tok-keyword", has_text="def")).to_be_visible()  # highlighted

    # By keyboard: focus the line number, Enter, type, Tab to "Add comment", Enter.
    await diff.get_by_role("button", name="Comment on module.py line 1").focus()
    await page.keyboard.press("Enter")
    composer = page.get_by_role("textbox", name="Comment on module.py line 1")
    await expect(composer).to_be_focused()
    await page.keyboard.type("Name it after what it returns")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Add comment")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(diff.get_by_role("button", name="Comment on module.py line 1")).to_be_focused()
    await diff.locator("tr.line[data-line='4'] .code").click()  # a tap on the line itself
    await page.get_by_role("textbox", name="Comment on module.py line 4").fill(
        "Make the limit configurable"
    )
    await page.get_by_role("button", name="Add comment").click()
    await expect(diff.locator(".note")).to_have_count(2)

    # The agent rewrites line 4 before the review goes out: that comment's line has moved.
    worktree = Path(task["worktree_path"])
    (worktree / "module.py").write_text("def first():\n    return 1\n\nLIMIT = 20\n")
    fake_model.clear()
    await page.get_by_role("button", name="Send review (2)").click()
    sent = page.locator(".sent")
    await expect(sent.locator("li")).to_have_count(2, timeout=UI_MS)
    await expect(sent.locator("li.moved")).to_have_count(1)
    await expect(sent.locator("li.moved")).to_contain_text("Make the limit configurable")
    await expect(sent.locator("li.moved")).to_contain_text("line has moved")

    def review_turn() -> str | None:
        for request in fake_model.message_requests():
            text = "\n".join(fake_model.user_texts(request))
            if "Code review of your changes" in text:
                return text
        return None

    received = await wait_until(review_turn, timeout=TURN)
    assert "module.py, line 1" in received and "Name it after what it returns" in received
    assert "def first():" in received
    assert "module.py, line 4" in received and "Make the limit configurable" in received
    await deck.wait_status(task["id"], "waiting")
    turns = [e for e in await deck.events(task["id"]) if e["kind"] == "turn_started"]
    assert len(turns) == 2 and "Make the limit configurable" in turns[1]["data"]["instructions"]


async def test_approve_a_permission_request(asking_deck: Deck, project: Path, page: Page) -> None:
    task = await asking_deck.create("Needs approval", "BASH echo approved > approved.txt")
    await page.goto(f"{asking_deck.base}/tasks/{task['id']}")
    panel = page.locator("#approval")
    await expect(panel).to_be_visible(timeout=TURN_MS)
    await expect(panel).to_contain_text("Bash")
    await expect(panel).to_contain_text("echo approved > approved.txt")
    await expect(page.locator(".task-status")).to_contain_text("needs you")
    assert not (project / "approved.txt").exists()

    await panel.get_by_role("button", name="Allow", exact=True).click()
    await expect(panel).to_be_hidden(timeout=UI_MS)
    await expect(page.locator(".task-status")).to_contain_text(
        "waiting for you to continue", timeout=TURN_MS
    )
    assert (project / "approved.txt").read_text() == "approved\n"
    decided = [e for e in await asking_deck.events(task["id"]) if e["kind"] == "tool_result"]
    assert decided and not decided[0]["data"]["is_error"]


async def test_agent_banners_are_folded_and_real_problems_shown(
    noisy_deck: Deck, page: Page
) -> None:
    task = await noisy_deck.create("Noisy", "anything", agent="noisy")
    await noisy_deck.wait_status(task["id"], "waiting")
    await page.goto(f"{noisy_deck.base}/tasks/{task['id']}")
    conversation = page.locator(".conversation")
    problem = conversation.locator(".note.error.stderr")
    await expect(problem).to_have_text("stderr the real problem", timeout=UI_MS)
    folded = conversation.locator(".notices")
    await expect(folded.locator("summary")).to_have_text("2 agent notices")
    banner = folded.get_by_text("YOLO mode is enabled", exact=False)
    await expect(banner).to_be_hidden()  # folded: a click away, never shown as an error
    await folded.locator("summary").click()
    await expect(banner).to_be_visible()
    await expect(conversation.locator(".note.error", has_text="YOLO")).to_have_count(0)


async def test_merge_from_the_task_page(deck: Deck, repo: Path, page: Page) -> None:
    task = await deck.create("Add notes", "WRITE notes.txt merged from the browser")
    await deck.wait_status(task["id"], "waiting")
    page.on("dialog", accept_dialogs)
    await page.goto(f"{deck.base}/tasks/{task['id']}")
    await expect(page.locator(".diff-file", has_text="notes.txt")).to_be_visible(timeout=UI_MS)
    merge = page.get_by_role("button", name="Merge", exact=True)
    await expect(merge).to_be_enabled()
    await merge.click()
    await expect(page.locator(".facts")).to_contain_text("(merged)", timeout=UI_MS)
    await expect(merge).to_be_disabled()
    assert git(repo, "show", "main:notes.txt").strip() == "merged from the browser"
    assert (await deck.task(task["id"]))["merged_at"] is not None


async def test_the_list_groups_tasks_and_updates_live(deck: Deck, page: Page) -> None:
    await page.goto(f"{deck.base}/")
    await expect(page.get_by_text("No tasks yet")).to_be_visible(timeout=UI_MS)
    await no_reload_since(page)
    task = await deck.create("Slow one", "DELAY 3\nSAY slow and done")
    working = page.locator("#working")
    done = page.locator("#done")
    card = page.locator(f".task[data-id='{task['id']}']")
    await expect(working.locator(f".task[data-id='{task['id']}']")).to_be_visible(timeout=UI_MS)
    await expect(card).to_contain_text("claude")
    await expect(card).to_contain_text("s ago")
    await expect(done.locator(f".task[data-id='{task['id']}']")).to_be_visible(timeout=TURN_MS)
    await expect(card).to_contain_text("waiting for you to continue")
    await expect(card.locator(".cost")).to_have_text(re.compile(r"^\$\d+\.\d{4}$"))
    await expect(working.locator(".task")).to_have_count(0)
    await still_same_document(page)

    await card.get_by_role("link").click()
    await expect(page).to_have_url(f"{deck.base}/tasks/{task['id']}")
    await still_same_document(page)  # client-side routing


async def test_needs_you_group_shows_a_waiting_decision(asking_deck: Deck, page: Page) -> None:
    await page.goto(f"{asking_deck.base}/")
    task = await asking_deck.create("Asks first", "BASH echo later > later.txt")
    needs_you = page.locator("#needs-you")
    card = needs_you.locator(f".task[data-id='{task['id']}']")
    await expect(card).to_be_visible(timeout=TURN_MS)
    await expect(card.locator(".badge.needs-you")).to_be_visible()


async def test_the_service_worker_caches_the_shell_never_the_data(deck: Deck, page: Page) -> None:
    await deck.create("Cached?", "SAY nothing to cache")
    await page.goto(f"{deck.base}/")
    assert await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    await page.reload()  # now through the worker
    await expect(page.locator(".task")).to_have_count(1, timeout=UI_MS)
    cached = await page.evaluate(
        """async () => {
            const paths = [];
            for (const name of await caches.keys()) {
                const cache = await caches.open(name);
                for (const request of await cache.keys()) paths.push(new URL(request.url).pathname);
            }
            return paths;
        }"""
    )
    assert "/" in cached and "/static/app.js" in cached
    assert [path for path in cached if path.startswith("/api")] == []


async def test_the_main_flow_on_a_phone(deck: Deck, repo: Path, browser: Browser) -> None:
    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    try:

        async def fits() -> None:
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{page.url} scrolls sideways: {width} px wide"

        long_line = "x = '" + "long " * 60 + "'"
        task_id = await create_from_form(
            page, deck.base, "Phone task", f'BASH echo "{long_line}" > wide.py\nSAY phone done'
        )
        await expect(page.locator(".bubble.assistant").last).to_contain_text(
            "phone done", timeout=TURN_MS
        )
        diff = page.locator(".diff-file", has_text="wide.py")
        await expect(diff).to_be_visible(timeout=UI_MS)
        await fits()
        scroll = diff.locator(".diff-scroll")
        assert await scroll.evaluate("el => el.scrollWidth > el.clientWidth")  # scrolls inside

        await diff.get_by_role("button", name="Comment on wide.py line 1").tap()
        await page.get_by_role("textbox", name="Comment on wide.py line 1").fill("Too long")
        await page.get_by_role("button", name="Add comment").tap()
        await expect(page.get_by_role("button", name="Send review (1)")).to_be_enabled()
        await fits()
        await page.get_by_role("button", name="Send review (1)").tap()
        await expect(page.locator(".sent li")).to_have_count(1, timeout=UI_MS)
        await deck.wait_status(task_id, "waiting")

        await page.get_by_role("link", name="All tasks").tap()
        await expect(page.locator(f"#done .task[data-id='{task_id}']")).to_be_visible(timeout=UI_MS)
        await fits()
        await page.get_by_role("link", name="New task").tap()
        await expect(page.get_by_label("Instructions")).to_be_visible()
        await fits()
    finally:
        await context.close()


async def test_signed_in_the_dashboard_changes_things_with_its_csrf_header(
    deck: Deck, page: Page
) -> None:
    token, _ = await deck.srv.deck.core.create_token("phone", "write")
    sent: list[str | None] = []  # the CSRF header of every change the page asked for
    page.on(
        "request",
        lambda r: sent.append(r.headers.get("x-agentdeck-csrf")) if r.method == "POST" else None,
    )
    await page.goto(f"{deck.base}/")
    await page.get_by_label("Token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_text("No tasks yet")).to_be_visible(timeout=UI_MS)
    sent.clear()  # the login itself has no session yet

    task_id = await create_from_form(page, deck.base, "Signed in", "SAY made with the cookie")
    await expect(page.locator(".bubble.assistant", has_text="made with the cookie")).to_be_visible(
        timeout=TURN_MS
    )  # the live events came through the session too
    csrf = {c["name"]: c["value"] for c in await page.context.cookies()}["agentdeck_csrf"]
    assert sent == [csrf]
    await expect(page.locator(".task-status")).to_contain_text(
        "waiting for you to continue", timeout=TURN_MS
    )
    assert (await deck.srv.deck.core.task(task_id)).status == "waiting"
