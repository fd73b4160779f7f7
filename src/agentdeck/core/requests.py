"""What a caller may ask of the core: one model per command, each limit held once.

Faces parse their input with `parse`, which turns every problem into one
`InvalidInput` naming what was wrong and what is accepted. A face may subclass a
request to add its own options (MCP's ``wait``); the core reads only its fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from agentdeck.errors import InvalidInput
from agentdeck.model import TaskStatus

TITLE_MAX = 255
INSTRUCTIONS_MAX = 10_000
MESSAGE_MAX = 10_000
MAX_TURNS_LIMIT = 1_000
TIMEOUT_LIMIT = 7 * 24 * 3600.0
RULES_MAX = 100
PAGE_MAX = 1_000
PERMISSION_MODES = ("bypassPermissions", "acceptEdits", "default", "plan")
PermissionModeName = Literal["bypassPermissions", "acceptEdits", "default", "plan"]
PolicyName = Literal["bypass", "ask", "rules"]
DecisionName = Literal["allow", "deny", "allow_always"]
StrategyName = Literal["merge", "squash", "rebase"]

R = TypeVar("R", bound=BaseModel)


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or blank")
    return value


Title = Annotated[
    str,
    Field(min_length=1, max_length=TITLE_MAX, description="Short title."),
    AfterValidator(_not_blank),
    AfterValidator(str.strip),
]
Instructions = Annotated[
    str,
    Field(min_length=1, max_length=INSTRUCTIONS_MAX, description="What the agent should do."),
    AfterValidator(_not_blank),
]
TaskRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="Task id (or the agent session id create_task returned).",
    ),
    AfterValidator(_not_blank),
    AfterValidator(str.strip),
]
Rule = Annotated[str, Field(max_length=500)]
LabelKey = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.\-/]+$")]
LabelValue = Annotated[str, Field(max_length=200)]


class Request(BaseModel):
    """Base of every request: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class CreateTask(Request):
    title: Title
    instructions: Instructions
    agent: Annotated[
        str | None,
        Field(
            max_length=64,
            description="Agent to run: claude (default), codex, gemini, or a command agent "
            "from the config. Old names: CLAUDECODE, CODEX, GEMINI.",
        ),
    ] = None
    project_path: Annotated[
        str | None,
        Field(max_length=4096, description="Directory to work in, inside the allowed roots."),
    ] = None
    model: Annotated[
        str | None,
        Field(max_length=200, description="Model for the agent."),
        AfterValidator(lambda v: None if v is None else _not_blank(v).strip()),
    ] = None
    max_turns: Annotated[int | None, Field(ge=1, le=MAX_TURNS_LIMIT, strict=True)] = None
    permission_mode: Annotated[
        PermissionModeName | None,
        Field(description=f"One of {', '.join(PERMISSION_MODES)}; default bypassPermissions."),
    ] = None
    timeout_seconds: Annotated[float | None, Field(gt=0, le=TIMEOUT_LIMIT)] = None
    isolation: Annotated[
        Literal["worktree", "none"] | None,
        Field(
            description="In a git repo: worktree (default) gives the task its own branch "
            "and worktree; none runs in the project directory itself."
        ),
    ] = None
    branch: Annotated[
        str | None, Field(max_length=200, description="Name of the task's new branch.")
    ] = None
    base_branch: Annotated[
        str | None,
        Field(max_length=200, description="Branch to start from; default the current one."),
    ] = None
    policy: Annotated[
        PolicyName | None,
        Field(
            description="Approvals: bypass (run every tool), ask (edits in the workspace "
            "run, anything else asks you), rules (allow_rules run, deny_rules are refused, "
            "the rest asks). Default from the server's config."
        ),
    ] = None
    allow_rules: Annotated[
        list[Rule] | None,
        Field(max_length=RULES_MAX, description="e.g. ['Bash(npm test:*)', 'WebFetch']"),
    ] = None
    deny_rules: Annotated[list[Rule] | None, Field(max_length=RULES_MAX)] = None
    accept_command: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=4096)]] | None,
        Field(
            min_length=1,
            max_length=100,
            description="An acceptance check run after each successful turn, as an argv "
            "list (never a shell string), e.g. ['pytest', '-q']. A failure re-prompts the "
            "agent with its output. Default: [accept] command in the repo's .agentdeck.toml.",
        ),
    ] = None
    accept_retries: Annotated[
        int | None,
        Field(ge=0, le=10, strict=True, description="Re-prompts after a failing check (2)."),
    ] = None
    max_cost_usd: Annotated[
        float | None,
        Field(
            gt=0,
            le=100_000,
            description="Budget in USD: at it, the agent is paused and you are asked "
            "(allow raises it by this amount again). Default: the project's or server's.",
        ),
    ] = None
    max_tokens: Annotated[
        int | None,
        Field(
            ge=1,
            le=10**12,
            strict=True,
            description="Budget in tokens (input, output, cache writes; cache reads not "
            "counted), handled like max_cost_usd.",
        ),
    ] = None
    on_usage_limit: Annotated[
        Literal["park", "fail"],
        Field(
            description="park (default): at the agent's usage or rate limit the task waits "
            "(parked) and resumes by itself when the limit resets; fail: it fails."
        ),
    ] = "park"
    depends_on: Annotated[
        list[TaskRef] | None,
        Field(
            max_length=20,
            description="Task ids this task waits for: it stays pending until each is done "
            "(or merged, with start_after), and is cancelled if one fails or is cancelled.",
        ),
    ] = None
    start_after: Annotated[
        Literal["done", "merged"],
        Field(
            description="done (default): each dependency's turn ended and its acceptance "
            "check passed; merged: each dependency's branch was merged (this task's branch "
            "then starts from the merged base)."
        ),
    ] = "done"
    auto_resume: Annotated[
        bool | None,
        Field(
            strict=True,
            description="Resume by itself after a server crash or restart cut its turn "
            "(default: the server's auto_resume setting, on).",
        ),
    ] = None
    labels: Annotated[
        dict[LabelKey, LabelValue] | None,
        Field(
            max_length=20,
            description="Several machines (dispatch = workers): only a worker with all of "
            'these labels runs it, e.g. {"gpu": "yes"}.',
        ),
    ] = None
    worker: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=200,
            description="Several machines: only the worker of this name runs it.",
        ),
    ] = None


