"""A fake ``codex`` whose ``app-server`` speaks just enough of the protocol for the tests.

Stdlib only. ``--version`` prints a version, ``app-server --help`` exits 0 unless
``FAKE_CODEX_NO_APP_SERVER`` is set (then ``exec`` is the only way: it prints a
``codex exec --json`` turn). ``app-server`` answers ``initialize``,
``thread/start`` / ``thread/resume`` and ``turn/start``; the turn's text picks what
happens:

    BAD     a line that is not JSON and one that is not UTF-8, then a reply
    ASK     a ``commandExecution`` and its approval request; the reply says the decision
    INPUT   an ``item/tool/requestUserInput`` request; the reply says what came back
    LIMIT   an ``error`` with ``usageLimitExceeded``, then a failed turn
    DIE     exit 3 mid-turn, "boom" on stderr
    HANG    wait for ``turn/interrupt``, then an interrupted turn

Every message received is appended to ``$FAKE_CODEX_LOG`` (one JSON line each),
after ``{"argv": [...]}``, the arguments it was started with.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

THREAD = "thr-fake-1"


def log(message: dict[str, Any]) -> None:
    path = os.environ.get("FAKE_CODEX_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(message) + "\n")


def send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def receive() -> dict[str, Any] | None:
    line = sys.stdin.readline()
    if not line:
        return None
    message = json.loads(line)
    log(message)
    return message


def notify(method: str, params: dict[str, Any]) -> None:
    send({"method": method, "params": params})


def complete(turn: str, status: str = "completed", error: Any = None) -> None:
    notify(
        "turn/completed",
        {"threadId": THREAD, "turn": {"id": turn, "status": status, "error": error}},
    )


def reply_text(turn: str, text: str) -> None:
    item = {"type": "agentMessage", "id": f"msg-{turn}", "text": text}
    notify("item/completed", {"threadId": THREAD, "turnId": turn, "item": item})
    usage = {
        k: {
            "totalTokens": 12,
            "inputTokens": 10,
            "cachedInputTokens": 0,
            "cacheWriteInputTokens": 0,
            "outputTokens": 2,
            "reasoningOutputTokens": 0,
        }
        for k in ("total", "last")
    }
    notify("thread/tokenUsage/updated", {"threadId": THREAD, "turnId": turn, "tokenUsage": usage})


def wait_answer(request_id: int) -> dict[str, Any]:
    while (message := receive()) is not None:
        if message.get("id") == request_id and "method" not in message:
            return message
    sys.exit(0)


def run_turn(turn: str, text: str) -> None:
    notify("turn/started", {"threadId": THREAD, "turn": {"id": turn, "status": "inProgress"}})
    if text.startswith("BAD"):
        sys.stdout.write("this is not json\n")
        sys.stdout.buffer.write(b'{"method": "\xff\xfe"}\n')
        sys.stdout.flush()
        reply_text(turn, "still here")
        complete(turn)
    elif text.startswith("ASK"):
        item = {
            "type": "commandExecution",
            "id": "call-1",
            "command": "/bin/bash -lc 'touch x'",
            "cwd": os.getcwd(),
            "status": "inProgress",
        }
        notify("item/started", {"threadId": THREAD, "turnId": turn, "item": item})
        send(
            {
                "id": 0,
                "method": "item/commandExecution/requestApproval",
                "params": {
                    "threadId": THREAD,
                    "turnId": turn,
                    "itemId": "call-1",
                    "command": item["command"],
                    "cwd": os.getcwd(),
                },
            }
        )
        decision = wait_answer(0).get("result", {}).get("decision")
        status = "completed" if decision == "accept" else "declined"
        notify(
            "item/completed",
            {"threadId": THREAD, "turnId": turn, "item": dict(item, status=status)},
        )
        reply_text(turn, f"decision: {decision}")
        complete(turn)
    elif text.startswith("INPUT"):
        send({"id": 7, "method": "item/tool/requestUserInput", "params": {"questions": []}})
        answer = wait_answer(7)
        reply_text(turn, f"error: {answer.get('error', {}).get('code')}")
        complete(turn)
    elif text.startswith("LIMIT"):
        error = {"message": "You've hit your usage limit.", "codexErrorInfo": "usageLimitExceeded"}
        notify("error", {"threadId": THREAD, "turnId": turn, "error": error, "willRetry": False})
        complete(turn, "failed", error)
    elif text.startswith("DIE"):
        sys.stderr.write("boom\n")
        sys.stderr.flush()
        os._exit(3)
    elif text.startswith("HANG"):
        while (message := receive()) is not None:
            if message.get("method") == "turn/interrupt":
                send({"id": message["id"], "result": {}})
                complete(turn, "interrupted")
                return
    else:
        reply_text(turn, f"got: {text}")
        complete(turn)


def app_server() -> int:
    turns = 0
    while (message := receive()) is not None:
        method, request_id = message.get("method"), message.get("id")
        params = message.get("params") or {}
        if method == "initialize":
            send({"id": request_id, "result": {"userAgent": "fake_codex/9.9.9 (test)"}})
        elif method in ("thread/start", "thread/resume"):
            thread_id = params.get("threadId") or THREAD
            if thread_id not in (THREAD,):
                send({"id": request_id, "error": {"code": -32600, "message": "no such thread"}})
                continue
            send({"id": request_id, "result": {"thread": {"id": thread_id}, "model": "fake"}})
        elif method == "turn/start":
            turns += 1
            turn = f"turn-{turns}"
            send({"id": request_id, "result": {"turn": {"id": turn, "status": "inProgress"}}})
            text = "".join(i.get("text", "") for i in params.get("input") or [])
            run_turn(turn, text)
        elif request_id is not None and method is not None:
            send({"id": request_id, "result": {}})
    return 0


def main(argv: list[str]) -> int:
    if "--help" not in argv and "--version" not in argv:
        log({"argv": argv})
    if argv[:1] == ["--version"]:
        print("codex-cli 9.9.9")
        return 0
    if argv[:1] == ["app-server"]:
        if os.environ.get("FAKE_CODEX_NO_APP_SERVER"):
            print("error: unrecognized subcommand 'app-server'", file=sys.stderr)
            return 2
        if "--help" in argv:
            print("Run the app server")
            return 0
        return app_server()
    if argv[:1] == ["exec"]:
        print(json.dumps({"type": "thread.started", "thread_id": "exec-thread"}))
        item = {"type": "agent_message", "id": "m", "text": f"exec: {argv[-1]}"}
        print(json.dumps({"type": "item.completed", "item": item}))
        usage = {"input_tokens": 5, "cached_input_tokens": 0, "output_tokens": 1}
        print(json.dumps({"type": "turn.completed", "usage": usage}))
        return 0
    print(f"fake codex: unknown arguments {argv}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
