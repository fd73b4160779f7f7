"""The typed documents every face renders: defined once, built from the store's rows.

MCP serialises them as its resources and tool results, REST as its JSON bodies, the
CLI prints them. Field names keep the old contract's (``description`` = title,
``tool`` = agent) beside ours. ``doc.dump()`` is the JSON-ready dict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentdeck.core.views import duration_seconds, human_duration, log_line
from agentdeck.model import COMMAND_TOOLS, Event, GitBranch, Tally, Task, TaskStatus

MAX_OUTPUT_CHARS = 2_000  # of a tool's output in a task's detail (whole in its events)


class Document(BaseModel):
    """Base of the documents: fixed fields, rendered as plain JSON."""

    model_config = ConfigDict(extra="forbid")

    def dump(self) -> dict[str, Any]:
        """The document as a JSON-ready dict."""
        return self.model_dump(mode="json")


class Diff(Document):
    files: int
    insertions: int
    deletions: int


class GitSummary(Document):
    """The task's branch, worktree and diff size."""

    branch: str
    base_branch: str
    worktree_path: str | None
    repo_path: str
    diff: Diff
    merged: bool
    merged_at: str | None
    merge_commit: str | None

    @classmethod
    def of(cls, git: GitBranch | None) -> GitSummary | None:
        if git is None:
            return None
        return cls(
            branch=git.branch,
            base_branch=git.base_branch,
            worktree_path=git.worktree_path,
            repo_path=git.repo_path,
            diff=Diff(
                files=git.diff_files, insertions=git.diff_insertions, deletions=git.diff_deletions
            ),
            merged=git.merged_at is not None,
            merged_at=git.merged_at.isoformat() if git.merged_at else None,
            merge_commit=git.merge_commit,
        )


class TaskSummary(Document):
    """The short form of a task, used in lists."""

    id: str
    description: str
    title: str
    status: str
    tool: str
    agent: str
    created_at: str
    updated_at: str
    cost_usd: float | None  # None: its agent reports no cost
    branch: str | None
    diff: str | None
    project_path: str
    needs_you: bool  # a decision waits on the user

    @classmethod
    def of(cls, task: Task) -> TaskSummary:
        git = task.git
        return cls(
            id=task.id,
            description=task.title,
            title=task.title,
            status=str(task.status),
            tool=task.agent,
            agent=task.agent,
            project_path=task.project_path,
            needs_you=task.status is TaskStatus.INPUT_REQUIRED,
            created_at=task.created_at.isoformat(),
            updated_at=task.updated_at.isoformat(),
            cost_usd=task.cost_usd if task.cost_known else None,
            branch=git.branch if git else None,
            diff=f"+{git.diff_insertions} -{git.diff_deletions} in {git.diff_files} files"
            if git
            else None,
        )


class ReviewedComment(Document):
    file: str
    line: int
    comment: str
    snippet: str
    moved: bool
    now_at: int | None


class TaskList(Document):
    """A page of tasks, newest first; ``next_cursor`` fetches the next page."""

    count: int
    tasks: list[TaskSummary]
    truncated: bool
    next_cursor: str | None = None


class Tokens(Document):
    input: int
    output: int
    cache_read: int = 0
    cache_creation: int = 0


