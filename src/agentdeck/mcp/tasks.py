"""MCP Tasks (extension ``io.modelcontextprotocol/tasks``, spec 2026-07-28): long jobs the MCP way.

When a 2026-07-28 request declares the extension in its client capabilities,
``tools/call`` of ``create_task`` / ``update_task`` answers with a
``CreateTaskResult`` instead of blocking (``wait`` is ignored: a task never blocks).
The client then polls ``tasks/get``, answers the agent's questions with
``tasks/update`` and stops it with ``tasks/cancel``; ``subscriptions/listen``
with ``taskIds`` pushes ``notifications/tasks`` (`TaskListen`).

One MCP task is one piece of agentdeck work, from the call until the agentdeck
task settles (nothing running or queued: exactly what ``wait: true`` waits for):

- ``create_task`` → MCP task id ``<task id>`` (from its first turn);
- ``update_task`` → ``<task id>:<turn>``, the turn its instructions run in.

Nothing about an MCP task is kept in memory that the store cannot rebuild: its
state is read from the task's events (`TaskView`), so a task id survives a
server restart. Status mapping: pending / in progress → ``working``; a decision
pending → ``input_required`` with one elicitation per open decision (keyed by
its request id, unique for the task's lifetime); the turn settled → ``completed``
with the tool result (``isError: true`` when the turn failed); cancelled →
``cancelled``. ``failed`` is never used: agentdeck has no protocol-level failure
after a task was created.

Only the caller that created a task (its ``owner``) or an admin token sees it;
anyone else gets the same ``-32602`` as for an unknown id.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.streams.memory
from mcp.server import MCPServer
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.subscriptions import SubscriptionBus
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import (
    SUBSCRIPTION_ID_META_KEY,
    ServerEvent,
    event_matches,
    event_to_notification,
)
from mcp.types import CallToolRequestParams, CallToolResult, ElicitResult
from mcp_types import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    ClientCapabilities,
    MissingRequiredClientCapabilityErrorData,
    RequestParams,
    SubscriptionFilter,
    SubscriptionsAcknowledgedNotification,
    SubscriptionsAcknowledgedNotificationParams,
    SubscriptionsListenRequestParams,
    SubscriptionsListenResult,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from agentdeck.core import Caller, Core, PendingDecision, Respond, authorize, parse
from agentdeck.errors import AgentdeckError, Forbidden, NotFound
from agentdeck.mcp._sdk import add_request_handler, notify_on_request_stream
from agentdeck.mcp.callers import caller_of
from agentdeck.mcp.elicit import answer_of, decision_request
from agentdeck.mcp.envelope import failure, success
from agentdeck.model import Task, TaskStatus

log = logging.getLogger(__name__)

EXTENSION = "io.modelcontextprotocol/tasks"
TASK_TOOLS = ("create_task", "update_task")
POLL_INTERVAL_MS = 2000
FORBIDDEN = -32003  # the code a refused resources/read gets, too
_SETTLED = frozenset({"waiting", "completed", "failed", "cancelled"})
_KINDS = ("status", "turn_started", "turn_finished", "tool_call", "message")
_CACHE = 2048  # MCP tasks whose scan is kept between polls


# -- ids ------------------------------------------------------------------------------


def mcp_task_id(task_id: str, turn: int | None = None) -> str:
    """``<task id>`` for create_task's task, ``<task id>:<turn>`` for an update's."""
    return task_id if turn is None else f"{task_id}:{turn}"


def split_task_id(mcp_id: str) -> tuple[str, int]:
    """(agentdeck task id, first turn) of an MCP task id; ValueError if malformed."""
    task_id, sep, turn = mcp_id.partition(":")
    if not sep:
        return task_id, 1
    if not turn.isdigit() or int(turn) < 1:
        raise ValueError(mcp_id)
    return task_id, int(turn)


# -- errors ---------------------------------------------------------------------------


def not_found(mcp_id: str) -> MCPError:
    return MCPError(
        INVALID_PARAMS,
        f"Failed to retrieve task: Task not found ({mcp_id!r}). Use the taskId a "
        "CreateTaskResult returned to this caller.",
        {"taskId": mcp_id},
    )


def missing_extension(what: str) -> MCPError:
    data = MissingRequiredClientCapabilityErrorData(
        required_capabilities=ClientCapabilities(extensions={EXTENSION: {}})
    )
    return MCPError(
        MISSING_REQUIRED_CLIENT_CAPABILITY,
        f"Missing required client capability: {what} is part of the {EXTENSION} extension; "
        f'declare it in the request\'s _meta["io.modelcontextprotocol/clientCapabilities"]'
        f'.extensions["{EXTENSION}"] (an empty object) on protocol 2026-07-28',
        data.model_dump(by_alias=True, mode="json", exclude_none=True),
    )


def declared(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this 2026-07-28 request declared the Tasks extension."""
    if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
        return False
    capabilities = ctx.session.client_capabilities
    return bool(capabilities and capabilities.extensions and EXTENSION in capabilities.extensions)


