"""Codex app-server's notifications and requests as agentdeck's events and approvals.

Pure mapping for `agentdeck.agents.codex_app` (the wire and the turn are there):
permission modes as ``thread/start`` policy, thread items as tool calls, results and
messages, thread token totals as per-turn usage, ``codexErrorInfo`` and its "try
again at ..." time as the turn's failure, approval requests as agentdeck questions.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from agentdeck.agents._cli import tool_result
from agentdeck.model import EventKind

TOKEN_KEYS = (
    "inputTokens",
    "cachedInputTokens",
    "cacheWriteInputTokens",
    "outputTokens",
    "reasoningOutputTokens",
)
COMMAND_APPROVAL = "item/commandExecution/requestApproval"
FILE_APPROVAL = "item/fileChange/requestApproval"
LEGACY_APPROVALS = ("execCommandApproval", "applyPatchApproval")  # protocol v1
_SHELLS = ("bash", "sh", "zsh", "dash")

Emitter = Callable[[str, dict[str, Any]], None]


# -- modes -------------------------------------------------------------------------


def thread_policy(mode: str) -> dict[str, str]:
    """agentdeck's permission mode as ``thread/start`` ``approvalPolicy`` and ``sandbox``."""
    if mode == "bypassPermissions":
        return {"approvalPolicy": "never", "sandbox": "danger-full-access"}
    if mode == "default":
        return {"approvalPolicy": "untrusted", "sandbox": "workspace-write"}
    if mode == "acceptEdits":
        return {"approvalPolicy": "never", "sandbox": "workspace-write"}
    return {"approvalPolicy": "never", "sandbox": "read-only"}


# -- the mapping of notifications and requests (pure) -------------------------------


def unwrap_command(command: str) -> str:
    """``/bin/bash -lc "<cmd>"`` → ``<cmd>`` (what rules like ``Bash(npm test:*)`` see)."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    if len(words) == 3 and words[0].rsplit("/", 1)[-1] in _SHELLS and words[1] in ("-c", "-lc"):
        return words[2]
    return command


def error_text(error: object) -> str:
    """A Codex ``TurnError`` (or a bare message) as one readable line."""
    if not isinstance(error, dict):
        return str(error or "")
    message = str(error.get("message") or "")
    with contextlib.suppress(ValueError, TypeError):  # API error bodies come as JSON text
        body = json.loads(message)
        inner = body.get("error", body) if isinstance(body, dict) else None
        if isinstance(inner, dict) and inner.get("message"):
            message = str(inner["message"])
    details = error.get("additionalDetails")
    if details and str(details) not in message:
        message = f"{message}: {details}" if message else str(details)
    return message


def error_kind(error: object) -> str | None:
    """The name of a ``codexErrorInfo`` (``"usageLimitExceeded"``, ...), if any."""
    info = error.get("codexErrorInfo") if isinstance(error, dict) else None
    if isinstance(info, str):
        return info
    if isinstance(info, dict) and info:
        return str(next(iter(info)))
    return None


_TRY_AGAIN = re.compile(
    r"try again at (?:(?P<month>[A-Z][a-z]{2}) (?P<day>\d{1,2})(?:st|nd|rd|th)?, (?P<year>\d{4}) )?"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})\s*(?P<half>[AP]M)",
    re.IGNORECASE,
)


def limit_resets_at(text: str, now: datetime | None = None) -> datetime | None:
    """When a usage limit resets, from Codex's "... or try again at 3:02 PM." (the next
    such local time) or "... try again at Dec 5th, 2026 3:02 PM."; None: it does not say."""
    match = _TRY_AGAIN.search(text)
    if match is None:
        return None
    local = (now or datetime.now().astimezone()).astimezone()
    hour = int(match["hour"]) % 12 + (12 if match["half"].upper() == "PM" else 0)
    minute = int(match["minute"])
    if match["month"]:
        try:
            month = datetime.strptime(match["month"].title(), "%b").month
            return local.replace(
                year=int(match["year"]),
                month=month,
                day=int(match["day"]),
                hour=hour,
                minute=minute,
                second=0,
                microsecond=0,
            )
        except ValueError:
            return None
    when = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return when if when > local else when + timedelta(days=1)


def window_resets_at(limits: dict[str, Any] | None) -> datetime | None:
    """When the spent window of a ``RateLimitSnapshot`` resets (the latest of the full
    ones, else of any): ``resetsAt`` is epoch seconds; None when it does not say."""
    windows = [w for w in ((limits or {}).get(k) for k in ("primary", "secondary"))
               if isinstance(w, dict) and isinstance(w.get("resetsAt"), int)]  # fmt: skip
    full = [w for w in windows if int(w.get("usedPercent") or 0) >= 100] or windows
    if not full:
        return None
    return datetime.fromtimestamp(max(int(w["resetsAt"]) for w in full), UTC)


def tool_call(item: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """A thread item that is a tool use, as agentdeck's (name, input); None otherwise."""
    kind = item.get("type")
    if kind == "commandExecution":
        return "shell", {"command": unwrap_command(str(item.get("command") or ""))}
    if kind == "fileChange":
        return "apply_patch", {"changes": item.get("changes") or []}
    if kind == "mcpToolCall":
        return f"{item.get('server')}.{item.get('tool')}", {"arguments": item.get("arguments")}
    if kind == "dynamicToolCall":
        return str(item.get("tool") or "tool"), {"arguments": item.get("arguments")}
    if kind == "webSearch":
        return "web_search", {"query": item.get("query")}
    return None


