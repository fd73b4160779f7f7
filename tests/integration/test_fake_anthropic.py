"""Smoke tests for the fake Anthropic server, standalone and with real Claude Code.

The Claude Code tests need a binary: $CLAUDE_BIN, or the one bundled in the
`claude-agent-sdk` wheel, or `claude` on PATH; they are skipped otherwise.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

from fakes.fake_anthropic import SIDE_REPLY, FakeAnthropic, decide, find_cwd

MODEL = "claude-sonnet-4-5"


def _body(text: str, *extra: dict, tools: bool = True, stream: bool = True) -> dict:
    first = {
        "role": "user",
        "content": [
            {
                "type": "text",
                "text": "<system-reminder>\n - Primary working directory: /w/d\n</system-reminder>",
            },
            {"type": "text", "text": text},
        ],
    }
    body = {"model": MODEL, "max_tokens": 100, "stream": stream, "messages": [first, *extra]}
    if tools:
        body["tools"] = [{"name": "Write"}, {"name": "Bash"}]
    return body


def _post(url: str, body: dict) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url + "/v1/messages?beta=true",
        json.dumps(body).encode(),
        {"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# ---------------------------------------------------------------- no binary


def test_decide_write_then_final():
    body = _body("WRITE a/b.txt hello world")
    assert find_cwd(body) == "/w/d"
    r = decide(body)
    assert (r.tool_name, r.tool_input) == (
        "Write",
        {"file_path": "/w/d/a/b.txt", "content": "hello world"},
    )
    use = {"type": "tool_use", "id": "t1", "name": "Write", "input": r.tool_input}
    res = {"type": "tool_result", "tool_use_id": "t1", "content": "ok"}
    r2 = decide(
        _body(
            "WRITE a/b.txt hello world",
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [res]},
        )
    )
    assert r2.stop_reason == "end_turn"
    assert r2.text == f"Wrote /w/d/a/b.txt [{FakeAnthropic.digest('WRITE a/b.txt hello world')}]"


def test_side_call_and_errors():
    assert decide(_body("ERROR 500 x", tools=False)).text == SIDE_REPLY
    r = decide(_body("ERROR 529 overloaded now"))
    assert (r.status, r.error_type, r.error_message) == (529, "overloaded_error", "overloaded now")


def test_http_sse_json_other_paths(tmp_path):
    log = tmp_path / "log.jsonl"
    with FakeAnthropic(log_path=log) as fake:
        status, raw = _post(fake.base_url, _body("SAY hi"))
        assert status == 200
        events = [json.loads(ln[6:]) for ln in raw.decode().splitlines() if ln.startswith("data: ")]
        types = [e["type"] for e in events]
        assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
        assert "".join(
            e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta"
        ).startswith("hi [")
        assert events[-2]["usage"]["output_tokens"] > 0

        status, raw = _post(fake.base_url, _body("BASH ls -l", stream=False))
        msg = json.loads(raw)
        assert msg["stop_reason"] == "tool_use" and msg["content"][0]["input"]["command"] == "ls -l"

        status, raw = _post(fake.base_url, _body("ERROR 400 nope"))
        assert status == 400 and json.loads(raw)["error"] == {
            "type": "invalid_request_error",
            "message": "nope",
        }

        with urllib.request.urlopen(fake.base_url + "/v1/models") as r:
            assert r.status == 200
        assert len(fake.requests) == 4 and len(fake.message_requests()) == 3
    assert len(log.read_text().splitlines()) == 4


def test_delay_does_not_block_other_requests():
    with FakeAnthropic() as fake:
        done = threading.Event()
        slow = threading.Thread(
            target=lambda: (_post(fake.base_url, _body("DELAY 1.5")), done.set())
        )
        slow.start()
        assert fake.wait_for_requests(1, timeout=10)
        status, _ = _post(fake.base_url, _body("SAY quick"))
        assert status == 200 and not done.is_set()
        slow.join(10)
        assert done.is_set()