class ContinueTask(Request):
    id: TaskRef
    instructions: Instructions


class Respond(Request):
    id: TaskRef
    decision: Annotated[
        DecisionName,
        Field(description="allow once, deny, or allow this tool for the rest of the task."),
    ]
    message: Annotated[
        str,
        Field(
            max_length=MESSAGE_MAX,
            description="Told to the agent (the reason for a denial, or "
            "the answer to its question).",
        ),
    ] = ""
    request_id: Annotated[
        str | None,
        Field(max_length=64, description="Which open request; default: the task's oldest."),
    ] = None


REVIEW_COMMENTS_MAX = 100
SNIPPET_MAX = 2_000


class ReviewComment(Request):
    file: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4096,
            description="Path in the repository, as the diff names it.",
        ),
        AfterValidator(_not_blank),
    ]
    line: Annotated[int, Field(ge=1, strict=True, description="Line number in the new file.")]
    comment: Annotated[str, Field(min_length=1, max_length=MESSAGE_MAX), AfterValidator(_not_blank)]
    snippet: Annotated[
        str | None,
        Field(
            max_length=SNIPPET_MAX,
            description="The line's text as the reviewer saw it; a comment whose line has "
            "changed since is marked as moved. Default: the line's text now.",
        ),
    ] = None


class Review(Request):
    id: TaskRef
    comments: Annotated[list[ReviewComment], Field(min_length=1, max_length=REVIEW_COMMENTS_MAX)]
    message: Annotated[
        str, Field(max_length=MESSAGE_MAX, description="A word on the review as a whole.")
    ] = ""


class Merge(Request):
    id: TaskRef
    strategy: Annotated[
        StrategyName,
        Field(description="merge (a merge commit), squash (one commit) or rebase (linear)."),
    ] = "merge"
    delete_worktree: Annotated[
        bool, Field(strict=True, description="Remove the task's worktree after merging.")
    ] = False
    force: Annotated[
        bool, Field(strict=True, description="Merge even though the last acceptance check failed.")
    ] = False


class Clean(Request):
    keep_recent: Annotated[
        bool, Field(strict=True, description="Keep tasks that ended in the last 24 hours.")
    ] = True
    dry_run: Annotated[bool, Field(strict=True, description="Only list what would go.")] = False
    force: Annotated[
        bool,
        Field(strict=True, description="Also delete tasks whose branch has unmerged work."),
    ] = False


class TaskQuery(Request):
    """Which tasks to list: newest first, a page at a time."""

    statuses: list[TaskStatus] | None = None
    limit: Annotated[int, Field(ge=1, le=PAGE_MAX, strict=True)] = PAGE_MAX
    cursor: Annotated[str | None, Field(max_length=200)] = None


def problems(exc: ValidationError) -> tuple[list[str], list[dict[str, Any]]]:
    """One sentence per problem, and the details a client can act on."""
    sentences = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        if err["type"] == "extra_forbidden":
            sentences.append(f"unknown argument {field!r}")
        elif err["type"] == "missing":
            sentences.append(f"{field} is required")
        elif err["type"] == "value_error":
            sentences.append(f"{field} {err['ctx']['error']}")
        else:
            sentences.append(f"{field}: {err['msg']}")
    details = [
        {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    return sentences, details


def parse(model: type[R], data: Any, also_accepted: tuple[str, ...] = ()) -> R:
    """``data`` as a ``model``, or `InvalidInput` saying what is wrong and what is accepted."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        sentences, details = problems(exc)
        accepted = ", ".join([*model.model_fields, *also_accepted])
        raise InvalidInput(
            "; ".join(sentences) + f" (accepted arguments: {accepted})", details
        ) from None
