"""The MCP server: tools, resources and notifications in both protocol eras."""

from __future__ import annotations

import functools

from mcp.server import MCPServer
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.subscriptions import InMemorySubscriptionBus

from agentdeck import __version__
from agentdeck.auth import Access
from agentdeck.engine import TaskEngine
from agentdeck.mcp.access import install_access
from agentdeck.mcp.approval_tools import build_approval_tools
from agentdeck.mcp.git_tools import build_git_tools
from agentdeck.mcp.info_tools import build_info_tools
from agentdeck.mcp.prompts import PromptLibrary, install_prompts
from agentdeck.mcp.resources import install_resources
from agentdeck.mcp.subscriptions import ChangeNotifier, LegacySubscribers
from agentdeck.mcp.tools import build_tools

INSTRUCTIONS = (
    "agentdeck runs AI coding agents (Claude Code) on this machine. create_task starts one "
    "and returns a task_id at once; read or subscribe to task://{task_id} to follow it; "
    "update_task continues the same agent conversation; end_task finishes it. Agents may run "
    "any command in the task's project directory."
)


def build_server(
    engine: TaskEngine, access: Access | None = None
) -> tuple[MCPServer, ChangeNotifier]:
    """The MCP server for ``engine`` and the notifier to run beside it.

    Over HTTP every request passes ``access``'s token verifier (docs/security.md)."""
    access = access or Access(engine.settings, engine.store)
    prompts = PromptLibrary(engine.settings)
    modern = InMemorySubscriptionBus()
    server = MCPServer(
        "agentdeck",
        version=__version__,
        instructions=INSTRUCTIONS,
        tools=[
            *build_tools(engine),
            *build_git_tools(engine),
            *build_approval_tools(engine),
            *build_info_tools(engine, prompts),
        ],
        subscriptions=modern,
        token_verifier=access.verifier,
        auth=access.auth_settings(),
    )
    lowlevel = server._lowlevel_server
    # Handshake-era clients only learn about list_changed if it is advertised.
    lowlevel.create_initialization_options = functools.partial(  # type: ignore[method-assign]
        lowlevel.create_initialization_options,
        NotificationOptions(resources_changed=True),
    )
    install_resources(server, engine)
    install_prompts(server, prompts)
    install_access(server, engine.store)
    legacy = LegacySubscribers()
    legacy.install(server)
    return server, ChangeNotifier(engine.bus, modern, legacy)