def _tool_output(item: dict[str, Any]) -> tuple[str, bool, dict[str, Any]]:
    status = item.get("status")
    failed = status in ("failed", "declined")
    if item.get("type") == "commandExecution":
        code = item.get("exitCode")
        failed = failed or (code is not None and code != 0)
        output = str(item.get("aggregatedOutput") or "")
        if status == "declined" and not output:
            output = "declined"
        return output, failed, {"exit_code": code, "status": status}
    if item.get("type") == "fileChange":
        changes = item.get("changes") or []
        paths = [str(c.get("path")) for c in changes if isinstance(c, dict)]
        return "\n".join(paths) or str(status or ""), failed, {"status": status}
    raw = item.get("result") or item.get("contentItems") or item.get("error") or ""
    output = raw if isinstance(raw, str) else json.dumps(raw)
    return output, failed or item.get("success") is False, {"status": status}


def approval_question(
    method: str, params: dict[str, Any], item: dict[str, Any] | None
) -> tuple[str, dict[str, Any], str | None]:
    """A server's approval request as (tool, input, prompt) for `TurnRequest.approve`.

    Named like Claude's tools so that approval policies and rules apply: a command is
    ``Bash`` with the command Codex would run (its shell wrapper taken off), a patch is
    ``Edit`` with its first file. ``item`` is the thread item the request is about.
    """
    reason = params.get("reason") or None
    if method in (COMMAND_APPROVAL, "execCommandApproval"):
        raw = params.get("command") or (item or {}).get("command") or ""
        command = " ".join(map(str, raw)) if isinstance(raw, list) else str(raw)
        data: dict[str, Any] = {"command": unwrap_command(command)}
        if params.get("cwd"):
            data["cwd"] = str(params["cwd"])
        return "Bash", data, reason
    changes = list((item or {}).get("changes") or [])
    if not changes and isinstance(params.get("fileChanges"), dict):  # v1
        changes = [{"path": p} for p in params["fileChanges"]]
    data = {"changes": [c.get("path") for c in changes if isinstance(c, dict)]}
    if data["changes"]:
        data["file_path"] = str(data["changes"][0])
    if params.get("grantRoot"):
        data["grant_root"] = str(params["grantRoot"])
    return "Edit", data, reason


def approval_reply(method: str, allowed: bool) -> dict[str, Any]:
    """The answer to an approval request: ``accept`` / ``decline`` (v1: approved/denied)."""
    if method in LEGACY_APPROVALS:
        return {"decision": "approved" if allowed else "denied"}
    return {"decision": "accept" if allowed else "decline"}


def _usage_of(tokens: dict[str, Any]) -> dict[str, int]:
    return {k: int(tokens.get(k) or 0) for k in TOKEN_KEYS}


