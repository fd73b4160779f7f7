"""A fake OpenAI Responses API server for offline tests of the Codex CLI.

Stdlib only. Codex ignores ``OPENAI_BASE_URL``: point a custom provider at it in
``$CODEX_HOME/config.toml`` (``base_url = "<fake.base_url>/v1"``,
``wire_api = "responses"``), or run it by hand::

    python tests/fakes/fake_openai.py --port 0 [--log requests.jsonl]

Only ``POST /v1/responses`` (``"stream": true``) matters; it answers with SSE:
``response.created``, ``response.output_item.added``, then
``response.output_text.delta`` or ``response.function_call_arguments.delta/.done``,
``response.output_item.done`` and ``response.completed`` (with usage).

The reply is chosen from the request. The current turn's instruction is the
last user message with real text (Codex's ``<environment_context>`` blocks do
not count); its directives, one per line, run in order (see `fakes.fake_anthropic`):

    WRITE <relpath> <content...>   exec_command {"cmd": "printf '%s' <content> > <cwd>/<relpath>"}
    BASH <command...>              exec_command {"cmd": <command>}
    DELAY <seconds>                wait before the next reply
    ERROR <status> <message...>    HTTP error with an OpenAI error body (``ERROR 429
                                   usage_limit_reached <text>``: a plan's usage limit)
    SAY <text...>                  the final assistant text

Steps done = ``function_call`` items after the instruction. The final text is
the SAY text, else one line per tool step, else ``Done.``, followed by
`` [<digest(instruction)>]``. Requests without tools are side calls (``kind
"side"`` in the log) and get a short text.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fakes.fake_http import (
    FakeHandler,
    FakeModelServer,
    digest,
    new_id,
    parse_directives,
    serve_main,
)

SIDE_REPLY = "Fake side reply."
_CWD_RE = re.compile(r"<cwd>([^<]+)</cwd>")


def _texts(item: dict[str, Any]) -> list[str]:
    content = item.get("content")
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [c.get("text", "") for c in content if isinstance(c, dict) and c.get("text")]


def _is_context(text: str) -> bool:
    """Codex's injected blocks: ``<environment_context>``, AGENTS.md, skills, ..."""
    text = text.strip()
    return not text or text.startswith(("<", "# AGENTS.md"))


def instruction_of(item: dict[str, Any]) -> str:
    """The real user text of a ``message`` input item ('' for other items)."""
    if item.get("type", "message") != "message" or item.get("role") != "user":
        return ""
    return "\n".join(t for t in _texts(item) if not _is_context(t)).strip()


def find_cwd(body: dict[str, Any]) -> str | None:
    for item in reversed(body.get("input") or []):
        for text in _texts(item) if isinstance(item, dict) else []:
            if m := _CWD_RE.search(text):
                return m.group(1).strip()
    return None


def user_texts(body: dict[str, Any]) -> list[str]:
    """Every real user instruction in the request's history, oldest first."""
    return [t for item in body.get("input") or [] if (t := instruction_of(item))]


@dataclass
class Reply:
    status: int = 200
    error_message: str | None = None
    delay: float = 0.0
    text: str | None = None
    command: str | None = None
    kind: str = "main"

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "kind": self.kind}
        if self.delay:
            out["delay"] = self.delay
        if self.status != 200:
            out["error"] = self.error_message
        elif self.command is not None:
            out["tool"] = {"name": "exec_command", "input": {"cmd": self.command}}
        else:
            out["text"] = self.text
        return out


def decide(body: dict[str, Any]) -> Reply:
    """Choose the reply for a ``POST /v1/responses`` body."""
    if not body.get("tools"):
        return Reply(text=SIDE_REPLY, kind="side")
    items = [i for i in body.get("input") or [] if isinstance(i, dict)]
    start, instruction = 0, ""
    for idx in range(len(items) - 1, -1, -1):
        if text := instruction_of(items[idx]):
            start, instruction = idx + 1, text
            break
    plan = parse_directives(instruction)
    calls = [i for i in items[start:] if i.get("type") == "function_call"]
    outputs = {
        i.get("call_id"): str(i.get("output", ""))
        for i in items[start:]
        if i.get("type") == "function_call_output"
    }
    step = plan.steps[min(len(calls), len(plan.steps) - 1)]
    reply = Reply(delay=step.delay)
    if step.error:
        reply.status, reply.error_message = step.error
        return reply
    if step.action:
        word, rest = step.action
        if word == "WRITE":
            rel, _, content = rest.partition(" ")
            cwd = find_cwd(body)
            path = rel if rel.startswith("/") or not cwd else f"{cwd.rstrip('/')}/{rel}"
            reply.command = f"printf '%s' {shlex.quote(content)} > {shlex.quote(path)}"
        else:
            reply.command = rest
        return reply
    if plan.say is not None:
        text = plan.say
    else:
        lines = []
        for call in calls:
            try:
                cmd = json.loads(call.get("arguments") or "{}").get("cmd")
            except ValueError:
                cmd = call.get("arguments")
            out = outputs.get(call.get("call_id"), "").strip()
            lines.append(f"Ran `{cmd}`: {out[-300:]}")
        text = "\n".join(lines) or "Done."
    reply.text = f"{text} [{digest(instruction)}]"
    return reply


