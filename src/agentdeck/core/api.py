"""`Core`: the one front door. Every face (MCP, REST, CLI, push) calls it and nothing else.

Commands change tasks (create, continue, steer, cancel, end, respond, merge,
discard, clean); queries return the typed documents of `agentdeck.core.documents`
(task, tasks, events, log, pending, status, statistics) or watch changes live.
Requests are the models of `agentdeck.core.requests`; refusals are
`agentdeck.errors.AgentdeckError`.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from agentdeck import __version__
from agentdeck.agents import Agent, build_agents, canonical_agent
from agentdeck.agents.base import AgentInfo
from agentdeck.auth import (
    Access,
    Caller,
    Scope,
    TokenInfo,
    authorize,
    create_token,
    list_tokens,
)
from agentdeck.auth import revoke_token as revoke_stored_token
from agentdeck.auth.access import AuditEntry
from agentdeck.bus import Bus, Change, Listener
from agentdeck.config import BudgetSettings, Settings
from agentdeck.core import (
    cleanup,
    dependencies,
    isolation,
    policy,
    recovery,
    usage_limits,
    workspace,
)
from agentdeck.core.approvals import Asker, Decisions
from agentdeck.core.documents import (
    AgentList,
    AgentStatus,
    CostLedger,
    EventItem,
    EventPage,
    PendingDecision,
    PendingList,
    Project,
    ProjectList,
    ReviewedComment,
    ReviewResult,
    ServerStats,
    Statistics,
    StatusDocument,
    TaskCounts,
    TaskDetail,
    TaskFields,
    TaskList,
    TaskReport,
    TaskResult,
    TaskSummary,
    WorkerLine,
    WorkerList,
)
from agentdeck.core.lifecycle import Lifecycle
from agentdeck.core.recovery import Recovery
from agentdeck.core.requests import (
    Clean,
    ContinueTask,
    CreateTask,
    Merge,
    Respond,
    Review,
    TaskQuery,
)
from agentdeck.core.review import instructions as review_instructions
from agentdeck.core.review import place, workspace_of
from agentdeck.core.scheduler import Scheduler
from agentdeck.core.turn import Turn
from agentdeck.core.views import LOG_KINDS, log_line, log_text
from agentdeck.errors import (
    Forbidden,
    InvalidInput,
    InvalidTransition,
    NotFound,
    ProjectNotAllowed,
)
from agentdeck.model import (
    Event,
    EventKind,
    NewEvent,
    Task,
    TaskStatus,
    new_task_id,
    now,
)
from agentdeck.prompts import PromptLibrary
from agentdeck.redact import redact_all
from agentdeck.store import Store, open_store

CANCEL_WAIT = 30.0  # seconds end/cancel wait for the agent to be stopped
log = logging.getLogger(__name__)

RECENT_LOGS = 50  # log lines in a task's detail (the rest: its log and events)
RECENT_TOOL_CALLS = 50  # tool calls in a task's detail (the rest: its events)
REPORT_LOGS = 5
LOG_LINES_LIMIT = 20_000
PROJECTS_PER_ROOT = 200
EVENTS_PAGE = 1_000


def _budget(
    request: CreateTask, project: BudgetSettings | None, server: BudgetSettings
) -> tuple[float | None, int | None]:
    """The task's limits: asked for, else the project's, else the server's."""
    cost = next((c for c in (request.max_cost_usd, project and project.max_cost_usd) if c), None)
    tokens = next((t for t in (request.max_tokens, project and project.max_tokens) if t), None)
    return cost or server.max_cost_usd, tokens or server.max_tokens


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode())
        if not 0 <= offset < 2**62:
            raise ValueError(offset)
        return offset
    except ValueError:
        raise InvalidInput(
            f"cursor {cursor!r} is not one this server gave out; omit it for the first page",
            {"field": "cursor"},
        ) from None


