"""Usage limits: a turn that ended on its agent account's usage or rate limit parks the
task (``parked``, with ``resume_at``) instead of failing it, holds that agent's other
tasks, and resumes parked tasks one at a time, in their order, once the limit resets.

Recognised: an adapter's ``usage_limit`` in ``turn_finished`` (``resets_at`` or
``retry_after_seconds``: Codex's ``UsageLimitExceeded``), Claude's "usage limit
reached|<epoch>" and "… limit · resets 3pm" results, and an API 429 /
``rate_limit_error`` the CLI gave up on (``retry-after`` when it says one, else
``usage_limit_wait_seconds``). ``on_usage_limit: "fail"`` keeps the old way.
"""

from __future__ import annotations

import functools
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio

from agentdeck.bus import Bus, Listener
from agentdeck.core.lifecycle import Lifecycle
from agentdeck.errors import NotFound
from agentdeck.model import EventKind, NewEvent, Task, TaskStatus, now

log = logging.getLogger(__name__)

RESUME_PROMPT = (
    "Your previous turn stopped because the account reached its usage limit; the limit "
    "has reset now. Carry on with the task from where you left off."
)
_EPOCH = re.compile(r"usage limit reached\|(\d{9,11})", re.IGNORECASE)
_RESETS = re.compile(
    r"limit.{0,40}?resets?\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*(am|pm)?", re.IGNORECASE
)
_RATE = re.compile(r"\b429\b|rate_limit_error|rate limit", re.IGNORECASE)
_RETRY_AFTER = re.compile(r"retry[- ]after\D{0,5}(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Limit:
    resets_at: datetime
    message: str


def detect(finished: dict[str, object], default_wait: float) -> Limit | None:
    """The usage limit a finished turn ran into (None: it ended for another reason)."""
    at = now()
    explicit = finished.get("usage_limit")
    if isinstance(explicit, dict):
        text = str(explicit.get("message") or "usage limit reached")
        resets = explicit.get("resets_at")
        if isinstance(resets, str):
            return Limit(datetime.fromisoformat(resets), text)
        wait = explicit.get("retry_after_seconds")
        seconds = float(wait) if isinstance(wait, int | float) else default_wait
        return Limit(at + timedelta(seconds=seconds), text)
    text = " ".join(str(finished.get(k) or "") for k in ("error", "result_text"))
    if match := _EPOCH.search(text):
        return Limit(datetime.fromtimestamp(int(match[1]), at.tzinfo), "usage limit reached")
    if match := _RESETS.search(text):
        return Limit(_next_clock_time(at, match), text.strip()[:200])
    if _RATE.search(text):
        retry = _RETRY_AFTER.search(text)
        seconds = float(retry[1]) if retry else default_wait
        return Limit(at + timedelta(seconds=seconds), text.strip()[:200])
    return None


def _next_clock_time(at: datetime, match: re.Match[str]) -> datetime:
    hour, minute = int(match[1]) % 12 if match[3] else int(match[1]), int(match[2] or 0)
    if (match[3] or "").lower() == "pm":
        hour += 12
    local = at.astimezone()
    when = local.replace(hour=hour % 24, minute=minute, second=0, microsecond=0)
    return when if when > local else when + timedelta(days=1)


def park(task: Task, limit: Limit, jitter: float, instructions: str) -> tuple[str, NewEvent]:
    """Put the task to sleep until the limit resets (plus jitter); the status reason and
    the event that says so. Its conversation goes on when it resumes."""
    task.resume_at = limit.resets_at + timedelta(seconds=random.uniform(0, jitter))
    task.queue.insert(0, RESUME_PROMPT if task.session_id else instructions)
    until = task.resume_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    reason = f"parked until {until}: {task.agent}'s usage limit ({limit.message})"
    note = NewEvent(
        EventKind.LOG,
        {"source": "usage_limit", "text": reason, "resume_at": task.resume_at.isoformat()},
        task.turns,
    )
    return reason, note


async def held_agents(lifecycle: Lifecycle) -> dict[str, datetime]:
    """Agents whose account is at its limit: no task of theirs starts before then."""
    holds: dict[str, datetime] = {}
    moment = now()
    for task in await lifecycle.store.list_tasks(statuses=[TaskStatus.PARKED]):
        if task.resume_at is not None and task.resume_at > moment:
            holds[task.agent] = max(holds.get(task.agent, moment), task.resume_at)
    return holds


async def resume_parked(lifecycle: Lifecycle, bus: Bus, wake: Callable[[], None]) -> None:
    """Forever: once the earliest parked task's time comes, resume it, wait for its turn
    to end, then the next (parked tasks keep their order: by resume time, then age)."""
    async with bus.listen() as changes:
        while True:
            parked = await lifecycle.store.list_tasks(
                statuses=[TaskStatus.PARKED], oldest_first=True
            )
            due = min(parked, key=lambda t: (t.resume_at or now(), t.created_at), default=None)
            if due is None:
                await changes.settle()
                continue
            delay = ((due.resume_at or now()) - now()).total_seconds()
            if delay > 0:
                with anyio.move_on_after(delay):
                    await changes.settle()  # a change may bring an earlier task
                continue
            if await _resume(lifecycle, due.id):
                wake()
                await _until_turn_over(changes, lifecycle, due.id)


async def _resume(lifecycle: Lifecycle, task_id: str) -> bool:
    try:
        async with lifecycle.editing(task_id) as task:
            if task.status != TaskStatus.PARKED:
                return False  # resume_at stays: the scheduler starts it despite the hold
            await lifecycle.transition(task, TaskStatus.PENDING, "the usage limit has reset")
            return True
    except NotFound:
        return False


async def _until_turn_over(changes: Listener, lifecycle: Lifecycle, task_id: str) -> None:
    busy = functools.partial(_running, lifecycle, task_id)
    while await busy():
        await changes.settle()


async def _running(lifecycle: Lifecycle, task_id: str) -> bool:
    task = await lifecycle.store.get(task_id)
    return task is not None and task.status in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS)