class TurnEvents:
    """Maps one turn's notifications to normalized events, and judges the turn."""

    def __init__(self, emit: Emitter, thread_id: str | None = None) -> None:
        self.emit = emit
        self.thread_id = thread_id
        self.turn_id: str | None = None
        self.items: dict[str, dict[str, Any]] = {}  # tool items, by id (for approvals)
        self.announced: set[str] = set()
        self.results: set[str] = set()
        self.result_text: str | None = None
        self.before: dict[str, int] | None = None  # thread totals before this turn
        self.total: dict[str, int] | None = None
        self.status: str | None = None  # of ``turn/completed``
        self.error: dict[str, Any] | None = None
        self.last_error: dict[str, Any] | None = None
        self.rate_limits: dict[str, Any] | None = None  # account/rateLimits/updated
        self.user_messages = 0
        self.completed = anyio.Event()

    def notification(self, method: str, params: dict[str, Any]) -> None:
        if method in ("item/started", "item/completed"):
            item = params.get("item")
            if isinstance(item, dict):
                self.item(item, done=method == "item/completed")
        elif method == "turn/started":
            turn = params.get("turn") or {}
            self.turn_id = str(turn.get("id") or "") or self.turn_id
        elif method == "thread/tokenUsage/updated":
            self.tokens(params.get("tokenUsage") or {}, params.get("turnId"))
        elif method == "error":
            error = params.get("error") or {}
            text = error_text(error)
            if params.get("willRetry"):
                self.emit(EventKind.LOG, {"source": "agent", "level": "warning", "text": text})
            else:
                self.last_error = error if isinstance(error, dict) else {"message": text}
                data: dict[str, Any] = {"source": "agent", "level": "error", "text": text}
                if kind := error_kind(error):
                    data["codex_error"] = kind
                self.emit(EventKind.LOG, data)
        elif method in ("warning", "configWarning", "deprecationNotice"):
            warning = params.get("message") or params.get("summary")
            if warning:
                self.emit(EventKind.LOG, {"source": "agent", "level": "warning", "text": warning})
        elif method == "account/rateLimits/updated":
            limits = params.get("rateLimits")
            self.rate_limits = limits if isinstance(limits, dict) else None
        elif method == "turn/completed":
            turn = params.get("turn") or {}
            self.status = str(turn.get("status") or "completed")
            error = turn.get("error")
            self.error = error if isinstance(error, dict) else None
            self.completed.set()

    def item(self, item: dict[str, Any], done: bool) -> None:
        item_id = str(item.get("id") or "")
        kind = item.get("type")
        call = tool_call(item)
        if call is not None:
            self.items[item_id] = item
            if item_id not in self.announced:
                self.announced.add(item_id)
                self.emit(EventKind.TOOL_CALL, {"id": item_id, "name": call[0], "input": call[1]})
            if done and item_id not in self.results:
                self.results.add(item_id)
                output, failed, extra = _tool_output(item)
                self.emit(EventKind.TOOL_RESULT, tool_result(item_id, output, failed, **extra))
            return
        if not done:
            return
        if kind == "agentMessage" and item.get("text"):
            self.result_text = str(item["text"])
            self.emit(EventKind.MESSAGE, {"role": "assistant", "text": self.result_text})
        elif kind == "userMessage":
            self.user_messages += 1
            if self.user_messages > 1:  # the first is the turn's own instructions
                note = {"source": "steer", "text": "the agent read the message", "read": True}
                self.emit(EventKind.LOG, note)
        elif kind == "reasoning":
            text = "\n".join(map(str, [*(item.get("summary") or []), *(item.get("content") or [])]))
            if text:
                self.emit(EventKind.LOG, {"source": "agent", "reasoning": True, "text": text})
        elif kind == "plan" and item.get("text"):
            self.emit(EventKind.LOG, {"source": "agent", "plan": item["text"]})
        elif kind == "contextCompaction":
            self.emit(EventKind.LOG, {"source": "agent", "text": "context compacted"})

    def tokens(self, usage: dict[str, Any], turn_id: object = None) -> None:
        """Codex reports the thread's running totals. A resumed thread first restates them
        (with its last turn's id, before ``turn/started``): that is where this turn starts.
        Otherwise the first report of the turn, less its own request (``last``), is."""
        total, last = usage.get("total"), usage.get("last")
        if not isinstance(total, dict):
            return
        counts = _usage_of(total)
        if turn_id is not None and (self.turn_id is None or str(turn_id) != self.turn_id):
            if self.before is None:
                self.before = counts
            return
        self.total = counts
        if self.before is None:
            last_counts = _usage_of(last) if isinstance(last, dict) else {}
            self.before = {k: counts[k] - last_counts.get(k, 0) for k in TOKEN_KEYS}

    def usage(self) -> dict[str, Any] | None:
        if self.total is None:
            return None
        before = self.before or dict.fromkeys(TOKEN_KEYS, 0)
        delta = {k: max(0, self.total[k] - before.get(k, 0)) for k in TOKEN_KEYS}
        return {
            "input_tokens": max(0, delta["inputTokens"] - delta["cachedInputTokens"]),
            "output_tokens": delta["outputTokens"],
            "cache_read_tokens": delta["cachedInputTokens"],
            "cache_creation_tokens": delta["cacheWriteInputTokens"],
            "reasoning_tokens": delta["reasoningOutputTokens"],
            "cost_usd": 0.0,
            "cost_known": False,
        }

    def failure(self) -> tuple[str, dict[str, Any]] | None:
        """Why the turn failed and what goes with it in ``turn_finished``; None: success."""
        if self.status == "completed":
            return None
        error = self.error or self.last_error
        extra: dict[str, Any] = {"turn_status": self.status}
        kind = error_kind(error)
        if kind:
            extra["codex_error"] = kind
        text = error_text(error) if error else ""
        if kind == "usageLimitExceeded":
            limit: dict[str, Any] = {"message": text or "usage limit reached"}
            resets = limit_resets_at(text) or window_resets_at(self.rate_limits)
            if resets is not None:
                limit["resets_at"] = resets.isoformat()
            extra["usage_limit"] = limit
        if self.status == "interrupted":
            return "Codex: the turn was interrupted" + (f": {text}" if text else ""), extra
        return f"Codex: {text or 'the turn failed'}", extra


__all__ = [
    "COMMAND_APPROVAL",
    "FILE_APPROVAL",
    "LEGACY_APPROVALS",
    "TurnEvents",
    "approval_question",
    "approval_reply",
    "error_kind",
    "error_text",
    "limit_resets_at",
    "thread_policy",
    "tool_call",
    "unwrap_command",
    "window_resets_at",
]