def error_body(message: str) -> dict[str, Any]:
    """An OpenAI error body; a message starting with ``usage_limit_reached`` is one of the
    ChatGPT plan's usage limit (that type, a reset time an hour ahead)."""
    kind, _, rest = message.partition(" ")
    if kind == "usage_limit_reached":
        error = {"message": rest or message, "type": kind, "plan_type": "plus"}
        return {"error": {**error, "resets_at": int(time.time()) + 3600}}
    return {"error": {"message": message, "type": "invalid_request_error", "code": None}}


def _frame(data: dict[str, Any]) -> str:
    return f"event: {data['type']}\ndata: {json.dumps(data)}\n\n"


def sse_frames(reply: Reply, raw_len: int) -> list[str]:
    response_id = new_id("resp")
    item_id = new_id("item")
    out_tokens = max(1, len(reply.text or reply.command or "") // 4) + 5
    usage = {
        "input_tokens": max(1, raw_len // 4),
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": out_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": max(1, raw_len // 4) + out_tokens,
    }
    frames = [_frame({"type": "response.created", "response": {"id": response_id}})]
    if reply.command is not None:
        call_id = new_id("call")
        arguments = json.dumps({"cmd": reply.command})
        item: dict[str, Any] = {
            "type": "function_call",
            "id": item_id,
            "call_id": call_id,
            "name": "exec_command",
            "arguments": "",
            "status": "in_progress",
        }
        frames.append(
            _frame({"type": "response.output_item.added", "output_index": 0, "item": item})
        )
        for i in range(0, len(arguments), 40):
            frames.append(
                _frame(
                    {
                        "type": "response.function_call_arguments.delta",
                        "item_id": item_id,
                        "output_index": 0,
                        "delta": arguments[i : i + 40],
                    }
                )
            )
        frames.append(
            _frame(
                {
                    "type": "response.function_call_arguments.done",
                    "item_id": item_id,
                    "output_index": 0,
                    "arguments": arguments,
                }
            )
        )
        done = dict(item, arguments=arguments, status="completed")
    else:
        text = reply.text or ""
        item = {"type": "message", "id": item_id, "role": "assistant", "content": []}
        frames.append(
            _frame({"type": "response.output_item.added", "output_index": 0, "item": item})
        )
        for i in range(0, len(text), 24):
            frames.append(
                _frame(
                    {
                        "type": "response.output_text.delta",
                        "item_id": item_id,
                        "output_index": 0,
                        "content_index": 0,
                        "delta": text[i : i + 24],
                    }
                )
            )
        done = dict(
            item,
            status="completed",
            content=[{"type": "output_text", "text": text, "annotations": []}],
        )
    frames.append(_frame({"type": "response.output_item.done", "output_index": 0, "item": done}))
    frames.append(
        _frame(
            {
                "type": "response.completed",
                "response": {"id": response_id, "status": "completed", "usage": usage},
            }
        )
    )
    return frames


class _Handler(FakeHandler):
    def do_GET(self) -> None:
        self.record(None, "other", {"status": 200})
        self.send_json(200, {"object": "list", "data": [], "models": []})

    def do_POST(self) -> None:
        raw, body = self.read_body()
        path = self.path.split("?")[0].rstrip("/")
        if path != "/v1/responses" or not isinstance(body, dict):
            self.record(body, "other", {"status": 404})
            self.send_json(404, {"error": {"message": f"fake: no route {path}"}})
            return
        try:
            reply = decide(body)
        except Exception as exc:  # never crash the agent because of a fake bug
            reply = Reply(text=f"Fake internal error: {exc!r}")
        summary = reply.summary()
        if reply.status == 200:
            summary["input_tokens"] = max(1, len(raw) // 4)
        self.record(body, reply.kind, summary)
        if not self.pause(reply.delay):
            return
        try:
            if reply.status != 200:
                self.send_json(reply.status, error_body(reply.error_message or ""))
            else:
                self.send_sse(sse_frames(reply, len(raw)))
        except (BrokenPipeError, ConnectionResetError):
            pass


class FakeOpenAI(FakeModelServer):
    """Threaded fake of the OpenAI Responses API (see module docstring)."""

    handler = _Handler
    name = "fake-openai"
    SIDE_REPLY = SIDE_REPLY

    def __enter__(self) -> FakeOpenAI:
        self.start()
        return self

    @staticmethod
    def user_texts(entry: dict[str, Any]) -> list[str]:
        return user_texts(entry.get("body") or {})


if __name__ == "__main__":
    sys.exit(serve_main(FakeOpenAI, __doc__ or "fake OpenAI"))
