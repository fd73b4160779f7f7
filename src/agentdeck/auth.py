"""Access tokens, scopes, the token verifier, and the listen-address rule (docs/security.md).

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
import ipaddress
import logging
import re
import secrets
import socket
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

import anyio
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings

from agentdeck.config import Settings
from agentdeck.errors import ConfigError, InvalidInput
from agentdeck.store import Store

log = logging.getLogger(__name__)

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
TOKEN_PREFIX = "adk_"
LOOPBACK = "loopback"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_EXPIRY = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
TOUCH_EVERY = 60.0  # seconds between two last_used_at writes for one token


def implied(scope: Scope) -> list[str]:
    """``scope`` and every lower one: admin → [read, write, admin]."""
    return list(SCOPES[: SCOPES.index(scope) + 1])


def top_scope(scopes: list[str] | None) -> Scope | None:
    """The highest agentdeck scope in ``scopes`` (None: none of them)."""
    held = [s for s in SCOPES if s in (scopes or [])]
    return held[-1] if held else None


def allows(scopes: list[str] | None, required: Scope) -> bool:
    return required in (scopes or [])


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
    store: Store, name: str, scope: str, expires: str | None = None
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
    try:
        await store.add_token(row)
    except sqlite3.IntegrityError as exc:
        raise InvalidInput(f"a token named {name!r} exists (revoked ones keep their name)") from exc
    return token, TokenInfo(name, scope, created.isoformat(), expires_at, None, None)


async def list_tokens(store: Store) -> list[TokenInfo]:
    return [TokenInfo(**row) for row in await store.list_tokens()]


async def revoke_token(store: Store, name: str) -> bool:
    return await store.revoke_token(name, _now().isoformat())


class JwtVerifier(Protocol):
    async def verify_token(self, token: str) -> AccessToken | None: ...


class StoreTokenVerifier:
    """The SDK `TokenVerifier`: agentdeck tokens from the store, else JWT (if configured),
    and the loopback gate's per-process secret."""

    def __init__(self, store: Store, jwt: JwtVerifier | None = None) -> None:
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


class Access:
    """One server's access rules: its verifier, SDK auth settings, and the loopback gate."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        jwt: JwtVerifier | None = None
        if settings.auth.jwt.enabled:
            from agentdeck.auth_jwt import JwtTokenVerifier

            jwt = JwtTokenVerifier(settings.auth.jwt)
        self.verifier = StoreTokenVerifier(store, jwt)
        self._tokens_exist = False

    @property
    def resource_url(self) -> str:
        return self.settings.auth.public_url or f"{base_url(self.settings)}/mcp"

    def auth_settings(self) -> AuthSettings:
        jwt = self.settings.auth.jwt
        return AuthSettings(
            issuer_url=jwt.issuer if jwt.enabled and jwt.issuer else base_url(self.settings),  # type: ignore[arg-type]
            resource_server_url=self.resource_url,  # type: ignore[arg-type]
            required_scopes=["read"],
            validate_token_resource=False,  # tokens are not resource-bound; JWT checks `aud`
        )

    async def loopback_open(self) -> bool:
        """Whether a loopback client may come in without a token (see the module doc)."""
        auth = self.settings.auth
        if not auth.allow_loopback_without_token or auth.jwt.enabled or self._tokens_exist:
            return False
        self._tokens_exist = await self.store.has_tokens()  # once true, never asked again
        return not self._tokens_exist


# -- where the server listens ----------------------------------------------------------


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url(settings: Settings) -> str:
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def auth_configured(settings: Settings) -> bool:
    """Whether HTTP clients need credentials: a token exists or a JWT issuer is set."""
    if settings.auth.jwt.enabled:
        return True
    store = Store(settings.db_path)
    try:
        return anyio.run(store.has_tokens)
    finally:
        store.close()


def check_binding(settings: Settings, auth_enabled: bool) -> None:
    """Refuse a non-loopback listen address while nothing requires a credential."""
    if is_loopback_host(settings.host) or auth_enabled:
        return
    raise ConfigError(
        f"refusing to listen on {settings.host}: no access token exists, so anyone who can "
        "reach that address could run agents on this machine. Listen on loopback "
        "(127.0.0.1 or ::1) and use a tunnel (docs/remote-access.md), or first create a "
        "token: agentdeck token create --name NAME --scope write"
    )


def reachable_urls(settings: Settings) -> list[str]:
    """The MCP URLs clients can use, for the start-up banner."""
    urls: list[str] = []
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        addresses = {"127.0.0.1"}
        try:
            infos = socket.getaddrinfo(socket.gethostname(), None, proto=socket.IPPROTO_TCP)
            addresses |= {str(i[4][0]) for i in infos}
        except OSError:
            pass
        if host == "::":
            addresses.add("::1")
        for addr in sorted(addresses):
            shown = f"[{addr}]" if ":" in addr else addr
            urls.append(f"http://{shown}:{settings.port}/mcp")
    else:
        urls.append(f"{base_url(settings)}/mcp")
    if settings.auth.public_url and settings.auth.public_url not in urls:
        urls.append(settings.auth.public_url)
    return urls


def describe(token: AccessToken | None) -> dict[str, Any]:
    """Who a caller is, for audit rows and refusals: name and top scope."""
    if token is None:
        return {"who": "stdio", "scope": "admin"}
    return {"who": token.client_id, "scope": top_scope(token.scopes) or "none"}
