"""Run an agent adapter for one turn: persist its events in batches, enforce timeout/cancel.

The adapter emits events synchronously into an in-memory stream; this module drains
whatever is ready into one transaction (task row + events), then publishes. Parsing
and writing overlap, and a long stream only ever appends.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from agentdeck.agents.base import Agent, Approver, Inbox, TurnRequest
from agentdeck.bus import Bus, Change
from agentdeck.core import budget
from agentdeck.model import EventKind, NewEvent, Task, now
from agentdeck.redact import redact_shapes, redact_value, secret_values
from agentdeck.store import TaskStore

MAX_BATCH = 2_000
COALESCE_SECONDS = 0.01
"""Within a burst (an event right after a save), how long a batch gathers before it is
stored. It is stored at once after a quiet spell, when the turn ends or asks, and when
an approval waits for it: only a stream of events waits at all."""
URGENT = frozenset({EventKind.TURN_FINISHED, EventKind.PERMISSION_REQUEST})
BACKLOG = 2 * MAX_BATCH  # events waiting to be stored before the adapter's reading waits
# The task columns a running turn owns; the lifecycle owns the rest.
SUMMARY_COLUMNS = (
    "session_id",
    "cost_known",
    "result_text",
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "num_turns",
    "duration_ms",
    "updated_at",
)


@dataclass
class TurnControl:
    """Handle on a running turn (its preparation included): cancel it with a reason."""

    reason: str | None = None
    interrupted: bool = False  # by a server stop: the task is kept, to resume
    done: anyio.Event = field(default_factory=anyio.Event)
    inbox: Inbox = field(default_factory=Inbox)  # steering, while the agent takes it
    _scopes: list[anyio.CancelScope] = field(default_factory=list)

    def scope(self) -> anyio.CancelScope:
        """A new cancel scope for one step of the turn; born cancelled after `cancel`."""
        scope = anyio.CancelScope()
        if self.reason is not None:
            scope.cancel()
        self._scopes.append(scope)
        return scope

    def cancel(self, reason: str) -> None:
        self.reason = self.reason or reason
        for scope in self._scopes:
            scope.cancel()

    def interrupt(self, reason: str) -> None:
        """Stop the turn for a server stop: the task becomes ``interrupted``, not cancelled."""
        if self.reason is None:
            self.interrupted = True
        self.cancel(reason)

    @property
    def cancelled(self) -> bool:
        return self.reason is not None


@dataclass(frozen=True)
class TurnOutcome:
    success: bool
    error: str | None = None
    cancelled: bool = False
    timed_out: bool = False
    budget: dict[str, Any] | None = None  # the turn was stopped at the task's budget
    finished: dict[str, Any] = field(default_factory=dict)  # its turn_finished data


class _Summary:
    """Folds a turn's events into the task's summary fields."""

    def __init__(self, task: Task, resumed: bool) -> None:
        self.task = task
        self.cost_before = task.cost_usd
        self.resumed = resumed
        self.finished: dict[str, Any] | None = None
        self.model = task.model
        # Provisional usage of this turn (per assistant message, last report of each),
        # until the agent's totals arrive: the usage by message id and, when the task
        # has a budget to watch, each one's (priced cost, counted tokens) and their sums
        # (kept as they change: checked after every batch).
        self.live: dict[str, dict[str, Any]] = {}
        self.watch = task.max_cost_usd is not None or task.max_tokens is not None
        self.priced: dict[str, tuple[float, int]] = {}
        self.live_use: tuple[float, int] = (0.0, 0)

    def _live(self, key: str, usage: dict[str, Any]) -> None:
        self.live[key] = usage
        if not self.watch:  # nothing to stop at: priced only if the turn stops early
            return
        cost, tokens = budget.price(self.model, usage), budget.counted(usage)
        old_cost, old_tokens = self.priced.get(key, (0.0, 0))
        self.priced[key] = (cost, tokens)
        spent, counted = self.live_use
        self.live_use = (spent + cost - old_cost, counted + tokens - old_tokens)

    def _end_live(self) -> None:
        self.live.clear()
        self.priced.clear()
        self.live_use = (0.0, 0)

    def _add(self, usage: dict[str, Any]) -> None:
        task = self.task
        task.input_tokens += int(usage.get("input_tokens", 0))
        task.output_tokens += int(usage.get("output_tokens", 0))
        task.cache_read_tokens += int(usage.get("cache_read_tokens", 0))
        task.cache_creation_tokens += int(usage.get("cache_creation_tokens", 0))

    def apply(self, event: NewEvent) -> None:
        task, data = self.task, event.data
        if event.kind == EventKind.SESSION and data.get("session_id"):
            task.session_id = data["session_id"]
            self.model = data.get("model") or self.model
        elif event.kind == EventKind.USAGE and data.get("partial"):
            self.model = data.get("model") or self.model
            self._live(str(data.get("message_id") or len(self.live)), data)
        elif event.kind == EventKind.USAGE:
            self._end_live()  # the agent's own totals replace the provisional figures
            task.cost_known = task.cost_known or bool(data.get("cost_known"))
            self._add(data)
            cost = float(data.get("cost_usd") or 0.0)
            if data.get("cost_is_session_total") and self.resumed:
                task.cost_usd = max(self.cost_before, cost)
            else:
                task.cost_usd = self.cost_before + cost
        elif event.kind == EventKind.TURN_FINISHED:
            self.finished = data
            if self.live:  # stopped before its totals came (cancel, budget): keep what it used
                for usage in self.live.values():
                    cost = budget.price(self.model, usage)
                    self._add(usage)
                    task.cost_usd += cost
                    task.cost_known = task.cost_known or cost > 0
                self._end_live()
            if data.get("result_text") is not None:
                task.result_text = data["result_text"]
            task.num_turns += int(data.get("num_turns") or 0)
            task.duration_ms += int(data.get("duration_ms") or 0)
            if data.get("session_id"):
                task.session_id = data["session_id"]


class _Stored:
    """How many of a turn's emitted events are stored, to wait until all so far are;
    `hurry` is set when a batch should be stored without gathering more."""

    def __init__(self) -> None:
        self.emitted = 0
        self.count = 0
        self._changed = anyio.Event()
        self.hurry = anyio.Event()

    def saved(self, n: int) -> None:
        self.count += n
        self._changed.set()
        self._changed = anyio.Event()

    async def all_so_far(self) -> None:
        target = self.emitted
        while self.count < target:
            self.hurry.set()
            await self._changed.wait()

    def first(self, approve: Approver) -> Approver:
        """``approve``, once every event emitted before the call is stored."""

        async def after_stored(
            tool: str, tool_input: dict[str, Any], prompt: str | None
        ) -> tuple[bool, str]:
            await self.all_so_far()
            return await approve(tool, tool_input, prompt)

        return after_stored


class _Emitter:
    """The ``emit`` a turn's adapter gets: events go to the store's queue; `room` (see
    `agentdeck.agents.base.room`) waits while more than BACKLOG of them wait there."""

    def __init__(self, accept: Callable[[NewEvent], None], backlog: Callable[[], int]) -> None:
        self._accept = accept
        self._backlog = backlog
        self._drained = anyio.Event()

    def __call__(self, event: NewEvent) -> None:
        self._accept(event)

    async def room(self) -> None:
        while self._backlog() > BACKLOG:
            if self._drained.is_set():
                self._drained = anyio.Event()
            await self._drained.wait()

    def drained(self) -> None:
        """A batch was stored."""
        self._drained.set()


class TurnRunner:
    """Runs an adapter for a turn, saving the task's summary columns as events arrive."""

    def __init__(self, store: TaskStore, bus: Bus) -> None:
        self.store = store
        self.bus = bus

    async def run(
        self,
        agent: Agent,
        task: Task,
        request: TurnRequest,
        time_limit: float,
        control: TurnControl,
    ) -> TurnOutcome:
        """Run ``request`` to its end; ``task`` is updated and saved as events arrive."""
        send, receive = anyio.create_memory_object_stream[NewEvent](math.inf)
        summary = _Summary(task, resumed=request.resume_session_id is not None)
        task.cost_known = task.cost_known or agent.capabilities.cost
        # The agent's secrets, once per turn: their values never reach the store.
        secrets = tuple(secret_values({**os.environ, **request.env}))

        finished_sent = False
        stopped_at: dict[str, Any] | None = None  # the budget the turn was stopped at
        stored = _Stored()
        if request.approve is not None:
            # A decision is recorded after the tool call it is about (and all before it).
            request = replace(request, approve=stored.first(request.approve))

        def accept(event: NewEvent) -> None:
            nonlocal finished_sent
            finished_sent = finished_sent or event.kind == EventKind.TURN_FINISHED
            if event.kind == EventKind.TURN_STARTED:
                event = _instructions_masked(event)
            stored.emitted += 1
            send.send_nowait(event)
            if event.kind in URGENT:
                stored.hurry.set()

        emit = _Emitter(accept, lambda: send.statistics().current_buffer_used)

        scope = control.scope()

        async def produce() -> None:
            async with send:
                error: str | None = None
                with scope, anyio.move_on_after(time_limit) as deadline:
                    try:
                        await agent.run(request, emit)
                    except Exception as exc:  # an adapter bug must not take the engine down
                        kind = type(exc).__name__
                        error = f"agentdeck: the {agent.name} adapter failed: {kind}: {exc}"
                if finished_sent:
                    return
                timed_out = deadline.cancelled_caught
                if timed_out:
                    error = f"timed out after {time_limit:g} s; the agent was stopped"
                elif stopped_at is not None:
                    error = f"paused at its budget: it {stopped_at['text']}"
                elif scope.cancel_called:
                    error = control.reason or "cancelled"
                accept(
                    NewEvent(
                        EventKind.TURN_FINISHED,
                        {
                            "success": False,
                            "error": error or "the agent ended without reporting a result",
                            "cancelled": scope.cancel_called
                            and not timed_out
                            and stopped_at is None,
                            "timed_out": timed_out,
                            **({"budget": stopped_at} if stopped_at else {}),
                        },
                        request.turn,
                    )
                )

        def after_batch() -> None:
            nonlocal stopped_at
            emit.drained()
            if stopped_at is None and not finished_sent:
                stopped_at = budget.crossed(task, *summary.live_use)
                if stopped_at is not None:
                    scope.cancel()  # the agent stops; its session is kept

        async with anyio.create_task_group() as tg:
            tg.start_soon(produce)
            await self._persist(task, receive, summary, secrets, stored, after_batch)

        finished = summary.finished or {}
        success = bool(finished.get("success"))
        return TurnOutcome(
            success,
            None if success else str(finished.get("error") or "failed"),
            cancelled=bool(finished.get("cancelled")),
            timed_out=bool(finished.get("timed_out")),
            budget=stopped_at,
            finished=finished,
        )

    async def _persist(
        self,
        task: Task,
        receive: MemoryObjectReceiveStream[NewEvent],
        summary: _Summary,
        secrets: tuple[str, ...] = (),
        stored: _Stored | None = None,
        after_batch: Callable[[], None] | None = None,
    ) -> None:
        stored = stored or _Stored()
        saved_at = -math.inf
        async with receive:
            while True:
                try:
                    batch = [await receive.receive()]
                except anyio.EndOfStream:
                    return
                if anyio.current_time() - saved_at < COALESCE_SECONDS:
                    with anyio.move_on_after(COALESCE_SECONDS):  # a burst: let it gather
                        await stored.hurry.wait()
                # What hurried is queued by now and goes in this batch; what hurries
                # from here on (during the save too) cuts the next one short.
                stored.hurry = anyio.Event()
                while len(batch) < MAX_BATCH:
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                if secrets:
                    batch = [_redacted(e, secrets) for e in batch]
                for event in batch:
                    summary.apply(event)
                task.updated_at = now()
                with anyio.CancelScope(shield=True):
                    seq = await self.store.save(task, batch, SUMMARY_COLUMNS)
                saved_at = anyio.current_time()
                self.bus.publish(Change(task.id, "updated", None, seq))
                stored.saved(len(batch))
                if after_batch is not None:
                    after_batch()


def _instructions_masked(event: NewEvent) -> NewEvent:
    """A ``turn_started`` event with token shapes (``adk_…``, ``sk-…``, ``Bearer …``)
    masked in the instructions it records (secret values are masked with all data)."""
    text = event.data.get("instructions")
    if not isinstance(text, str) or (masked := redact_shapes(text)) == text:
        return event
    return NewEvent(event.kind, {**event.data, "instructions": masked}, event.turn, event.ts)


def _redacted(event: NewEvent, secrets: tuple[str, ...]) -> NewEvent:
    """``event`` with ``secrets`` masked in its data (the same object when none occurs)."""
    data = redact_value(event.data, secrets)
    if data is event.data:
        return event
    return NewEvent(event.kind, cast(dict[str, Any], data), event.turn, event.ts)