class TaskFields(Document):
    """Every field of a task (the old contract's names beside ours)."""

    id: str
    title: str
    description: str
    status: str
    agent: str
    tool: str
    project_path: str
    cwd: str
    created_at: str
    updated_at: str
    started_at: str | None
    ended_at: str | None
    model: str | None
    max_turns: int | None
    permission_mode: str
    timeout_seconds: float
    session_id: str | None
    result_text: str | None
    error: str | None
    cost_usd: float | None  # None: its agent reports no cost
    cost_known: bool
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    num_turns: int
    turns: int
    duration_ms: int
    policy: str
    allow_rules: list[str]
    deny_rules: list[str]
    always_allow: list[str]
    status_reason: str | None
    auto_resume: bool
    interrupted_by: str | None
    crash_cuts: int
    owner: str | None
    accept_command: list[str]
    accept_retries: int
    gate: dict[str, Any] | None
    depends_on: list[str]
    start_after: str
    blocked_by: list[str]
    max_cost_usd: float | None
    max_tokens: int | None
    budget_step: dict[str, Any] | None
    on_usage_limit: str
    resume_at: str | None
    labels: dict[str, str]
    worker: str | None  # the worker asked for, if any
    on_worker: str | None  # the worker its last turn was sent to
    isolation: str
    repo_path: str | None
    subdir: str
    branch: str | None
    base_branch: str | None
    worktree_path: str | None
    copied_files: list[str]
    diff_files: int
    diff_insertions: int
    diff_deletions: int
    merged_at: str | None
    merge_commit: str | None
    duration_seconds: float
    duration_human: str

    @staticmethod
    def fields_of(task: Task) -> dict[str, Any]:
        out = task.to_dict()
        out.pop("queue", None)
        seconds = duration_seconds(task)
        out.update(
            cost_usd=task.cost_usd if task.cost_known else None,
            description=task.title,
            tool=task.agent,
            duration_seconds=round(seconds, 3),
            duration_human=human_duration(seconds),
        )
        return out


class LogEntry(Document):
    seq: int
    timestamp: str
    turn: int
    kind: str
    text: str


class ToolInvocation(Document):
    id: str | None
    tool: str | None
    input: Any
    turn: int
    timestamp: str
    is_error: bool
    output: Any


class CommandRun(Document):
    command: Any
    timestamp: str
    is_error: bool
    output: Any


class TaskDetail(TaskFields):
    """The task, as ``task://{id}`` shows it: its fields, counters, and its newest activity.

    Bounded whatever the history: the newest log lines and tool calls (outputs cut
    to `MAX_OUTPUT_CHARS`), with counts of all; the rest is paged through ``events_uri``.
    """

    queued_instructions: int
    git: GitSummary | None
    logs: list[LogEntry]
    logs_count: int
    tool_invocations: list[ToolInvocation]
    tool_invocations_count: int
    files_affected: list[str]
    commands_executed: list[CommandRun]
    commands_count: int
    tokens: Tokens
    events_uri: str

    @classmethod
    def of(
        cls, task: Task, tally: Tally, tool_events: Sequence[Event], recent: Sequence[Event]
    ) -> TaskDetail:
        """``tool_events``: its newest tool calls and their results; ``recent``: its newest
        log events."""
        # Entries as plain dicts: the document's one validation builds them, in pydantic's
        # core, faster than a model per entry.
        results = {e.data.get("id"): e.data for e in tool_events if e.kind == "tool_result"}
        invocations: list[dict[str, Any]] = []
        commands: list[dict[str, Any]] = []
        for call in (e for e in tool_events if e.kind == "tool_call"):
            data = call.data
            name = data.get("name")
            tool_input = data.get("input") or {}
            result = results.get(data.get("id"))
            failed = bool(result and result.get("is_error"))
            output = _brief(result.get("output")) if result else None
            stamp = call.ts.isoformat()
            invocations.append(
                {
                    "id": data.get("id"),
                    "tool": name,
                    "input": tool_input,
                    "turn": call.turn,
                    "timestamp": stamp,
                    "is_error": failed,
                    "output": output,
                }
            )
            if name in COMMAND_TOOLS and isinstance(tool_input, dict):
                commands.append(
                    {
                        "command": tool_input.get("command"),
                        "timestamp": stamp,
                        "is_error": failed,
                        "output": output,
                    }
                )
        logs = [
            {
                "seq": e.seq,
                "timestamp": e.ts.isoformat(),
                "turn": e.turn,
                "kind": e.kind,
                "text": line,
            }
            for e in recent
            if (line := log_line(e)) is not None
        ]
        return cls.model_validate(
            {
                **cls.fields_of(task),
                "queued_instructions": len(task.queue),
                "git": GitSummary.of(task.git),
                "logs": logs,
                "logs_count": tally.log_events,
                "tool_invocations": invocations,
                "tool_invocations_count": tally.tool_calls,
                "files_affected": tally.files,
                "commands_executed": commands,
                "commands_count": tally.commands,
                "tokens": {
                    "input": task.input_tokens,
                    "output": task.output_tokens,
                    "cache_read": task.cache_read_tokens,
                    "cache_creation": task.cache_creation_tokens,
                },
                "events_uri": f"task://{task.id}/events?after=0",
            }
        )


