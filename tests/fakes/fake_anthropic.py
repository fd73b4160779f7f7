"""A fake Anthropic Messages API server for offline tests of Claude Code.

Stdlib only.  Start it in a background thread and point the agent at it::

    with FakeAnthropic(log_path=tmp_path / "fake.jsonl") as fake:
        env["ANTHROPIC_BASE_URL"] = fake.base_url      # http://127.0.0.1:<port>
        ...run claude...
        assert fake.message_requests()

or run it by hand::

    python tests/fakes/fake_anthropic.py --port 0 [--log requests.jsonl]

Replies are chosen from the *request*, never from request order.  The test
steers the agent with directives written into the task instructions, one per
line (the first word of the line, upper case):

    WRITE <relative_path> <content...>   tool_use Write {file_path: <cwd>/<path>, content}
    BASH <command...>                    tool_use Bash {command, description}
    DELAY <seconds>                      wait before the next reply (other requests are not blocked)
    ERROR <status> <message...>          HTTP error with an Anthropic error body
    SAY <text...>                        the final end_turn text

Directives apply to the current turn's instruction: the last user message
that carries real text (not only tool_result blocks / system reminders), or a
message the user sent mid-turn (Claude Code delivers it in the next tool result).
They run in order: each WRITE/BASH is one model step; after the last tool
result comes back the fake ends the turn with end_turn text.  DELAY and ERROR
apply to the step they precede (``DELAY 5`` first = delay the first reply,
``WRITE a x`` then ``DELAY 5`` = delay the final reply).

Final text: the SAY text if given; else one line per tool step
(``Wrote <abs path>`` / ``Ran `<cmd>`: <output>``); else ``Done.``; always
followed by `` [<digest>]`` where ``digest = FakeAnthropic.digest(instruction)``.

Requests that offer no tools (title generation and other side calls) get a
short generic text reply, whatever their text says.

``fake.rate_limited = N`` puts the account at its usage limit: every main call
gets a 429 ``rate_limit_error`` that says to retry after N seconds (in its
message and its ``retry-after`` header), until the test sets it back to None.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DIRECTIVES = ("WRITE", "BASH", "DELAY", "ERROR", "SAY")
_DIRECTIVE_RE = re.compile(r"^\s*(WRITE|BASH|DELAY|ERROR|SAY)\b[ \t]*(.*?)\s*$")
_REMINDER_RE = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)
_MID_TURN_RE = re.compile(
    r"The user sent a new message while you were working:\n(.*?)\n\nThis is how", re.S
)
_CWD_RE = re.compile(r"Primary working directory:\s*(\S+)")
_CWD_FALLBACK_RE = re.compile(r"(?:^|\n)\s*(?:Working directory|cwd):\s*(/\S+)")

SIDE_REPLY = "Fake side reply."

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}

_LOGGED_HEADERS = (
    "anthropic-version",
    "anthropic-beta",
    "x-claude-code-session-id",
    "x-app",
    "user-agent",
    "content-type",
    "x-stainless-retry-count",
)


# --------------------------------------------------------------------------
# Request analysis (pure functions, usable without a server)
# --------------------------------------------------------------------------


def _blocks(content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict)]
    return []


def _strip_reminders(text: str) -> str:
    return _REMINDER_RE.sub("", text).strip()


def _real_text(message: dict) -> str:
    """User text of a message, without tool results and system reminders."""
    parts = []
    for block in _blocks(message.get("content")):
        if block.get("type") == "text":
            text = _strip_reminders(block.get("text", ""))
            if text:
                parts.append(text)
    return "\n".join(parts)


def _mid_turn_text(message: dict) -> str:
    """What the user sent while the agent worked: Claude Code puts it into the next tool
    result, in a system reminder."""
    texts = []
    for block in _blocks(message.get("content")):
        inner = block.get("content")
        texts.append(inner if isinstance(inner, str) else str(block.get("text", "")))
        texts.extend(str(b.get("text", "")) for b in _blocks(inner) if not isinstance(inner, str))
    return "\n".join(m for text in texts for m in _MID_TURN_RE.findall(text))


def _has_tool_result(message: dict) -> bool:
    return any(b.get("type") == "tool_result" for b in _blocks(message.get("content")))


def _all_texts(body: dict) -> list[str]:
    texts = []
    system = body.get("system")
    for block in _blocks(system):
        texts.append(block.get("text", ""))
    for message in body.get("messages") or []:
        for block in _blocks(message.get("content")):
            if block.get("type") == "text":
                texts.append(block.get("text", ""))
    return texts


def find_cwd(body: dict) -> str | None:
    """The agent's cwd: ``Primary working directory: /abs`` in messages or system."""
    texts = _all_texts(body)
    # Claude Code 2.1.x puts it in a role "system" entry of `messages`; older
    # versions in the system prompt.  Search messages first, then everything.
    for pattern in (_CWD_RE, _CWD_FALLBACK_RE):
        for text in reversed(texts):
            m = pattern.search(text)
            if m:
                return m.group(1).rstrip(".,;`'\"")
    return None


