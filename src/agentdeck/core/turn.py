"""One turn of one task: take the next instructions, prepare the worktree, run, settle.

Each step that changes the task does so on a fresh copy under the lifecycle's lock
(`Lifecycle.editing`); the slow steps (worktree setup, the agent itself) run outside
it, so an ``update_task``, ``cancel_task`` or decision arriving meanwhile is kept.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import anyio

from agentdeck import cgroup
from agentdeck.agents.base import Agent, TurnRequest
from agentdeck.config import Settings
from agentdeck.core import budget, gates, isolation, usage_limits
from agentdeck.core.approvals import Decisions
from agentdeck.core.lifecycle import Lifecycle
from agentdeck.core.runner import TurnControl, TurnOutcome, TurnRunner
from agentdeck.errors import AgentdeckError, NotFound
from agentdeck.model import EventKind, GitBranch, NewEvent, Task, TaskStatus
from agentdeck.proctree import MARKER_VAR, kill_tree

log = logging.getLogger(__name__)

# After a turn's work is committed: more of its settling (a worker pushes the branch),
# returning the events to record with it.
Publish = Callable[[Task], Awaitable[list[NewEvent]]]


def agent_mode(task: Task, agent: Agent) -> str:
    """The agent's own permission mode: bypass only when agentdeck's policy is bypass.

    Agents that can ask agentdeck (capability ``approvals``) run in their default
    mode and ask; the others get the closest sandbox: edits in the workspace only.
    """
    if task.policy == "bypass":
        return task.permission_mode
    if task.permission_mode in ("acceptEdits", "plan"):
        return task.permission_mode
    return "default" if agent.capabilities.approvals else "acceptEdits"


class Turn:
    """Runs turns for the scheduler (or a worker).

    A worker passes ``remote`` (its ``git_remote``: the task branch is brought up to it
    before a turn) and ``publish`` (run after the turn's commit, under the task's lock).
    """

    def __init__(
        self,
        settings: Settings,
        lifecycle: Lifecycle,
        decisions: Decisions,
        agents: dict[str, Agent],
        *,
        remote: str | None = None,
        publish: Publish | None = None,
    ) -> None:
        self.settings = settings
        self.lifecycle = lifecycle
        self.decisions = decisions
        self.agents = agents
        self.remote = remote
        self.publish = publish
        self.runner = TurnRunner(lifecycle.store, lifecycle.bus)

    async def run(self, task_id: str, control: TurnControl) -> None:
        """The task's next turn, if it is still pending with instructions queued."""
        try:
            await self._run(task_id, control)
        except NotFound:
            return  # deleted while the turn ran
        except Exception:
            log.exception("turn of task %s failed inside agentdeck", task_id)
            with contextlib.suppress(NotFound):
                async with self.lifecycle.editing(task_id) as task:
                    if not task.status.terminal:
                        task.error = "agentdeck failed while running this turn (see server log)"
                        await self.lifecycle.transition(task, TaskStatus.FAILED, task.error)

    async def _run(self, task_id: str, control: TurnControl) -> None:
        async with self.lifecycle.editing(task_id) as task:
            if task.status != TaskStatus.PENDING or not task.queue:
                return
            instructions = task.queue.pop(0)
            task.turns += 1
            task.error = None
            task.resume_at = None  # a parked task's resume, under way
            await self.lifecycle.transition(
                task, TaskStatus.IN_PROGRESS, f"turn {task.turns} started"
            )
        if task.git is not None and not await self._prepare(task, control, instructions):
            return
        agent = self.agents[task.agent]
        request = TurnRequest(
            task_id=task.id,
            turn=task.turns,
            instructions=instructions,
            cwd=Path(task.cwd),
            model=task.model,
            max_turns=task.max_turns,
            permission_mode=agent_mode(task, agent),
            resume_session_id=task.session_id,
            env={MARKER_VAR: task.id},
            launcher=await anyio.to_thread.run_sync(cgroup.launcher, task.id),
            approve=None
            if task.policy == "bypass"
            else self.decisions.approver(task.id, task.turns),
            inbox=control.inbox if agent.capabilities.steer else None,
        )
        try:
            outcome = await self._runs(agent, task, request, control, instructions)
        finally:
            with anyio.CancelScope(shield=True):
                await _leave_no_process(task.id)
        await self._settle(task_id, control, outcome, instructions)

    async def _runs(
        self,
        agent: Agent,
        task: Task,
        request: TurnRequest,
        control: TurnControl,
        instructions: str,
    ) -> TurnOutcome:
        """Run the agent, and again in the same conversation while the turn must go on:
        after more budget was allowed, or to fix what a failing acceptance check found."""
        spent = budget.crossed(task)  # over already (agents that report at the end)
        if spent is not None:
            if not await self.decisions.ask_budget(task.id, task.turns, spent):
                async with self.lifecycle.editing(task.id) as fresh:
                    fresh.queue.insert(0, instructions)  # never delivered: kept
                    await self.lifecycle.save(fresh)
                return TurnOutcome(False, f"paused at its budget: it {spent['text']}", budget=spent)
            task = await self._next_run(task.id, more_budget=True, new_turn=False)
        outcome = await self.runner.run(agent, task, request, task.timeout_seconds, control)
        retries = 0
        while not control.cancelled:
            if outcome.budget is not None:
                if not await self.decisions.ask_budget(task.id, task.turns, outcome.budget):
                    break
                follow_up = budget.CONTINUE_PROMPT
                task = await self._next_run(task.id, more_budget=True)
            elif outcome.success and task.accept_command:
                passed = await self._gate(task, retries, control)
                if passed is None or passed or retries >= task.accept_retries:
                    break
                retries += 1  # the same conversation, told what the check said
                assert task.gate is not None
                follow_up = gates.retry_prompt(task.gate)
                task = await self._next_run(task.id)
            else:
                break
            request = replace(
                request,
                turn=task.turns,
                instructions=follow_up,
                resume_session_id=task.session_id,
                approve=None
                if task.policy == "bypass"
                else self.decisions.approver(task.id, task.turns),
            )
            outcome = await self.runner.run(agent, task, request, task.timeout_seconds, control)
        return outcome

    async def _next_run(
        self, task_id: str, *, more_budget: bool = False, new_turn: bool = True
    ) -> Task:
        """The task, fresh, for another run of its agent (limits raised, if allowed)."""
        async with self.lifecycle.editing(task_id) as task:
            if more_budget:
                budget.raise_limits(task)
            if new_turn:
                task.turns += 1
            await self.lifecycle.save(task)
        return task

    async def _gate(self, task: Task, attempt: int, control: TurnControl) -> bool | None:
        """Run the task's acceptance check and record it; whether it passed (None: the
        turn was stopped meanwhile)."""
        result = None
        with control.scope():
            result = await gates.run(task, attempt, self._gate_timeout(task))
        if result is None or control.cancelled:
            return None
        async with self.lifecycle.editing(task.id) as fresh:
            fresh.gate = result
            await self.lifecycle.save(fresh, [gates.event(result)])
        task.gate = result
        return bool(result["passed"])

    def _gate_timeout(self, task: Task) -> float:
        repo = Path(task.git.repo_path if task.git else task.project_path)
        try:
            accept = isolation.project_settings(self.settings, repo).accept
        except AgentdeckError:
            accept = None
        return accept.timeout_seconds if accept else gates.TIMEOUT

    async def _prepare(self, task: Task, control: TurnControl, instructions: str) -> bool:
        """Make sure the worktree exists (copy files, run setup); False if the turn ends."""
        assert task.git is not None
        git = copy.deepcopy(task.git)
        error: str | None = None
        events: list[NewEvent] = []
        with control.scope():
            try:
                events = await isolation.prepare(self.settings, task, git, self.remote)
            except AgentdeckError as exc:
                error = f"workspace setup failed: {exc.message}"
        if control.cancelled:
            await kill_tree(None, marker=task.id)
        async with self.lifecycle.editing(task.id) as fresh:
            if fresh.git is not None:
                fresh.git.worktree_path = git.worktree_path
                fresh.git.copied_files = git.copied_files
                fresh.cwd = _cwd(git, fresh.cwd)
            if control.reason is not None:
                if control.interrupted:  # never delivered: the resumed turn's
                    fresh.queue.insert(0, instructions)
                await self._stopped(fresh, control, events)
                return False
            if error is not None:
                fresh.error = error
                finished = NewEvent(
                    EventKind.TURN_FINISHED, {"success": False, "error": error}, fresh.turns
                )
                await self.lifecycle.transition(
                    fresh, TaskStatus.FAILED, error, [*events, finished]
                )
                return False
            await self.lifecycle.save(fresh, events)
        task.git, task.cwd = git, _cwd(git, task.cwd)
        return True

    async def _settle(
        self, task_id: str, control: TurnControl, outcome: TurnOutcome, instructions: str
    ) -> None:
        """After the agent: commit its work, then the status the turn ended in."""
        async with self.lifecycle.editing(task_id) as task:
            events = await self._commit_work(task, instructions)
            if self.publish is not None:
                try:
                    events += await self.publish(task)
                except Exception:  # the turn's work is committed here; it still ends
                    log.exception("publishing the turn of task %s failed", task.id)
            if not control.interrupted:
                task.crash_cuts = 0  # the turn ended here, not in a crash
            if control.reason is not None:
                await self._stopped(task, control, events)
            elif outcome.budget is not None:
                why = f"paused at its budget: it {outcome.budget['text']}; more was not allowed"
                await self.lifecycle.transition(task, TaskStatus.WAITING, why, events)
            elif not outcome.success and (limit := self._usage_limit(task, outcome)):
                reason, note = usage_limits.park(
                    task, limit, self.settings.usage_limit_jitter_seconds, instructions
                )
                await self.lifecycle.transition(task, TaskStatus.PARKED, reason, [*events, note])
            elif not outcome.success:
                task.error = outcome.error or "failed"
                await self.lifecycle.transition(task, TaskStatus.FAILED, task.error, events)
            elif task.queue:
                await self.lifecycle.transition(
                    task, TaskStatus.PENDING, "queued instructions", events
                )
            else:
                await self.lifecycle.transition(task, TaskStatus.WAITING, _done(task), events)

    def _usage_limit(self, task: Task, outcome: TurnOutcome) -> usage_limits.Limit | None:
        if task.on_usage_limit != "park" or outcome.cancelled or outcome.timed_out:
            return None
        return usage_limits.detect(outcome.finished, self.settings.usage_limit_wait_seconds)

    async def _stopped(self, task: Task, control: TurnControl, events: list[NewEvent]) -> None:
        """A turn stopped by the user (``cancelled``) or by a server stop (``interrupted``)."""
        assert control.reason is not None
        if control.interrupted:
            task.interrupted_by = "stop"
            reason = f"{control.reason}: the turn was interrupted, and resumes at the next start"
            await self.lifecycle.transition(task, TaskStatus.INTERRUPTED, reason, events)
        else:
            await self.lifecycle.transition(task, TaskStatus.CANCELLED, control.reason, events)

    @staticmethod
    async def _commit_work(task: Task, instructions: str) -> list[NewEvent]:
        """Commit the turn's work on the task branch; failures are logged, never fatal."""
        if task.git is None:
            return []
        try:
            return await isolation.after_turn(task, task.git, instructions)
        except AgentdeckError as exc:
            return [
                NewEvent(
                    EventKind.LOG,
                    {"source": "worktree", "text": f"could not commit: {exc.message}"},
                    task.turns,
                )
            ]


def _cwd(git: GitBranch, before: str) -> str:
    """Where the agent runs: the project's directory in the task's worktree (``before``
    while it has none)."""
    if git.worktree_path is None:
        return before
    worktree = Path(git.worktree_path)
    return str(worktree / git.subdir if git.subdir else worktree)


def _done(task: Task) -> str:
    """Why a turn that ended well leaves its task waiting (what its gate said, if any)."""
    gate = task.gate
    if not task.accept_command or gate is None or gate.get("turn") != task.turns:
        return "turn finished"
    if gate.get("passed"):
        return "turn finished; the acceptance check passed"
    tries = f"after {gate.get('attempt')} re-prompts" if gate.get("attempt") else "(no re-prompt)"
    return f"turn finished, but the acceptance check still fails {tries}: it needs you"


async def _leave_no_process(task_id: str) -> None:
    """Stop what the turn left in the task's cgroup (adapters stop their own), and drop it."""
    left = await anyio.to_thread.run_sync(cgroup.members, task_id)
    if left:
        await kill_tree(None, marker=task_id, since=0.0)  # tracked: its members, no scan
    cgroup.remove(task_id)
