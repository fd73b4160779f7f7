"""``create_task wait:true`` against the same fake Claude CLI run by hand.

agentdeck: a ``tools/call create_task`` with ``wait: true`` (instructions ``SAY hi``)
over HTTP MCP to a running ``agentdeck serve``, timed from the request to its reply
(the turn has ended: the task is ``waiting``).

Baseline, interleaved with it: tests/fakes/fake_claude_cli.py exec'd by hand with the
flags the SDK passes, sent the SDK's ``initialize`` control request and the same user
message on stdin, read to its ``result`` line, stdin closed, timed to its exit.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import anyio
from anyio.streams.text import TextReceiveStream

from benchmarks.harness import (
    FAKE_CLAUDE,
    Row,
    Size,
    Workdir,
    agentdeck_server,
    interleaved,
    mcp_session,
    p50,
)

NAME = "wait"
ROUNDS = {"tiny": 2, "full": 15}
INSTRUCTIONS = "SAY hi"
MS = 1000.0


async def by_hand(wd: Workdir) -> float:
    """The fake CLI driven as the SDK drives it, exec to exit."""
    argv = [
        str(FAKE_CLAUDE),
        "--output-format",
        "stream-json",
        "--verbose",
        "--model",
        "claude-sonnet-4-5",
        "--permission-mode",
        "bypassPermissions",
        "--input-format",
        "stream-json",
    ]
    lines = [
        {"type": "control_request", "request_id": "req_1", "request": {"subtype": "initialize"}},
        {
            "type": "user",
            "message": {"role": "user", "content": INSTRUCTIONS},
            "parent_tool_use_id": None,
            "session_id": "default",
        },
    ]
    start = time.perf_counter()
    with anyio.fail_after(60):
        async with await anyio.open_process(argv, env=wd.env(), cwd=wd.project) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            await proc.stdin.send("".join(json.dumps(line) + "\n" for line in lines).encode())
            buffer = ""
            async for chunk in TextReceiveStream(proc.stdout):
                buffer += chunk
                if '"type": "result"' in buffer or '"type":"result"' in buffer:
                    break
            await proc.stdin.aclose()
            code = await proc.wait()
    if code != 0:
        raise RuntimeError(f"the fake CLI exited {code}")
    return time.perf_counter() - start


async def run(size: Size) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-wait-") as tmp:
        wd = Workdir(Path(tmp) / "wait")
        async with agentdeck_server(wd) as server, mcp_session(server.mcp_url) as mcp:
            count = 0

            async def create_wait() -> float:
                nonlocal count
                count += 1
                start = time.perf_counter()
                envelope = await mcp.tool(
                    "create_task",
                    {"title": f"Wait {count}", "instructions": INSTRUCTIONS, "wait": True},
                )
                took = time.perf_counter() - start
                status = (envelope.get("result") or {}).get("status")
                if envelope["isError"] or status != "waiting":
                    raise RuntimeError(f"create_task wait:true ended {status}: {envelope}")
                return took

            async def hand() -> float:
                return await by_hand(wd)

            times = await interleaved({"agentdeck": create_wait, "hand": hand}, ROUNDS[size], 1)
    ours, theirs = p50(times["agentdeck"]), p50(times["hand"])
    return [
        Row(
            "create_task wait:true (vs the fake CLI by hand), median",
            "≤ 1.02×",
            ours * MS,
            baseline=theirs * MS,
            met=ours <= 1.02 * theirs,
            note=f"+{(ours - theirs) * MS:.0f} ms per turn",
        )
    ]
