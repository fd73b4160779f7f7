#!/usr/bin/env python3
"""A small, fast, scripted stand-in for the Claude Code CLI (stdlib only).

Point agentdeck at it (``AGENTDECK_CLAUDE_CLI_PATH=tests/fakes/fake_claude_cli.py``,
or ``ClaudeAgentOptions(cli_path=...)`` for the SDK) and the real
claude-agent-sdk path runs: SDK -> subprocess -> stream-json -> SDK parser, with no
380 MB binary and no model.  It is started the way the SDK starts Claude Code::

    [setsid] fake_claude_cli.py --output-format stream-json --verbose \\
        [--model M] [--permission-mode P] [--resume=<id>] ... --input-format stream-json

and speaks the SDK control protocol on stdin/stdout: it answers ``initialize``
(and ``interrupt`` / other control requests), and runs one turn per ``user`` line:
``system/init`` ... ``result``, framed by ``session_state_changed`` running/idle
frames when the SDK asks for them (``CLAUDE_CODE_SDK_READS_SESSION_STATE``).  It
exits when stdin closes: code 1 if the last result was an error, else 0.

The turn is steered by directives in the user text, one per line (other lines are
ignored), run in order:

    EMIT <n>                 n assistant text lines "line 1" .. "line n", written in big chunks
    SAY <text>               the final result text (default "Done.")
    SLEEP <seconds>          tool_use Bash, then run `sleep <seconds>` in a new session
                             (like Claude Code's Bash tool) and wait for it; tool_result after
    WAITFILE <relpath> [s]   wait (in-process, default up to 60 s) until <cwd>/<relpath> exists
    WRITE <relpath> <text>   tool_use Write, write the file under cwd, tool_result; when the
                             SDK host answers permissions (--permission-prompt-tool stdio)
                             and the mode is default/plan, it first asks with a
                             `can_use_tool` control request, as the real CLI does
                             (deny: is_error tool_result with the host's message, no file)
    STDERR <text>            print text to stderr (noise)
    RAW <hex>                write these bytes and a newline to stdout as they are (e.g. a
                             truncated JSON line, or bytes that are not UTF-8)
    RAWERR <hex>             the same on stderr
    FAIL <message>           end with an error result "API Error: <message>"
                             (terminal_reason api_error); exit code 1 at the end
    CRASH <code>             print to stderr and exit with <code>, without a result

The result text is always suffixed with `` (history: N)``, N = the number of user
messages the session had before this one, so a test can see that a resume happened.

State lives under ``$FAKE_CLAUDE_DIR`` (default ``$HOME/.fake-claude``):

    <session_id>.jsonl       the session's history (user messages, results); --resume=<id>
                             appends to it and keeps that session id; an unknown id fails
                             like the real CLI ("No conversation found with session ID")
    spawns.jsonl             one line per process start: {"pid", "t" (time.time() at the
                             top of this script), "argv", "cwd", "marker" (AGENTDECK_TASK_ID)}

``--version`` prints ``2.1.332 (Fake Claude)``.

Its ``#!/usr/bin/env python3`` takes the first ``python3`` on PATH: put a real
interpreter first (tests prepend ``dirname(sys.executable)``); a pyenv shim costs
~120 ms and two extra processes (bash) per start, which skews process counts.
"""

from __future__ import annotations

import time

STARTED = time.time()

import json  # noqa: E402
import os  # noqa: E402
import queue  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

VERSION = "2.1.332"
DEFAULT_MODEL = "claude-sonnet-4-5"
TOOLS = ["Task", "Bash", "Edit", "Glob", "Grep", "Read", "TodoWrite", "WebFetch", "Write"]
CHUNK_LINES = 2_000
PRICE_IN, PRICE_OUT = 3e-6, 15e-6  # USD per token, for a deterministic cost

_out = sys.stdout.buffer
_out_lock = threading.Lock()
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def write_raw(data: bytes) -> None:
    with _out_lock:
        _out.write(data)
        _out.flush()


