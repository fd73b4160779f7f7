"""Who may do what: scopes, tokens, JWT, the listen rule, and the audit log (docs/security.md)."""

from __future__ import annotations

from agentdeck.auth.access import Access, Audit, AuditEntry, auth_configured
from agentdeck.auth.listen import base_url, check_binding, is_loopback_host, reachable_urls
from agentdeck.auth.scopes import (
    SCOPES,
    Caller,
    Scope,
    allows,
    authorize,
    implied,
    top_scope,
)
from agentdeck.auth.tokens import (
    LOOPBACK,
    TOKEN_PREFIX,
    StoreTokenVerifier,
    TokenInfo,
    create_token,
    list_tokens,
    revoke_token,
)

__all__ = [
    "LOOPBACK",
    "SCOPES",
    "TOKEN_PREFIX",
    "Access",
    "Audit",
    "AuditEntry",
    "Caller",
    "Scope",
    "StoreTokenVerifier",
    "TokenInfo",
    "allows",
    "auth_configured",
    "authorize",
    "base_url",
    "check_binding",
    "create_token",
    "implied",
    "is_loopback_host",
    "list_tokens",
    "reachable_urls",
    "revoke_token",
    "top_scope",
]
