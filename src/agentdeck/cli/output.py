"""What the ``agentdeck`` commands share: consoles, options, exit codes, printing.

`exit_code_for` is the CLI's one mapping of error kinds to exit codes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from agentdeck.cli.remote import AMBIGUOUS, Event, Remote, ToolFailed, Unauthorized, Unreachable
from agentdeck.errors import ConfigError
from agentdeck.model import Event as StoredEvent

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
TITLE_LENGTH = 80
USAGE_ERRORS = frozenset({"validation_error", "config_error", AMBIGUOUS})
SUCCESS_STATUSES = frozenset({"waiting", "completed"})
STATUS_STYLES = {
    "pending": "yellow",
    "in_progress": "cyan",
    "waiting": "green",
    "input_required": "magenta",
    "interrupted": "yellow",
    "parked": "yellow",
    "completed": "green",
    "failed": "red",
    "cancelled": "red",
}
LOG_STYLES = {
    "status": "dim",
    "session": "dim",
    "turn_started": "bold",
    "tool_call": "cyan",
    "stderr": "dim yellow",
    "log": "dim",
    "permission_request": "magenta",
}

out = Console(highlight=False, soft_wrap=True)
problems = Console(stderr=True, highlight=False, soft_wrap=True)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="agentdeck's MCP endpoint (default: $AGENTDECK_URL, else the URL stored by "
        "`agentdeck login`, else http://HOST:PORT/mcp from the configuration). The token: "
        "$AGENTDECK_TOKEN, else the stored login's.",
        show_default=False,
    ),
]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait/--no-wait",
        help="Follow the task live until its turn ends; exit 0 if it is then waiting or "
        "completed, 1 if it failed, was cancelled or interrupted.",
    ),
]
TaskId = Annotated[
    str, typer.Argument(help="Task id, any unique prefix of it, or the agent session id.")
]


def fail(message: str, code: int) -> typer.Exit:
    problems.print(Text(message, style="red"))
    return typer.Exit(code)


def exit_code_for(kind: str) -> int:
    """2 for what the user typed or configured wrong, 1 for everything else."""
    return EXIT_USAGE if kind in USAGE_ERRORS else EXIT_FAILED


class _Following:
    """The task a command follows live, if any: what Ctrl-C detaches from."""

    task_id: str | None = None


@contextmanager
def following(task_id: str) -> Iterator[None]:
    """Mark ``task_id`` as followed for the block (Ctrl-C then names it).

    Kept when the block is cancelled: Ctrl-C cancels it before `run_client` reports.
    """
    _Following.task_id = task_id
    yield
    _Following.task_id = None


def run_client(work: Callable[[], Awaitable[int]]) -> None:
    """Run ``work``, report the client's errors on stderr, exit with its code."""
    _Following.task_id = None
    try:
        code = anyio.run(work)
    except (Unreachable, Unauthorized) as exc:
        raise fail(f"error: {exc.message}", EXIT_USAGE) from None
    except ToolFailed as exc:
        raise fail(f"error ({exc.kind}): {exc.message}", exit_code_for(exc.kind)) from None
    except ConfigError as exc:
        raise fail(f"error (config_error): {exc.message}", EXIT_USAGE) from None
    except KeyboardInterrupt:
        raise fail(detach_message(_Following.task_id), EXIT_INTERRUPTED) from None
    raise typer.Exit(code)


def detach_message(task_id: str | None) -> str:
    """What Ctrl-C says: the CLI stops following, the task does not stop."""
    if task_id is None:
        return "stopped; a task that started goes on: agentdeck tasks"
    return f"detached; the task goes on: agentdeck logs -f {task_id}"


def print_table(table: Table, wide: bool = False) -> None:
    """``table`` in the terminal's width, or (``wide``) as wide as its cells need."""
    if not wide:
        out.print(table)
        return
    natural = Measurement.get(out, out.options.update(width=10_000), table).maximum
    Console(
        file=out.file,
        width=max(out.width, natural),
        highlight=False,
        force_terminal=out.is_terminal,
        no_color=out.no_color,
    ).print(table)


def exit_code(status: str) -> int:
    return EXIT_OK if status in SUCCESS_STATUSES else EXIT_FAILED


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLES.get(status, ""))


