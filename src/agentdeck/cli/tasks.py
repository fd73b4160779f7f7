"""Client commands on tasks: run, continue, tasks, show, logs, cancel, end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from agentdeck.cli.output import (
    EXIT_OK,
    STATUS_STYLES,
    TaskId,
    UrlOption,
    WaitOption,
    absolute_project,
    ago,
    cost,
    default_title,
    exit_code,
    follow_turn,
    log_printer,
    out,
    run_client,
    status_text,
    when,
)
from agentdeck.cli.remote import Remote, connect


def run(
    instructions: Annotated[str, typer.Argument(help="What the agent should do.")],
    title: Annotated[
        str | None, typer.Option(help="Short title (default: the first line, ≤ 80 chars).")
    ] = None,
    agent: Annotated[str | None, typer.Option(help="Agent to run (default: claude).")] = None,
    project: Annotated[
        Path | None,
        typer.Option(
            help="Directory to work in, inside the allowed roots "
            "(default: the server's default project)."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model for the agent.")] = None,
    wait: WaitOption = True,
    url: UrlOption = None,
) -> None:
    """Start a task; follow it live (default) or print its id (--no-wait)."""
    if not instructions.strip():
        raise typer.BadParameter("the instructions are empty", param_hint="INSTRUCTIONS")

    async def work() -> int:
        async with connect(url) as remote:
            created = await remote.call(
                "create_task",
                title=title or default_title(instructions),
                instructions=instructions,
                agent=agent,
                project_path=absolute_project(project),
                model=model,
            )
            task_id = str(created["task_id"])
            if not wait:
                out.print(task_id)
                return EXIT_OK
            out.print(
                Text.assemble(
                    ("task ", "bold"),
                    (task_id, "bold"),
                    f" · {created.get('agent') or created.get('tool')} in "
                    f"{created.get('project_path')}",
                )
            )
            return await follow_turn(remote, task_id, after=0)

    run_client(work)


def continue_(
    task_id: TaskId,
    instructions: Annotated[str, typer.Argument(help="More instructions for the agent.")],
    wait: WaitOption = True,
    url: UrlOption = None,
) -> None:
    """Send more instructions: the agent continues the same conversation."""

    async def work() -> int:
        async with connect(url) as remote:
            after = await remote.last_seq(task_id) if wait else 0
            sent = await remote.call("update_task", id=task_id, instructions=instructions)
            real_id = str(sent.get("task_id") or task_id)
            queued = (
                " (queued behind the running turn)"
                if sent.get("queued_behind_running_turn")
                else ""
            )
            out.print(Text(f"task {real_id}: instructions sent{queued}", style="bold"))
            if not wait:
                return EXIT_OK
            return await follow_turn(remote, real_id, after)

    run_client(work)


def tasks(
    status: Annotated[
        str | None,
        typer.Option(
            help=f"Only tasks in these statuses (comma-separated): {', '.join(STATUS_STYLES)}."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 20,
    url: UrlOption = None,
) -> None:
    """List tasks, newest first."""
    wanted = _statuses(status)

    async def work() -> int:
        async with connect(url) as remote:
            listing = await remote.read_json("agent://tasks")
            rows = [t for t in listing.get("tasks", []) if not wanted or t["status"] in wanted]
            rows = rows[:limit]
            costs = {t["id"]: await _task_cost(remote, t) for t in rows}
        if not rows:
            hint = "" if wanted else ' — start one with: agentdeck run "…"'
            out.print(f"no tasks{hint}")
            return EXIT_OK
        out.print(_tasks_table(rows, costs))
        out.print(
            Text(f"{len(rows)} shown of {listing.get('count', len(rows))} tasks", style="dim")
        )
        return EXIT_OK

    run_client(work)


def _statuses(option: str | None) -> set[str]:
    wanted = {s.strip() for s in (option or "").split(",") if s.strip()}
    unknown = wanted - set(STATUS_STYLES)
    if unknown:
        raise typer.BadParameter(
            f"unknown status {', '.join(sorted(unknown))}; use {', '.join(STATUS_STYLES)}",
            param_hint="--status",
        )
    return wanted


async def _task_cost(remote: Remote, summary: dict[str, Any]) -> Any:
    """The task's cost: from the list entry when it has one, else from its result."""
    if "cost_usd" in summary:
        return summary["cost_usd"]
    result = await remote.read_json(f"task://{summary['id']}/result")
    return result.get("cost_usd")