def _brief(output: Any) -> Any:
    """A tool's output, text cut to `MAX_OUTPUT_CHARS` (marked with the full length)."""
    if isinstance(output, str) and len(output) > MAX_OUTPUT_CHARS:
        return f"{output[:MAX_OUTPUT_CHARS]}… [{len(output)} characters; whole in the events]"
    return output


class TaskReport(TaskFields):
    """``report`` on one task: its fields, how many log lines, the last few."""

    logs_count: int
    recent_logs: list[str]


class TaskResult(Document):
    """How the task ended (or stands): ``task://{id}/result``."""

    id: str
    status: str
    result: str | None
    error: str | None
    session_id: str | None
    turns: int
    num_turns: int
    cost_usd: float
    tokens: Tokens
    duration_ms: int
    ended_at: str | None

    @classmethod
    def of(cls, task: Task) -> TaskResult:
        return cls(
            id=task.id,
            status=str(task.status),
            result=task.result_text,
            error=task.error,
            session_id=task.session_id,
            turns=task.turns,
            num_turns=task.num_turns,
            cost_usd=task.cost_usd,
            tokens=Tokens(input=task.input_tokens, output=task.output_tokens),
            duration_ms=task.duration_ms,
            ended_at=task.ended_at.isoformat() if task.ended_at else None,
        )


class EventItem(Document):
    id: int  # the global cursor (`/api/events` ids), shared by every task
    task_id: str
    seq: int
    ts: str
    turn: int
    kind: str
    data: dict[str, Any]


class EventPage(Document):
    """A task's events after a cursor (its ``seq``), in order."""

    task_id: str
    status: str
    events: list[EventItem]
    last_seq: int
    more: bool


class PendingDecision(Document):
    """One decision the user owes an agent."""

    request_id: str
    task_id: str
    kind: str  # "tool" (a tool use) or "budget" (more budget)
    turn: int
    tool: str
    input: dict[str, Any]
    summary: str
    created_at: str
    decisions: list[str]


class PendingList(Document):
    count: int
    pending: list[PendingDecision]


class AgentStatus(Document):
    available: bool
    version: str | None
    path: str | None
    problem: str | None
    capabilities: dict[str, Any]


class TaskCounts(Document):
    active: int
    total: int
    by_status: dict[str, int]


class StatusDocument(Document):
    """``agent://status``: the server, its agents, task counts."""

    status: str
    name: str
    version: str
    agents: dict[str, AgentStatus]
    tasks: TaskCounts
    running_turns: int
    max_running: int
    default_permission_mode: str


class Statistics(Document):
    """Totals over every task (``report`` without an id, ``update_stats``)."""

    total_tasks: int
    by_status: dict[str, int]
    by_tool: dict[str, int]
    average_duration_seconds: float | None
    total_logs: int
    success_rate: float | None
    total_cost_usd: float


class ServerStats(Document):
    """``update_stats``: the running server."""

    version: str
    uptime_seconds: float
    running_turns: int
    max_running: int
    database_bytes: int
    running: list[str]
    with_agent_session: int


class DiffText(Document):
    """The task branch's unified diff against its base."""

    task_id: str
    diff: str


