"""Push notifications of task status changes through Apprise.

The `Notifier` watches the core's changes. For every status transition it has not seen yet
(found in the task's ``status`` events, so each transition is notified once) whose
kind is configured, it queues one message; a worker sends it to each URL in a
thread (Apprise is synchronous), retrying with exponential backoff. The engine
never waits for any of it: a full queue drops the message, and every outcome
(sent, failed attempt, dropped) is written as a ``log`` event on the task.
URLs carry tokens: only their scheme and (Apprise-masked) host are ever recorded.

A message about a decision the user owes (``input_required``) carries a signed approval
link (`agentdeck.auth.links`) to ``/a/<link>``; sent to ntfy, it also carries Allow and
Deny buttons: ntfy ``http`` actions that POST ``decision=allow|deny`` to that link. They
travel through Apprise's ntfy plugin (its ``click`` and ``actions`` URL parameters, sent
as ntfy's ``X-Click`` and ``X-Actions`` headers).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import anyio
import anyio.to_thread
from anyio.abc import ObjectReceiveStream
from anyio.streams.memory import MemoryObjectSendStream

from agentdeck.auth.links import ApprovalLinks, public_base
from agentdeck.config import NotifyKind, NotifySettings, Settings
from agentdeck.core import Change, Core, human_duration
from agentdeck.errors import NotFound
from agentdeck.model import Event, EventKind, NewEvent, Task, TaskStatus, now

log = logging.getLogger(__name__)

_S = TaskStatus
# status reached -> notification kind (``waiting`` only when reached from in_progress)
_KIND_OF: dict[str, NotifyKind] = {
    _S.COMPLETED: "completed",
    _S.FAILED: "failed",
    _S.INPUT_REQUIRED: "input_required",
    _S.INTERRUPTED: "interrupted",
    _S.CANCELLED: "cancelled",
}
_TYPE_OF: dict[NotifyKind, str] = {
    "turn_finished": "success",
    "completed": "success",
    "failed": "failure",
    "input_required": "warning",
    "interrupted": "warning",
    "interrupted_resuming": "info",
    "interrupted_needs_you": "warning",
    "cancelled": "warning",
}
RESTART_LISTED = 20  # tasks named in one restart summary
_WATCHED = frozenset({*_KIND_OF, _S.WAITING})
_LINE_MAX = 200
NTFY_SCHEMES = frozenset({"ntfy", "ntfys"})


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str | None = None


# (url, title, body, notify_type, timeout) -> result; runs in a worker thread.
Sender = Callable[[str, str, str, str, float], SendResult]


@dataclass(frozen=True)
class Message:
    task_id: str
    turn: int
    kind: NotifyKind
    title: str
    body: str
    notify_type: str
    urls: tuple[str, ...]
    approval: str | None = None  # the signed link that answers the decision, if any
    about: tuple[str, ...] = ()  # every task a summary is about (default: task_id)


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of an Apprise URL, with Apprise's own masking of tokens.

    Some services keep a token where a host would be (``pover://user@token``), so the
    host comes from Apprise's privacy form of the URL, never from the raw one.
    """
    import apprise  # imported when used: loading it costs ~0.2 s

    scheme = urlsplit(url).scheme or "?"
    services = apprise.Apprise()
    if not services.add(url) or len(services) != 1:
        return f"{scheme}://(invalid URL)"
    private = urlsplit(str(services[0].url(privacy=True)))  # type: ignore[no-untyped-call]
    host = private.hostname or ""
    try:
        port = private.port
    except ValueError:
        port = None
    return f"{private.scheme or scheme}://{host}{f':{port}' if port else ''}"


_URL_IN_TEXT = re.compile(r"\b([a-z][\w+.-]*)://[^\s'\"<>]+", re.IGNORECASE)


def _scrub(text: str) -> str:
    """Reduce any URL in an error text to ``scheme://host``."""

    def short(match: re.Match[str]) -> str:
        try:
            host = urlsplit(match.group(0)).hostname or ""
        except ValueError:
            host = ""
        return f"{match.group(1)}://{host}"

    return _URL_IN_TEXT.sub(short, text)[:_LINE_MAX]