def _tool_result_text(block: dict) -> str:
    texts = [b.get("text", "") for b in _blocks(block.get("content")) if b.get("type") == "text"]
    return _strip_reminders("\n".join(texts))


@dataclass
class Step:
    delay: float = 0.0
    error: tuple[int, str] | None = None
    action: tuple[str, str] | None = None  # ("WRITE", "path words") / ("BASH", "cmd")


@dataclass
class Plan:
    instruction: str
    steps: list[Step]  # tool steps, then one final step
    say: str | None = None


def parse_directives(instruction: str) -> Plan:
    steps: list[Step] = []
    current = Step()
    say = None
    for line in instruction.splitlines():
        m = _DIRECTIVE_RE.match(line)
        if not m:
            continue
        word, rest = m.group(1), m.group(2)
        if word == "DELAY":
            with contextlib.suppress(IndexError, ValueError):
                current.delay += float(rest.split()[0])
        elif word == "SAY":
            say = rest
        elif word == "ERROR":
            parts = rest.split(None, 1)
            try:
                status = int(parts[0])
            except (IndexError, ValueError):
                status = 500
            current.error = (status, parts[1] if len(parts) > 1 else "fake error")
            steps.append(current)
            current = Step()
            break  # nothing after an error can run in this turn
        elif word in ("WRITE", "BASH") and rest:
            current.action = (word, rest)
            steps.append(current)
            current = Step()
    steps.append(current)  # final step (maybe only a delay)
    return Plan(instruction=instruction, steps=steps, say=say)


@dataclass
class Reply:
    """What the fake answers: an HTTP error, or an assistant message."""

    status: int = 200
    error_type: str | None = None
    error_message: str | None = None
    delay: float = 0.0
    text: str | None = None
    tool_name: str | None = None
    tool_input: dict | None = None
    kind: str = "main"  # main | side

    @property
    def stop_reason(self) -> str | None:
        if self.status != 200:
            return None
        return "tool_use" if self.tool_name else "end_turn"

    def summary(self) -> dict:
        d: dict[str, Any] = {"status": self.status, "kind": self.kind}
        if self.delay:
            d["delay"] = self.delay
        if self.status != 200:
            d["error"] = {"type": self.error_type, "message": self.error_message}
        else:
            d["stop_reason"] = self.stop_reason
            if self.tool_name:
                d["tool"] = {"name": self.tool_name, "input": self.tool_input}
            if self.text is not None:
                d["text"] = self.text
        return d


def digest(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:8]


def decide(body: dict) -> Reply:
    """Choose the reply for a POST /v1/messages body."""
    if not body.get("tools"):
        return Reply(text=SIDE_REPLY, kind="side")
    messages = body.get("messages") or []
    idx, instruction = None, ""
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if m.get("role") != "user":
            continue
        text = _real_text(m) if not _has_tool_result(m) else _mid_turn_text(m)
        if text:
            idx, instruction = i, text
            break
    plan = parse_directives(instruction)
    # Tool steps done this turn = tool_use blocks after the instruction.
    tool_uses: list[dict] = []
    results: dict[str, str] = {}
    for m in messages[(idx + 1 if idx is not None else 0) :]:
        for b in _blocks(m.get("content")):
            if b.get("type") == "tool_use":
                tool_uses.append(b)
            elif b.get("type") == "tool_result":
                results[b.get("tool_use_id", "")] = _tool_result_text(b)
    k = len(tool_uses)
    step = plan.steps[min(k, len(plan.steps) - 1)]
    reply = Reply(delay=step.delay)
    if step.error:
        status, message = step.error
        reply.status = status
        reply.error_type = ERROR_TYPES.get(status, "api_error")
        reply.error_message = message
        return reply
    if step.action:
        word, rest = step.action
        if word == "WRITE":
            parts = rest.split(None, 1)
            rel = parts[0]
            content = parts[1] if len(parts) > 1 else ""
            cwd = find_cwd(body)
            path = rel if rel.startswith("/") or not cwd else f"{cwd.rstrip('/')}/{rel}"
            reply.tool_name = "Write"
            reply.tool_input = {"file_path": path, "content": content}
        else:
            reply.tool_name = "Bash"
            reply.tool_input = {"command": rest, "description": f"Run {rest[:40]}"}
        return reply
    # Final step: end_turn text.
    if plan.say is not None:
        text = plan.say
    else:
        lines = []
        for use in tool_uses:
            inp = use.get("input") or {}
            out = results.get(use.get("id", ""), "").strip()
            if use.get("name") == "Write":
                lines.append(f"Wrote {inp.get('file_path')}")
            elif use.get("name") == "Bash":
                lines.append(f"Ran `{inp.get('command')}`: {out[:500]}")
            else:
                lines.append(f"Used {use.get('name')}: {out[:200]}")
        text = "\n".join(lines) or "Done."
    reply.text = f"{text} [{digest(instruction)}]"
    return reply


