"""JWT access tokens from an OAuth issuer (``[auth.jwt]``): signature by the issuer's JWKS,
``iss``, ``aud``, ``exp`` checked; the scope claim mapped to read / write / admin."""

from __future__ import annotations

import logging
from typing import Any

import anyio.to_thread
import jwt  # PyJWT (this module is agentdeck.auth.jwt)
from mcp.server.auth.provider import AccessToken

from agentdeck.auth.scopes import SCOPES, Scope, implied
from agentdeck.config import JwtConfig

log = logging.getLogger(__name__)
_PREFIXES = ("", "agentdeck:", "agentdeck.", "agentdeck/")


def claim_scope(value: Any) -> Scope | None:
    """The highest agentdeck scope named by a ``scope`` / ``scp`` claim (string or list).

    ``read``, ``write``, ``admin`` are recognised bare or prefixed ``agentdeck:``."""
    names = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    held: set[str] = set()
    for name in names:
        for prefix in _PREFIXES:
            if isinstance(name, str) and name.startswith(prefix) and name[len(prefix) :] in SCOPES:
                held.add(name[len(prefix) :])
    ranked = [s for s in SCOPES if s in held]
    return ranked[-1] if ranked else None


class JwtTokenVerifier:
    """Verifies a JWT against the configured issuer's keys (fetched and cached)."""

    def __init__(self, config: JwtConfig) -> None:
        assert config.jwks_url and config.issuer and config.audience
        self.config = config
        self._jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300, timeout=10)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            claims = await anyio.to_thread.run_sync(self._decode, token)
        except (jwt.PyJWTError, ValueError) as exc:
            log.info("JWT refused: %s", type(exc).__name__)  # never the token itself
            return None
        scope = claim_scope(claims.get(self.config.scopes_claim))
        subject = str(claims.get("sub") or "")
        client = claims.get("azp") or claims.get("client_id") or subject or "jwt"
        return AccessToken(
            token=f"<jwt {client}>",
            client_id=f"jwt:{client}",
            scopes=implied(scope) if scope else [],
            expires_at=int(claims["exp"]),
            subject=subject or None,
            claims={"iss": claims.get("iss")},
        )

    def _decode(self, token: str) -> dict[str, Any]:
        key = self._jwks.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=self.config.algorithms,
            audience=self.config.audience,
            issuer=self.config.issuer,
            leeway=self.config.leeway_seconds,
            options={"require": ["exp", "iss", "aud"]},
        )