def visible(task: Task, caller: Caller) -> bool:
    """Only the caller that created a task, or an admin, sees it as an MCP task."""
    return "admin" in caller.scopes or (task.owner is not None and task.owner == caller.who)


def _authorize(caller: Caller, method: str, scope: str) -> None:
    try:
        authorize(caller, method, scope)  # type: ignore[arg-type]
    except Forbidden as exc:
        raise MCPError(FORBIDDEN, f"forbidden: {exc.message}", exc.details) from None


def _iso(stamp: datetime | str) -> str:
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- what an MCP task is now, read from the task's events --------------------------------


@dataclass
class _Scan:
    """What the events of one MCP task (turns >= its first) said so far."""

    cursor: int = 0
    steps: int = 0
    last_tool: str | None = None
    turn: int | None = None
    started_at: str | None = None
    finished: dict[str, Any] | None = None  # the newest turn_finished
    settled: dict[str, Any] | None = None  # the status event that settled it (+ ts)


@dataclass
class TaskView:
    """One MCP task as ``tasks/get`` and ``notifications/tasks`` show it."""

    mcp_id: str
    task: Task
    first_turn: int
    scan: _Scan
    pending: list[PendingDecision] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.wire()["status"])

    def _outcome(self) -> tuple[str, str] | None:
        """(status the agentdeck work ended in, why), once it ended."""
        task = self.task
        if self.scan.settled is not None:
            return str(self.scan.settled["to"]), str(self.scan.settled.get("reason") or "")
        if task.status.terminal:
            return str(task.status), task.status_reason or ""
        if task.status == TaskStatus.INTERRUPTED and not task.auto_resume:
            return "interrupted", task.status_reason or "the server stopped mid-turn"
        return None

    def wire(self) -> dict[str, Any]:
        """The DetailedTask (without ``resultType``)."""
        task, scan = self.task, self.scan
        created = task.created_at if self.first_turn == 1 else (scan.started_at or task.updated_at)
        updated = scan.settled["ts"] if scan.settled else task.updated_at
        body: dict[str, Any] = {
            "taskId": self.mcp_id,
            "status": "working",
            "createdAt": _iso(created),
            "lastUpdatedAt": _iso(updated),
            "ttlMs": None,
            "pollIntervalMs": POLL_INTERVAL_MS,
        }
        outcome = self._outcome()
        if outcome is not None:
            ended, why = outcome
            if ended == "cancelled":
                body["status"] = "cancelled"
                body["statusMessage"] = f"agentdeck task {task.id} was cancelled: {why}".strip()
            else:
                result = self.result(ended)
                body["status"] = "completed"
                body["statusMessage"] = _first_text(result)
                body["result"] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
            return body
        body["statusMessage"] = self.progress()
        if self.pending:
            body["status"] = "input_required"
            body["inputRequests"] = {
                p.request_id: decision_request(p).model_dump(
                    by_alias=True, mode="json", exclude_none=True
                )
                for p in self.pending
            }
        return body

    def progress(self) -> str:
        task, scan = self.task, self.scan
        where = f"agentdeck task {task.id} (task://{task.id})"
        if task.status == TaskStatus.PARKED:
            return f"{task.status_reason or 'parked at a usage limit'} — {where}"
        if scan.turn is None:
            return f"queued: {where} starts as soon as a slot is free"
        tool = f", last tool: {scan.last_tool}" if scan.last_tool else ""
        steps = f"turn {scan.turn}: {scan.steps} step{'s' if scan.steps != 1 else ''}{tool}"
        if self.pending:
            asks = "; ".join(p.summary for p in self.pending)
            return f"{steps}; waiting for your decision: {asks} — {where}"
        return f"{steps} — {where}"

    def result(self, ended: str) -> CallToolResult:
        """The tool result: what ``wait: true`` would have answered when the turn ended."""
        task, finished = self.task, self.scan.finished or {}
        uri = f"task://{task.id}"
        if ended in ("failed", "interrupted"):
            error = finished.get("error") or task.error or self._outcome_reason()
            if ended == "interrupted":
                error = f"the turn was cut ({error}); update_task resumes it"
            return failure(
                "turn_failed",
                f"Task {task.id} {'failed' if ended == 'failed' else 'was interrupted'}: {error}",
                {"task_id": task.id, "mcp_task_id": self.mcp_id, "error": error, "uri": uri},
            )
        text = finished.get("result_text")
        text = task.result_text if text is None and self.scan.settled is None else text
        return success(
            f"Task {task.id} finished its turn: {text or ''}".strip(),
            {
                "task_id": task.id,
                "mcp_task_id": self.mcp_id,
                "description": task.title,
                "status": ended,
                "agent": task.agent,
                "session_id": task.session_id,
                "turns": self.scan.turn,
                "result_text": text,
                "cost_usd": finished.get("cost_usd", task.cost_usd),
                "uri": uri,
            },
        )

    def _outcome_reason(self) -> str:
        outcome = self._outcome()
        return outcome[1] if outcome else ""


