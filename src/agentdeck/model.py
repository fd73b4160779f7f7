"""Tasks, their statuses and allowed transitions, and normalized events."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar


class TaskStatus(StrEnum):
    """Where a task is in its life (see docs/architecture.md)."""

    PENDING = "pending"  # queued: waits for a free slot to run its next turn
    IN_PROGRESS = "in_progress"  # an agent turn runs
    WAITING = "waiting"  # turn done, conversation kept, ready for update_task
    INPUT_REQUIRED = "input_required"  # a turn waits on the user's decision
    INTERRUPTED = "interrupted"  # the server died mid-turn; update_task resumes it
    PARKED = "parked"  # at its agent's usage limit: resumes by itself at resume_at
    COMPLETED = "completed"  # ended by the user
    FAILED = "failed"  # the agent or its model failed
    CANCELLED = "cancelled"  # stopped by the user

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def active(self) -> bool:
        """A turn is queued or running."""
        return self in (TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.INPUT_REQUIRED)


TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})

_S = TaskStatus
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    _S.PENDING: frozenset({_S.IN_PROGRESS, _S.FAILED, _S.CANCELLED}),
    _S.IN_PROGRESS: frozenset(
        {
            _S.WAITING,
            _S.PENDING,
            _S.INPUT_REQUIRED,
            _S.INTERRUPTED,
            _S.PARKED,
            _S.FAILED,
            _S.CANCELLED,
        }
    ),
    _S.INPUT_REQUIRED: frozenset({_S.IN_PROGRESS, _S.INTERRUPTED, _S.FAILED, _S.CANCELLED}),
    _S.WAITING: frozenset({_S.PENDING, _S.COMPLETED, _S.CANCELLED}),
    _S.INTERRUPTED: frozenset({_S.PENDING, _S.COMPLETED, _S.CANCELLED}),
    _S.PARKED: frozenset({_S.PENDING, _S.COMPLETED, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}


def can_transition(src: TaskStatus, dst: TaskStatus) -> bool:
    return dst in TRANSITIONS[src]


class EventKind(StrEnum):
    """Kinds of normalized events (DESIGN.md, "Normalized events")."""

    STATUS = "status"
    TURN_STARTED = "turn_started"
    SESSION = "session"
    MESSAGE = "message"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    USAGE = "usage"
    PERMISSION_REQUEST = "permission_request"
    TURN_FINISHED = "turn_finished"
    STDERR = "stderr"
    LOG = "log"
    GATE = "gate"  # an acceptance check ran: passed, exit_code, output tail


# Tool names of Claude Code, Codex and Gemini CLI that change files / run commands.
FILE_TOOLS = frozenset(
    {"Write", "Edit", "MultiEdit", "NotebookEdit", "write_file", "replace", "apply_patch"}
)
COMMAND_TOOLS = frozenset({"Bash", "shell", "run_shell_command"})
MAX_TALLIED_FILES = 1000  # files_affected keeps the first this many distinct paths


# The kinds that make the task's log: all but usage reports.
LOG_KINDS = frozenset(str(k) for k in EventKind if k is not EventKind.USAGE)


def now() -> datetime:
    return datetime.now(UTC)


def new_task_id() -> str:
    """A short, URL-safe, unguessable-enough id such as ``t-3f9a1c2b7d10``."""
    return f"t-{secrets.token_hex(6)}"


@dataclass
class GitBranch:
    """A task's own branch, the worktree it runs in, its diff and merge (always together)."""

    repo_path: str
    branch: str
    base_branch: str
    worktree_path: str | None  # None once the worktree was removed (it is made again on use)
    subdir: str = ""  # the project directory relative to repo_path
    copied_files: list[str] = field(default_factory=list)  # copied in, never committed
    diff_files: int = 0
    diff_insertions: int = 0
    diff_deletions: int = 0
    merged_at: datetime | None = None
    merge_commit: str | None = None

    FIELDS: ClassVar[tuple[str, ...]] = (
        "repo_path",
        "branch",
        "base_branch",
        "worktree_path",
        "subdir",
        "copied_files",
        "diff_files",
        "diff_insertions",
        "diff_deletions",
        "merged_at",
        "merge_commit",
    )

    @staticmethod
    def flat(git: GitBranch | None) -> dict[str, Any]:
        """The group's fields as the flat, JSON-ready columns of the old documents."""
        if git is None:
            return {
                name: ([] if name == "copied_files" else 0 if name.startswith("diff_") else None)
                for name in GitBranch.FIELDS
            } | {"subdir": ""}
        out = {name: getattr(git, name) for name in GitBranch.FIELDS}
        out["copied_files"] = list(git.copied_files)
        out["merged_at"] = git.merged_at.isoformat() if git.merged_at else None
        return out