# --------------------------------------------------------------------------
# Wire formats
# --------------------------------------------------------------------------


def _new_id(prefix: str) -> str:
    return f"{prefix}_fake{uuid.uuid4().hex[:20]}"


def _input_tokens(raw_len: int) -> int:
    return max(1, raw_len // 4)


def _output_tokens(reply: Reply) -> int:
    n = len(reply.text or "") + len(json.dumps(reply.tool_input or {}))
    return max(1, n // 4) + 5


def _content(reply: Reply, tool_id: str) -> list[dict]:
    if reply.tool_name:
        return [
            {"type": "tool_use", "id": tool_id, "name": reply.tool_name, "input": reply.tool_input}
        ]
    return [{"type": "text", "text": reply.text or ""}]


def message_json(reply: Reply, model: str, raw_len: int) -> dict:
    return {
        "id": _new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _content(reply, _new_id("toolu")),
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": _input_tokens(raw_len),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": _output_tokens(reply),
        },
    }


def _chunks(s: str, n: int) -> list[str]:
    return [s[i : i + n] for i in range(0, len(s), n)] or [""]


def sse_events(reply: Reply, model: str, raw_len: int) -> list[tuple[str, dict]]:
    msg = message_json(reply, model, raw_len)
    usage = dict(msg["usage"])
    start = dict(msg, content=[], stop_reason=None, usage=dict(usage, output_tokens=1))
    events: list[tuple[str, dict]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    block = msg["content"][0]
    if block["type"] == "tool_use":
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {
                        "type": "tool_use",
                        "id": block["id"],
                        "name": block["name"],
                        "input": {},
                    },
                },
            )
        )
        events.append(("ping", {"type": "ping"}))
        for part in _chunks(json.dumps(block["input"]), 40):
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "input_json_delta", "partial_json": part},
                    },
                )
            )
    else:
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        events.append(("ping", {"type": "ping"}))
        for part in _chunks(block["text"], 24):
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": part},
                    },
                )
            )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                "usage": {
                    "input_tokens": usage["input_tokens"],
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "output_tokens": usage["output_tokens"],
                },
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