def _first_text(result: CallToolResult) -> str:
    for block in result.content:
        text = getattr(block, "text", None)
        if isinstance(text, str):
            if result.is_error:
                return text
            try:
                return str(json.loads(text).get("message", text))
            except (ValueError, AttributeError):
                return text
    return ""


class TaskViews:
    """Reads MCP tasks from the core; each one's scan is cached between polls (and
    rebuilt from the store when it is not)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self._scans: OrderedDict[str, _Scan] = OrderedDict()

    async def view(self, mcp_id: str, caller: Caller | None = None) -> TaskView:
        """The MCP task ``mcp_id``; `not_found` if unknown or not the caller's."""
        try:
            task_id, first_turn = split_task_id(mcp_id)
            task = await self.core.get(task_id)
        except (ValueError, AgentdeckError):
            raise not_found(mcp_id) from None
        if task.id != task_id or (caller is not None and not visible(task, caller)):
            raise not_found(mcp_id)  # a session id is not a task id; others' tasks are unknown
        if first_turn > max(task.turns, 0) + len(task.queue) + 1:
            raise not_found(mcp_id)  # no such turn was ever asked for
        scan = self._scans.pop(mcp_id, None) or _Scan()
        self._scans[mcp_id] = scan
        while len(self._scans) > _CACHE:
            self._scans.popitem(last=False)
        if scan.settled is None:
            await self._read(task.id, first_turn, scan)
            task = await self.core.get(task.id)  # at least as new as the events read
        pending = [
            p
            for p in self.core.pending().pending
            if p.task_id == task.id and p.turn >= first_turn and scan.settled is None
        ]
        return TaskView(mcp_id, task, first_turn, scan, pending)

    async def _read(self, task_id: str, first_turn: int, scan: _Scan) -> None:
        while True:
            page = await self.core.events(task_id, after=scan.cursor, kinds=_KINDS)
            for event in page.events:
                scan.cursor = event.seq
                if event.turn < first_turn:
                    continue
                data = event.data
                if event.kind == "status" and data.get("to") in _SETTLED:
                    scan.settled = {**data, "ts": event.ts}
                    return
                if event.kind == "turn_started":
                    scan.turn = event.turn
                    scan.started_at = scan.started_at or event.ts
                elif event.kind == "turn_finished":
                    scan.finished = data
                elif event.kind == "tool_call":
                    scan.steps += 1
                    scan.last_tool = str(data.get("name"))
                elif event.kind == "message" and data.get("role", "assistant") == "assistant":
                    scan.steps += 1
            if not page.more:
                return


# -- the extension ----------------------------------------------------------------------


class TaskIdParams(RequestParams):
    task_id: str


class UpdateTaskParams(TaskIdParams):
    input_responses: dict[str, Any]


