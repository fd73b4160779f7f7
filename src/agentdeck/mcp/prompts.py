"""The prompt library served as MCP prompts: ``prompts/list``, ``prompts/get``, completion."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver.prompts.base import Message, Prompt, PromptArgument, UserMessage
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    CompleteRequestParams,
    CompleteResult,
    Completion,
    GetPromptRequestParams,
    GetPromptResult,
    InputRequiredResult,
    ListPromptsResult,
    PaginatedRequestParams,
    PromptReference,
)

from agentdeck.errors import AgentdeckError
from agentdeck.mcp._sdk import add_request_handler
from agentdeck.prompts import MAX_COMPLETIONS, PromptLibrary, PromptTemplate


def _mcp_error(exc: AgentdeckError) -> MCPError:
    return MCPError(code=INVALID_PARAMS, message=exc.message, data=exc.details)


class _LibraryPrompt(Prompt):
    """An MCP prompt rendered by the library: one user message, clear errors."""

    async def render(self, arguments: dict[str, Any] | None, context: Any) -> list[Message]:
        try:
            text = self.fn(arguments or {})
        except AgentdeckError as exc:
            raise _mcp_error(exc) from exc
        assert isinstance(text, str)
        return [UserMessage(text)]


def _to_prompt(library: PromptLibrary, template: PromptTemplate) -> Prompt:
    def render(arguments: dict[str, Any]) -> str:
        return library.render(template.name, arguments)

    return _LibraryPrompt(
        name=template.name,
        title=template.title,
        description=template.description,
        arguments=[
            PromptArgument(name=a.name, description=a.description, required=a.required)
            for a in template.arguments
        ],
        fn=render,
        context_kwarg=None,
    )


def install_prompts(server: MCPServer, library: PromptLibrary) -> None:
    """Serve the library's templates as MCP prompts, with argument completion.

    Each template is registered with ``server.add_prompt``; ``prompts/list`` and
    ``prompts/get`` first re-sync the registrations with the library (so user templates
    added or changed on disk appear without a restart) and report a missing required,
    unknown or unknown-prompt argument as an INVALID_PARAMS error naming the problem.
    """
    registered: dict[str, PromptTemplate] = {}

    def sync() -> None:
        current = {name: library.get(name) for name in library.names()}
        for name, old in list(registered.items()):
            if current.get(name) != old:
                server.remove_prompt(name)
                del registered[name]
        for name, template in current.items():
            if name not in registered:
                server.add_prompt(_to_prompt(library, template))
                registered[name] = template

    async def list_prompts(
        ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListPromptsResult:
        sync()
        return ListPromptsResult(prompts=await server.list_prompts())

    async def get_prompt(
        ctx: ServerRequestContext[Any], params: GetPromptRequestParams
    ) -> GetPromptResult | InputRequiredResult:
        sync()
        if params.name not in registered:
            try:
                library.get(params.name)
            except AgentdeckError as exc:
                raise _mcp_error(exc) from exc
        return await server.get_prompt(params.name, params.arguments)

    async def complete(
        ctx: ServerRequestContext[Any], params: CompleteRequestParams
    ) -> CompleteResult:
        if not isinstance(params.ref, PromptReference):
            return CompleteResult(completion=Completion(values=[]))
        try:
            values = await anyio.to_thread.run_sync(
                library.complete, params.ref.name, params.argument.name, params.argument.value
            )
        except AgentdeckError as exc:
            raise _mcp_error(exc) from exc
        return CompleteResult(
            completion=Completion(values=values, has_more=len(values) >= MAX_COMPLETIONS)
        )

    sync()
    add_request_handler(server, "prompts/list", PaginatedRequestParams, list_prompts)
    add_request_handler(server, "prompts/get", GetPromptRequestParams, get_prompt)
    add_request_handler(server, "completion/complete", CompleteRequestParams, complete)
