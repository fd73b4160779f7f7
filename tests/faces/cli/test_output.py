"""What the CLI prints for events, and its exit codes for each kind of error."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from agentdeck.cli.output import (
    EXIT_FAILED,
    EXIT_USAGE,
    TurnPrinter,
    default_title,
    detach_message,
    exit_code_for,
    local_log,
)


def render(printer: TurnPrinter, kind: str, **data: object) -> str:
    line = printer.render({"kind": kind, "turn": 1, "data": data})
    return "" if line is None else line.plain


def test_a_turn_reads_as_a_person_would() -> None:
    printer = TurnPrinter(Console())
    assert render(printer, "turn_started", instructions="add tests\nand docs") == (
        "▶ turn 1: add tests …"
    )
    assert render(printer, "tool_call", name="Bash", input={"command": "pytest -q"}) == (
        "  → Bash pytest -q"
    )
    assert render(printer, "tool_result", output="3 passed", is_error=False) == "    ← 3 passed"
    assert render(printer, "tool_result", output="boom", is_error=True) == "    ✗ boom"
    assert render(printer, "message", role="assistant", text="All green.") == "All green."
    # the result that repeats the last message is not printed twice
    assert render(printer, "turn_finished", success=True, result_text="All green.") == (
        "✓ turn 1 finished"
    )
    assert render(printer, "turn_finished", success=False, error="rate limited") == (
        "✗ turn 1 failed: rate limited"
    )
    assert "rate limited" in printer.shown_errors
    assert render(printer, "usage", input_tokens=3) == ""


def test_exit_codes_by_error_kind() -> None:
    assert exit_code_for("validation_error") == EXIT_USAGE
    assert exit_code_for("config_error") == EXIT_USAGE
    assert exit_code_for("ambiguous_id") == EXIT_USAGE  # an id prefix of several tasks
    for kind in ("not_found", "invalid_state", "forbidden", "internal_error"):
        assert exit_code_for(kind) == EXIT_FAILED


def test_default_title_is_the_first_line() -> None:
    assert default_title("\n  fix the login bug  \nthen more") == "fix the login bug"
    assert len(default_title("x" * 200)) == 80


def test_printed_lines_start_with_their_local_time() -> None:
    console = Console(width=80, record=True)
    printer = TurnPrinter(console)
    ts = "2026-11-27T14:03:12.5+00:00"
    printer({"kind": "message", "turn": 1, "ts": ts, "data": {"text": "first\nsecond"}})
    local = datetime.fromisoformat(ts).astimezone().strftime("%H:%M:%S")
    assert console.export_text() == f"{local} first\n         second\n"


def test_the_servers_log_is_shown_in_local_time() -> None:
    server = "(showing the last 2 of 9 lines)\n[2026-11-27 14:03:12] assistant: a\nb\n"
    local = datetime(2026, 11, 27, 14, 3, 12, tzinfo=UTC).astimezone()
    assert local_log(server) == (
        "(showing the last 2 of 9 lines)\n"
        f"[{local.strftime('%Y-%m-%d %H:%M:%S')}] assistant: a\n" + " " * 22 + "b\n"
    )


def test_ctrl_c_names_the_followed_task() -> None:
    assert detach_message("t-1") == "detached; the task goes on: agentdeck logs -f t-1"
    assert "interrupted" not in detach_message(None)
