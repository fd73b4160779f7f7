"""Pins every private hook into claude-agent-sdk (agentdeck.agents._claude_sdk)."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import uuid
from pathlib import Path

import pytest
from claude_agent_sdk import ClaudeAgentOptions, InMemorySessionStore, project_key_for_directory
from claude_agent_sdk._internal.transport.subprocess_cli import SubprocessCLITransport
from claude_agent_sdk.types import SessionStoreEntry

from agentdeck.agents._claude_sdk import (
    SessionTransport,
    bundled_cli,
    resume_from_store,
    with_can_use_tool,
)
from agentdeck.agents._cli import line_text, parse_line, split_lines

PINNED = "0.2.189"


def test_the_pinned_sdk_is_installed() -> None:
    assert importlib.metadata.version("claude-agent-sdk") == PINNED


def test_bundled_cli_is_in_the_wheel() -> None:
    cli = bundled_cli()
    assert cli is not None and cli.name == "claude" and cli.stat().st_size > 0


def test_transport_hooks_exist() -> None:
    assert issubclass(SessionTransport, SubprocessCLITransport)
    # the overridden and read members of the SDK's transport
    assert callable(SubprocessCLITransport._build_command)
    assert inspect.iscoroutinefunction(SubprocessCLITransport.connect)
    assert inspect.iscoroutinefunction(SubprocessCLITransport.close)
    transport = SubprocessCLITransport(prompt="hi", options=ClaudeAgentOptions())
    assert transport._process is None  # the attribute connect() fills in
    command = SessionTransport(
        "hi", ClaudeAgentOptions(cli_path="/bin/true"), lambda pid, argv: None, None
    )._build_command()
    assert "/bin/true" in command


def test_can_use_tool_setup_routes_prompts_over_stdio() -> None:
    async def allow(*_: object) -> None: ...

    configured = with_can_use_tool(ClaudeAgentOptions(can_use_tool=allow))  # type: ignore[arg-type]
    assert configured.permission_prompt_tool_name == "stdio"
    plain = ClaudeAgentOptions()
    assert with_can_use_tool(plain) is plain


def test_the_sdk_still_skips_a_store_resume_for_a_given_transport() -> None:
    """Why `resume_from_store` exists: the SDK loads a resume from the store only for a
    transport it makes itself (the day it does so for ours too, drop the hook)."""
    from claude_agent_sdk._internal.client import InternalClient

    source = inspect.getsource(InternalClient.process_query)
    assert "materialize_resume_session(options) if transport is None else None" in source


@pytest.mark.anyio
async def test_resume_from_store_writes_the_session_where_the_cli_resumes_it(
    tmp_path: Path,
) -> None:
    store = InMemorySessionStore()
    session = str(uuid.uuid4())
    cwd = tmp_path / "worktree"
    cwd.mkdir()
    lines: list[SessionStoreEntry] = [
        {"type": "user", "uuid": "u1"},
        {"type": "assistant", "uuid": "a1"},
    ]
    await store.append(
        {"project_key": project_key_for_directory(str(cwd)), "session_id": session}, lines
    )
    base = ClaudeAgentOptions(cwd=str(cwd), resume=session, session_store=store, env={"A": "1"})
    options, cleanup = await resume_from_store(base)
    assert cleanup is not None and options.resume == session and options.env["A"] == "1"
    config = Path(options.env["CLAUDE_CONFIG_DIR"])
    [written] = config.glob(f"projects/*/{session}.jsonl")
    assert [json.loads(line) for line in written.read_text().splitlines()] == lines
    await cleanup()
    assert not config.exists()
    # no such session in the store: the options as they were, nothing to clean
    other = ClaudeAgentOptions(cwd=str(cwd), resume=str(uuid.uuid4()), session_store=store)
    assert await resume_from_store(other) == (other, None)


def test_transport_readers_it_replaces_exist() -> None:
    """SessionTransport replaces the SDK's stdout and stderr readers (bad lines)."""
    for name in ("read_messages", "_check_claude_version"):
        assert callable(getattr(SubprocessCLITransport, name))
    assert inspect.iscoroutinefunction(SubprocessCLITransport._handle_stderr)
    transport = SubprocessCLITransport(prompt="hi", options=ClaudeAgentOptions())
    assert isinstance(transport._max_buffer_size, int)
    assert transport._exit_error is None
    assert SessionTransport.read_messages is not SubprocessCLITransport.read_messages
    assert SessionTransport._handle_stderr is not SubprocessCLITransport._handle_stderr


def test_parse_line_reports_what_is_wrong_and_never_raises() -> None:
    assert parse_line(b'{"type":"result"}') == ({"type": "result"}, None)
    assert parse_line(b"  \r") == (None, None)
    data, problem = parse_line(b'{"type":"assis')
    assert data is None and problem is not None and problem.startswith("truncated JSON")
    data, problem = parse_line(b"\xff\xfe{}")
    assert data is None and problem == "invalid UTF-8 (byte 0)"
    assert parse_line(b"[SandboxDebug] x")[1] is not None
    assert parse_line(b"[1, 2]") == (None, "not a JSON object")
    assert line_text(b"a\xffb") == "a\ufffdb"


def test_split_lines_keeps_the_partial_tail() -> None:
    buffer = bytearray(b"one\ntwo\nthr")
    assert split_lines(buffer) == [b"one", b"two"]
    assert buffer == b"thr"
    buffer += b"ee\n"
    assert split_lines(buffer) == [b"three"] and buffer == b""
