"""The pure parts of the Codex app-server adapter: modes, notifications → events,
approval requests → agentdeck's questions, decisions → replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agentdeck.agents.codex_app import RpcError
from agentdeck.agents.codex_app_events import (
    COMMAND_APPROVAL,
    FILE_APPROVAL,
    TurnEvents,
    approval_question,
    approval_reply,
    error_kind,
    error_text,
    limit_resets_at,
    thread_policy,
    tool_call,
    unwrap_command,
    window_resets_at,
)

THREAD = "thr-1"
TURN = "turn-2"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [data for k, data in self.events if k == kind]


def _tokens(total_in: int, total_out: int, last_in: int, last_out: int, turn: str = TURN) -> Any:
    def breakdown(i: int, o: int) -> dict[str, int]:
        return {
            "totalTokens": i + o,
            "inputTokens": i,
            "cachedInputTokens": 0,
            "cacheWriteInputTokens": 0,
            "outputTokens": o,
            "reasoningOutputTokens": 0,
        }

    usage = {"total": breakdown(total_in, total_out), "last": breakdown(last_in, last_out)}
    return {"threadId": THREAD, "turnId": turn, "tokenUsage": usage}


def _command(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "commandExecution",
        "id": "call_1",
        "command": "/bin/bash -lc \"printf '%s' hi > hello.txt\"",
        "cwd": "/work",
        "status": status,
        "aggregatedOutput": None,
        "exitCode": None,
        **extra,
    }


@pytest.mark.parametrize(
    ("mode", "policy", "sandbox"),
    [
        ("bypassPermissions", "never", "danger-full-access"),
        ("default", "untrusted", "workspace-write"),
        ("acceptEdits", "never", "workspace-write"),
        ("plan", "never", "read-only"),
    ],
)
def test_permission_modes_become_thread_policies(mode: str, policy: str, sandbox: str) -> None:
    assert thread_policy(mode) == {"approvalPolicy": policy, "sandbox": sandbox}


@pytest.mark.parametrize(
    ("wrapped", "command"),
    [
        ("/bin/bash -lc \"printf '%s' hi > a.txt\"", "printf '%s' hi > a.txt"),
        ("bash -c 'npm test'", "npm test"),
        ("/usr/bin/zsh -lc ls", "ls"),
        ("npm test", "npm test"),
        ("python -c 'print(1)'", "python -c 'print(1)'"),  # not a shell: kept whole
        ('bash -lc "unterminated', 'bash -lc "unterminated'),
    ],
)
def test_the_shell_wrapper_is_taken_off(wrapped: str, command: str) -> None:
    assert unwrap_command(wrapped) == command


def test_a_command_maps_to_shell_call_and_result() -> None:
    rec = Recorder()
    events = TurnEvents(rec, THREAD)
    events.notification("turn/started", {"threadId": THREAD, "turn": {"id": TURN}})
    events.notification("item/started", {"item": _command("inProgress")})
    events.notification("item/started", {"item": _command("inProgress")})  # once only
    done = _command("completed", aggregatedOutput="ok\n", exitCode=0)
    events.notification("item/completed", {"item": done})
    assert rec.kinds() == ["tool_call", "tool_result"]
    call, result = rec.events[0][1], rec.events[1][1]
    assert call == {
        "id": "call_1",
        "name": "shell",
        "input": {"command": "printf '%s' hi > hello.txt"},
    }
    assert result["output"] == "ok\n" and not result["is_error"] and result["exit_code"] == 0
    assert events.turn_id == TURN


def test_declined_and_failed_commands_are_errors() -> None:
    rec = Recorder()
    events = TurnEvents(rec)
    events.notification("item/completed", {"item": _command("declined")})
    failed = dict(_command("completed", aggregatedOutput="boom", exitCode=2), id="call_2")
    events.notification("item/completed", {"item": failed})
    declined, nonzero = rec.of("tool_result")
    assert declined["is_error"] and declined["output"] == "declined"
    assert nonzero["is_error"] and nonzero["exit_code"] == 2


def test_other_items_messages_reasoning_and_steers() -> None:
    rec = Recorder()
    events = TurnEvents(rec)
    user = {"type": "userMessage", "id": "u1", "content": []}
    events.notification("item/completed", {"item": user})
    events.notification("item/started", {"item": {"type": "agentMessage", "id": "m", "text": ""}})
    events.notification("item/agentMessage/delta", {"itemId": "m", "delta": "Hel"})
    message = {"type": "agentMessage", "id": "m", "text": "Hello"}
    events.notification("item/completed", {"item": message})
    thinking = {"type": "reasoning", "id": "r", "summary": ["think"], "content": []}
    events.notification("item/completed", {"item": thinking})
    patch = {
        "type": "fileChange",
        "id": "p",
        "status": "completed",
        "changes": [{"path": "a.py", "kind": {"type": "add"}, "diff": "+x"}],
    }
    events.notification("item/completed", {"item": patch})
    events.notification("item/completed", {"item": dict(user, id="u2")})  # a steer, read
    assert rec.kinds() == ["message", "log", "tool_call", "tool_result", "log"]
    assert rec.events[0][1] == {"role": "assistant", "text": "Hello"}
    assert rec.events[1][1]["reasoning"] and rec.events[1][1]["text"] == "think"
    assert rec.events[2][1]["name"] == "apply_patch"
    assert rec.events[3][1]["output"] == "a.py"
    assert rec.events[4][1]["read"] is True
    assert events.result_text == "Hello"


def test_usage_is_the_turn_s_difference_of_thread_totals() -> None:
    rec = Recorder()
    fresh = TurnEvents(rec)
    fresh.notification("turn/started", {"turn": {"id": TURN}})
    fresh.notification("thread/tokenUsage/updated", _tokens(100, 10, 100, 10))
    fresh.notification("thread/tokenUsage/updated", _tokens(250, 30, 150, 20))
    assert fresh.usage() is not None
    assert fresh.usage()["input_tokens"] == 250 and fresh.usage()["output_tokens"] == 30  # type: ignore[index]

    resumed = TurnEvents(rec)  # a resumed thread first restates its totals, old turn id
    resumed.notification("thread/tokenUsage/updated", _tokens(250, 30, 150, 20, turn="old"))
    resumed.notification("turn/started", {"turn": {"id": TURN}})
    resumed.notification("thread/tokenUsage/updated", _tokens(370, 35, 120, 5))
    usage = resumed.usage()
    assert usage is not None
    assert (usage["input_tokens"], usage["output_tokens"], usage["cost_known"]) == (120, 5, False)
    assert TurnEvents(rec).usage() is None  # no report: no usage event


def test_turn_outcomes_and_the_usage_limit() -> None:
    rec = Recorder()
    ok = TurnEvents(rec)
    ok.notification("turn/completed", {"turn": {"id": TURN, "status": "completed"}})
    assert ok.completed.is_set() and ok.failure() is None

    limited = TurnEvents(rec)
    error = {"message": "You've hit your usage limit.", "codexErrorInfo": "usageLimitExceeded"}
    limited.notification("error", {"error": error, "willRetry": False})
    limited.notification("turn/completed", {"turn": {"status": "failed", "error": error}})
    failure = limited.failure()
    assert failure is not None
    text, extra = failure
    assert text == "Codex: You've hit your usage limit."
    assert extra["usage_limit"] == {"message": "You've hit your usage limit."}
    assert extra["codex_error"] == "usageLimitExceeded"
    assert rec.of("log")[-1]["codex_error"] == "usageLimitExceeded"

    retried = TurnEvents(rec)
    retry = {"message": "Reconnecting... 1/5", "codexErrorInfo": None}
    retried.notification("error", {"error": retry, "willRetry": True})
    assert rec.of("log")[-1]["level"] == "warning"
    retried.notification("turn/completed", {"turn": {"status": "interrupted", "error": None}})
    assert retried.failure() == ("Codex: the turn was interrupted", {"turn_status": "interrupted"})


def test_a_usage_limit_without_a_time_in_its_text_resets_with_the_spent_window() -> None:
    spent, other = 1_800_000_000, 1_900_000_000
    limits = {
        "primary": {"usedPercent": 100, "resetsAt": spent, "windowDurationMins": 300},
        "secondary": {"usedPercent": 40, "resetsAt": other, "windowDurationMins": 10080},
    }
    limited = TurnEvents(Recorder())
    limited.notification("account/rateLimits/updated", {"rateLimits": limits})
    error = {"message": "You've hit your usage limit.", "codexErrorInfo": "usageLimitExceeded"}
    limited.notification("turn/completed", {"turn": {"status": "failed", "error": error}})
    failure = limited.failure()
    assert failure is not None
    assert failure[1]["usage_limit"]["resets_at"] == datetime.fromtimestamp(spent, UTC).isoformat()
    assert window_resets_at({"primary": {"usedPercent": 3}}) is None
    assert window_resets_at(None) is None


def test_error_texts_are_readable() -> None:
    body = '{"error": {"message": "model not found", "type": "invalid_request_error"}}'
    assert error_text({"message": body}) == "model not found"
    assert error_text({"message": "stream failed", "additionalDetails": "HTTP 500"}) == (
        "stream failed: HTTP 500"
    )
    assert error_text("plain") == "plain"
    assert error_kind({"codexErrorInfo": {"httpConnectionFailed": {"httpStatusCode": 502}}}) == (
        "httpConnectionFailed"
    )
    assert error_kind({"codexErrorInfo": None}) is None
    assert str(RpcError({"code": -32600, "message": "thread not found"})) == "thread not found"
    assert str(RpcError("gone")) == "gone"


def test_approval_requests_are_asked_like_claude_s_tools() -> None:
    params = {
        "threadId": THREAD,
        "turnId": TURN,
        "itemId": "call_1",
        "command": "/bin/bash -lc 'npm test'",
        "cwd": "/work",
        "reason": "needs the network",
    }
    assert approval_question(COMMAND_APPROVAL, params, None) == (
        "Bash",
        {"command": "npm test", "cwd": "/work"},
        "needs the network",
    )
    item = {"type": "fileChange", "id": "p", "changes": [{"path": "/work/a.py"}, {"path": "b"}]}
    tool, data, prompt = approval_question(FILE_APPROVAL, {"itemId": "p"}, item)
    assert (tool, data["file_path"], data["changes"], prompt) == (
        "Edit",
        "/work/a.py",
        ["/work/a.py", "b"],
        None,
    )
    assert tool_call({"type": "webSearch", "id": "w", "query": "x"}) == (
        "web_search",
        {"query": "x"},
    )
    assert tool_call({"type": "agentMessage", "id": "m", "text": "x"}) is None


def test_decisions_become_replies() -> None:
    assert approval_reply(COMMAND_APPROVAL, True) == {"decision": "accept"}
    assert approval_reply(FILE_APPROVAL, False) == {"decision": "decline"}
    assert approval_reply("execCommandApproval", True) == {"decision": "approved"}
    assert approval_reply("applyPatchApproval", False) == {"decision": "denied"}


def test_the_usage_limit_s_reset_time_is_read_from_codex_s_text() -> None:
    now = datetime(2026, 12, 4, 14, 30, tzinfo=UTC).astimezone()
    later = limit_resets_at("You've hit your usage limit. ... or try again at 11:59 PM.", now)
    assert later is not None and later > now and (later.hour, later.minute) == (23, 59)
    earlier = (now - timedelta(minutes=1)).strftime("%I:%M %p")
    tomorrow = limit_resets_at(f"try again at {earlier}.", now)
    assert tomorrow is not None and timedelta(hours=23) < tomorrow - now < timedelta(hours=24)
    dated = limit_resets_at("try again at Dec 9th, 2026 3:05 AM.", now)
    assert dated is not None and (dated.month, dated.day, dated.hour, dated.minute) == (12, 9, 3, 5)
    assert limit_resets_at("try again later.", now) is None

    events = TurnEvents(Recorder())
    error = {
        "message": "usage limit; try again at 11:59 PM.",
        "codexErrorInfo": "usageLimitExceeded",
    }
    events.notification("turn/completed", {"turn": {"status": "failed", "error": error}})
    failure = events.failure()
    assert failure is not None and "resets_at" in failure[1]["usage_limit"]