# --------------------------------------------------------------------------
# Server
# --------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    # -- helpers --
    def _send_json(self, status: int, obj: Any, extra: dict | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", _new_id("req"))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _send_sse(self, events: list[tuple[str, dict]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", _new_id("req"))
        self.end_headers()
        for name, data in events:
            payload = f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()
            self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _read_body(self) -> tuple[bytes, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return raw, json.loads(raw) if raw else None
        except ValueError:
            return raw, raw.decode("utf-8", "replace")

    def _record(self, body: Any, kind: str, reply: dict) -> None:
        headers = {k: self.headers[k] for k in _LOGGED_HEADERS if self.headers.get(k) is not None}
        key = self.headers.get("x-api-key")
        if key is not None:
            headers["x-api-key"] = key[:4] + "..."
        url = urlsplit(self.path)
        self.server.fake._record(
            {
                "ts": time.time(),
                "method": self.command,
                "path": url.path,
                "query": url.query,
                "headers": headers,
                "kind": kind,
                "body": body,
                "reply": reply,
            }
        )

    # -- verbs --
    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        obj: Any = (
            {"data": [], "has_more": False, "first_id": None, "last_id": None}
            if path.startswith("/v1/models")
            else {}
        )
        self._record(None, "other", {"status": 200})
        self._send_json(200, obj)

    do_HEAD = do_GET

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        raw, body = self._read_body()
        if path.rstrip("/") == "/v1/messages/count_tokens":
            n = _input_tokens(len(raw))
            self._record(body, "count_tokens", {"status": 200, "input_tokens": n})
            self._send_json(200, {"input_tokens": n})
            return
        if path.rstrip("/") != "/v1/messages" or not isinstance(body, dict):
            self._record(body, "other", {"status": 200})
            self._send_json(200, {})
            return
        try:
            reply = decide(body)
        except Exception as exc:  # never crash the agent because of a fake bug
            reply = Reply(text=f"Fake internal error: {exc!r}")
        retry_after = self.server.fake.rate_limited
        if reply.kind == "main" and retry_after is not None:
            message = f"Your account's rate limit is reached; retry after {retry_after} seconds."
            reply = Reply(status=429, error_type="rate_limit_error", error_message=message)
        self._record(body, reply.kind, reply.summary())
        if reply.delay > 0 and self.server.fake._stopping.wait(reply.delay):
            return  # server is shutting down
        try:
            if reply.status != 200:
                self._send_json(
                    reply.status,
                    {
                        "type": "error",
                        "error": {"type": reply.error_type, "message": reply.error_message},
                    },
                    {"x-should-retry": "false"}
                    | ({"retry-after": str(retry_after)} if retry_after is not None else {}),
                )
            elif body.get("stream"):
                self._send_sse(sse_events(reply, body.get("model", "claude-fake"), len(raw)))
            else:
                self._send_json(
                    200, message_json(reply, body.get("model", "claude-fake"), len(raw))
                )
        except (BrokenPipeError, ConnectionResetError):
            pass  # client went away (e.g. cancelled during DELAY)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeAnthropic


class FakeAnthropic:
    """Threaded fake of the Anthropic Messages API (see module docstring)."""

    digest = staticmethod(digest)
    SIDE_REPLY = SIDE_REPLY

    def __init__(
        self, log_path: str | Path | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.log_path = Path(log_path) if log_path else None
        self.host, self.port = host, port
        self.requests: list[dict] = []
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Seconds to retry after while the account is at its limit (None: it is not).
        self.rate_limited: int | None = None

    # -- lifecycle --
    def start(self) -> FakeAnthropic:
        self._stopping.clear()
        self._server = _Server((self.host, self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-anthropic",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- log --
    def _record(self, entry: dict) -> None:
        with self._cond:
            self.requests.append(entry)
            if self.log_path:
                with self.log_path.open("a") as f:
                    f.write(json.dumps(entry) + "\n")
            self._cond.notify_all()

    def message_requests(self) -> list[dict]:
        """Main-agent calls: POST /v1/messages offering tools."""
        with self._cond:
            return [r for r in self.requests if r["kind"] == "main"]

    def side_requests(self) -> list[dict]:
        """POST /v1/messages without tools (title generation etc.)."""
        with self._cond:
            return [r for r in self.requests if r["kind"] == "side"]

    def wait_for(self, predicate: Callable[[FakeAnthropic], bool], timeout: float = 30.0) -> bool:
        """Block until predicate(self) is true (re-checked on every request)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout=timeout)

    def wait_for_requests(self, n: int, timeout: float = 30.0) -> bool:
        """Block until at least n main-agent requests arrived."""
        return self.wait_for(lambda f: sum(r["kind"] == "main" for r in f.requests) >= n, timeout)

    def clear(self) -> None:
        with self._cond:
            self.requests.clear()

    # -- convenience for assertions --
    @staticmethod
    def messages_of(entry: dict) -> list[dict]:
        return (entry.get("body") or {}).get("messages") or []

    @staticmethod
    def user_texts(entry: dict) -> list[str]:
        """Real user texts (no tool results / reminders) of one logged request."""
        out = []
        for m in FakeAnthropic.messages_of(entry):
            if m.get("role") == "user":
                t = _real_text(m)
                if t:
                    out.append(t)
        return out

    @staticmethod
    def cwd_of(entry: dict) -> str | None:
        return find_cwd(entry.get("body") or {})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", default=None, help="append one JSON line per request here")
    args = ap.parse_args(argv)
    fake = FakeAnthropic(log_path=args.log, host=args.host, port=args.port).start()
    print(fake.base_url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
