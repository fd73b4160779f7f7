"""Approval links: ``/a/{link}`` answers the one pending decision a signed link names.

``GET`` shows the decision (task title, tool, summary) with Allow and Deny buttons; it
never decides (chat apps and mail scanners fetch links for previews). ``POST`` with
``decision=allow|deny`` (a form, ntfy's http action body, or JSON) settles it, by
``link`` in the decision record and the audit log. The link is the credential: it is
signed, expires, works once and names one decision (`agentdeck.auth.links`).
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentdeck.auth import Caller, implied
from agentdeck.auth.links import ApprovalLinks, LinkClaim, LinkRefused
from agentdeck.core import Core, PendingDecision, Respond, parse
from agentdeck.errors import AgentdeckError, InvalidTransition, NotFound
from agentdeck.web.pages import cross_site, message, page

MAX_FORM = 8192
CHOICES = ("allow", "deny")
ACTION = "POST /a/{link}"


class ApprovalPages:
    """The ``/a/{link}`` pages of one server."""

    def __init__(self, core: Core, links: ApprovalLinks | None = None) -> None:
        self.core = core
        self.links = links or ApprovalLinks(
            core.settings.home, core.settings.notify.link_ttl_seconds
        )

    @property
    def routes(self) -> list[Route]:
        return [Route("/a/{link}", self.serve, methods=["GET", "POST"])]

    async def serve(self, request: Request) -> Response:
        link = request.path_params["link"]
        if request.method == "GET":
            return await self._show(link)
        return await self._decide(request, link)

    def _open(self, claim: LinkClaim) -> PendingDecision | None:
        for pending in self.core.pending().pending:
            if pending.request_id == claim.request_id and pending.task_id == claim.task_id:
                return pending
        return None

    async def _show(self, link: str) -> Response:
        try:
            claim = self.links.check(link)
        except LinkRefused as exc:
            return _refused(exc)
        pending = self._open(claim)
        if pending is None:
            return _gone()
        try:
            title = (await self.core.get(claim.task_id)).title
        except NotFound:
            return _gone()
        body = (
            f"<div class=box><p><b>{escape(title)}</b></p>"
            f"<p>wants to use <b>{escape(pending.tool)}</b>:</p>"
            f"<pre>{escape(pending.summary)}</pre></div>"
            "<form method=post>"
            "<label for=message class=muted>Message to the agent (optional)</label>"
            "<textarea id=message name=message rows=2 maxlength=4000></textarea>"
            "<button class=allow type=submit name=decision value=allow>Allow</button>"
            "<button class=deny type=submit name=decision value=deny>Deny</button>"
            "</form><p class=muted>This link works once.</p>"
        )
        return page("agentdeck: your decision", body)

    async def _decide(self, request: Request, link: str) -> Response:
        if (why := cross_site(request)) is not None:
            return message("Nothing was decided", why, 403)
        fields = await _fields(request)
        decision = fields.get("decision", "")
        if decision not in CHOICES:
            return message(
                "Nothing was decided",
                f"decision must be allow or deny, not {decision!r} (send decision=allow)",
                400,
            )
        try:
            claim = self.links.check(link)
            answer = parse(
                Respond,
                {
                    "id": claim.task_id,
                    "decision": decision,
                    "message": fields.get("message", ""),
                    "request_id": claim.request_id,
                },
            )
            self.links.use(link)  # from here on the link is spent, whatever happens
        except LinkRefused as exc:
            return _refused(exc)
        except AgentdeckError as exc:
            return message("Nothing was decided", exc.message, exc.http_status)
        pending = self._open(claim)
        if pending is None:
            return _gone()
        client = request.client.host if request.client else None
        caller = Caller("link", implied("write"), client)
        arguments = {"decision": decision, "request_id": claim.request_id}
        try:
            async with self.core.action(caller, ACTION, "write", arguments, claim.task_id) as entry:
                task, _ = await self.core.respond(answer, by="link")
                if entry is not None:
                    entry.outcome = "ok"
        except (InvalidTransition, NotFound):
            return _gone()
        except AgentdeckError as exc:
            return message("Nothing was decided", exc.message, exc.http_status)
        done = "Allowed" if decision == "allow" else "Denied"
        return message(f"{done}: {pending.tool}", f"{done} for the task {task.title!r}.", 200)


async def _fields(request: Request) -> dict[str, str]:
    """The POST's fields: a form or ntfy's raw ``decision=allow`` body, or a JSON object."""
    body = (await request.body())[:MAX_FORM]
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            data: Any = json.loads(body or b"{}")
        except ValueError:
            return {}
        return (
            {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
        )
    return dict(parse_qsl(body.decode("utf-8", "replace").strip()))


def _refused(exc: LinkRefused) -> Response:
    status = 403 if exc.reason == "invalid" else 410
    return message("Nothing was decided", exc.message, status)


def _gone() -> Response:
    return message(
        "Nothing was decided",
        "this decision is no longer open: it was answered already (here, in the dashboard "
        "or by another client), timed out, or its turn ended",
        410,
    )