class TasksExtension(Extension):
    """``io.modelcontextprotocol/tasks`` on the SDK's Extension seam."""

    identifier = EXTENSION

    def __init__(self, core: Core) -> None:
        self.core = core
        self.views = TaskViews(core)

    def methods(self) -> Sequence[MethodBinding]:
        return (
            MethodBinding("tasks/get", TaskIdParams, self._get),
            MethodBinding("tasks/update", UpdateTaskParams, self._update),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel),
        )

    async def intercept_tool_call(
        self,
        params: CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        if params.name not in TASK_TOOLS or not declared(ctx):
            return await call_next(ctx)
        arguments = dict(params.arguments or {})
        arguments.pop("wait", None)  # a task never blocks the call
        arguments.pop("max_wait_seconds", None)
        params.arguments = arguments
        result = await call_next(ctx)
        if not isinstance(result, CallToolResult) or result.is_error:
            return result  # refused (bad arguments, scope…): the tool's own error result
        body = (result.structured_content or {}).get("result") or {}
        turn = body.get("turn") if params.name == "update_task" else None
        view = await self.views.view(mcp_task_id(str(body["task_id"]), turn))
        wire = view.wire()
        for detail in ("result", "inputRequests"):
            wire.pop(detail, None)  # CreateTaskResult is Result & Task: no details
        return {"resultType": "task", **wire}

    def _start(self, ctx: ServerRequestContext[Any, Any], method: str) -> Caller:
        if not declared(ctx):
            raise missing_extension(method)
        return caller_of(ctx)

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> Any:
        caller = self._start(ctx, "tasks/get")
        _authorize(caller, "tasks/get", "read")
        view = await self.views.view(params.task_id, caller)
        return {"resultType": "complete", **view.wire()}

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams) -> Any:
        caller = self._start(ctx, "tasks/update")
        view = await self.views.view(params.task_id, caller)
        answers = _answers(params.input_responses, {p.request_id for p in view.pending})
        arguments = {"taskId": params.task_id, "inputResponses": params.input_responses}
        try:
            async with self.core.action(
                caller, "tasks/update", "write", arguments, view.task.id
            ) as entry:
                for request_id, (decision, message) in answers.items():
                    respond = parse(
                        Respond,
                        {
                            "id": view.task.id,
                            "decision": decision,
                            "message": message,
                            "request_id": request_id,
                        },
                    )
                    try:
                        await self.core.respond(respond, by=caller.who)
                    except (NotFound, AgentdeckError) as exc:
                        # answered meanwhile elsewhere: the first answer wins
                        log.info("tasks/update %s: %s", request_id, exc)
                if entry is not None:
                    entry.outcome = "ok"
        except Forbidden as exc:
            raise MCPError(FORBIDDEN, f"forbidden: {exc.message}", exc.details) from None
        except AgentdeckError as exc:
            raise MCPError(INVALID_PARAMS, exc.message, exc.details) from None
        return {"resultType": "complete"}

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams) -> Any:
        caller = self._start(ctx, "tasks/cancel")
        view = await self.views.view(params.task_id, caller)
        try:
            async with self.core.action(
                caller, "tasks/cancel", "write", {"taskId": params.task_id}, view.task.id
            ) as entry:
                if view._outcome() is None and not view.task.status.terminal:
                    try:
                        await self.core.cancel(view.task.id, "cancelled by tasks/cancel")
                    except AgentdeckError as exc:  # ended meanwhile: nothing to cancel
                        log.info("tasks/cancel %s: %s", params.task_id, exc)
                if entry is not None:
                    entry.outcome = "ok"
        except Forbidden as exc:
            raise MCPError(FORBIDDEN, f"forbidden: {exc.message}", exc.details) from None
        return {"resultType": "complete"}


def _answers(responses: dict[str, Any], outstanding: set[str]) -> dict[str, tuple[str, str]]:
    """The decisions in ``responses`` for the outstanding keys (others are ignored, as the
    spec says); -32602 naming what is accepted for a malformed one."""
    answers: dict[str, tuple[str, str]] = {}
    for key, value in responses.items():
        if key not in outstanding:
            continue
        try:
            answer = answer_of(ElicitResult.model_validate(value))
        except (ValidationError, ValueError) as exc:
            reason = (
                exc
                if isinstance(exc, ValueError) and not isinstance(exc, ValidationError)
                else "it is not an elicitation result"
            )
            raise MCPError(
                INVALID_PARAMS,
                f"inputResponses[{key!r}]: {reason}. Accepted: "
                '{"action": "accept", "content": {"decision": "allow" | "deny" | '
                '"allow_always", "message": "..."}}, {"action": "decline"} (deny) or '
                '{"action": "cancel"} (leave it open)',
                {"key": key},
            ) from None
        if answer is not None:
            answers[key] = answer
    return answers


# -- notifications/tasks through subscriptions/listen ----------------------------------


@dataclass(frozen=True)
class _TaskUpdate:
    params: dict[str, Any]