class Core:
    """One agentdeck: its store, agents, lifecycle, scheduler and approvals."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        agents: dict[str, Agent] | None = None,
    ) -> None:
        self.settings = settings
        self._store = store or open_store(settings.db_path, settings.database_url)
        self._bus = Bus()
        self._agents = build_agents(settings) if agents is None else agents
        self._life = Lifecycle(self._store, self._bus)
        self._decisions = Decisions(self._life, settings.approval_timeout_seconds)
        self._scheduler = Scheduler(
            settings, self._store, Turn(settings, self._life, self._decisions, self._agents)
        )
        if settings.dispatch == "workers":  # turns run on workers (agentdeck.workers)
            from agentdeck.workers.front import RemoteScheduler

            self._scheduler = RemoteScheduler(  # type: ignore[assignment]
                settings,
                self._store,  # type: ignore[arg-type]
                self._life,
                self._bus,
                self._decisions.open,
            )
        self.access = Access(settings, self._store)  # tokens / JWT / loopback (docs/security.md)
        self.prompts = PromptLibrary(settings)
        self._agent_infos: dict[str, AgentInfo] | None = None
        self._started = time.monotonic()
        self.recovery = Recovery()  # what the last start-up found (see `recovered`)
        self.recovered = anyio.Event()

    @classmethod
    def ephemeral(cls, settings: Settings) -> Core:
        """A core whose state lives in memory: for checks that must create nothing."""
        return cls(settings, store=open_store(None))

    # -- life of the core -----------------------------------------------------------

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Recover, then schedule turns until cancelled (use with ``TaskGroup.start``);
        tasks cut by the last crash or stop resume one at a time."""
        # With workers, turns in progress run elsewhere: the reaper, not a restart, cuts them.
        found = (
            recovery.Recovery()
            if self.settings.dispatch == "workers"
            else await recovery.recover(self._life, self.settings)
        )
        self.recovery = found
        self.recovered.set()
        async with anyio.create_task_group() as tg:
            await tg.start(self._scheduler.run)
            tg.start_soon(usage_limits.resume_parked, self._life, self._bus, self._scheduler.wake)
            tg.start_soon(
                recovery.resume_one_at_a_time,
                self._life,
                self._bus,
                self._scheduler.wake,
                found.resuming,
                self.settings.auto_resume_limit,
            )
            task_status.started()

    async def stop(self, reason: str = "server stopping") -> list[str]:
        """Start no more turns; interrupt the running ones (``interrupted``, resumed at the
        next start) and wait up to ``shutdown_grace_seconds`` for them to end. Returns
        the ids of the tasks interrupted."""
        running = self._scheduler.stop()
        for control in running.values():
            control.interrupt(reason)
        with anyio.move_on_after(self.settings.shutdown_grace_seconds):
            for control in running.values():
                await control.done.wait()
        return sorted(running)

    def close(self) -> None:
        self._store.close()

    async def workers(self) -> WorkerList:
        """The registered workers (dispatch = "workers"): state, labels, load, heartbeat."""
        lister = getattr(self._scheduler, "workers", None)
        found = [WorkerLine(**w.to_dict()) for w in await lister()] if lister else []
        return WorkerList(dispatch=self.settings.dispatch, count=len(found), workers=found)

    # -- commands -------------------------------------------------------------------

    async def create(
        self, request: CreateTask, *, asker: Asker | None = None, by: str | None = None
    ) -> Task:
        """Record a new task and queue its first turn.

        In a git repository the task gets its own branch (created now, from
        ``base_branch``) and, before its first turn, its own worktree. ``asker``
        is also asked about the task's decisions (e.g. the creating MCP client);
        ``by`` (the caller) is kept as the task's ``owner``.
        """
        settings = self.settings
        # Stored and served with secrets masked; the instructions reach the agent as typed.
        title = redact_all(request.title)
        agent = canonical_agent(request.agent or settings.default_agent, self._agents)
        project = self._project(request.project_path)
        labels = request.labels or {}
        refusal = await self._scheduler.refusal(agent, str(project), labels, request.worker)
        if refusal is not None:
            raise InvalidInput(
                refusal,
                {"labels": labels, "worker": request.worker, "agent": agent},
            )
        task_id = new_task_id()
        plan = await isolation.plan(
            settings,
            project,
            task_id,
            title,
            request.isolation,
            request.branch,
            request.base_branch,
        )
        options = isolation.project_settings(settings, plan.repo if plan else project)
        accept = options.accept
        cost, tokens = _budget(request, options.budget, settings.budget)
        depends_on = [await self._dependency(ref) for ref in request.depends_on or []]
        stamp = now()
        task = Task(
            id=task_id,
            title=title,
            status=TaskStatus.PENDING,
            agent=agent,
            project_path=str(project),
            cwd=str(plan.cwd if plan else project),
            created_at=stamp,
            updated_at=stamp,
            model=request.model,
            max_turns=request.max_turns,
            permission_mode=request.permission_mode or settings.permission_mode,
            timeout_seconds=float(request.timeout_seconds or settings.timeout_seconds),
            queue=[request.instructions],
            policy=request.policy or settings.approval_policy,
            allow_rules=policy.parse_rules(
                settings.allow_rules if request.allow_rules is None else request.allow_rules
            ),
            deny_rules=policy.parse_rules(
                settings.deny_rules if request.deny_rules is None else request.deny_rules
            ),
            git=plan.branch_group() if plan else None,
            auto_resume=settings.auto_resume
            if request.auto_resume is None
            else request.auto_resume,
            owner=by,
            accept_command=request.accept_command or (accept.command if accept else []),
            depends_on=depends_on,
            on_usage_limit=request.on_usage_limit,
            max_cost_usd=cost,
            max_tokens=tokens,
            budget_step={"cost_usd": cost, "tokens": tokens} if cost or tokens else None,
            start_after=request.start_after,
            labels=labels,
            worker=request.worker,
            accept_retries=next(
                n
                for n in (request.accept_retries, accept.retries if accept else None, 2)
                if n is not None
            ),
        )
        if plan is not None:
            await workspace.git(plan.repo, "branch", plan.branch, plan.base)
        created = [NewEvent(EventKind.STATUS, {"from": None, "to": "pending", "reason": "created"})]
        if plan is None and (warning := isolation.git_missing(project)):
            log.warning("task %s: %s", task_id, warning)
            created.append(NewEvent(EventKind.LOG, {"source": "worktree", "text": warning}))
        if asker is not None:
            self._decisions.open.add_asker(task.id, asker)  # before its first turn can ask
        await self._life.insert(task, created)
        self._scheduler.wake()
        return task

    async def continue_(self, request: ContinueTask) -> tuple[Task, bool]:
        """Queue another turn of the same conversation. Returns (task, queued_behind_turn)."""
        task_id = await self._resolve(request.id)
        async with self._life.editing(task_id) as task:
            if task.status.terminal:
                raise InvalidTransition(
                    f"task {task.id} is {task.status}; it cannot be continued "
                    "(create a new task instead)",
                    {"id": task.id, "status": str(task.status)},
                )
            task.queue.append(request.instructions)
            if task.status in (TaskStatus.WAITING, TaskStatus.INTERRUPTED):
                await self._life.transition(task, TaskStatus.PENDING, "new instructions")
                self._scheduler.wake()
                return task, False
            note = NewEvent(
                EventKind.LOG,
                {
                    "text": "instructions queued: they run after the current turn",
                    "queued": len(task.queue),
                },
                task.turns,
            )
            await self._life.save(task, [note])
            return task, True

    async def steer(self, request: ContinueTask) -> tuple[Task, bool]:
        """A word for the agent while it works. Returns (task, delivered_now).

        A running turn of an agent that declares ``steer`` takes it at once (Claude Code
        reads it at its next step; see docs/agents.md). Otherwise the words are queued to
        run right after the current turn (at once when no turn runs), exactly as
        `continue_` does; ``delivered_now`` says whether the agent has them now.
        """
        task_id = await self._resolve(request.id)
        async with self._life.editing(task_id) as task:
            control = self._scheduler.running.get(task_id)
            if control is not None and control.inbox.put(request.instructions):
                note = NewEvent(
                    EventKind.LOG,
                    {"source": "steer", "text": redact_all(request.instructions)},
                    task.turns,
                )
                await self._life.save(task, [note])
                return task, True
        task, queued = await self.continue_(request)
        return task, not queued

    async def end(self, ref: str) -> Task:
        """Finish a task: ``completed``, or ``cancelled`` if a turn was still running."""
        task_id = await self._resolve(ref)
        async with self._life.editing(task_id) as task:
            if task.status in (TaskStatus.WAITING, TaskStatus.INTERRUPTED, TaskStatus.PARKED):
                return await self._life.transition(task, TaskStatus.COMPLETED, "ended by the user")
            if task.status.terminal:
                raise InvalidTransition(
                    f"task {task.id} is already {task.status}",
                    {"id": task.id, "status": str(task.status)},
                )
        return await self.cancel(task_id, "ended by the user while a turn was running")

    async def cancel(self, ref: str, reason: str = "cancelled by the user") -> Task:
        """Stop the task's running or queued turn; the task becomes ``cancelled``."""
        task_id = await self._resolve(ref)
        async with self._life.editing(task_id) as task:
            if task.status.terminal:
                raise InvalidTransition(
                    f"task {task.id} is already {task.status}",
                    {"id": task.id, "status": str(task.status)},
                )
            control = self._scheduler.running.get(task.id)
            if control is None:
                return await self._life.transition(task, TaskStatus.CANCELLED, reason)
            control.cancel(reason)
        with anyio.move_on_after(CANCEL_WAIT):
            await control.done.wait()
        return await self.get(task_id)

    async def respond(self, request: Respond, by: str = "user") -> tuple[Task, PendingDecision]:
        """Settle a task's open decision (its oldest, or ``request_id``)."""
        task = await self.get(request.id)
        pending = await self._decisions.respond(
            task.id, request.decision, request.message, request.request_id, by
        )
        return task, PendingDecision(**pending.to_dict())

    async def review(self, request: Review) -> ReviewResult:
        """Send review comments to the task's agent as one follow-up of its conversation.

        Each comment is placed on its file as it is now; one whose line has changed
        since the reviewer saw it is marked ``moved`` (with where its text is now).
        """
        task = await self.get(request.id)
        root = workspace_of(task)
        placed = [place(root, c) for c in request.comments]
        text = review_instructions(request, placed)
        task, queued = await self.continue_(ContinueTask(id=task.id, instructions=text))
        return ReviewResult(
            task=await self.task(task.id),
            queued=queued,
            comments=[ReviewedComment(**vars(c)) for c in placed],
        )

    async def diff(self, ref: str) -> str:
        """The task branch's unified diff against its base (uncommitted work included)."""
        return await isolation.diff(await self.get(ref))

    async def merge(self, request: Merge) -> Task:
        """Merge the task's branch into its base branch in the main checkout."""
        task_id = await self._resolve(request.id)
        async with self._life.editing(task_id) as task:
            git = isolation.branch_of(task)
            if task.status.active:
                raise InvalidTransition(
                    f"task {task.id} is {task.status}; wait until its turn ends (or cancel it)",
                    {"id": task.id, "status": str(task.status)},
                )
            if git.merged_at is not None:
                raise InvalidTransition(f"task {task.id} was already merged", {"id": task.id})
            if task.gate is not None and not task.gate.get("passed") and not request.force:
                raise InvalidTransition(
                    f"task {task.id}'s last acceptance check failed "
                    f"({' '.join(task.accept_command)}); fix it with update_task, or merge "
                    "with force: true",
                    {"id": task.id, "gate": task.gate},
                )
            events = await isolation.after_turn(task, git)
            sha = await isolation.merge(task, git, request.strategy)
            git.merged_at = now()
            git.merge_commit = sha
            events.append(
                NewEvent(
                    EventKind.LOG,
                    {
                        "source": "worktree",
                        "merge_commit": sha,
                        "strategy": request.strategy,
                        "text": f"merged {git.branch} into {git.base_branch}: {sha[:10]}",
                    },
                    task.turns,
                )
            )
            if request.delete_worktree:
                await isolation.remove(git, delete_branch=False)
            return await self._life.save(task, events)

    async def discard(self, ref: str) -> Task:
        """Throw the task's work away: remove its worktree and branch; the task ends."""
        task_id = await self._resolve(ref)
        async with self._life.editing(task_id) as task:
            git = isolation.branch_of(task)
            if task.id in self._scheduler.running or task.status.active:
                raise InvalidTransition(
                    f"task {task.id} is {task.status}; cancel it first", {"id": task.id}
                )
            await isolation.remove(git, delete_branch=True)
            note = NewEvent(
                EventKind.LOG,
                {"source": "worktree", "text": f"discarded worktree and branch {git.branch}"},
                task.turns,
            )
            if not task.status.terminal:
                return await self._life.transition(
                    task, TaskStatus.CANCELLED, "work discarded", [note]
                )
            return await self._life.save(task, [note])

    async def clean(self, request: Clean) -> list[Task]:
        """Delete ended tasks and their events (see `agentdeck.core.cleanup.clean`)."""
        return await cleanup.clean(self._life, set(self._scheduler.running), request)

    async def record(self, task_id: str, events: Sequence[NewEvent]) -> None:
        """Add events that change nothing else (e.g. a push notification was sent)."""
        await self._life.append(task_id, events)

    # -- queries --------------------------------------------------------------------

    async def get(self, ref: str) -> Task:
        """A task by its id, or by its agent session id."""
        ref = ref.strip() if isinstance(ref, str) else ""
        if not ref:
            raise InvalidInput("a task id is required", {"field": "id"})
        task = await self._store.get(ref) or await self._store.find_by_session(ref)
        if task is None:
            raise NotFound(f"no task with id or session id {ref!r}", {"id": ref})
        return task

    async def task(self, ref: str) -> TaskDetail:
        """``task://{id}``: the whole task."""
        read = self._store.snapshot
        found = await read(ref, RECENT_TOOL_CALLS, RECENT_LOGS, LOG_KINDS) if ref else None
        if found is None:  # a session id, or nothing
            found = await read((await self.get(ref)).id, RECENT_TOOL_CALLS, RECENT_LOGS, LOG_KINDS)
        if found is None:
            raise NotFound(f"no task with id or session id {ref!r}", {"id": ref})
        return TaskDetail.of(found.task, found.tally, found.tool_events, found.recent)

    async def report(self, ref: str) -> TaskReport:
        """One task's fields, how many log lines, and the last few."""
        task = await self.get(ref)
        recent = await self._store.last_events(task.id, REPORT_LOGS, LOG_KINDS)
        return TaskReport(
            **TaskFields.fields_of(task),
            logs_count=(await self._store.tally(task.id)).log_events,
            recent_logs=[line for e in recent if (line := log_line(e)) is not None],
        )

    async def result(self, ref: str) -> TaskResult:
        return TaskResult.of(await self.get(ref))

    async def tasks(self, query: TaskQuery | None = None) -> TaskList:
        """Tasks newest first, a page at a time (``next_cursor`` for the next page)."""
        query = query or TaskQuery()
        offset = _offset(query.cursor)
        rows = await self._store.list_tasks(
            statuses=query.statuses, limit=query.limit + 1, offset=offset
        )
        page = rows[: query.limit]
        counts = await self._store.count_by_status()
        wanted = set(map(str, query.statuses or [])) or set(counts)
        total = sum(n for s, n in counts.items() if s in wanted)
        more = len(rows) > query.limit
        return TaskList(
            count=total,
            tasks=[TaskSummary.of(t) for t in page],
            truncated=more,
            next_cursor=_cursor(offset + query.limit) if more else None,
        )

    async def events(
        self,
        ref: str,
        after: int = 0,
        limit: int = EVENTS_PAGE,
        kinds: Iterable[str] | None = None,
    ) -> EventPage:
        """The task's events after seq ``after``, in order, at most ``limit``."""
        if after < 0 or not 1 <= limit <= EVENTS_PAGE:
            raise InvalidInput(
                f"after must be 0 or more and limit from 1 to {EVENTS_PAGE}",
                {"after": after, "limit": limit},
            )
        task = await self.get(ref)
        rows = await self._store.events(task.id, after_seq=after, limit=limit + 1, kinds=kinds)
        page = rows[:limit]
        return EventPage(
            task_id=task.id,
            status=str(task.status),
            events=[EventItem(**e.to_dict()) for e in page],
            last_seq=page[-1].seq if page else after,
            more=len(rows) > limit,
        )

    async def feed(
        self, after: int, task_id: str | None = None, limit: int = EVENTS_PAGE
    ) -> list[EventItem]:
        """Events of every task (or of ``task_id``) past the global cursor ``after``, in
        cursor order: what `/api/events` streams. Replaying from any cursor gives each
        event exactly once."""
        rows = await self._store.events_after(after, task_id, limit)
        return [EventItem(**e.to_dict()) for e in rows]

    async def feed_head(self) -> int:
        """The global cursor of the newest event (0 before the first)."""
        return await self._store.last_event_id()

    async def log(self, ref: str, limit: int = LOG_LINES_LIMIT) -> str:
        """The task's log as text, one line per event (the newest ``limit``)."""
        task = await self.get(ref)
        events: list[Event] = await self._store.last_events(task.id, limit, LOG_KINDS)
        total = (await self._store.tally(task.id)).log_events
        header = (
            f"(showing the last {len(events)} of {total} lines)\n" if total > len(events) else ""
        )
        return header + log_text(events)

    def pending(self) -> PendingList:
        """Everything waiting on the user, oldest first."""
        items = [PendingDecision(**p.to_dict()) for p in self._decisions.open.all()]
        return PendingList(count=len(items), pending=items)

    async def agents(self, refresh: bool = False) -> dict[str, AgentInfo]:
        """Each agent's availability and version (probed once, then cached)."""
        if self._agent_infos is None or refresh:
            infos: dict[str, AgentInfo] = {}

            async def probe(name: str, agent: Agent) -> None:
                infos[name] = await agent.probe()

            async with anyio.create_task_group() as tg:
                for name, agent in self._agents.items():
                    tg.start_soon(probe, name, agent)
            self._agent_infos = {name: infos[name] for name in self._agents}
        return self._agent_infos

    async def agent_list(self) -> AgentList:
        """Every configured agent, whether it can run here, and the default."""
        status = await self.status()
        return AgentList(default=self.settings.default_agent, agents=status.agents)

    def projects(self) -> ProjectList:
        """The allowed roots and the directories right under them (hidden ones left out)."""
        found: list[Project] = []
        for root in self.settings.roots:
            try:
                children = sorted(p for p in root.iterdir() if p.is_dir() and p.name[0] != ".")
            except OSError:
                children = []
            for path in [root, *children[:PROJECTS_PER_ROOT]]:
                found.append(Project(path=str(path), name=path.name, git=(path / ".git").exists()))
        return ProjectList(roots=[str(r) for r in self.settings.roots], projects=found)

    async def status(self, refresh: bool = False) -> StatusDocument:
        """``agent://status``: version, agents, task counts, running turns."""
        infos = await self.agents(refresh)
        return StatusDocument(
            status="active",
            name="agentdeck",
            version=__version__,
            agents={
                name: AgentStatus(
                    available=info.available,
                    version=info.version,
                    path=info.path,
                    problem=info.problem,
                    capabilities=info.capabilities,
                )
                for name, info in infos.items()
            },
            tasks=await self.counts(),
            running_turns=len(self._scheduler.running),
            max_running=self.settings.max_running,
            default_permission_mode=self.settings.permission_mode,
        )

    async def statistics(self) -> Statistics:
        """Totals over every task."""
        stats = await self._store.statistics()
        by_status: dict[str, int] = stats["by_status"]
        completed = by_status.get("completed", 0)
        decided = completed + by_status.get("failed", 0)
        return Statistics(
            total_tasks=sum(by_status.values()),
            by_status=by_status,
            by_tool=stats["by_agent"],
            average_duration_seconds=stats["average_duration_seconds"],
            total_logs=stats["total_log_events"],
            success_rate=round(completed / decided, 4) if decided else None,
            total_cost_usd=round(stats["total_cost_usd"], 6),
        )

    async def costs(self) -> CostLedger:
        """The ledger: cost and tokens per project, agent and day."""
        return CostLedger.of(await self._store.ledger())

    async def server_stats(self) -> ServerStats:
        """The running server: uptime, turns, database size."""
        return ServerStats(
            version=__version__,
            uptime_seconds=round(time.monotonic() - self._started, 1),
            running_turns=len(self._scheduler.running),
            max_running=self.settings.max_running,
            database_bytes=self._store.size_bytes(),
            running=sorted(self._scheduler.running),
            with_agent_session=await self._store.count_with_session(),
        )

    async def counts(self) -> TaskCounts:
        """How many tasks, by status (cheap: no agent is probed)."""
        counts = await self._store.count_by_status()
        return TaskCounts(
            active=sum(n for s, n in counts.items() if TaskStatus(s).active),
            total=sum(counts.values()),
            by_status=counts,
        )

    def running_task_ids(self) -> list[str]:
        return sorted(self._scheduler.running)

    @asynccontextmanager
    async def watch(
        self, task_id: str | None = None, after: int | None = None
    ) -> AsyncIterator[Listener]:
        """Changes as they happen (``async for change in changes``), bounded per watcher.

        With ``task_id``, only that task's; with ``after`` too, a change is queued at
        once when the task already has events past that seq, so nothing is missed
        between a read and the watch. A watcher that falls behind loses the oldest
        changes (``overflowed``) and should re-read.
        """
        async with self._bus.listen(task_id) as listener:
            if task_id is not None and after is not None:
                newer = await self._store.events(task_id, after_seq=after, limit=1)
                if newer:
                    listener.put(Change(task_id, "updated", None, newer[0].seq))
            yield listener

    # -- access ---------------------------------------------------------------------

    @asynccontextmanager
    async def action(
        self,
        caller: Caller,
        action: str,
        scope: Scope,
        arguments: Any = None,
        task_id: str | None = None,
    ) -> AsyncIterator[AuditEntry | None]:
        """Authorize ``caller`` for ``action`` (which needs ``scope``); audit a change.

        Every write or admin action, allowed or refused, goes to the audit log; its
        entry (None for reads) takes the outcome and task id before the block ends.
        """
        audit = self.access.audit
        try:
            authorize(caller, action, scope)
        except Forbidden:
            await audit.refused(caller, action, arguments, task_id)
            raise
        if scope == "read":
            yield None
            return
        async with audit.record(caller, action, arguments, task_id) as entry:
            yield entry

    async def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        return await self.access.audit.entries(limit)

    async def create_token(
        self, name: str, scope: str, expires: str | None = None
    ) -> tuple[str, TokenInfo]:
        """A new token (shown once) and its listing; only its hash is stored."""
        return await create_token(self._store, name, scope, expires)

    async def tokens(self) -> list[TokenInfo]:
        return await list_tokens(self._store)

    async def revoke_token(self, name: str) -> bool:
        return await revoke_stored_token(self._store, name)

    # -- internals ------------------------------------------------------------------

    async def _resolve(self, ref: str) -> str:
        return (await self.get(ref)).id

    async def _dependency(self, ref: str) -> str:
        """The id of a task another may depend on (refused: unknown, failed, cancelled)."""
        try:
            found: Task | None = await self.get(ref)
        except NotFound:
            found = None
        dependencies.refuse_unusable([found], [ref])
        assert found is not None
        return found.id

    def _project(self, project_path: str | None) -> Path:
        settings = self.settings
        if project_path is None:
            path = settings.project
        else:
            if not project_path.strip():
                raise InvalidInput(
                    "project_path must be a non-empty string", {"field": "project_path"}
                )
            path = Path(project_path).expanduser()
            if not path.is_absolute():
                path = settings.project / path
        path = path.resolve()
        roots = settings.roots
        if not any(path == root or path.is_relative_to(root) for root in roots):
            raise ProjectNotAllowed(
                f"project path {path} is outside the allowed roots "
                f"({', '.join(map(str, roots))}); set AGENTDECK_ROOTS to allow it",
                {"project_path": str(path), "allowed_roots": [str(r) for r in roots]},
            )
        if not path.is_dir():
            raise InvalidInput(
                f"project path {path} is not an existing directory", {"field": "project_path"}
            )
        return path
