"""The MCP face: tools, resources, prompts and notifications in both protocol eras."""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.server.subscriptions import InMemorySubscriptionBus

from agentdeck import __version__
from agentdeck.core import Core
from agentdeck.mcp._sdk import advertise_list_changed, reply_json_when_no_stream
from agentdeck.mcp.prompts import install_prompts
from agentdeck.mcp.resources import install_resources
from agentdeck.mcp.subscriptions import ChangeNotifier, LegacySubscribers
from agentdeck.mcp.tasks import TaskListen, TasksExtension
from agentdeck.mcp.tooling import CachedToolList
from agentdeck.mcp.tools import build_tools

INSTRUCTIONS = (
    "agentdeck runs AI coding agents (Claude Code) on this machine. create_task starts one "
    "and returns a task_id at once; read or subscribe to task://{task_id} to follow it; "
    "update_task continues the same agent conversation; end_task finishes it. Under the "
    "default approval policy (ask) an agent edits files in its workspace freely and asks "
    "before anything else: answer with respond_task (pending decisions: agent://pending). "
    "Under policy bypass it may run any command in the task's project directory."
)


def build_server(core: Core) -> tuple[MCPServer, ChangeNotifier]:
    """The MCP server for ``core`` and the notifier to run beside it.

    Over HTTP every request passes the core's token verifier (docs/security.md)."""
    modern = InMemorySubscriptionBus()
    tasks = TasksExtension(core)
    server = MCPServer(
        "agentdeck",
        version=__version__,
        instructions=INSTRUCTIONS,
        tools=build_tools(core),
        subscriptions=modern,
        token_verifier=core.access.verifier,
        auth=core.access.auth_settings(),
        extensions=[tasks],
    )
    TaskListen(core, tasks.views, modern).install(server)
    advertise_list_changed(server)
    reply_json_when_no_stream()
    install_resources(server, core)
    install_prompts(server, core.prompts)
    legacy = LegacySubscribers()
    legacy.install(server)
    server.middleware.append(CachedToolList())
    return server, ChangeNotifier(core, modern, legacy)