def first_line(text: str, limit: int = 200) -> str:
    lines = text.strip().splitlines()
    line = lines[0] if lines else ""
    if len(lines) > 1:
        line += " …"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def brief(value: Any) -> str:
    """A tool input in one line: its command / path / pattern, else its JSON."""
    if isinstance(value, dict):
        for key in ("command", "file_path", "notebook_path", "path", "pattern", "url"):
            if key in value:
                return first_line(str(value[key]))
        return first_line(json.dumps(value, default=str))
    return first_line(str(value))


def default_title(instructions: str) -> str:
    """The first non-blank line of ``instructions``, at most `TITLE_LENGTH` characters."""
    line = next((ln.strip() for ln in instructions.splitlines() if ln.strip()), "")
    return line if len(line) <= TITLE_LENGTH else line[: TITLE_LENGTH - 1] + "…"


def when(iso: str | None) -> str:
    """``2026-11-27 14:03:12 (3m ago)``: an ISO timestamp in local time, and how long ago."""
    if not iso:
        return "—"
    local = datetime.fromisoformat(iso).astimezone()
    return f"{local.strftime('%Y-%m-%d %H:%M:%S')} ({ago(iso)})"


def ago(iso: str | None) -> str:
    """``3m ago``: how long ago an ISO timestamp was."""
    if not iso:
        return "—"
    seconds = max(0, int((datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def countdown(iso: str | None) -> str:
    """``in 14m`` until an ISO timestamp (``now`` once it has passed)."""
    if not iso:
        return "—"
    seconds = int((datetime.fromisoformat(iso) - datetime.now(UTC)).total_seconds())
    if seconds <= 0:
        return "now"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"in {seconds // size}{unit}"
    return f"in {seconds}s"


def cost(value: Any) -> str:
    return f"${float(value):.4f}" if isinstance(value, int | float) else "n/a"


def local_time(iso: str | None, fmt: str = "%H:%M:%S") -> str:
    """An ISO timestamp (now if None) in local time."""
    moment = datetime.fromisoformat(iso) if iso else datetime.now(UTC)
    return moment.astimezone().strftime(fmt)


def stamped(stamp: str, body: Text) -> Text:
    """``body`` after ``stamp``; its further lines indented under the first."""
    text = Text()
    for i, line in enumerate(body.split("\n")):
        text.append("\n" if i else "")
        text.append(f"{stamp} " if i == 0 else " " * (len(stamp) + 1), style="dim")
        text.append_text(line)
    return text


LOG_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] ")
LOG_FORMAT = "%Y-%m-%d %H:%M:%S"
LOG_INDENT = " " * len("[2026-01-01 00:00:00] ")  # a log entry's further lines, under its text


def local_log(text: str) -> str:
    """The server's log text (UTC stamps) with local stamps; each further line of an
    entry indented under its first."""
    lines: list[str] = []
    for line in text.splitlines():
        match = LOG_STAMP.match(line)
        if match:
            utc = datetime.strptime(match[1], LOG_FORMAT).replace(tzinfo=UTC)
            line = f"[{utc.astimezone().strftime(LOG_FORMAT)}] {line[match.end() :]}"
        elif lines:  # a further line of the entry above (the first line may be a header)
            line = LOG_INDENT + line
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")


class TurnPrinter:
    """Prints a task's events as they come, each line after its local time: the agent's
    words, its tool calls, the result."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.last_message = ""
        self.shown_errors: set[str] = set()

    def __call__(self, event: Event) -> None:
        line = self.render(event)
        if line is not None:
            self.console.print(stamped(local_time(event.get("ts")), line))

    def render(self, event: Event) -> Text | None:
        """The line for ``event``, or ``None`` for events not worth one."""
        data: dict[str, Any] = event.get("data") or {}
        turn = event.get("turn")
        match event.get("kind"):
            case "turn_started":
                return Text(
                    f"▶ turn {turn}: {first_line(str(data.get('instructions', '')))}", style="bold"
                )
            case "session":
                return Text(
                    f"  agent session {data.get('session_id')} · model {data.get('model')}",
                    style="dim",
                )
            case "message":
                return self._message(data)
            case "tool_call":
                return Text.assemble(
                    ("  → ", "cyan"),
                    (str(data.get("name")), "bold cyan"),
                    " ",
                    brief(data.get("input")),
                )
            case "tool_result":
                return self._tool_result(data)
            case "permission_request":
                what = data.get("summary") or data.get("tool")
                return Text(f"? the agent needs your decision: {what}", style="bold magenta")
            case "turn_finished":
                return self._finished(turn, data)
            case "stderr" if data.get("notice"):  # a banner or terminal warning
                return Text(f"  notice: {data.get('line', '')}", style="dim")
            case "stderr":
                return Text(f"  stderr: {data.get('line', '')}", style="dim yellow")
            case "log":
                return Text(f"  agentdeck: {data.get('text') or data}", style="dim")
            case "status":
                reason = f" ({data['reason']})" if data.get("reason") else ""
                return Text(
                    f"  status {data.get('from') or '—'} → {data.get('to')}{reason}", style="dim"
                )
        return None

    def _message(self, data: dict[str, Any]) -> Text | None:
        if data.get("role", "assistant") != "assistant":
            return None
        self.last_message = str(data.get("text", "")).strip()
        return Text(self.last_message)

    def _tool_result(self, data: dict[str, Any]) -> Text:
        output = first_line(str(data.get("output") or "")) or "(no output)"
        if data.get("is_error"):
            return Text(f"    ✗ {output}", style="red")
        return Text(f"    ← {output}", style="dim")

    def _finished(self, turn: Any, data: dict[str, Any]) -> Text:
        if not data.get("success"):
            error = str(data.get("error") or "unknown error")
            self.shown_errors.add(error)
            return Text.assemble((f"✗ turn {turn} failed: ", "bold red"), (error, "red"))
        result = str(data.get("result_text") or "").strip()
        if result and result != self.last_message:
            return Text.assemble(("✓ result: ", "bold green"), result)
        return Text(f"✓ turn {turn} finished", style="bold green")


def log_printer(console: Console) -> Callable[[Event], None]:
    """Prints events as ``task://{id}/logs`` lines (one per event, in local time)."""
    from agentdeck.core import log_line  # the core is imported when used: the CLI starts fast

    def show(raw: Event) -> None:
        event = StoredEvent.from_dict(raw)
        line = log_line(event)
        if line is not None:
            stamp = f"[{event.ts.astimezone().strftime(LOG_FORMAT)}]"
            console.print(stamped(stamp, Text(line, style=LOG_STYLES.get(event.kind, ""))))

    return show


def stats(task: dict[str, Any]) -> str:
    tokens = task.get("tokens") or {}
    return (
        f"cost {cost(task.get('cost_usd'))} · tokens {tokens.get('input', 0):,} in / "
        f"{tokens.get('output', 0):,} out · {task.get('num_turns', 0)} model turns · "
        f"{task.get('duration_human', '?')}"
    )


def print_outcome(task: dict[str, Any], printer: TurnPrinter) -> None:
    """The line after a followed turn: final status, cost, and what to do next."""
    status, task_id = str(task.get("status")), str(task.get("id"))
    mark = "✓" if status in SUCCESS_STATUSES else "✗"
    out.print(
        Text.assemble(
            (f"{mark} ", STATUS_STYLES.get(status, "")),
            status_text(status),
            f" · {task_id} · {stats(task)}",
        )
    )
    error = task.get("error")
    if error and error not in printer.shown_errors:
        out.print(Text(f"error: {error}", style="red"))
    if status == "waiting":
        out.print(
            Text(f'next: agentdeck continue {task_id} "…"  ·  agentdeck end {task_id}', style="dim")
        )
    elif status == "interrupted":
        out.print(
            Text(
                f'agentdeck restarted mid-turn; resume: agentdeck continue {task_id} "go on"',
                style="dim",
            )
        )


async def follow_turn(remote: Remote, task_id: str, after: int, prompt: bool = False) -> int:
    """Print the task's events after ``after`` live until its turn ends; the exit code.

    Each decision the task waits on gets the commands that answer it; with ``prompt``
    (on a terminal) the user is also asked, and the answer is sent.
    """
    from agentdeck.cli.decisions import Decisions, interactive, terminal_reader

    printer = TurnPrinter(out)
    reader = terminal_reader(out) if prompt and interactive() else None
    decisions = Decisions(remote, task_id, out, reader)

    def on_event(event: Event) -> None:
        printer(event)
        decisions.see(event)

    with following(task_id):
        async with anyio.create_task_group() as tg:
            if reader is not None:
                tg.start_soon(decisions.answer)
            status = await remote.follow(task_id, on_event, after)
            tg.cancel_scope.cancel()
        print_outcome(await remote.task(task_id), printer)
    return exit_code(status)


def absolute_project(path: Path | None) -> str | None:
    """The project as the server must see it: absolute (the server runs elsewhere)."""
    return str(path.expanduser().resolve()) if path else None
