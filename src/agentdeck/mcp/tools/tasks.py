"""create_task, update_task, cancel_task, end_task."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import InputRequiredResult
from pydantic import Field

from agentdeck.core import (
    ContinueTask,
    Core,
    CreateTask,
    Request,
    SteerResult,
    TaskRef,
    duration_seconds,
)
from agentdeck.core import human_duration as human
from agentdeck.mcp import legacy, mrtr
from agentdeck.mcp.callers import caller_of
from agentdeck.mcp.elicit import elicitation_asker
from agentdeck.mcp.tooling import Reply, Tools, changes
from agentdeck.mcp.waiting import DEFAULT_MAX_WAIT, MAX_WAIT_LIMIT, wait_for_turn
from agentdeck.model import Task, TaskStatus

STATUS_HELP = (
    "Statuses: pending (queued for a free slot), in_progress (the agent works), "
    "waiting (turn done; send more with update_task), input_required (needs your "
    "decision), interrupted (agentdeck restarted mid-turn; update_task resumes), "
    "completed, failed, cancelled (final)."
)


class Waiting(Request):
    wait: Annotated[
        bool, Field(strict=True, description="Return only when the turn ends (with progress).")
    ] = False
    max_wait_seconds: Annotated[
        float, Field(gt=0, le=MAX_WAIT_LIMIT, description="Longest wait; the task keeps running.")
    ] = DEFAULT_MAX_WAIT


class CreateTaskArgs(Waiting, CreateTask):
    pass


class UpdateTaskArgs(Waiting, ContinueTask):
    pass


class TaskRefArgs(Request):
    id: TaskRef


def _waited_message(task: Task, timed_out: bool) -> str:
    if timed_out:
        return (
            f"Task {task.id} is still {task.status} (stopped waiting); it keeps running — "
            f"read task://{task.id} or call update_task/end_task later."
        )
    if task.status == TaskStatus.WAITING:
        return f"Task {task.id} finished its turn: {task.result_text or ''}".strip()
    return f"Task {task.id} is {task.status}: {task.error or task.result_text or ''}".strip()


async def _waited(
    core: Core,
    task: Task,
    ctx: Context,
    max_wait: float,
    turn: int,
    resumed: mrtr.Resumed | None,
) -> tuple[Task, str, dict[str, Any]] | InputRequiredResult:
    """After ``wait: true``: the task once its turn ended, a message, the turn's result;
    or, for a caller asked by multi-round-trip requests, the decisions it owes."""
    asking = mrtr.can_ask(ctx)
    outcome = await wait_for_turn(
        core,
        task.id,
        ctx,
        max_wait,
        ask_from=turn if asking else None,
        answered=resumed.answered if resumed else (),
    )
    if outcome.asked:
        return mrtr.ask(outcome.asked, task.id, turn)
    task = outcome.task
    return (
        task,
        _waited_message(task, outcome.timed_out),
        {
            "wait_timed_out": outcome.timed_out,
            "result_text": task.result_text,
            "error": task.error,
            "cost_usd": task.cost_usd,
            "turns": task.turns,
        },
    )


def register(tools: Tools) -> None:
    core = tools.core

    @tools.tool(
        "create_task",
        args=CreateTaskArgs,
        scope="write",
        aliases=legacy.CREATE,
        description=(
            "Start a coding task: an AI coding agent (Claude Code by default) works on the "
            "instructions in the project directory. Returns at once with task_id; follow "
            "progress by reading or subscribing to task://{task_id}, continue the same "
            "conversation with update_task, finish with end_task. With wait=true the call "
            "returns when the turn ends and sends progress notifications meanwhile; if "
            "max_wait_seconds passes first it returns the task id and the task keeps "
            "running. " + STATUS_HELP
        ),
        annotations=changes("Create task", open_world=True),
    )
    async def create_task(args: CreateTaskArgs, ctx: Context) -> Reply | InputRequiredResult:
        resumed = await mrtr.resume(core, ctx) if args.wait else None
        if resumed is not None:  # a retry with the answers: the task exists already
            task = resumed.task
        else:
            task = await core.create(
                args, asker=elicitation_asker(ctx), by=caller_of(ctx.request_context).who
            )
        message = (
            f"Task {task.id} created; the {task.agent} agent starts as soon as a slot is free. "
            f"Watch task://{task.id}."
        )
        extra: dict[str, Any] = {}
        if args.wait:
            waited = await _waited(core, task, ctx, args.max_wait_seconds, 1, resumed)
            if isinstance(waited, InputRequiredResult):
                return waited
            task, message, extra = waited
        git = task.git
        return Reply(
            message,
            {
                "task_id": task.id,
                "description": task.title,
                "status": str(task.status),
                "tool": task.agent,
                "agent": task.agent,
                "session_id": task.session_id,
                "project_path": task.project_path,
                "branch": git.branch if git else None,
                "base_branch": git.base_branch if git else None,
                "created_at": task.created_at.isoformat(),
                "uri": f"task://{task.id}",
                **extra,
            },
        )

    @tools.tool(
        "update_task",
        args=UpdateTaskArgs,
        scope="write",
        aliases=legacy.TASK_REF,
        description=(
            "Send more instructions to a task: the agent continues the same conversation "
            "(it remembers everything so far). If a turn is running, the instructions are "
            "queued and run right after it. Works on waiting and interrupted tasks; "
            "completed, failed and cancelled tasks cannot be continued. wait=true blocks "
            "until the turn ends, with progress notifications."
        ),
        annotations=changes("Continue task", open_world=True),
    )
    async def update_task(args: UpdateTaskArgs, ctx: Context) -> Reply | InputRequiredResult:
        resumed = await mrtr.resume(core, ctx) if args.wait else None
        if resumed is not None:  # a retry with the answers: the instructions went already
            task, queued, turn = resumed.task, False, resumed.turn
        else:
            task, queued = await core.continue_(args)
            turn = task.turns + 1  # the turn these instructions run in (after queued ones)
        message = (
            f"Instructions queued for task {task.id}; they run when the current turn ends."
            if queued
            else f"Instructions sent to task {task.id}; the same agent conversation continues."
        )
        extra: dict[str, Any] = {}
        if args.wait:
            waited = await _waited(core, task, ctx, args.max_wait_seconds, turn, resumed)
            if isinstance(waited, InputRequiredResult):
                return waited
            task, message, extra = waited
        return Reply(
            message,
            {
                "id": task.id,
                "task_id": task.id,
                "session_id": task.session_id,
                "status": str(task.status),
                "instructions_sent": True,
                "queued_behind_running_turn": queued,
                "turn": turn,
                "uri": f"task://{task.id}",
                **extra,
            },
        )

    @tools.tool(
        "steer_task",
        args=ContinueTask,
        scope="write",
        aliases=legacy.TASK_REF,
        description=(
            "A word for the agent while it works. An agent that takes messages mid-turn "
            "(Claude Code) reads it at its next step; for others the words run right after "
            "the current turn (at once if none runs). The reply says which happened "
            "(delivered: now or queued)."
        ),
        annotations=changes("Steer task", open_world=True),
    )
    async def steer_task(args: ContinueTask, ctx: Context) -> Reply:
        task, now = await core.steer(args)
        result = SteerResult.of(await core.task(task.id), now)
        data = {"id": task.id, "status": str(task.status), "delivered": result.delivered}
        return Reply(result.message, data)

    @tools.tool(
        "cancel_task",
        args=TaskRefArgs,
        scope="write",
        aliases=legacy.TASK_REF,
        description=(
            "Stop a task's running or queued turn: the agent and every process it started "
            "are stopped, queued instructions are dropped, and the task (with its log and "
            "result so far) is kept as cancelled. Unlike end_task, it never completes."
        ),
        annotations=changes("Cancel task", destructive=True),
    )
    async def cancel_task(args: TaskRefArgs, ctx: Context) -> Reply:
        task = await core.cancel(args.id)
        return Reply(
            f"Task {task.id} cancelled; its agent and every process it started were stopped.",
            {
                "id": task.id,
                "task_id": task.id,
                "status": str(task.status),
                "session_id": task.session_id,
                "uri": f"task://{task.id}",
            },
        )

    @tools.tool(
        "end_task",
        args=TaskRefArgs,
        scope="write",
        aliases=legacy.TASK_REF,
        description=(
            "End a task: a waiting task becomes completed. If a turn is still running, the "
            "agent and every process it started are stopped and the task becomes cancelled. "
            "Returns the duration and a summary."
        ),
        annotations=changes("End task", destructive=True),
    )
    async def end_task(args: TaskRefArgs, ctx: Context) -> Reply:
        task = await core.end(args.id)
        report = await core.report(task.id)
        seconds = duration_seconds(task)
        verb = "completed" if task.status == TaskStatus.COMPLETED else str(task.status)
        return Reply(
            f"Task {task.id} {verb} after {human(seconds)}.",
            {
                "id": task.id,
                "description": task.title,
                "status": str(task.status),
                "duration": human(seconds),
                "duration_seconds": round(seconds, 3),
                "session_closed": True,
                "summary": {
                    "logs_count": report.logs_count,
                    "final_state": str(task.status),
                    "ended_at": task.ended_at.isoformat() if task.ended_at else None,
                    "result": task.result_text,
                    "cost_usd": task.cost_usd,
                },
            },
        )
