"""review_task, merge_task, discard_task: for tasks that work on their own branch."""

from __future__ import annotations

from mcp.server.mcpserver import Context

from agentdeck.core import GitSummary, Merge, Review
from agentdeck.mcp import legacy
from agentdeck.mcp.tooling import Reply, Tools, changes
from agentdeck.mcp.tools.tasks import TaskRefArgs
from agentdeck.model import Task


def _git(task: Task) -> dict[str, object]:
    summary = GitSummary.of(task.git)
    return {"git": summary.dump() if summary else None}


def register(tools: Tools) -> None:
    core = tools.core

    @tools.tool(
        "review_task",
        args=Review,
        scope="write",
        aliases=legacy.TASK_REF,
        description=(
            "Send review comments on a task's diff (task://{id}/diff) to its agent, as one "
            "follow-up turn of the same conversation: each comment names a file and a line "
            "of the new file, with the line's text as you saw it (snippet). A comment "
            "whose line has changed since is marked moved (and where its text is now)."
        ),
        annotations=changes("Review task"),
    )
    async def review_task(args: Review, ctx: Context) -> Reply:
        result = await core.review(args)
        moved = sum(c.moved for c in result.comments)
        when = "after the current turn" if result.queued else "now"
        return Reply(
            f"{len(result.comments)} review comments sent to task {result.task.id}; "
            f"the agent takes them {when}" + (f" ({moved} on lines that moved)." if moved else "."),
            {
                "id": result.task.id,
                "status": result.task.status,
                "queued": result.queued,
                "comments": [c.dump() for c in result.comments],
            },
        )

    @tools.tool(
        "merge_task",
        args=Merge,
        scope="write",
        aliases=legacy.TASK_REF,
        description=(
            "Merge a task's branch into its base branch in the main checkout (strategy "
            "merge, squash or rebase). The agent's uncommitted work is committed first. "
            "Refused, changing nothing, if the main checkout is not on the base branch, has "
            "uncommitted changes, or the merge would conflict: the conflicting files are "
            "listed, and update_task can ask the agent to resolve them. Review first with "
            "the task://{id}/diff resource."
        ),
        annotations=changes("Merge task"),
    )
    async def merge_task(args: Merge, ctx: Context) -> Reply:
        task = await core.merge(args)
        git = task.git
        assert git is not None  # merge refuses tasks without a branch
        return Reply(
            f"Merged {git.branch} into {git.base_branch} ({args.strategy}).",
            {
                "id": task.id,
                "status": str(task.status),
                "merge_commit": git.merge_commit,
                **_git(task),
            },
        )

    @tools.tool(
        "discard_task",
        args=TaskRefArgs,
        scope="write",
        aliases=legacy.TASK_REF,
        description=(
            "Throw away a task's work: remove its worktree and delete its branch. The task "
            "is kept (cancelled if it had not ended). Refused while a turn runs."
        ),
        annotations=changes("Discard task work", destructive=True),
    )
    async def discard_task(args: TaskRefArgs, ctx: Context) -> Reply:
        task = await core.discard(args.id)
        return Reply(
            f"Discarded the worktree and branch of task {task.id}.",
            {"id": task.id, "status": str(task.status), **_git(task)},
        )
