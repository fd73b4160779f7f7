"""TaskEngine: the task lifecycle, the turn queue, the running-turn limit, recovery.

Transports call these methods and nothing else changes a task. Every status change
goes through `_transition`, which checks the allowed transitions, writes a
``status`` event with the task row, and publishes the change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import TaskGroup

from agentdeck import isolation as isolation_
from agentdeck import workspace
from agentdeck.agents import Agent, canonical_agent
from agentdeck.agents.base import AgentInfo, Approver, TurnRequest
from agentdeck.approvals import DECISIONS, Answer, Approvals, Pending
from agentdeck.bus import Bus, Change
from agentdeck.config import PermissionMode, Settings
from agentdeck.errors import (
    AgentdeckError,
    InvalidInput,
    InvalidTransition,
    NotFound,
    ProjectNotAllowed,
)
from agentdeck.model import EventKind, NewEvent, Task, TaskStatus, can_transition, new_task_id, now
from agentdeck.policy import POLICIES, decide, parse_rules
from agentdeck.policy import summary as policy_summary
from agentdeck.proctree import MARKER_VAR, kill_tree
from agentdeck.runner import TurnControl, TurnRunner
from agentdeck.store import Store

log = logging.getLogger(__name__)

TITLE_MAX = 255
INSTRUCTIONS_MAX = 10_000
MAX_TURNS_LIMIT = 1_000
TIMEOUT_LIMIT = 7 * 24 * 3600.0
PERMISSION_MODES: tuple[PermissionMode, ...] = (
    "bypassPermissions",
    "acceptEdits",
    "default",
    "plan",
)
CANCEL_WAIT = 30.0  # seconds end/cancel wait for the agent to be stopped
KEEP_RECENT = timedelta(hours=24)  # clean_state(keep_recent=true) keeps tasks ended since
# The task columns the engine owns; a running turn owns the summary ones.
LIFECYCLE_COLUMNS = (
    "status",
    "queue",
    "turns",
    "started_at",
    "ended_at",
    "error",
    "updated_at",
    "worktree_path",
    "copied_files",
    "diff_files",
    "diff_insertions",
    "diff_deletions",
    "merged_at",
    "merge_commit",
    "always_allow",
)


def _text(name: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string", {"field": name})
    if not value.strip():
        raise InvalidInput(f"{name} must not be empty", {"field": name})
    if len(value) > limit:
        raise InvalidInput(
            f"{name} is {len(value)} characters long; the limit is {limit}",
            {"field": name, "max_length": limit, "length": len(value)},
        )
    return value


def _agent_mode(task: Task, agent: Agent) -> str:
    """The agent's own permission mode: bypass only when agentdeck's policy is bypass.

    Agents that can ask agentdeck (``approvals``) run in their default mode and ask;
    the others get the closest sandbox: edits in the workspace, nothing more.
    """
    if task.policy == "bypass":
        return task.permission_mode
    if task.permission_mode in ("acceptEdits", "plan"):
        return task.permission_mode
    return "default" if getattr(agent, "approvals", False) else "acceptEdits"


class TaskEngine:
    """Owns every task's lifecycle."""

    def __init__(
        self, settings: Settings, store: Store, bus: Bus, agents: dict[str, Agent]
    ) -> None:
        self.settings = settings
        self.store = store
        self.bus = bus
        self.agents = agents
        self.runner = TurnRunner(store, bus)
        self._lock = anyio.Lock()
        self._running: dict[str, TurnControl] = {}
        self._running_repo: dict[str, str] = {}  # task id -> repository, for per-repo limits
        self._wakeup = anyio.Event()
        self._tg: TaskGroup | None = None
        self._agent_infos: dict[str, AgentInfo] | None = None
        self.approvals = Approvals()

    # -- life of the engine -----------------------------------------------------------

    async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
        """Recover, then schedule turns until cancelled (use with ``TaskGroup.start``)."""
        await self.recover()
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            try:
                while True:
                    await self._schedule()
                    await self._wakeup.wait()
                    self._wakeup = anyio.Event()
            finally:
                # Turns cut by shutdown stay in_progress; the next start marks them
                # interrupted, exactly as after a crash.
                self._tg = None

    async def recover(self) -> list[Task]:
        """Tasks whose turn was cut by a crash become ``interrupted`` (resumable)."""
        cut = await self.store.list_tasks(
            statuses=[TaskStatus.IN_PROGRESS, TaskStatus.INPUT_REQUIRED]
        )
        for task in cut:
            # An agent that outlived a crashed server has nobody reading it: stop it.
            await kill_tree(None, marker=task.id)
            finished = NewEvent(
                EventKind.TURN_FINISHED,
                {
                    "success": False,
                    "error": "agentdeck stopped while this turn ran",
                    "interrupted": True,
                },
                task.turns,
            )
            await self._transition(
                task,
                TaskStatus.INTERRUPTED,
                "agentdeck stopped while the turn ran; update_task resumes the conversation",
                [finished],
            )
        return cut

    @property
    def running_count(self) -> int:
        return len(self._running)

    def running_task_ids(self) -> list[str]:
        return list(self._running)

    # -- queries --------------------------------------------------------------------

    async def agent_infos(self, refresh: bool = False) -> dict[str, AgentInfo]:
        """Each agent's availability and version (probed once, then cached)."""
        if self._agent_infos is None or refresh:
            self._agent_infos = {name: await a.probe() for name, a in self.agents.items()}
        return self._agent_infos

    async def get(self, ref: str) -> Task:
        """A task by its id, or by its agent session id."""
        if not isinstance(ref, str) or not ref.strip():
            raise InvalidInput("a task id is required", {"field": "id"})
        ref = ref.strip()
        task = await self.store.get(ref) or await self.store.find_by_session(ref)
        if task is None:
            raise NotFound(f"no task with id or session id {ref!r}", {"id": ref})
        return task

    # -- commands -------------------------------------------------------------------

    async def create(
        self,
        title: str,
        instructions: str,
        *,
        agent: str | None = None,
        project_path: str | None = None,
        model: str | None = None,
        max_turns: int | None = None,
        permission_mode: str | None = None,
        timeout_seconds: float | None = None,
        isolation: str | None = None,
        branch: str | None = None,
        base_branch: str | None = None,
        policy: str | None = None,
        allow_rules: list[str] | None = None,
        deny_rules: list[str] | None = None,
    ) -> Task:
        """Record a new task and queue its first turn.

        In a git repository the task gets its own branch (created now, from
        ``base_branch``) and, before its first turn, its own worktree.
        """
        title = _text("title", title, TITLE_MAX).strip()
        instructions = _text("instructions", instructions, INSTRUCTIONS_MAX)
        agent_name = canonical_agent(agent or self.settings.default_agent, self.agents)
        project = self._project(project_path)
        if model is not None:
            model = _text("model", model, 200).strip()
        if max_turns is not None and (
            isinstance(max_turns, bool)
            or not isinstance(max_turns, int)
            or not 1 <= max_turns <= MAX_TURNS_LIMIT
        ):
            raise InvalidInput(
                f"max_turns must be an integer from 1 to {MAX_TURNS_LIMIT}",
                {"field": "max_turns"},
            )
        mode = permission_mode or self.settings.permission_mode
        if mode not in PERMISSION_MODES:
            raise InvalidInput(
                f"permission_mode {mode!r} is not one of {', '.join(PERMISSION_MODES)}",
                {"field": "permission_mode", "accepted": list(PERMISSION_MODES)},
            )
        timeout = self.settings.timeout_seconds if timeout_seconds is None else timeout_seconds
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not (0 < timeout <= TIMEOUT_LIMIT)
        ):
            raise InvalidInput(
                f"timeout_seconds must be a number above 0 and at most {TIMEOUT_LIMIT:g}",
                {"field": "timeout_seconds"},
            )
        chosen_policy = policy or self.settings.approval_policy
        if chosen_policy not in POLICIES:
            raise InvalidInput(
                f"policy {chosen_policy!r} is not one of {', '.join(POLICIES)}",
                {"field": "policy", "accepted": list(POLICIES)},
            )
        allow = parse_rules(self.settings.allow_rules if allow_rules is None else allow_rules)
        deny = parse_rules(self.settings.deny_rules if deny_rules is None else deny_rules)
        task_id = new_task_id()
        git_plan = await isolation_.plan(
            self.settings, project, task_id, title, isolation, branch, base_branch
        )
        stamp = now()
        task = Task(
            id=task_id,
            title=title,
            status=TaskStatus.PENDING,
            agent=agent_name,
            project_path=str(project),
            cwd=str(project),
            created_at=stamp,
            updated_at=stamp,
            model=model,
            max_turns=max_turns,
            permission_mode=mode,
            timeout_seconds=float(timeout),
            queue=[instructions],
            policy=chosen_policy,
            allow_rules=allow,
            deny_rules=deny,
        )
        if git_plan is not None:
            await workspace.git(git_plan.repo, "branch", git_plan.branch, git_plan.base)
            task.isolation = "worktree"
            task.repo_path = str(git_plan.repo)
            task.subdir = git_plan.subdir
            task.branch = git_plan.branch
            task.base_branch = git_plan.base
            task.worktree_path = str(git_plan.worktree)
            task.cwd = str(git_plan.cwd)
        created = NewEvent(EventKind.STATUS, {"from": None, "to": "pending", "reason": "created"})
        seq = await self.store.insert_task(task, [created])
        self.bus.publish(Change(task.id, "created", str(task.status), seq))
        self._wakeup.set()
        return task

    async def continue_(self, ref: str, instructions: str) -> tuple[Task, bool]:
        """Queue another turn of the same conversation. Returns (task, queued_behind_turn)."""
        instructions = _text("instructions", instructions, INSTRUCTIONS_MAX)
        async with self._lock:
            task = await self.get(ref)
            if task.status.terminal:
                raise InvalidTransition(
                    f"task {task.id} is {task.status}; it cannot be continued "
                    "(create a new task instead)",
                    {"id": task.id, "status": str(task.status)},
                )
            task.queue.append(instructions)
            if task.status in (TaskStatus.WAITING, TaskStatus.INTERRUPTED):
                await self._transition(task, TaskStatus.PENDING, "new instructions")
                self._wakeup.set()
                return task, False
            note = NewEvent(
                EventKind.LOG,
                {
                    "text": "instructions queued: they run after the current turn",
                    "queued": len(task.queue),
                },
                task.turns,
            )
            await self._save(task, [note])
            return task, True

    async def end(self, ref: str) -> Task:
        """Finish a task: ``completed``, or ``cancelled`` if a turn was still running."""
        async with self._lock:
            task = await self.get(ref)
            if task.status in (TaskStatus.WAITING, TaskStatus.INTERRUPTED):
                task.ended_at = now()
                return await self._transition(task, TaskStatus.COMPLETED, "ended by the user")
            if task.status.terminal:
                raise InvalidTransition(
                    f"task {task.id} is already {task.status}",
                    {"id": task.id, "status": str(task.status)},
                )
        return await self.cancel(ref, "ended by the user while a turn was running")

    async def cancel(self, ref: str, reason: str = "cancelled by the user") -> Task:
        """Stop the task's running or queued turn; the task becomes ``cancelled``."""
        async with self._lock:
            task = await self.get(ref)
            if task.status.terminal:
                raise InvalidTransition(
                    f"task {task.id} is already {task.status}",
                    {"id": task.id, "status": str(task.status)},
                )
            control = self._running.get(task.id)
            if control is None:
                task.queue.clear()
                task.ended_at = now()
                return await self._transition(task, TaskStatus.CANCELLED, reason)
            control.cancel(reason)
        with anyio.move_on_after(CANCEL_WAIT):
            await control.done.wait()
        return await self.get(task.id)

    async def diff(self, ref: str) -> tuple[Task, str]:
        """The task branch's unified diff against its base (uncommitted work included)."""
        task = await self.get(ref)
        return task, await isolation_.diff(task)

    async def merge(self, ref: str, strategy: str = "merge", delete_worktree: bool = False) -> Task:
        """Merge the task's branch into its base branch in the main checkout."""
        strategy = isolation_.check_strategy(strategy)
        async with self._lock:
            task = await self.get(ref)
            if task.isolation != "worktree":
                raise InvalidTransition(
                    f"task {task.id} ran in place (no branch); there is nothing to merge",
                    {"id": task.id},
                )
            if task.status.active:
                raise InvalidTransition(
                    f"task {task.id} is {task.status}; wait until its turn ends (or cancel it)",
                    {"id": task.id, "status": str(task.status)},
                )
            if task.merged_at is not None:
                raise InvalidTransition(f"task {task.id} was already merged", {"id": task.id})
            events = await self._commit_work(task)
            sha = await isolation_.merge(task, strategy)
            task.merged_at = now()
            task.merge_commit = sha
            events.append(
                NewEvent(
                    EventKind.LOG,
                    {
                        "source": "worktree",
                        "merge_commit": sha,
                        "strategy": strategy,
                        "text": f"merged {task.branch} into {task.base_branch}: {sha[:10]}",
                    },
                    task.turns,
                )
            )
            if delete_worktree:
                await isolation_.remove(task, delete_branch=False)
                task.worktree_path = None
            return await self._save(task, events)

    async def discard(self, ref: str) -> Task:
        """Throw the task's work away: remove its worktree and branch; the task ends."""
        async with self._lock:
            task = await self.get(ref)
            if task.isolation != "worktree":
                raise InvalidTransition(
                    f"task {task.id} ran in place; there is no worktree or branch to discard",
                    {"id": task.id},
                )
            if task.id in self._running or task.status.active:
                raise InvalidTransition(
                    f"task {task.id} is {task.status}; cancel it first", {"id": task.id}
                )
            await isolation_.remove(task, delete_branch=True)
            task.worktree_path = None
            note = NewEvent(
                EventKind.LOG,
                {"source": "worktree", "text": f"discarded worktree and branch {task.branch}"},
                task.turns,
            )
            if not task.status.terminal:
                task.ended_at = now()
                return await self._transition(task, TaskStatus.CANCELLED, "work discarded", [note])
            return await self._save(task, [note])

    async def clean(self, *, keep_recent: bool, dry_run: bool, force: bool = False) -> list[Task]:
        """Delete ended tasks (completed, failed, cancelled) and their events.

        ``keep_recent`` keeps those that ended within `KEEP_RECENT`. Tasks that are
        running, queued, waiting or interrupted are never deleted, nor tasks whose
        branch holds unmerged work unless ``force`` (which also deletes the branch).
        """
        async with self._lock:
            ended = await self.store.list_tasks(
                statuses=[TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED]
            )
            cutoff = now() - KEEP_RECENT
            doomed = [
                t
                for t in ended
                if t.id not in self._running
                and not (keep_recent and (t.ended_at or t.updated_at) >= cutoff)
                and (force or not await isolation_.has_unmerged_work(t))
            ]
            if not dry_run:
                for task in doomed:
                    if task.isolation == "worktree":
                        await isolation_.remove(task, delete_branch=True)
                    if await self.store.delete(task.id):
                        self.bus.publish(Change(task.id, "deleted", None))
            return doomed

    # -- approvals ------------------------------------------------------------------

    def _approver(self, task_id: str, turn: int) -> Approver:
        async def approve(
            tool: str, tool_input: dict[str, Any], prompt: str | None
        ) -> tuple[bool, str]:
            return await self._approve(task_id, turn, tool, tool_input, prompt)

        return approve

    async def _approve(
        self, task_id: str, turn: int, tool: str, tool_input: dict[str, Any], prompt: str | None
    ) -> tuple[bool, str]:
        """Decide a tool use by the task's policy, asking the user when it says so."""
        task = await self.get(task_id)
        verdict, why = decide(
            task.policy,
            tool,
            tool_input,
            Path(task.cwd),
            allow=task.allow_rules,
            deny=task.deny_rules,
            always=task.always_allow,
        )
        if verdict != "ask":
            if verdict == "deny":
                note = NewEvent(
                    EventKind.LOG,
                    {"source": "approvals", "tool": tool, "text": f"{tool} refused: {why}"},
                    turn,
                )
                await self.store.append(task_id, [note])
            return verdict == "allow", why
        pending = self.approvals.open(
            task_id, turn, tool, tool_input, prompt or policy_summary(tool, tool_input)
        )
        try:
            async with self._lock:
                task = await self.get(task_id)
                request = NewEvent(EventKind.PERMISSION_REQUEST, pending.to_dict(), turn)
                if task.status == TaskStatus.IN_PROGRESS:
                    await self._transition(
                        task, TaskStatus.INPUT_REQUIRED, f"{tool} needs your decision", [request]
                    )
                else:
                    await self._save(task, [request])
            async with anyio.create_task_group() as askers:
                for asker in self.approvals.askers(task_id):
                    askers.start_soon(self.approvals.ask_one, asker, pending)
                with anyio.move_on_after(self.settings.approval_timeout_seconds):
                    await pending.settled.wait()
                askers.cancel_scope.cancel()
            if pending.answer is None:
                limit = f"{self.settings.approval_timeout_seconds:g}"
                Approvals.settle(
                    pending,
                    Answer(
                        "deny", f"No decision within {limit} s, so this was not allowed.", "timeout"
                    ),
                )
        finally:
            self.approvals.close(pending)
        answer = pending.answer
        assert answer is not None
        await self._record_decision(pending, answer)
        if answer.decision == "deny":
            return False, answer.message or "The user denied this."
        return True, answer.message

    async def _record_decision(self, pending: Pending, answer: Answer) -> None:
        async with self._lock:
            task = await self.get(pending.task_id)
            if answer.decision == "allow_always" and pending.tool not in task.always_allow:
                task.always_allow.append(pending.tool)
            decided = NewEvent(
                EventKind.LOG,
                {
                    "source": "approvals",
                    "request_id": pending.id,
                    "tool": pending.tool,
                    "decision": answer.decision,
                    "message": answer.message,
                    "by": answer.by,
                    "at": answer.at.isoformat(),
                    "text": f"{pending.tool}: {answer.decision} by {answer.by}",
                },
                pending.turn,
            )
            still_open = self.approvals.for_task(task.id)
            if task.status == TaskStatus.INPUT_REQUIRED and not still_open:
                await self._transition(task, TaskStatus.IN_PROGRESS, "decision received", [decided])
            else:
                await self._save(task, [decided])

    async def respond(
        self,
        ref: str,
        decision: str,
        message: str = "",
        request_id: str | None = None,
        by: str = "user",
    ) -> tuple[Task, Pending]:
        """Settle a task's open decision (the oldest, or ``request_id``)."""
        if decision not in DECISIONS:
            raise InvalidInput(
                f"decision must be one of {', '.join(DECISIONS)}",
                {"field": "decision", "accepted": list(DECISIONS)},
            )
        task = await self.get(ref)
        pending = self.approvals.find(task.id, request_id)
        Approvals.settle(pending, Answer(decision, message, by))
        return task, pending

    # -- internals ------------------------------------------------------------------

    def _project(self, project_path: str | None) -> Path:
        if project_path is None:
            path = self.settings.project
        else:
            if not isinstance(project_path, str) or not project_path.strip():
                raise InvalidInput(
                    "project_path must be a non-empty string", {"field": "project_path"}
                )
            path = Path(project_path).expanduser()
            if not path.is_absolute():
                path = self.settings.project / path
        path = path.resolve()
        roots = self.settings.roots
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

    async def _save(self, task: Task, events: Sequence[NewEvent]) -> Task:
        task.updated_at = now()
        seq = await self.store.save(task, events, LIFECYCLE_COLUMNS)
        self.bus.publish(Change(task.id, "updated", str(task.status), seq))
        return task

    async def _transition(
        self,
        task: Task,
        to: TaskStatus,
        reason: str,
        events: Sequence[NewEvent] = (),
    ) -> Task:
        if not can_transition(task.status, to):
            raise InvalidTransition(
                f"task {task.id} cannot go from {task.status} to {to}",
                {"id": task.id, "status": str(task.status), "to": str(to)},
            )
        change = NewEvent(
            EventKind.STATUS,
            {"from": str(task.status), "to": str(to), "reason": reason},
            task.turns,
        )
        task.status = to
        return await self._save(task, [*events, change])

    async def _schedule(self) -> None:
        """Start pending turns while there are free slots, oldest task first."""
        free = self.settings.max_running - len(self._running)
        if free <= 0 or self._tg is None:
            return
        pending = await self.store.list_tasks(statuses=[TaskStatus.PENDING], oldest_first=True)
        per_repo: dict[str, int] = {}
        for repo in self._running_repo.values():
            per_repo[repo] = per_repo.get(repo, 0) + 1
        for task in pending:
            if free <= 0:
                break
            if task.id in self._running:
                continue
            if task.repo_path is not None:
                limit = self._repo_limit(task.repo_path)
                if limit is not None and per_repo.get(task.repo_path, 0) >= limit:
                    continue
                per_repo[task.repo_path] = per_repo.get(task.repo_path, 0) + 1
                self._running_repo[task.id] = task.repo_path
            control = TurnControl()
            self._running[task.id] = control
            self._tg.start_soon(self._run_turn, task.id, control)
            free -= 1

    async def _prepare_worktree(self, task: Task, control: TurnControl) -> bool:
        """Make sure the task's worktree exists (copy files, run setup); False if it failed."""
        try:
            events = await isolation_.prepare(self.settings, task)
        except (isolation_.SetupFailed, AgentdeckError) as exc:
            message = str(exc) if isinstance(exc, isolation_.SetupFailed) else exc.message
            async with self._lock:
                task.error = f"workspace setup failed: {message}"
                task.queue.clear()
                task.ended_at = now()
                finished = NewEvent(
                    EventKind.TURN_FINISHED, {"success": False, "error": task.error}, task.turns
                )
                await self._transition(task, TaskStatus.FAILED, task.error, [finished])
            return False
        async with self._lock:
            await self._save(task, events)
            if control.reason is not None:
                task.queue.clear()
                task.ended_at = now()
                await self._transition(task, TaskStatus.CANCELLED, control.reason)
                return False
        return True

    async def _commit_work(self, task: Task) -> list[NewEvent]:
        """Commit the turn's work on the task branch; failures are logged, never fatal."""
        if task.isolation != "worktree":
            return []
        try:
            return await isolation_.after_turn(task)
        except AgentdeckError as exc:
            return [
                NewEvent(
                    EventKind.LOG,
                    {"source": "worktree", "text": f"could not commit: {exc.message}"},
                    task.turns,
                )
            ]

    def _repo_limit(self, repo: str) -> int | None:
        try:
            return isolation_.project_settings(self.settings, Path(repo)).max_running
        except AgentdeckError:
            return None

    async def _run_turn(self, task_id: str, control: TurnControl) -> None:
        try:
            await self._turn(task_id, control)
        except Exception:
            log.exception("turn of task %s failed inside agentdeck", task_id)
            async with self._lock:
                task = await self.store.get(task_id)
                if task is not None and not task.status.terminal:
                    task.error = "agentdeck failed while running this turn (see server log)"
                    await self._transition(task, TaskStatus.FAILED, task.error)
        finally:
            self._running.pop(task_id, None)
            self._running_repo.pop(task_id, None)
            control.done.set()
            self._wakeup.set()

    async def _turn(self, task_id: str, control: TurnControl) -> None:
        async with self._lock:
            task = await self.store.get(task_id)
            if task is None or task.status != TaskStatus.PENDING or not task.queue:
                return
            instructions = task.queue.pop(0)
            task.turns += 1
            task.started_at = task.started_at or now()
            task.error = None
            await self._transition(task, TaskStatus.IN_PROGRESS, f"turn {task.turns} started")
        if task.isolation == "worktree" and not await self._prepare_worktree(task, control):
            return
        agent = self.agents[task.agent]
        request = TurnRequest(
            task_id=task.id,
            turn=task.turns,
            instructions=instructions,
            cwd=Path(task.cwd),
            model=task.model,
            max_turns=task.max_turns,
            permission_mode=_agent_mode(task, agent),
            resume_session_id=task.session_id,
            env={MARKER_VAR: task.id},
            approve=None if task.policy == "bypass" else self._approver(task.id, task.turns),
        )
        outcome = await self.runner.run(agent, task, request, task.timeout_seconds, control)
        async with self._lock:
            fresh = await self.store.get(task_id)
            if fresh is None:  # deleted while running
                return
            task = fresh
            await self._save(task, await self._commit_work(task))
            if control.reason is not None:
                task.queue.clear()
                task.ended_at = now()
                await self._transition(task, TaskStatus.CANCELLED, control.reason)
            elif not outcome.success:
                task.error = outcome.error
                task.queue.clear()
                task.ended_at = now()
                await self._transition(task, TaskStatus.FAILED, outcome.error or "failed")
            elif task.queue:
                await self._transition(task, TaskStatus.PENDING, "queued instructions")
            else:
                await self._transition(task, TaskStatus.WAITING, "turn finished")