def send(obj: dict[str, Any]) -> None:
    write_raw((_dumps(obj) + "\n").encode())


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def parse_args(argv: list[str]) -> dict[str, str | None]:
    opts: dict[str, str | None] = {
        "model": None,
        "resume": None,
        "permission_mode": None,
        "session_id": None,
        "max_turns": None,
        "prompt_tool": None,
    }
    names = {
        "--model": "model",
        "--resume": "resume",
        "--permission-mode": "permission_mode",
        "--session-id": "session_id",
        "--max-turns": "max_turns",
        "--permission-prompt-tool": "prompt_tool",
    }
    i = 0
    while i < len(argv):
        arg = argv[i]
        flag, eq, value = arg.partition("=")
        if flag in names:
            if eq:
                opts[names[flag]] = value
            elif i + 1 < len(argv):
                i += 1
                opts[names[flag]] = argv[i]
        i += 1
    return opts


class Session:
    """The conversation: id, history file, cumulative cost."""

    def __init__(self, state_dir: Path, session_id: str) -> None:
        self.id = session_id
        self.path = state_dir / f"{session_id}.jsonl"
        self.users = 0
        self.cost = 0.0
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                entry = json.loads(line)
                if entry.get("role") == "user":
                    self.users += 1
                elif entry.get("role") == "result":
                    self.cost = float(entry.get("total_cost_usd") or self.cost)

    def record(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(entry) + "\n")