class LogText(Document):
    """The task's log: one timestamped line per event, the newest lines."""

    task_id: str
    log: str


class ContinueResult(Document):
    """``queued``: the instructions run after the turn in progress (else one starts now)."""

    task: TaskDetail
    queued: bool


class SteerResult(Document):
    """``delivered``: ``now`` (the running turn has the words, or a turn starts with
    them) or ``queued`` (they run after this turn)."""

    task: TaskDetail
    delivered: str
    message: str

    @classmethod
    def of(cls, task: TaskDetail, now: bool) -> SteerResult:
        if not now:
            message = f"Queued for task {task.id}: the words run right after the current turn."
        elif task.status == TaskStatus.PENDING:
            message = f"A turn of task {task.id} starts with your words now."
        else:
            message = f"Task {task.id}'s running turn has your words: read at its next step."
        return cls(task=task, delivered="now" if now else "queued", message=message)


class ReviewResult(ContinueResult):
    comments: list[ReviewedComment]


class RespondResult(Document):
    id: str
    request_id: str
    tool: str
    decision: str


class AgentList(Document):
    default: str
    agents: dict[str, AgentStatus]


class Project(Document):
    path: str
    name: str
    git: bool


class ProjectList(Document):
    """The allowed roots, and the directories right under them."""

    roots: list[str]
    projects: list[Project]


class PromptArgumentInfo(Document):
    name: str
    description: str | None
    required: bool


class PromptInfo(Document):
    name: str
    title: str | None = None
    description: str
    arguments: list[PromptArgumentInfo]


class PromptList(Document):
    prompts: list[PromptInfo]


class PromptText(Document):
    name: str
    text: str


class CostLine(Document):
    """What some tasks cost; ``cost_usd`` None when none of them reports a cost."""

    key: str
    tasks: int
    cost_usd: float | None
    tasks_without_cost: int  # their agents report tokens only
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int


class CostLedger(Document):
    """Cost and tokens in all, per project, agent and day (the day a task was created,
    UTC); each task's own are in its document and the task list."""

    total: CostLine
    by_project: list[CostLine]
    by_agent: list[CostLine]
    by_day: list[CostLine]

    @classmethod
    def of(cls, rows: Sequence[dict[str, Any]]) -> CostLedger:
        """From the store's rows, one per (project, agent, day)."""

        def line(key: str, group: Sequence[dict[str, Any]]) -> CostLine:
            known = sum(int(r["cost_known_tasks"] or 0) for r in group)
            tasks = sum(int(r["tasks"]) for r in group)
            cost = sum(float(r["cost_usd"] or 0) for r in group)
            return CostLine(
                key=key,
                tasks=tasks,
                cost_usd=round(cost, 6) if known else None,
                tasks_without_cost=tasks - known,
                **{
                    k: sum(int(r[k] or 0) for r in group)
                    for k in (
                        "input_tokens",
                        "output_tokens",
                        "cache_read_tokens",
                        "cache_creation_tokens",
                    )
                },
            )

        def by(column: str) -> list[CostLine]:
            groups: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                groups.setdefault(str(row[column]), []).append(row)
            return [line(key, group) for key, group in sorted(groups.items())]

        return cls(
            total=line("all", rows),
            by_project=by("project_path"),
            by_agent=by("agent"),
            by_day=by("day"),
        )


class WorkerLine(Document):
    """One registered worker (several machines): ``alive`` by its last heartbeat."""

    name: str
    state: str
    labels: dict[str, str]
    agents: list[str]
    roots: list[str]
    max_running: int
    load: int  # turns sent to it and not finished
    started_at: str | None
    heartbeat_at: str | None
    heartbeat_age_seconds: float


class WorkerList(Document):
    """``dispatch``: ``here`` (this server runs its tasks; no workers) or ``workers``."""

    dispatch: str
    count: int
    workers: list[WorkerLine]