def apprise_send(url: str, title: str, body: str, notify_type: str, timeout: float) -> SendResult:
    """Send one message to one Apprise URL (blocking)."""
    import apprise

    services = apprise.Apprise()
    if not services.add(url):
        return SendResult(False, "not a valid Apprise URL")
    result = services.notify(body=body, title=title, notify_type=notify_type, timeout=timeout)
    if result:
        return SendResult(True)
    problems = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR", "CRITICAL")]
    detail = problems[-1] if problems else "the service refused the notification"
    return SendResult(False, _scrub(f"{result.status.name.lower()}: {detail}"))


def _first_line(text: str | None) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= _LINE_MAX else line[: _LINE_MAX - 1] + "…"


def with_actions(url: str, approval: str | None) -> str:
    """An ntfy Apprise ``url`` whose message opens ``approval`` when tapped and has Allow
    and Deny buttons that POST it (ntfy's ``http`` action); any other URL unchanged."""
    parts = urlsplit(url)
    if approval is None or parts.scheme.lower() not in NTFY_SCHEMES:
        return url
    actions = "; ".join(
        f"http, {label}, {approval}, method=POST, body=decision={choice}, clear=true"
        for label, choice in (("Allow", "allow"), ("Deny", "deny"))
    )
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in ("click", "actions")
    ]
    query += [("click", approval), ("actions", actions)]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def link(settings: NotifySettings, task_id: str) -> str:
    if settings.dashboard_url:
        return settings.dashboard_url.replace("{id}", task_id)
    return f"task://{task_id}"


def compose(
    settings: NotifySettings,
    task: Task,
    kind: NotifyKind,
    status: Event,
    approval: str | None = None,
) -> tuple[str, str]:
    """The title and body of the message for ``task`` reaching ``status`` (with the
    ``approval`` link that answers its decision, if any)."""
    to = str(status.data.get("to"))
    title = f"agentdeck: {task.title} — {to}"
    reason = str(status.data.get("reason") or "")
    gate = task.gate if kind == "turn_finished" else None
    if gate is not None and not gate.get("passed") and gate.get("turn") == status.turn:
        title += ", the acceptance check fails (needs you)"
        line = f"check: {' '.join(task.accept_command)}: {_first_line(str(gate.get('output')))}"
    elif kind == "failed":
        line = f"error: {_first_line(task.error or reason)}"
    elif kind in ("turn_finished", "completed"):
        line = f"result: {_first_line(task.result_text) or '(no result text)'}"
    else:
        line = f"reason: {_first_line(reason)}"
    start = task.started_at or task.created_at
    elapsed = max(0.0, (status.ts - start).total_seconds())
    body = "\n".join(
        [
            f"status: {to} ({kind.replace('_', ' ')}, turn {status.turn})",
            line,
            f"cost: ${task.cost_usd:.4f}" if task.cost_known else "cost: n/a",
            f"duration: {human_duration(elapsed)}",
            f"project: {task.project_path}",
            f"link: {link(settings, task.id)}",
            *([f"answer: {approval}"] if approval else []),
        ]
    )
    return title, body


def compose_restart(
    settings: NotifySettings, kind: NotifyKind, tasks: Sequence[Task]
) -> tuple[str, str]:
    """One message for every task a restart found cut: resuming, or held for the user."""
    count = f"{len(tasks)} tasks" if len(tasks) > 1 else f"task {tasks[0].title}"
    if kind == "interrupted_resuming":
        title = f"agentdeck restarted: {count} interrupted — resuming"
        head = "Their turns were cut by a server crash or stop; they resume one at a time."
    else:
        title = f"agentdeck restarted: {count} interrupted — needs you"
        head = "Cut by server crashes again and again, so not resumed by itself."
    lines = [head]
    for task in tasks[:RESTART_LISTED]:
        why = _first_line(task.status_reason) if kind == "interrupted_needs_you" else ""
        lines.append(f"- {task.title} (turn {task.turns}): {link(settings, task.id)}")
        if why:
            lines.append(f"  {why}")
    if len(tasks) > RESTART_LISTED:
        lines.append(f"… and {len(tasks) - RESTART_LISTED} more")
    return title, "\n".join(lines)