class TaskListen:
    """Serves ``subscriptions/listen`` like the SDK's `ListenHandler`, plus ``taskIds``.

    The SDK's handler acknowledges only the four core filter keys, so the requested
    ``taskIds`` would be dropped; this one acknowledges the task ids the caller may
    see and sends ``notifications/tasks`` (the full DetailedTask) on the stream
    whenever one of them changes, starting with its current state.
    """

    def __init__(
        self, core: Core, views: TaskViews, bus: SubscriptionBus, *, max_buffered: int = 1024
    ) -> None:
        self.core = core
        self.views = views
        self.bus = bus
        self.max_buffered = max_buffered

    def install(self, server: MCPServer) -> None:
        add_request_handler(server, "subscriptions/listen", SubscriptionsListenRequestParams, self)

    async def __call__(
        self, ctx: ServerRequestContext[Any, Any], params: SubscriptionsListenRequestParams
    ) -> SubscriptionsListenResult:
        subscription_id = ctx.request_id
        if subscription_id is None:
            raise MCPError(INVALID_REQUEST, "subscriptions/listen requires a request id")
        requested = params.notifications
        task_ids = await self._task_ids(ctx, (requested.model_extra or {}).get("taskIds"))
        honored = SubscriptionFilter(
            tools_list_changed=True if requested.tools_list_changed else None,
            prompts_list_changed=True if requested.prompts_list_changed else None,
            resources_list_changed=True if requested.resources_list_changed else None,
            resource_subscriptions=list(requested.resource_subscriptions)
            if requested.resource_subscriptions
            else None,
        )
        honored_uris = frozenset(honored.resource_subscriptions or ())
        if task_ids is not None:
            honored = honored.model_copy(update={"taskIds": task_ids})
        meta: dict[str, Any] = {SUBSCRIPTION_ID_META_KEY: subscription_id}
        send, recv = anyio.create_memory_object_stream[ServerEvent | _TaskUpdate](self.max_buffered)

        def deliver(event: ServerEvent | _TaskUpdate) -> None:
            if isinstance(event, ServerEvent) and not event_matches(honored, honored_uris, event):
                return
            try:
                send.send_nowait(event)
            except anyio.ClosedResourceError:
                pass
            except anyio.WouldBlock:
                log.warning("listen stream %r backlog full; ending it", subscription_id)
                send.close()

        unsubscribe = self.bus.subscribe(deliver)
        try:
            async with anyio.create_task_group() as tg:
                await ctx.session.send_notification(
                    SubscriptionsAcknowledgedNotification(
                        params=SubscriptionsAcknowledgedNotificationParams(
                            notifications=honored, _meta=meta
                        )
                    ),
                    related_request_id=subscription_id,
                )
                if task_ids:
                    tg.start_soon(self._watch_tasks, task_ids, deliver)
                async for event in recv:
                    if isinstance(event, _TaskUpdate):
                        body = {**event.params, "_meta": meta}
                        await notify_on_request_stream(ctx.session, "notifications/tasks", body)
                    else:
                        await ctx.session.send_notification(
                            event_to_notification(event, meta), related_request_id=subscription_id
                        )
                tg.cancel_scope.cancel()
        finally:
            unsubscribe()
            send.close()
            recv.close()
        return SubscriptionsListenResult(_meta=meta)

    async def _task_ids(self, ctx: ServerRequestContext[Any, Any], raw: Any) -> list[str] | None:
        if raw is None:
            return None
        if not declared(ctx):
            raise missing_extension("subscriptions/listen with taskIds")
        if not isinstance(raw, list) or not all(isinstance(i, str) for i in raw):
            raise MCPError(
                INVALID_PARAMS,
                "notifications.taskIds must be a list of task ids (strings), "
                "as CreateTaskResult returned them",
            )
        caller = caller_of(ctx)
        _authorize(caller, "subscriptions/listen", "read")
        honored: list[str] = []
        for mcp_id in dict.fromkeys(raw):
            try:
                await self.views.view(mcp_id, caller)
            except MCPError:
                continue  # unknown or another caller's: not agreed, per the spec's ack
            honored.append(mcp_id)
        return honored

    async def _watch_tasks(self, mcp_ids: list[str], deliver: Any) -> None:
        by_task: dict[str, list[str]] = {}
        for mcp_id in mcp_ids:
            by_task.setdefault(split_task_id(mcp_id)[0], []).append(mcp_id)
        last: dict[str, str] = {}

        async def push(ids: list[str]) -> None:
            for mcp_id in ids:
                try:
                    wire = (await self.views.view(mcp_id)).wire()
                except MCPError:
                    continue  # deleted meanwhile
                fingerprint = json.dumps(
                    {k: v for k, v in wire.items() if k != "lastUpdatedAt"}, sort_keys=True
                )
                if last.get(mcp_id) != fingerprint:
                    last[mcp_id] = fingerprint
                    deliver(_TaskUpdate(wire))

        async def follow(task_id: str, ids: list[str]) -> None:
            async with self.core.watch(task_id) as changes:
                await push(ids)
                while True:
                    await changes.settle()  # whatever changed: re-read
                    await push(ids)

        async with anyio.create_task_group() as tg:
            for task_id, ids in by_task.items():
                tg.start_soon(follow, task_id, ids)
