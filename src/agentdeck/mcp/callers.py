"""Who sent an MCP request, as the core's `Caller`.

Over HTTP the SDK's bearer middleware has put an `AccessToken` in context (a token
name, ``jwt:<client>``, or ``loopback``); with no HTTP request at all the caller is
local (``stdio``, in-process) and holds every scope.
"""

from __future__ import annotations

from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import ServerRequestContext
from starlette.requests import Request

from agentdeck.core import Caller


def caller_of(ctx: ServerRequestContext[Any, Any]) -> Caller:
    request = ctx.request if isinstance(ctx.request, Request) else None
    token: AccessToken | None = get_access_token()
    if token is None and request is not None:
        user = request.scope.get("user")
        token = user.access_token if isinstance(user, AuthenticatedUser) else None
    client = request.client.host if request is not None and request.client else None
    if token is not None:
        return Caller(token.client_id, list(token.scopes), client)
    if request is None:
        return Caller.local()
    return Caller("anonymous", [], client)  # cannot happen behind the SDK's auth: refuse