def kind_of(status: Event) -> NotifyKind | None:
    to, src = status.data.get("to"), status.data.get("from")
    if to == _S.WAITING:
        return "turn_finished" if src == _S.IN_PROGRESS else None
    return _KIND_OF.get(str(to))


class Notifier:
    """Sends a notification for each configured task transition; never blocks the engine."""

    def __init__(
        self,
        settings: Settings,
        core: Core,
        sender: Sender = apprise_send,
        links: ApprovalLinks | None = None,
    ) -> None:
        self.config = settings.notify
        self.core = core
        self.sender = sender
        self.links = links or ApprovalLinks(settings.home, settings.notify.link_ttl_seconds)
        self.base = public_base(settings)
        self._seen: dict[str, int] = {}  # task id -> seq of the last status event handled
        self._since: datetime = now()
        self._shown: dict[str, str] = {}  # url -> its redacted form
        self._projects = [
            (Path(key).expanduser().resolve(), override)
            for key, override in self.config.projects.items()
        ]

    @property
    def enabled(self) -> bool:
        return bool(self.config.urls) or any(p.urls for p in self.config.projects.values())

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen and send until cancelled (use with ``TaskGroup.start``)."""
        if not self.enabled:
            task_status.started()
            return
        self._since = now()
        urls = {*self.config.urls, *(u for _, p in self._projects for u in p.urls)}
        # Parsing the URLs loads Apprise's plugins: do it once, off the event loop.
        self._shown = await anyio.to_thread.run_sync(lambda: {u: redact_url(u) for u in urls})
        send, receive = anyio.create_memory_object_stream[Message](self.config.queue_size)
        async with self.core.watch() as changes, anyio.create_task_group() as tg:
            tg.start_soon(self._worker, receive)
            tg.start_soon(self._restart_summaries, send.clone())
            task_status.started()
            async with send:
                async for change in changes:
                    try:
                        ready = await self._messages(change)
                    except Exception:
                        log.exception("notifier: could not handle a change of %s", change.task_id)
                        continue
                    for message in ready:
                        try:
                            send.send_nowait(message)
                        except anyio.WouldBlock:
                            await self._record(message, "", False, 0, "queue full: dropped")
                        except anyio.BrokenResourceError:  # the worker is gone: shutting down
                            return

    async def _restart_summaries(self, send: MemoryObjectSendStream[Message]) -> None:
        """Once start-up recovery is done: one message per route for the tasks it resumes,
        and one for those the crash-loop guard holds (never one per task)."""
        async with send:
            await self.core.recovered.wait()
            found = self.core.recovery
            groups: dict[tuple[tuple[str, ...], NotifyKind], list[Task]] = {}
            wanted: tuple[tuple[NotifyKind, list[Task]], ...] = (
                ("interrupted_resuming", found.resuming),
                ("interrupted_needs_you", found.held),
            )
            for kind, tasks in wanted:
                for task in tasks:
                    urls, kinds = self._route(task)
                    if urls and (kind in kinds or "interrupted" in kinds):
                        groups.setdefault((urls, kind), []).append(task)
            for (urls, kind), tasks in groups.items():
                title, body = compose_restart(self.config, kind, tasks)
                first = tasks[0]
                about = tuple(t.id for t in tasks)
                message = Message(
                    first.id, first.turns, kind, title, body, _TYPE_OF[kind], urls, None, about
                )
                try:
                    send.send_nowait(message)
                except anyio.WouldBlock:
                    await self._record(message, "", False, 0, "queue full: dropped")

    def _route(self, task: Task) -> tuple[tuple[str, ...], Sequence[NotifyKind]]:
        """The URLs and kinds that apply to ``task``: the deepest matching project wins."""
        path = Path(task.project_path)
        matches = [(root, o) for root, o in self._projects if path.is_relative_to(root)]
        if not matches:
            return tuple(self.config.urls), self.config.events
        _, override = max(matches, key=lambda m: len(m[0].parts))
        events = self.config.events if override.events is None else override.events
        return tuple(override.urls), events

    async def _messages(self, change: Change) -> list[Message]:
        if change.what == "deleted":
            self._seen.pop(change.task_id, None)
            return []
        if change.status not in _WATCHED:
            return []
        last = self._seen.get(change.task_id)
        try:
            page = await self.core.events(change.task_id, last or 0, kinds=[EventKind.STATUS])
            task = await self.core.get(change.task_id)
        except NotFound:
            return []
        events = [Event.from_dict(item.dump()) for item in page.events]
        if not events:
            return []
        self._seen[change.task_id] = events[-1].seq
        if last is None:  # first sight of this task: only what happened while we listen
            events = [e for e in events if e.ts >= self._since]
        urls, kinds = self._route(task)
        out: list[Message] = []
        for event in events:
            kind = kind_of(event)
            if kind is None or kind not in kinds or not urls:
                continue
            if kind == "interrupted":
                continue  # cut by a crash or stop: the restart summary tells (one, not ten)
            approval = self._approval(task.id, event.turn) if kind == "input_required" else None
            title, body = compose(self.config, task, kind, event, approval)
            out.append(
                Message(task.id, event.turn, kind, title, body, _TYPE_OF[kind], urls, approval)
            )
        return out

    def _approval(self, task_id: str, turn: int) -> str | None:
        """A signed link to the task's oldest open decision of ``turn`` (None: none open)."""
        for pending in self.core.pending().pending:
            if pending.task_id == task_id and pending.turn == turn:
                try:
                    signed = self.links.issue(task_id, pending.request_id)
                except (OSError, ValueError) as exc:  # the key file: sent without a link
                    log.warning("notifier: no approval link for %s: %s", task_id, exc)
                    return None
                return f"{self.base}/a/{signed}"
        return None

    async def _worker(self, receive: ObjectReceiveStream[Message]) -> None:
        async with receive:
            async for message in receive:
                async with anyio.create_task_group() as tg:
                    for url in message.urls:
                        tg.start_soon(self._deliver, message, url)

    async def _deliver(self, message: Message, url: str) -> None:
        shown = self._shown.get(url)
        if shown is None:
            shown = await anyio.to_thread.run_sync(redact_url, url)
        attempts = self.config.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                result = await anyio.to_thread.run_sync(
                    self.sender,
                    with_actions(url, message.approval),
                    message.title,
                    message.body,
                    message.notify_type,
                    self.config.timeout_seconds,
                    abandon_on_cancel=True,
                )
            except Exception as exc:  # a sender bug must not end the worker
                result = SendResult(False, _scrub(f"{type(exc).__name__}: {exc}"))
            await self._record(message, shown, result.ok, attempt, result.error, attempts)
            if result.ok:
                return
            if attempt < attempts:
                await anyio.sleep(self.config.backoff_seconds * 2 ** (attempt - 1))

    async def _record(
        self,
        message: Message,
        url: str,
        ok: bool,
        attempt: int,
        error: str | None,
        attempts: int = 0,
    ) -> None:
        if ok:
            text = f"notification {message.kind} sent to {url}"
        elif attempt and attempt < attempts:
            text = f"notification {message.kind} to {url} failed (attempt {attempt}); will retry"
        else:
            text = f"notification {message.kind} to {url or 'any URL'} not sent: {error}"
        (log.info if ok else log.warning)("task %s: %s", message.task_id, text)
        data = {
            "text": text,
            "source": "notify",
            "kind": message.kind,
            "url": url,
            "ok": ok,
            "attempt": attempt,
            "error": error,
        }
        for task_id in message.about or (message.task_id,):
            with contextlib.suppress(NotFound):  # the task may have been deleted meanwhile
                await self.core.record(task_id, [NewEvent(EventKind.LOG, data, message.turn)])


async def send_test(
    settings: NotifySettings, sender: Sender = apprise_send
) -> list[tuple[str, SendResult]]:
    """Send a test message to every configured URL once; (redacted URL, result) each."""
    urls = list(
        dict.fromkeys([*settings.urls, *(u for p in settings.projects.values() for u in p.urls)])
    )

    async def one(url: str) -> tuple[str, SendResult]:
        try:
            result = await anyio.to_thread.run_sync(
                sender,
                url,
                "agentdeck: test notification",
                "If you can read this, agentdeck can reach you here.",
                "info",
                settings.timeout_seconds,
            )
        except Exception as exc:
            result = SendResult(False, _scrub(f"{type(exc).__name__}: {exc}"))
        return redact_url(url), result

    return [await one(url) for url in urls]
