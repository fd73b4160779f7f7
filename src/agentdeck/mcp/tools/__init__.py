"""The MCP tools: the old contract's names, arguments and envelope, on the core."""

from __future__ import annotations

from mcp.server.mcpserver.tools import Tool

from agentdeck.core import Core
from agentdeck.mcp.tooling import Tools
from agentdeck.mcp.tools import approvals, git, info, tasks


def build_tools(core: Core) -> list[Tool]:
    """Every tool, bound to ``core``."""
    tools = Tools(core)
    for module in (tasks, git, approvals, info):
        module.register(tools)
    return tools.tools
