"""Client commands on tasks: run, continue, tasks, show, logs, cancel, end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from agentdeck.cli.decisions import answer_commands
from agentdeck.cli.output import (
    EXIT_OK,
    STATUS_STYLES,
    TaskId,
    UrlOption,
    WaitOption,
    absolute_project,
    ago,
    cost,
    countdown,
    default_title,
    exit_code,
    follow_turn,
    following,
    local_log,
    log_printer,
    out,
    print_table,
    problems,
    run_client,
    status_text,
    when,
)
from agentdeck.cli.remote import ACTIVE, connect


def run(
    instructions: Annotated[str, typer.Argument(help="What the agent should do.")],
    title: Annotated[
        str | None, typer.Option(help="Short title (default: the first line, ≤ 80 chars).")
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(help="Agent to run: claude, codex, gemini or one from the server's config."),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option(
            help="Directory to work in, inside the allowed roots "
            "(default: the server's default project)."
        ),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model for the agent.")] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            help="Limit of each agent run: seconds, or 90s, 30m, 2h, 1d (default: the server's).",
            show_default=False,
        ),
    ] = None,
    max_turns: Annotated[
        int | None, typer.Option(min=1, help="At most this many model turns per agent run.")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            help="Approvals: bypass (run every tool), ask (edits in the workspace run, anything "
            "else asks you), rules (--allow rules run, --deny rules are refused, the rest asks). "
            "Default: the server's.",
            show_default=False,
        ),
    ] = None,
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            help="With --policy rules: a tool rule that runs, e.g. 'Bash(npm test:*)'; repeatable.",
        ),
    ] = None,
    deny: Annotated[
        list[str] | None,
        typer.Option(
            "--deny", help="With --policy rules: a tool rule that is refused; repeatable."
        ),
    ] = None,
    wait: WaitOption = True,
    url: UrlOption = None,
) -> None:
    """Start a task; follow it live (default) or print its id (--no-wait).

    While following, a decision the agent waits on shows the commands that answer it;
    on a terminal you can also answer it right there.
    """
    if not instructions.strip():
        raise typer.BadParameter("the instructions are empty", param_hint="INSTRUCTIONS")
    timeout_seconds = None if timeout is None else parse_duration(timeout, "--timeout")

    async def work() -> int:
        async with connect(url) as remote:
            created = await remote.post(
                "/tasks",
                dict(
                    title=title or default_title(instructions),
                    instructions=instructions,
                    agent=agent,
                    project_path=absolute_project(project),
                    model=model,
                    timeout_seconds=timeout_seconds,
                    max_turns=max_turns,
                    policy=policy,
                    allow_rules=allow or None,
                    deny_rules=deny or None,
                ),
            )
            task_id = str(created["id"])
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
            return await follow_turn(remote, task_id, after=0, prompt=True)

    run_client(work)


DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_duration(text: str, option: str) -> float:
    """Seconds in ``90``, ``90s``, ``30m``, ``2h`` or ``1d``."""
    match = DURATION.fullmatch(text.strip().lower())
    if not match or float(match[1]) <= 0:
        raise typer.BadParameter(
            f"{text!r} is not a duration: give seconds, or e.g. 90s, 30m, 2h, 1d",
            param_hint=option,
        )
    return float(match[1]) * UNITS[match[2]]


def continue_(
    task_id: TaskId,
    instructions: Annotated[str, typer.Argument(help="More instructions for the agent.")],
    wait: WaitOption = True,
    url: UrlOption = None,
) -> None:
    """Send more instructions: the agent continues the same conversation."""

    async def work() -> int:
        async with connect(url) as remote:
            ref = await remote.resolve(task_id)
            after = await remote.last_seq(ref) if wait else 0
            sent = await remote.task_post(ref, "continue", {"instructions": instructions})
            real_id = str(sent["task"]["id"])
            queued = " (queued behind the running turn)" if sent.get("queued") else ""
            out.print(Text(f"task {real_id}: instructions sent{queued}", style="bold"))
            if not wait:
                return EXIT_OK
            return await follow_turn(remote, real_id, after, prompt=True)

    run_client(work)


WIDE_TITLE = 60  # characters of a title --wide shows
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output (JSON).")]
WideOption = Annotated[
    bool, typer.Option("--wide", help="More columns (agent, branch, diff); wider than 80.")
]


def tasks(
    status: Annotated[
        str | None,
        typer.Option(
            help=f"Only tasks in these statuses (comma-separated): {', '.join(STATUS_STYLES)}."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 20,
    wide: WideOption = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """List tasks, newest first: id, status, title, last change, cost."""
    wanted = _statuses(status)

    async def work() -> int:
        async with connect(url) as remote:
            total: int | None = None
            rows: list[dict[str, Any]] = []
            async for page in remote.task_pages():
                total = int(page.get("count", 0)) if total is None else total
                rows += [t for t in page.get("tasks") or [] if not wanted or t["status"] in wanted]
                if len(rows) >= limit:
                    break
            rows = rows[:limit]
        if as_json:
            out.print_json(json.dumps(rows))
            return EXIT_OK
        if not rows:
            hint = "" if wanted else ' — start one with: agentdeck run "…"'
            out.print(f"no tasks{hint}")
            return EXIT_OK
        print_table(_tasks_table(rows, wide), wide)
        of = f"{len(rows)} shown of {total} tasks" if not wanted else f"{len(rows)} shown"
        out.print(Text(of, style="dim"))
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


def _tasks_table(rows: list[dict[str, Any]], wide: bool) -> Table:
    """The task table: 80 columns wide unless ``wide``; only the title is ever cut."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("id", no_wrap=True, min_width=max(len(str(t["id"])) for t in rows))
    table.add_column("status", no_wrap=True, min_width=max(len(t["status"]) for t in rows))
    if wide:
        table.add_column("agent", no_wrap=True)
    # Wrappable (its cells are not): the column that gives way.
    table.add_column("title", min_width=8, max_width=WIDE_TITLE if wide else None)
    if wide:
        table.add_column("branch", no_wrap=True)
        table.add_column("diff", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    costs = [cost(t.get("cost_usd")) for t in rows]
    table.add_column("cost", no_wrap=True, justify="right", min_width=max(map(len, costs)))
    for task, spent in zip(rows, costs, strict=True):
        cells: list[str | Text] = [task["id"], status_text(task["status"])]
        if wide:
            cells.append(task.get("agent") or task.get("tool") or "—")
        title = task.get("title") or task.get("description") or ""
        cells.append(Text(title, no_wrap=True, overflow="ellipsis"))
        if wide:
            cells += [task.get("branch") or "—", task.get("diff") or "—"]
        cells += [ago(task.get("updated_at")), spent]
        table.add_row(*cells)
    return table


def show(task_id: TaskId, as_json: JsonOption = False, url: UrlOption = None) -> None:
    """Show a task: status, the decision it waits on, agent, policy, branch and worktree,
    session, cost, tokens, result or error, files and commands."""

    async def work() -> int:
        async with connect(url) as remote:
            task = await remote.find(task_id)
            pending: list[dict[str, Any]] = []
            if task.get("status") in ACTIVE:
                listing = await remote.get("/pending")
                pending = [p for p in listing.get("pending") or [] if p["task_id"] == task["id"]]
        if as_json:
            out.print_json(json.dumps({**task, "pending": pending}))
            return EXIT_OK
        _print_fields(_task_rows(task, pending))
        return EXIT_OK

    run_client(work)


def _print_fields(rows: list[tuple[str, str | Text]]) -> None:
    """``label  value`` lines; a value's further lines are indented under its first."""
    width = max(len(label) for label, _ in rows) + 2
    for label, value in rows:
        text = value if isinstance(value, Text) else Text(value)
        for i, line in enumerate(text.split("\n")):
            out.print(Text(f"{label if i == 0 else '':<{width}}", style="bold") + line)


def _task_rows(task: dict[str, Any], pending: list[dict[str, Any]]) -> list[tuple[str, str | Text]]:
    tokens = task.get("tokens") or {}
    task_id = str(task.get("id"))
    status = status_text(str(task.get("status")))
    if task.get("queued_instructions"):
        status.append(f" · {task['queued_instructions']} instructions queued")
    model = f" · model {task['model']}" if task.get("model") else ""
    rows: list[tuple[str, str | Text]] = [
        ("task", f"{task_id}  {task.get('title', '')}"),
        ("status", status),
    ]
    if task.get("status_reason"):
        rows.append(("why", str(task["status_reason"])))
    if task.get("resume_at"):
        rows.append(("resumes", f"{countdown(task['resume_at'])} · {when(task['resume_at'])}"))
    for i, request in enumerate(pending):
        decision = Text(f"{request.get('summary') or request.get('tool')}", style="bold magenta")
        decision.append(f"  (asked {ago(request.get('created_at'))})", style="dim")
        commands = answer_commands(task_id, request["request_id"] if i else None)
        decision.append(f"\n{commands}", style="magenta")
        rows.append(("waiting on you", decision))
    rows += [
        ("agent", f"{task.get('agent')}{model}"),
        ("policy", _policy(task)),
        ("project", str(task.get("project_path"))),
        *_git_rows(task),
        ("session", task.get("session_id") or "— (the agent has not started)"),
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
    rows.append(("logs", f"{task.get('logs_count', 0)} lines: agentdeck logs {task_id}"))
    return rows


def _policy(task: dict[str, Any]) -> str:
    """The task's approval policy, with its rules and the tools allowed for good."""
    parts = [str(task.get("policy") or "—")]
    for label, key in (
        ("allow rules", "allow_rules"),
        ("deny rules", "deny_rules"),
        ("always allowed", "always_allow"),
    ):
        if task.get(key):
            parts.append(f"{label}: {', '.join(task[key])}")
    return " · ".join(parts)


def _git_rows(task: dict[str, Any]) -> list[tuple[str, str | Text]]:
    """Its branch (from which base, diff size, merged) and worktree."""
    if not task.get("branch"):
        return [("branch", "none: it works in the project directory itself")]
    branch = f"{task['branch']} from {task.get('base_branch') or '?'}"
    branch += (
        f" · +{task.get('diff_insertions', 0)} -{task.get('diff_deletions', 0)} "
        f"in {task.get('diff_files', 0)} files"
    )
    if task.get("merged_at"):
        branch += f" · merged {when(task['merged_at'])} ({str(task.get('merge_commit'))[:10]})"
    worktree = task.get("worktree_path") or "— (none: the branch is used in place or was removed)"
    return [("branch", branch), ("worktree", str(worktree))]


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
    """Print a task's log, one line per event, each with its local time."""

    async def work() -> int:
        async with connect(url) as remote:
            ref = await remote.resolve(task_id)
            if not follow:
                out.print(Text(local_log(await remote.task_text(ref, "log"))), end="")
                return EXIT_OK
            with following(ref):
                return exit_code(await remote.follow(ref, log_printer(out)))

    run_client(work)


def cancel(task_id: TaskId, url: UrlOption = None) -> None:
    """Cancel a task: stop its agent and every process it started."""

    async def work() -> int:
        async with connect(url) as remote:
            result = await remote.task_post(await remote.resolve(task_id), "cancel")
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
            result = await remote.task_post(await remote.resolve(task_id), "end")
        out.print(
            Text.assemble(
                f"task {result.get('id', task_id)} ",
                status_text(str(result.get("status"))),
                f" after {result.get('duration_human', '?')} · cost {cost(result.get('cost_usd'))}"
                f" · {result.get('logs_count', 0)} log lines",
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
                result = await remote.task_post(
                    await remote.resolve(task_id),
                    "respond",
                    {"decision": decision, "message": message, "request_id": request_id},
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
            task = await remote.find(task_id)
            ref = str(task["id"])
            text = await remote.task_text(ref, "diff")
        if not text.strip():  # an empty diff says so, on stderr: a pipe gets nothing
            base = task.get("base_branch") or "its base"
            problems.print(
                f"no changes: task {ref}'s branch {task.get('branch')} has no diff "
                f"against {base} (nor uncommitted work)"
            )
            return EXIT_OK
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
            result = await remote.task_post(
                await remote.resolve(task_id),
                "merge",
                {"strategy": strategy, "delete_worktree": delete_worktree},
            )
        git = result.get("git") or {}
        out.print(
            f"merged {git.get('branch')} into {git.get('base_branch')}: "
            f"{str(result.get('merge_commit'))[:10]}"
        )
        return EXIT_OK

    run_client(work)
