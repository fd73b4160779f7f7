#!/usr/bin/env python3
"""A small scripted ACP agent, written on the agent side of ``agent-client-protocol``.

Run it as an agent's command (``python tests/fakes/fake_acp_agent.py``); it speaks
ACP on stdio. Each prompt's text is a list of directives, one per line, run in order:

    SAY <text>            the assistant's text, sent in two message chunks
    THINK <text>          a thought chunk
    PLAN <a>|<b>|...      a plan with these entries
    RUN <relpath> <text>  an ``execute`` tool call ``write <relpath>`` that asks permission
                          first; allowed: writes <text> to <cwd>/<relpath>, status completed;
                          refused: no file, status failed
    EDIT <relpath> <text> the same as an ``edit`` tool call (path in locations)
    SPAWN                 start ``sleep 300`` in the background (a child to be stopped)
    WAIT                  wait until the client sends session/cancel: stopReason cancelled
    GARBAGE               write a banner, truncated JSON and invalid UTF-8 lines to stdout
    STDERR <text>         a line on stderr
    CRASH <code>          exit at once with <code>, mid-turn

The last message is followed by `` (history: N)``, N = the prompts the session had
before. Sessions live in ``$FAKE_ACP_DIR`` (default: ``$HOME/.fake-acp``) as
``<id>.json``; ``session/load`` replays their messages as updates. With
``FAKE_ACP_NO_LOAD=1`` it does not declare ``loadSession``. ``--version`` prints
``fake-acp 1.0.0``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from acp import (
    PROTOCOL_VERSION,
    InitializeResponse,
    LoadSessionResponse,
    NewSessionResponse,
    PromptResponse,
    RequestError,
    run_agent,
)
from acp.helpers import (
    plan_entry,
    start_tool_call,
    text_block,
    tool_content,
    update_agent_message_text,
    update_agent_thought_text,
    update_plan,
    update_tool_call,
    update_user_message_text,
)
from acp.schema import (
    AgentCapabilities,
    AllowedOutcome,
    Implementation,
    PermissionOption,
    ToolCallLocation,
    ToolCallUpdate,
    Usage,
)

VERSION = "1.0.0"


class FakeAgent:
    def __init__(self) -> None:
        self.conn: Any = None
        self.state = Path(os.environ.get("FAKE_ACP_DIR") or Path.home() / ".fake-acp")
        self.cwd: dict[str, str] = {}
        self.cancelled: dict[str, asyncio.Event] = {}
        self.children: list[asyncio.subprocess.Process] = []

    def on_connect(self, conn: Any) -> None:
        self.conn = conn

    # -- sessions -------------------------------------------------------------------

    def _path(self, session_id: str) -> Path:
        return self.state / f"{session_id}.json"

    def _history(self, session_id: str) -> list[dict[str, str]]:
        path = self._path(session_id)
        return json.loads(path.read_text()) if path.is_file() else []

    def _save(self, session_id: str, history: list[dict[str, str]]) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self._path(session_id).write_text(json.dumps(history))

    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        load = os.environ.get("FAKE_ACP_NO_LOAD") != "1"
        return InitializeResponse(
            protocol_version=PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(load_session=load),
            agent_info=Implementation(name="fake-acp", version=VERSION),
        )

    async def new_session(self, cwd: str, **kwargs: Any) -> NewSessionResponse:
        session_id = f"fake-{uuid.uuid4()}"
        self.cwd[session_id] = cwd
        self._save(session_id, [])
        return NewSessionResponse(session_id=session_id)

    async def load_session(self, cwd: str, session_id: str, **kwargs: Any) -> LoadSessionResponse:
        if not self._path(session_id).is_file():
            raise RequestError.resource_not_found(session_id)
        self.cwd[session_id] = cwd
        for entry in self._history(session_id):
            if entry["role"] == "user":
                update: Any = update_user_message_text(entry["text"])
            else:
                update = update_agent_message_text(entry["text"])
            await self.conn.session_update(session_id=session_id, update=update)
        return LoadSessionResponse()

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        self.cancelled.setdefault(session_id, asyncio.Event()).set()

    # -- a turn ---------------------------------------------------------------------

    async def send(self, session_id: str, update: Any) -> None:
        await self.conn.session_update(session_id=session_id, update=update)

    async def prompt(self, prompt: list[Any], session_id: str, **kwargs: Any) -> PromptResponse:
        text = "".join(getattr(block, "text", "") for block in prompt)
        history = self._history(session_id)
        prior = sum(1 for e in history if e["role"] == "user")
        history.append({"role": "user", "text": text})
        cancelled = self.cancelled.setdefault(session_id, asyncio.Event())
        cancelled.clear()
        final = "Done."
        for n, line in enumerate(text.splitlines()):
            word, _, arg = line.strip().partition(" ")
            if word == "SAY":
                final = arg
            elif word == "THINK":
                await self.send(session_id, update_agent_thought_text(arg))
            elif word == "PLAN":
                entries = [plan_entry(e, status="pending") for e in arg.split("|")]
                await self.send(session_id, update_plan(entries))
            elif word in ("RUN", "EDIT"):
                rel, _, content = arg.partition(" ")
                await self.tool(session_id, f"call-{n}", word, rel, content)
            elif word == "SPAWN":
                self.children.append(await asyncio.create_subprocess_exec("sleep", "300"))
            elif word == "WAIT":
                await cancelled.wait()
                self._save(session_id, history)
                return PromptResponse(stop_reason="cancelled")
            elif word == "GARBAGE":
                sys.stdout.buffer.write(
                    b"fake-acp banner: starting up\n"
                    b'{"jsonrpc":"2.0","method":"session/upd\n'
                    b"\xff\xfe not utf-8\n"
                )
                sys.stdout.buffer.flush()
            elif word == "STDERR":
                print(arg, file=sys.stderr, flush=True)
            elif word == "CRASH":
                print(f"fake-acp: crashing with code {arg}", file=sys.stderr, flush=True)
                os._exit(int(arg))
        final = f"{final} (history: {prior})"
        half = len(final) // 2
        await self.send(session_id, update_agent_message_text(final[:half]))
        await self.send(session_id, update_agent_message_text(final[half:]))
        history.append({"role": "agent", "text": final})
        self._save(session_id, history)
        usage = Usage(total_tokens=30 + len(text), input_tokens=20 + len(text), output_tokens=10)
        return PromptResponse(stop_reason="end_turn", usage=usage)

    async def tool(self, session_id: str, call_id: str, word: str, rel: str, content: str) -> None:
        target = Path(self.cwd.get(session_id) or os.getcwd(), rel)
        if word == "RUN":
            kind, raw, locations = "execute", {"command": f"write {rel}"}, None
        else:
            kind, raw = "edit", {"path": str(target), "content": content}
            locations = [ToolCallLocation(path=str(target))]
        title = f"{word.lower()} {rel}"
        start = start_tool_call(
            call_id, title, kind=kind, status="pending", raw_input=raw, locations=locations
        )
        await self.send(session_id, start)
        options = [
            PermissionOption(option_id="yes", name="Allow", kind="allow_once"),
            PermissionOption(option_id="always", name="Always", kind="allow_always"),
            PermissionOption(option_id="no", name="Reject", kind="reject_once"),
        ]
        answer = await self.conn.request_permission(
            session_id=session_id,
            tool_call=ToolCallUpdate(tool_call_id=call_id, title=title, kind=kind),
            options=options,
        )
        outcome = answer.outcome
        if isinstance(outcome, AllowedOutcome) and outcome.option_id in ("yes", "always"):
            target.write_text(content)
            done = update_tool_call(
                call_id, status="completed", content=[tool_content(text_block(f"wrote {rel}"))]
            )
        else:
            done = update_tool_call(
                call_id, status="failed", content=[tool_content(text_block("refused"))]
            )
        await self.send(session_id, done)


def main() -> None:
    if "--version" in sys.argv:
        print(f"fake-acp {VERSION}")
        return
    asyncio.run(run_agent(FakeAgent()))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