@dataclass
class Task:
    """One task: its request, where it runs, and what its agent reported."""

    id: str
    title: str
    status: TaskStatus
    agent: str
    project_path: str
    cwd: str
    created_at: datetime
    updated_at: datetime
    model: str | None = None
    max_turns: int | None = None
    permission_mode: str = "bypassPermissions"
    timeout_seconds: float = 3600.0
    session_id: str | None = None
    result_text: str | None = None
    error: str | None = None
    cost_usd: float = 0.0  # meaningful only when cost_known
    cost_known: bool = False  # its agent reports real costs (else tokens only)
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    num_turns: int = 0  # agent-reported model turns, summed over our turns
    turns: int = 0  # how many times the agent was run for this task
    duration_ms: int = 0  # agent-reported, summed over turns
    queue: list[str] = field(default_factory=list)  # instructions for the turns to come
    started_at: datetime | None = None
    ended_at: datetime | None = None
    git: GitBranch | None = None  # its own branch and worktree; None: it runs in place
    # approvals (see policy.py)
    policy: str = "bypass"
    allow_rules: list[str] = field(default_factory=list)
    deny_rules: list[str] = field(default_factory=list)
    always_allow: list[str] = field(default_factory=list)  # tools allowed for the whole task
    status_reason: str | None = None  # why the task entered its status
    # recovery (see core/recovery.py)
    auto_resume: bool = True  # a turn cut by a crash or stop resumes at the next start
    interrupted_by: str | None = None  # "crash" or "stop" while interrupted and not resumed
    crash_cuts: int = 0  # turns cut by crashes in a row (the crash-loop guard counts them)
    owner: str | None = None  # who created it (a token's name, "loopback", …)
    # acceptance gate (see core/gates.py)
    accept_command: list[str] = field(default_factory=list)  # argv; empty: no gate
    accept_retries: int = 2  # re-prompts after a failing gate
    gate: dict[str, Any] | None = None  # the last gate's result
    # dependencies (see core/dependencies.py)
    depends_on: list[str] = field(default_factory=list)  # task ids
    start_after: str = "done"  # "done" or "merged"
    blocked_by: list[str] = field(default_factory=list)  # the dependencies not met yet
    # budget (see core/budget.py)
    max_cost_usd: float | None = None
    max_tokens: int | None = None
    budget_step: dict[str, Any] | None = None  # the first limits: what "allow" adds
    # usage limits (see core/usage_limits.py)
    on_usage_limit: str = "park"  # or "fail"
    resume_at: datetime | None = None  # while parked
    # routing to workers (dispatch = "workers", see agentdeck/workers)
    labels: dict[str, str] = field(default_factory=dict)  # a worker must have all of them
    worker: str | None = None  # only this worker may run it
    on_worker: str | None = None  # where its last turn was sent

    @property
    def isolation(self) -> str:
        """``worktree`` when the task has a branch of its own, else ``none``."""
        return "none" if self.git is None else "worktree"

    def to_dict(self) -> dict[str, Any]:
        """Every field, flat (the git group's fields at top level), JSON-ready."""
        out: dict[str, Any] = {}
        for name in _TASK_FIELDS:
            value = getattr(self, name)
            out[name] = list(value) if type(value) is list else value
        out["status"] = str(self.status)
        for key in ("created_at", "updated_at", "started_at", "ended_at", "resume_at"):
            value = getattr(self, key)
            out[key] = value.isoformat() if value else None
        out.update(GitBranch.flat(self.git))
        out["isolation"] = self.isolation
        return out


_TASK_FIELDS = tuple(f.name for f in fields(Task) if f.name != "git")


@dataclass(frozen=True)
class Event:
    """One row of a task's append-only event log."""

    task_id: str
    seq: int
    ts: datetime
    turn: int
    kind: str
    data: dict[str, Any]
    id: int = 0  # the global cursor: grows across every task, in commit order

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        """The event from its `to_dict` form (as documents and clients carry it)."""
        return cls(
            task_id=str(raw.get("task_id", "")),
            seq=int(raw.get("seq", 0)),
            ts=datetime.fromisoformat(str(raw["ts"])),
            turn=int(raw.get("turn", 0)),
            kind=str(raw.get("kind")),
            data=raw.get("data") or {},
            id=int(raw.get("id", 0)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "task_id": self.task_id,
            "seq": self.seq,
            "ts": self.ts.isoformat(),
            "turn": self.turn,
            "kind": self.kind,
            "data": self.data,
        }


@dataclass(frozen=True)
class NewEvent:
    """An event before the store gave it its ``seq``."""

    kind: str
    data: dict[str, Any]
    turn: int = 0
    ts: datetime = field(default_factory=now)


@dataclass
class Tally:
    """What the store counts per task as events are appended, so documents read O(1).

    ``files``: the paths the agent's file tools touched, first seen first (at most
    `MAX_TALLIED_FILES`).
    """

    log_events: int = 0
    tool_calls: int = 0
    commands: int = 0
    files: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, events: Sequence[NewEvent]) -> Tally:
        """The counts of one batch of events."""
        tally = cls()
        for event in events:
            if event.kind in LOG_KINDS:
                tally.log_events += 1
            if event.kind != EventKind.TOOL_CALL:
                continue
            tally.tool_calls += 1
            name = event.data.get("name")
            tool_input = event.data.get("input")
            if not isinstance(tool_input, dict):
                continue
            if name in COMMAND_TOOLS:
                tally.commands += 1
            if name in FILE_TOOLS:
                path = tool_input.get("file_path") or tool_input.get("notebook_path")
                if isinstance(path, str) and path and path not in tally.files:
                    tally.files.append(path)
        return tally

    @staticmethod
    def merge_files(known: list[str], new: Sequence[str]) -> list[str]:
        """``known`` plus the paths of ``new`` it lacks, up to `MAX_TALLIED_FILES`."""
        out = list(known)
        seen = set(out)
        for path in new:
            if len(out) >= MAX_TALLIED_FILES:
                break
            if path not in seen:
                seen.add(path)
                out.append(path)
        return out


@dataclass(frozen=True)
class TaskSnapshot:
    """A task with its counters and newest activity, read at one instant."""

    task: Task
    tally: Tally
    tool_events: list[Event]  # its newest tool calls and the results after the first
    recent: list[Event]  # its newest events of the given kinds, oldest first
