"""Access tokens and the token verifier (docs/security.md).

A token is ``adk_`` + 32 random bytes (urlsafe base64). It is shown once, at creation;
the store keeps only its sha256 (tokens are high-entropy, so a plain hash is enough)
and compares digests in constant time.

When is a token required? Over HTTP the SDK's bearer middleware is always installed
(`Access.verifier`). While no token was ever created and no JWT issuer is configured,
``auth.allow_loopback_without_token`` (default true) lets loopback clients in without
one: `agentdeck.http_guard.LoopbackGate` vouches for them with a per-process secret
the verifier recognises. The first ``agentdeck token create`` (even from another
process while the server runs) closes that door for good, revoked tokens included:
revoking your only token never silently reopens the server.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from mcp.server.auth.provider import AccessToken

from agentdeck.auth.scopes import SCOPES, implied
from agentdeck.errors import InvalidInput
from agentdeck.store import TokenStore

log = logging.getLogger(__name__)

TOKEN_PREFIX = "adk_"
LOOPBACK = "loopback"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_EXPIRY = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
TOUCH_EVERY = 60.0  # seconds between two last_used_at writes for one token


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_expiry(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` → a timedelta."""
    match = _EXPIRY.fullmatch(text.strip().lower())
    if not match or int(match[1]) <= 0:
        raise InvalidInput(f"expiry {text!r}: use a positive number with s, m, h, d or w (30d)")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2]])


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TokenInfo:
    """What ``token list`` shows: never the token."""

    name: str
    scope: str
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None

    @property
    def state(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and datetime.fromisoformat(self.expires_at) <= _now():
            return "expired"
        return "active"


async def create_token(
    store: TokenStore, name: str, scope: str, expires: str | None = None
) -> tuple[str, TokenInfo]:
    """A new token (returned once) and its listing; only the hash is stored."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(f"token name {name!r}: letters, digits, '.', '_' or '-', max 64")
    if name.lower() in (LOOPBACK, "stdio"):
        raise InvalidInput(f"token name {name!r} is reserved (it names local callers)")
    if scope not in SCOPES:
        raise InvalidInput(f"scope {scope!r}: one of {', '.join(SCOPES)}")
    created = _now()
    expires_at = (created + parse_expiry(expires)).isoformat() if expires else None
    token = new_token()
    row = {
        "name": name,
        "scope": scope,
        "hash": token_hash(token),
        "created_at": created.isoformat(),
        "expires_at": expires_at,
    }
    if not await store.add_token(row):
        raise InvalidInput(f"a token named {name!r} exists (revoked ones keep their name)")
    return token, TokenInfo(name, scope, created.isoformat(), expires_at, None, None)


async def list_tokens(store: TokenStore) -> list[TokenInfo]:
    return [TokenInfo(**row) for row in await store.list_tokens()]


async def revoke_token(store: TokenStore, name: str) -> bool:
    return await store.revoke_token(name, _now().isoformat())


class JwtVerifier(Protocol):
    async def verify_token(self, token: str) -> AccessToken | None: ...


class StoreTokenVerifier:
    """The SDK `TokenVerifier`: agentdeck tokens from the store, else JWT (if configured),
    and the loopback gate's per-process secret."""

    def __init__(self, store: TokenStore, jwt: JwtVerifier | None = None) -> None:
        self.store = store
        self.jwt = jwt
        self.loopback_secret = secrets.token_urlsafe(32)
        self._touched: dict[str, float] = {}

    async def verify_token(self, token: str) -> AccessToken | None:
        if hmac.compare_digest(token.encode(), self.loopback_secret.encode()):
            return AccessToken(token=LOOPBACK, client_id=LOOPBACK, scopes=implied("admin"))
        if token.startswith(TOKEN_PREFIX):
            return await self._stored(token)
        if self.jwt is not None:
            return await self.jwt.verify_token(token)
        return None

    async def _stored(self, token: str) -> AccessToken | None:
        digest = token_hash(token)
        row = await self.store.token_by_hash(digest)
        if row is None or not hmac.compare_digest(str(row["hash"]), digest):
            return None
        info = TokenInfo(**{k: v for k, v in row.items() if k != "hash"})
        if info.state != "active" or info.scope not in SCOPES:
            return None
        if time.monotonic() - self._touched.get(info.name, -TOUCH_EVERY) >= TOUCH_EVERY:
            self._touched[info.name] = time.monotonic()
            await self.store.touch_token(info.name, _now().isoformat())
        expires = datetime.fromisoformat(info.expires_at) if info.expires_at else None
        return AccessToken(
            token=f"{TOKEN_PREFIX}<{info.name}>",  # never the secret itself
            client_id=info.name,
            scopes=implied(info.scope),
            expires_at=int(expires.timestamp()) if expires else None,
        )
