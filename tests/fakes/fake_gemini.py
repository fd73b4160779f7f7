"""A fake Gemini API server for offline tests of the Gemini CLI.

Stdlib only. Point the CLI at it with ``GOOGLE_GEMINI_BASE_URL=<fake.base_url>``
and ``GEMINI_API_KEY=<anything>`` (plus ``selectedType: gemini-api-key`` in
``$HOME/.gemini/settings.json``), or run it by hand::

    python tests/fakes/fake_gemini.py --port 0 [--log requests.jsonl]

Answers ``POST /v1beta/models/<model>:streamGenerateContent?alt=sse`` (and the
non-streaming ``:generateContent``) with one ``data: {"candidates": [...]}``
frame carrying either a ``functionCall`` part or a text part, plus
``usageMetadata``. ``:countTokens`` gets a token count.

The reply is chosen from the request. The current turn's instruction is the
last user content with real text (the CLI's ``<session_context>`` part does
not count); its directives, one per line, run in order (see `fakes.fake_anthropic`):

    WRITE <relpath> <content...>   write_file {"file_path": <workspace>/<relpath>, "content"}
    BASH <command...>              run_shell_command {"command": <command>}
    DELAY <seconds>                wait before the next reply
    ERROR <status> <message...>    HTTP error with a Google API error body
    SAY <text...>                  the final model text

Steps done = ``functionCall`` parts after the instruction. The final text is
the SAY text, else one line per tool step, else ``Done.``, followed by
`` [<digest(instruction)>]``. Requests without tools are side calls.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
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
_WORKSPACE_RE = re.compile(r"Workspace Directories:\*\*\s*\n\s*-\s*(/\S+)")
_CWD_RE = re.compile(r"(?:current working directory|working directory)[^/\n]*(/\S+)", re.I)
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def _parts(content: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in content.get("parts") or [] if isinstance(p, dict)]


def instruction_of(content: dict[str, Any]) -> str:
    """The real user text of one ``contents`` entry ('' if it has none)."""
    if content.get("role", "user") != "user":
        return ""
    texts = [
        p["text"].strip()
        for p in _parts(content)
        if isinstance(p.get("text"), str) and p["text"].strip() and not p["text"].startswith("<")
    ]
    return "\n".join(texts)


def user_texts(body: dict[str, Any]) -> list[str]:
    """Every real user instruction in the request's history, oldest first."""
    return [t for c in body.get("contents") or [] if (t := instruction_of(c))]


def find_cwd(body: dict[str, Any]) -> str | None:
    texts = [p.get("text", "") for c in body.get("contents") or [] for p in _parts(c)]
    texts += [p.get("text", "") for p in _parts(body.get("systemInstruction") or {})]
    for pattern in (_WORKSPACE_RE, _CWD_RE):
        for text in texts:
            if m := pattern.search(text or ""):
                return m.group(1).rstrip(".,;`'\"")
    return None


@dataclass
class Reply:
    status: int = 200
    error_message: str | None = None
    delay: float = 0.0
    text: str | None = None
    call: tuple[str, dict[str, Any]] | None = None
    kind: str = "main"
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "kind": self.kind}
        if self.delay:
            out["delay"] = self.delay
        if self.status != 200:
            out["error"] = self.error_message
        elif self.call:
            out["tool"] = {"name": self.call[0], "input": self.call[1]}
        else:
            out["text"] = self.text
        return out


def decide(body: dict[str, Any]) -> Reply:
    """Choose the reply for a ``generateContent`` body."""
    if not body.get("tools"):
        return Reply(text=SIDE_REPLY, kind="side")
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    start, instruction = 0, ""
    for idx in range(len(contents) - 1, -1, -1):
        if text := instruction_of(contents[idx]):
            start, instruction = idx + 1, text
            break
    plan = parse_directives(instruction)
    calls = [p["functionCall"] for c in contents[start:] for p in _parts(c) if "functionCall" in p]
    responses = [
        p["functionResponse"]
        for c in contents[start:]
        for p in _parts(c)
        if "functionResponse" in p
    ]
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
            reply.call = ("write_file", {"file_path": path, "content": content})
        else:
            reply.call = ("run_shell_command", {"command": rest, "description": f"Run {rest[:40]}"})
        return reply
    if plan.say is not None:
        text = plan.say
    else:
        lines = []
        for i, call in enumerate(calls):
            response = responses[i] if i < len(responses) else {}
            out = json.dumps(response.get("response", {}))[:300]
            lines.append(f"Used {call.get('name')} {json.dumps(call.get('args', {}))}: {out}")
        text = "\n".join(lines) or "Done."
    reply.text = f"{text} [{digest(instruction)}]"
    return reply


def chunk(reply: Reply, model: str, raw_len: int) -> dict[str, Any]:
    if reply.call:
        name, args = reply.call
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args, "id": new_id("call")}}
    else:
        part = {"text": reply.text or ""}
    out_tokens = max(1, len(json.dumps(part)) // 4) + 5
    in_tokens = max(1, raw_len // 4)
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": in_tokens,
            "candidatesTokenCount": out_tokens,
            "totalTokenCount": in_tokens + out_tokens,
        },
        "modelVersion": model,
        "responseId": new_id("resp"),
    }


class _Handler(FakeHandler):
    def do_GET(self) -> None:
        self.record(None, "other", {"status": 200})
        self.send_json(200, {"models": []})

    def do_POST(self) -> None:
        raw, body = self.read_body()
        path = self.path.split("?")[0]
        model, _, method = path.rpartition("/")[2].partition(":")
        if method == "countTokens":
            self.record(body, "count_tokens", {"status": 200})
            self.send_json(200, {"totalTokens": max(1, len(raw) // 4)})
            return
        if method not in ("streamGenerateContent", "generateContent") or not isinstance(body, dict):
            self.record(body, "other", {"status": 404})
            self.send_json(404, {"error": {"code": 404, "message": f"fake: no route {path}"}})
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
                self.send_json(
                    reply.status,
                    {
                        "error": {
                            "code": reply.status,
                            "message": reply.error_message,
                            "status": _STATUS_NAMES.get(reply.status, "UNKNOWN"),
                        }
                    },
                )
            elif method == "streamGenerateContent":
                data = json.dumps(chunk(reply, model, len(raw)))
                self.send_sse([f"data: {data}\r\n\r\n"])
            else:
                self.send_json(200, chunk(reply, model, len(raw)))
        except (BrokenPipeError, ConnectionResetError):
            pass


class FakeGemini(FakeModelServer):
    """Threaded fake of the Gemini API (see module docstring)."""

    handler = _Handler
    name = "fake-gemini"
    SIDE_REPLY = SIDE_REPLY

    def __enter__(self) -> FakeGemini:
        self.start()
        return self

    @staticmethod
    def user_texts(entry: dict[str, Any]) -> list[str]:
        return user_texts(entry.get("body") or {})


if __name__ == "__main__":
    sys.exit(serve_main(FakeGemini, __doc__ or "fake Gemini"))