def _tasks_table(rows: list[dict[str, Any]], costs: dict[str, Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("id", "status", "agent"):
        table.add_column(name, no_wrap=True)
    table.add_column("title", overflow="ellipsis", no_wrap=True, ratio=1)
    table.add_column("branch", overflow="ellipsis", no_wrap=True, max_width=32)
    table.add_column("diff", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    table.add_column("cost", no_wrap=True, justify="right")
    for task in rows:
        table.add_row(
            task["id"],
            status_text(task["status"]),
            task.get("agent") or task.get("tool") or "—",
            task.get("title") or task.get("description") or "",
            task.get("branch") or "—",
            task.get("diff") or "—",
            ago(task.get("updated_at")),
            cost(costs.get(task["id"])),
        )
    return table


def show(task_id: TaskId, url: UrlOption = None) -> None:
    """Show a task: status, session, cost, tokens, result or error, files and commands."""

    async def work() -> int:
        async with connect(url) as remote:
            task = await remote.task(task_id)
        _print_fields(_task_rows(task))
        return EXIT_OK

    run_client(work)


def _print_fields(rows: list[tuple[str, str | Text]]) -> None:
    """``label  value`` lines; a value's further lines are indented under its first."""
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        text = value if isinstance(value, Text) else Text(value)
        for i, line in enumerate(text.split("\n")):
            out.print(Text(f"{label if i == 0 else '':<{width}}", style="bold") + line)


def _task_rows(task: dict[str, Any]) -> list[tuple[str, str | Text]]:
    tokens = task.get("tokens") or {}
    status = status_text(str(task.get("status")))
    if task.get("queued_instructions"):
        status.append(f" · {task['queued_instructions']} instructions queued")
    model = f" · model {task['model']}" if task.get("model") else ""
    rows: list[tuple[str, str | Text]] = [
        ("task", f"{task.get('id')}  {task.get('title', '')}"),
        ("status", status),
        ("agent", f"{task.get('agent')}{model} · {task.get('permission_mode')}"),
        ("session", task.get("session_id") or "— (the agent has not started)"),
        ("project", str(task.get("project_path"))),
        ("created", when(task.get("created_at"))),
        ("updated", when(task.get("updated_at"))),
        ("duration", str(task.get("duration_human", "—"))),
        ("cost", cost(task.get("cost_usd"))),
        (
            "tokens",
            f"{tokens.get('input', 0):,} in · {tokens.get('output', 0):,} out · "
            f"{tokens.get('cache_read', 0):,} cache read · "
            f"{tokens.get('cache_creation', 0):,} cache write",
        ),
        ("turns", f"{task.get('turns', 0)} agent runs · {task.get('num_turns', 0)} model turns"),
    ]
    if task.get("result_text"):
        rows.append(("result", str(task["result_text"])))
    if task.get("error"):
        rows.append(("error", Text(str(task["error"]), style="red")))
    files = task.get("files_affected") or []
    rows.append(("files", "\n".join(files) if files else "none"))
    rows.append(("commands", _commands(task.get("commands_executed") or [])))
    rows.append(("logs", f"{task.get('logs_count', 0)} lines: agentdeck logs {task.get('id')}"))
    return rows


def _commands(commands: list[dict[str, Any]]) -> Text:
    if not commands:
        return Text("none")
    text = Text()
    for i, command in enumerate(commands):
        text.append("\n" if i else "")
        text.append(f"$ {command.get('command')}", style="red" if command.get("is_error") else "")
        if command.get("is_error"):
            text.append("  (failed)", style="red")
    return text


def logs(
    task_id: TaskId,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="Follow live until the current turn ends (exit code as for run)."
        ),
    ] = False,
    url: UrlOption = None,
) -> None:
    """Print a task's log."""

    async def work() -> int:
        async with connect(url) as remote:
            if not follow:
                out.print(Text(await remote.read_text(f"task://{task_id}/logs")), end="")
                return EXIT_OK
            return exit_code(await remote.follow(task_id, log_printer(out)))

    run_client(work)


def cancel(task_id: TaskId, url: UrlOption = None) -> None:
    """Cancel a task: stop its agent and every process it started."""

    async def work() -> int:
        async with connect(url) as remote:
            result = await remote.call("cancel_task", id=task_id)
        status = str(result.get("status"))
        out.print(
            Text.assemble(
                f"task {result.get('id', task_id)} ",
                status_text(status),
                ": its agent and every process it started were stopped",
            )
        )
        return EXIT_OK

    run_client(work)


def end(task_id: TaskId, url: UrlOption = None) -> None:
    """End a task: a waiting task becomes completed (a running turn is cancelled)."""

    async def work() -> int:
        async with connect(url) as remote:
            result = await remote.call("end_task", id=task_id)
        summary = result.get("summary") or {}
        out.print(
            Text.assemble(
                f"task {result.get('id', task_id)} ",
                status_text(str(result.get("status"))),
                f" after {result.get('duration', '?')} · cost {cost(summary.get('cost_usd'))} · "
                f"{summary.get('logs_count', 0)} log lines",
            )
        )
        return EXIT_OK

    run_client(work)


def respond(decision: str) -> Any:
    """A command answering a task's open decision with ``decision``."""

    def command(
        task_id: TaskId,
        message: Annotated[
            str, typer.Option("--message", "-m", help="Told to the agent (why, or an answer).")
        ] = "",
        request_id: Annotated[
            str | None, typer.Option(help="Which open request (default: the oldest).")
        ] = None,
        url: UrlOption = None,
    ) -> None:
        async def work() -> int:
            async with connect(url) as remote:
                result = await remote.call(
                    "respond_task",
                    id=task_id,
                    decision=decision,
                    message=message,
                    request_id=request_id,
                )
            out.print(f"task {result['id']}: {decision} sent for {result['tool']}")
            return EXIT_OK

        run_client(work)

    command.__doc__ = {
        "allow": "Allow the tool use a task is waiting on (once).",
        "allow_always": "Allow the tool for the rest of the task.",
        "deny": "Deny the tool use a task is waiting on; --message tells the agent why.",
    }[decision]
    return command


def diff(task_id: TaskId, url: UrlOption = None) -> None:
    """Print the task branch's diff against its base (uncommitted work included)."""

    async def work() -> int:
        async with connect(url) as remote:
            text = await remote.read_text(f"task://{task_id}/diff")
        out.print(Text(text), end="")
        return EXIT_OK

    run_client(work)


def merge(
    task_id: TaskId,
    strategy: Annotated[str, typer.Option(help="merge, squash or rebase.")] = "merge",
    delete_worktree: Annotated[
        bool, typer.Option("--delete-worktree", help="Remove the worktree after merging.")
    ] = False,
    url: UrlOption = None,
) -> None:
    """Merge the task's branch into its base branch in the main checkout."""

    async def work() -> int:
        async with connect(url) as remote:
            result = await remote.call(
                "merge_task", id=task_id, strategy=strategy, delete_worktree=delete_worktree
            )
        git = result.get("git") or {}
        out.print(
            f"merged {git.get('branch')} into {git.get('base_branch')}: "
            f"{str(result.get('merge_commit'))[:10]}"
        )
        return EXIT_OK

    run_client(work)
