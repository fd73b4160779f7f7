"""``GET /api/events``: every task's events (or one task's) as Server-Sent Events.

Each event's ``id:`` is the store's global event cursor, so a client that reconnects
with ``Last-Event-ID`` (or asks with ``?after=``) is replayed exactly the events after
it, from the store: none lost, none twice. Without either the stream starts with new
events. Events are read from the store a page at a time and written at the client's
pace, so a slow client costs one page of memory; one that stops reading for
`SEND_TIMEOUT` seconds is dropped, and replays when it reconnects.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from agentdeck.core import Core, EventItem
from agentdeck.errors import InvalidInput

HEARTBEAT_SECONDS = 15.0
SEND_TIMEOUT = 30.0  # a client that takes no data for this long is dropped
PAGE = 500
MAX_CURSOR = 2**63 - 1  # event ids are the store's 64-bit integers
log = logging.getLogger(__name__)
QUERY = ("task", "after")


def cursor_of(request: Request) -> int | None:
    """Where the client wants to start: ``?after=N`` or ``Last-Event-ID: N`` (None: now)."""
    after = request.query_params.get("after")
    last_id = request.headers.get("last-event-id")
    if after is not None and last_id is not None and after.strip() != last_id.strip():
        raise InvalidInput(
            f"after={after} and Last-Event-ID: {last_id} disagree; send one",
            {"after": after, "last_event_id": last_id},
        )
    text = after if after is not None else last_id
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_CURSOR:
        raise InvalidInput(
            f"the cursor must be a whole number from 0 to {MAX_CURSOR} (an event id), not {text!r}",
            {"field": "after"},
        )
    return value


def message(item: EventItem) -> ServerSentEvent:
    data: dict[str, Any] = {**item.dump(), "at": item.ts}
    return ServerSentEvent(
        id=str(item.id), data=json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    )


async def stream(
    core: Core, task_id: str | None, after: int | None
) -> AsyncIterator[ServerSentEvent]:
    """The events past ``after`` (None: the newest now), then each new one as it is stored."""
    async with core.watch(task_id) as changes:  # watching first: nothing slips in between
        cursor = await core.feed_head() if after is None else after
        while True:
            page = await core.feed(cursor, task_id, PAGE)
            for item in page:
                yield message(item)
            if page:
                cursor = page[-1].id
            if len(page) < PAGE:
                await changes.settle()


class _Events(EventSourceResponse):
    """The stream; a client dropped for not reading is one log line, not a traceback."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except* SendTimeoutError:
            client = scope.get("client") or ("?", 0)
            log.info(
                "dropped an event stream client (%s:%s): it took no data for %g s; it "
                "replays from its Last-Event-ID when it reconnects",
                *client,
                SEND_TIMEOUT,
            )


async def events_response(core: Core, request: Request) -> EventSourceResponse:
    """The SSE response for ``request`` (already authorized to read)."""
    unknown = sorted(set(request.query_params) - set(QUERY))
    if unknown:
        raise InvalidInput(
            f"unknown query parameter {', '.join(unknown)} (accepted: {', '.join(QUERY)})",
            {"unknown": unknown, "accepted": list(QUERY)},
        )
    after = cursor_of(request)
    task_id = request.query_params.get("task")
    if task_id is not None:
        task_id = (await core.get(task_id)).id  # 404 for an unknown task, before streaming
    return _Events(
        stream(core, task_id, after),
        ping=HEARTBEAT_SECONDS,
        send_timeout=SEND_TIMEOUT,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
