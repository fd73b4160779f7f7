"""Approve from the notification: a real server, the real Claude Code (fake model) asking
to run a command, the ntfy push (through Apprise, to a local receiver) with its signed
link and Allow / Deny buttons, then the button pressed as ntfy does it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from agentdeck.config import Settings
from agentdeck.model import EventKind, TaskStatus
from fakes.notify_receiver import NotifyReceiver, Received
from support.core import create, events_of, task_in
from support.servers import serve
from support.waiting import POLL

pytestmark = [pytest.mark.anyio, pytest.mark.real_agent]

WAIT = 60.0


def ntfy_actions(header: str) -> dict[str, dict[str, str]]:
    """ntfy's simple ``X-Actions`` format: label -> {action, url, method, body, …}."""
    out = {}
    for spec in header.split(";"):
        parts = [p.strip() for p in spec.split(",")]
        action = {"action": parts[0], "url": parts[2]}
        for option in parts[3:]:
            key, _, value = option.partition("=")
            action[key] = value
        out[parts[1]] = action
    return out


async def pushed(rx: NotifyReceiver, path: str) -> Received:
    """The one message that reached ``path`` (``/`` is ntfy's JSON publish)."""
    with anyio.fail_after(WAIT):
        while not (got := [r for r in rx.received if r.path == path]):
            await anyio.sleep(POLL)
    assert len(got) == 1
    return got[0]


async def decisions(core: Any, task_id: str) -> list[dict[str, Any]]:
    logs = await events_of(core, task_id, EventKind.LOG)
    return [e.data for e in logs if e.data.get("source") == "approvals" and "decision" in e.data]


async def test_allow_from_the_ntfy_button_then_the_link_is_spent(
    settings: Settings, project: Path
) -> None:
    with NotifyReceiver() as rx:
        notify = settings.notify.model_copy(
            update={
                "urls": [rx.url("ntfy", "deck"), rx.url("json", "hook")],
                "events": ["input_required"],
            }
        )
        asking = settings.model_copy(update={"approval_policy": "ask", "notify": notify})
        async with serve(asking) as srv, httpx2.AsyncClient(timeout=30) as http:
            core = srv.deck.core
            await core.create_token("phone", "write")  # the API now needs a token: not the link
            task = await create(core, "Linked", "BASH echo linked > linked.txt")
            await task_in(core, task.id, TaskStatus.INPUT_REQUIRED, timeout=WAIT)

            push = await pushed(rx, "/")
            assert push.body["topic"] == "deck"
            assert push.body["title"] == "agentdeck: Linked — input_required"
            buttons = ntfy_actions(push.headers["x-actions"])
            assert set(buttons) == {"Allow", "Deny"}
            link = buttons["Allow"]["url"]
            assert link.startswith(srv.url.removesuffix("/mcp") + "/a/")
            assert buttons["Deny"]["url"] == link == push.headers["x-click"]
            assert f"answer: {link}" in push.body["message"]
            assert buttons["Allow"]["method"] == "POST"
            plain = await pushed(rx, "/hook")  # a JSON webhook: the link, no buttons
            assert f"answer: {link}" in plain.body["message"] and "x-actions" not in plain.headers
            assert (buttons["Allow"]["body"], buttons["Deny"]["body"]) == (
                "decision=allow",
                "decision=deny",
            )

            # Opening the link (or a chat app's preview of it) decides nothing.
            shown = await http.get(link)
            assert shown.status_code == 200 and "Linked" in shown.text and "Bash" in shown.text
            assert "echo linked" in shown.text
            assert (await core.get(task.id)).status == TaskStatus.INPUT_REQUIRED
            assert core.pending().count == 1 and await decisions(core, task.id) == []
            error = await http.post(link, content=b"decision=maybe")
            assert error.status_code == 400 and core.pending().count == 1

            # The Allow button, as ntfy's app sends it: a bare POST with its body.
            allowed = await http.post(link, content=buttons["Allow"]["body"].encode())
            assert allowed.status_code == 200, allowed.text
            assert "Allowed" in allowed.text
            await task_in(core, task.id, TaskStatus.WAITING, timeout=WAIT)
            assert (project / "linked.txt").read_text().strip() == "linked"
            (decided,) = await decisions(core, task.id)
            assert (decided["decision"], decided["by"]) == ("allow", "link")

            # Used: both buttons, and the page, say so and change nothing.
            for body in (b"decision=allow", b"decision=deny"):
                again = await http.post(link, content=body)
                assert again.status_code == 410 and "used" in again.text
                assert again.headers["content-type"].startswith("text/html")  # a page
            assert (await http.get(link)).status_code == 410
            tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
            assert (await http.post(tampered, content=b"decision=deny")).status_code == 403
            assert await decisions(core, task.id) == [decided]
            assert (await core.get(task.id)).status == TaskStatus.WAITING
            audit = await core.audit_entries()
            assert [(a["who"], a["outcome"]) for a in audit if a["tool"] == "POST /a/{link}"] == [
                ("link", "ok")
            ]
