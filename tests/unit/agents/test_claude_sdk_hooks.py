"""Pins every private hook into claude-agent-sdk (agentdeck.agents._claude_sdk)."""

from __future__ import annotations

import importlib.metadata
import inspect

from claude_agent_sdk import ClaudeAgentOptions
from claude_agent_sdk._internal.transport.subprocess_cli import SubprocessCLITransport

from agentdeck.agents._claude_sdk import SessionTransport, bundled_cli, with_can_use_tool

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