class Fake:
    def __init__(self, opts: dict[str, str | None]) -> None:
        self.opts = opts
        self.model = opts["model"] or DEFAULT_MODEL
        self.permission_mode = opts["permission_mode"] or "default"
        self.cwd = os.getcwd()
        self.state_dir = Path(os.environ.get("FAKE_CLAUDE_DIR") or Path.home() / ".fake-claude")
        self.session_state = os.environ.get("CLAUDE_CODE_SDK_READS_SESSION_STATE") == "1"
        self.inbox: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.interrupted = threading.Event()
        self.asks_host = opts["prompt_tool"] == "stdio"
        self.replies: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self.last_error = False
        self.counter = 0
        sid = opts["resume"] or opts["session_id"] or str(uuid.uuid4())
        self.session = Session(self.state_dir, sid)

    # -- plumbing -------------------------------------------------------------------

    def uid(self) -> str:
        self.counter += 1
        return f"{self.session.id[:8]}-fake-{os.getpid():x}-{self.counter:012x}"

    def state(self, state: str) -> None:
        if self.session_state:
            send(
                {
                    "type": "system",
                    "subtype": "session_state_changed",
                    "state": state,
                    "sdk_host_only": True,
                    "uuid": self.uid(),
                    "session_id": self.session.id,
                }
            )

    def assistant(self, content: list[dict[str, Any]], **extra: Any) -> None:
        send(
            {
                "type": "assistant",
                "message": {
                    "id": f"msg_{self.uid()}",
                    "type": "message",
                    "role": "assistant",
                    "model": extra.pop("model", self.model),
                    "content": content,
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 0, "output_tokens": 1},
                },
                "parent_tool_use_id": None,
                "session_id": self.session.id,
                "uuid": self.uid(),
                **extra,
            }
        )

    def tool_result(self, tool_use_id: str, text: str, is_error: bool, result: Any) -> None:
        send(
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "tool_use_id": tool_use_id,
                            "type": "tool_result",
                            "content": text,
                            "is_error": is_error,
                        }
                    ],
                },
                "parent_tool_use_id": None,
                "session_id": self.session.id,
                "uuid": self.uid(),
                "tool_use_result": result,
            }
        )

    # -- stdin ----------------------------------------------------------------------

    def read_stdin(self) -> None:
        for raw in sys.stdin.buffer:
            raw = raw.strip()
            if not raw:
                continue
            try:
                msg = json.loads(raw)
            except ValueError:
                err(f"fake-claude: ignoring a non-JSON stdin line: {raw[:200]!r}")
                continue
            kind = msg.get("type")
            if kind == "control_request":
                self.control(msg)
            elif kind == "user":
                self.inbox.put(msg)
            elif kind == "control_response":
                response = msg.get("response") or {}
                waiter = self.replies.get(response.get("request_id", ""))
                if waiter is not None:
                    waiter[1].append(response)
                    waiter[0].set()
            # keep_alive / others: nothing to do
        for done, _ in list(self.replies.values()):
            done.set()  # stdin closed: nobody will answer
        self.inbox.put(None)

    def ask(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """Send a control request to the SDK host; its response, or None if stdin closed."""
        request_id = str(uuid.uuid4())
        done, box = threading.Event(), []
        self.replies[request_id] = (done, box)
        try:
            send({"type": "control_request", "request_id": request_id, "request": request})
            done.wait()
        finally:
            del self.replies[request_id]
        return box[0] if box else None

    def permitted(
        self, tool: str, tool_input: dict[str, Any], tool_id: str, description: str
    ) -> tuple[bool, dict[str, Any], str]:
        """(allowed, input to use, message) for a tool use the permission mode does not settle."""
        if not self.asks_host or self.permission_mode not in ("default", "plan"):
            return True, tool_input, ""
        self.state("requires_action")
        response = self.ask(
            {
                "subtype": "can_use_tool",
                "tool_name": tool,
                "display_name": tool,
                "input": tool_input,
                "description": description,
                "permission_suggestions": [
                    {"type": "setMode", "mode": "acceptEdits", "destination": "session"}
                ],
                "tool_use_id": tool_id,
            }
        )
        self.state("running")
        if response is None:
            return False, tool_input, "Tool permission request failed: Error: Stream closed"
        if response.get("subtype") == "error":
            return False, tool_input, f"Tool permission request failed: {response.get('error')}"
        decision = response.get("response") or {}
        if decision.get("behavior") == "allow":
            return True, decision.get("updatedInput") or tool_input, ""
        return False, tool_input, str(decision.get("message") or "Permission denied")

    def control(self, msg: dict[str, Any]) -> None:
        request_id = msg.get("request_id")
        request = msg.get("request") or {}
        subtype = request.get("subtype")
        response: dict[str, Any] = {}
        if subtype == "initialize":
            response = {
                "commands": [],
                "agents": [],
                "output_style": "default",
                "available_output_styles": ["default"],
                "models": [],
                "account": {
                    "tokenSource": "none",
                    "apiKeySource": "none",
                    "apiProvider": "firstParty",
                },
                "pid": os.getpid(),
                "claude_code_version": VERSION,
                "current_permission_mode": self.permission_mode,
                "hook_on_failure_supported": True,
                "analytics_disabled": True,
                "sandbox_enabled": False,
                "session_state": "idle",
                "capabilities": [],
            }
        elif subtype == "interrupt":
            self.interrupted.set()
        elif subtype in (
            "set_permission_mode",
            "set_model",
            "mcp_status",
            "get_context_usage",
            "end_session",
            "stop_task",
        ):
            if subtype == "set_model":
                self.model = request.get("model") or DEFAULT_MODEL
            elif subtype == "set_permission_mode":
                self.permission_mode = request.get("mode") or self.permission_mode
            elif subtype == "mcp_status":
                response = {"mcpServers": []}
        else:
            send(
                {
                    "type": "control_response",
                    "response": {
                        "subtype": "error",
                        "request_id": request_id,
                        "error": f"fake-claude: unsupported control request {subtype!r}",
                    },
                }
            )
            return
        send(
            {
                "type": "control_response",
                "response": {"subtype": "success", "request_id": request_id, "response": response},
            }
        )

    # -- a turn ---------------------------------------------------------------------

    def run(self) -> int:
        threading.Thread(target=self.read_stdin, daemon=True).start()
        while (msg := self.inbox.get()) is not None:
            self.turn(msg)
        return 1 if self.last_error else 0

    def turn(self, msg: dict[str, Any]) -> None:
        t0 = time.monotonic()
        self.interrupted.clear()
        text = _text(msg.get("message", {}).get("content"))
        prior = self.session.users
        self.session.users += 1
        self.session.record(
            {"role": "user", "content": text, "ts": time.time(), "pid": os.getpid()}
        )
        self.state("running")
        send(
            {
                "type": "system",
                "subtype": "init",
                "cwd": self.cwd,
                "session_id": self.session.id,
                "tools": TOOLS,
                "mcp_servers": [],
                "model": self.model,
                "permissionMode": self.permission_mode,
                "slash_commands": [],
                "apiKeySource": "none",
                "claude_code_version": VERSION,
                "output_style": "default",
                "agents": [],
                "skills": [],
                "plugins": [],
                "uuid": self.uid(),
            }
        )
        steps, outputs = 1, 0
        final = "Done."
        error: str | None = None
        for line in text.splitlines():
            word, _, arg = line.strip().partition(" ")
            arg = arg.strip()
            if self.interrupted.is_set():
                break
            if word == "EMIT":
                outputs += self.emit(int(arg))
            elif word == "SAY":
                final = arg
            elif word == "STDERR":
                err(arg)
            elif word == "RAW":
                write_raw(bytes.fromhex(arg) + b"\n")
            elif word == "RAWERR":
                sys.stderr.buffer.write(bytes.fromhex(arg) + b"\n")
                sys.stderr.buffer.flush()
            elif word == "SLEEP":
                steps += 1
                outputs += 1
                self.sleep(arg)
            elif word == "WAITFILE":
                path, _, limit = arg.partition(" ")
                deadline = time.monotonic() + float(limit or 60)
                target = Path(self.cwd, path)
                while not target.exists() and time.monotonic() < deadline:
                    if self.interrupted.wait(0.01):
                        break
            elif word == "WRITE":
                steps += 1
                outputs += 1
                rel, _, content = arg.partition(" ")
                self.write(rel, content)
            elif word == "FAIL":
                error = arg or "unknown error"
                break
            elif word == "CRASH":
                err(f"fake-claude: crashing on purpose with exit code {arg}")
                with _out_lock:
                    _out.flush()
                os._exit(int(arg))
        tokens_in = 100 + len(text)
        result: dict[str, Any] = {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "duration_ms": 0,
            "duration_api_ms": 0,
            "num_turns": steps,
            "session_id": self.session.id,
            "stop_reason": "end_turn",
            "terminal_reason": "completed",
            "permission_denials": [],
            "uuid": self.uid(),
        }
        if error is not None:
            message = f"API Error: {error}"
            self.assistant(
                [{"type": "text", "text": message}],
                model="<synthetic>",
                error="server_error",
                is_api_error_message=True,
            )
            result.update(
                is_error=True,
                result=message,
                terminal_reason="api_error",
                stop_reason="stop_sequence",
                num_turns=1,
            )
            outputs = 0
        elif self.interrupted.is_set():
            result.update(
                is_error=True,
                subtype="error_during_execution",
                terminal_reason="aborted_streaming",
                stop_reason=None,
                errors=["interrupted by the SDK host"],
            )
        else:
            final = f"{final} (history: {prior})"
            self.assistant([{"type": "text", "text": final}])
            outputs += 1
            result["result"] = final
        cost = tokens_in * PRICE_IN + outputs * PRICE_OUT
        self.session.cost += cost
        elapsed = int((time.monotonic() - t0) * 1000)
        result.update(
            duration_ms=elapsed,
            duration_api_ms=elapsed,
            total_cost_usd=self.session.cost,
            usage={
                "input_tokens": tokens_in,
                "output_tokens": outputs,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        )
        send(result)
        self.session.record(
            {
                "role": "result",
                "is_error": result["is_error"],
                "result": result.get("result"),
                "total_cost_usd": self.session.cost,
            }
        )
        self.state("idle")
        self.last_error = bool(result["is_error"])

    def emit(self, n: int) -> int:
        """n assistant text lines, serialized from a template and written in big chunks."""
        sid = self.session.id
        tag = f"{sid[:8]}-emit-{os.getpid():x}-"
        head = ('{"type":"assistant","message":{"id":"msg_' + tag).encode()
        mid1 = (
            '","type":"message","role":"assistant","model":'
            + json.dumps(self.model)
            + ',"content":[{"type":"text","text":"line '
        ).encode()
        tail_ = (
            '"}],"stop_reason":null,"stop_sequence":null,'
            '"usage":{"input_tokens":0,"output_tokens":1}},'
            '"parent_tool_use_id":null,"session_id":"' + sid + '","uuid":"' + tag
        ).encode()
        end = b'"}\n'
        for start in range(1, n + 1, CHUNK_LINES):
            if self.interrupted.is_set():
                return start - 1
            parts = []
            for i in range(start, min(start + CHUNK_LINES, n + 1)):
                s = str(i).encode()
                parts += (head, s, mid1, s, tail_, s, end)
            write_raw(b"".join(parts))
        return n

    def sleep(self, seconds: str) -> None:
        tool_id = f"toolu_{self.uid()}"
        command = f"sleep {seconds}"
        self.assistant(
            [
                {
                    "type": "tool_use",
                    "id": tool_id,
                    "name": "Bash",
                    "input": {"command": command, "description": f"Sleep {seconds} s"},
                }
            ]
        )
        child = subprocess.Popen(
            ["sleep", seconds], start_new_session=True, stdin=subprocess.DEVNULL
        )
        while child.poll() is None:
            if self.interrupted.wait(0.02):
                child.kill()
                child.wait()
                break
        code = child.returncode
        self.tool_result(
            tool_id,
            "" if code == 0 else f"Exit code {code}",
            code != 0,
            {
                "stdout": "",
                "stderr": "",
                "interrupted": code != 0,
                "isImage": False,
                "noOutputExpected": True,
            },
        )

    def write(self, rel: str, content: str) -> None:
        tool_id = f"toolu_{self.uid()}"
        tool_input = {"file_path": str(Path(self.cwd, rel)), "content": content}
        self.assistant([{"type": "tool_use", "id": tool_id, "name": "Write", "input": tool_input}])
        allowed, tool_input, message = self.permitted("Write", tool_input, tool_id, rel)
        if not allowed:
            self.tool_result(tool_id, message, True, f"Error: {message}")
            return
        path, content = Path(tool_input["file_path"]), str(tool_input.get("content", ""))
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        verb = "updated" if existed else "created"
        self.tool_result(
            tool_id,
            f"File {verb} successfully at: {path}",
            False,
            {
                "type": "update" if existed else "create",
                "filePath": str(path),
                "content": content,
                "structuredPatch": [],
                "originalFile": None,
            },
        )


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _record_spawn(state_dir: Path) -> None:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        entry = {
            "pid": os.getpid(),
            "t": STARTED,
            "argv": sys.argv[1:],
            "cwd": os.getcwd(),
            "marker": os.environ.get("AGENTDECK_TASK_ID"),
        }
        with (state_dir / "spawns.jsonl").open("a") as f:
            f.write(json.dumps(entry) + "\n")
    except OSError as exc:
        err(f"fake-claude: cannot record the spawn: {exc}")


def main(argv: list[str]) -> int:
    if "--version" in argv or "-v" in argv:
        print(f"{VERSION} (Fake Claude)")
        return 0
    opts = parse_args(argv)
    fake = Fake(opts)
    _record_spawn(fake.state_dir)
    if opts["resume"] and not fake.session.path.exists():
        # The real CLI reports this as an error result before answering initialize.
        message = f"No conversation found with session ID: {opts['resume']}"
        send(
            {
                "type": "result",
                "subtype": "error_during_execution",
                "duration_ms": 0,
                "duration_api_ms": 0,
                "is_error": True,
                "num_turns": 0,
                "stop_reason": None,
                "session_id": opts["resume"],
                "total_cost_usd": 0,
                "usage": {"input_tokens": 0, "output_tokens": 0},
                "permission_denials": [],
                "uuid": str(uuid.uuid4()),
                "errors": [message],
            }
        )
        err(message)
        return 1
    return fake.run()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:
        os._exit(141)
    except KeyboardInterrupt:
        os._exit(130)
