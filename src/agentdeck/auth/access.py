"""One server's access rules: the token verifier, SDK auth settings, the loopback gate,
and the audit log of mutating calls (every face writes it the same way)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from agentdeck.auth.listen import base_url
from agentdeck.auth.scopes import SCOPES, Caller
from agentdeck.auth.tokens import JwtVerifier, StoreTokenVerifier
from agentdeck.config import Settings
from agentdeck.redact import scrub
from agentdeck.store import AuditStore, Store, open_store

if TYPE_CHECKING:
    from mcp.server.auth.settings import AuthSettings

log = logging.getLogger(__name__)


class Access:
    """One server's access rules: its verifier, SDK auth settings, and the loopback gate."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.audit = Audit(store)
        self.settings = settings
        self.store = store
        jwt: JwtVerifier | None = None
        if settings.auth.jwt.enabled:
            from agentdeck.auth.jwt import JwtTokenVerifier

            jwt = JwtTokenVerifier(settings.auth.jwt)
        self.verifier = StoreTokenVerifier(store, jwt)
        self._tokens_exist = False

    @property
    def resource_url(self) -> str:
        return self.settings.auth.public_url or f"{base_url(self.settings)}/mcp"

    def auth_settings(self) -> AuthSettings:
        from mcp.server.auth.settings import AuthSettings  # the MCP face's; loaded there

        jwt = self.settings.auth.jwt
        return AuthSettings(
            issuer_url=jwt.issuer if jwt.enabled and jwt.issuer else base_url(self.settings),  # type: ignore[arg-type]
            resource_server_url=self.resource_url,  # type: ignore[arg-type]
            required_scopes=["read"],
            validate_token_resource=False,  # tokens are not resource-bound; JWT checks `aud`
        )

    def resource_metadata(self) -> dict[str, Any] | None:
        """The OAuth protected-resource metadata (RFC 9728) when agentdeck's own tokens
        are the only credential: no authorization server, since none issues them (the
        SDK's document, naming the JWT issuer, serves when JWT is on)."""
        if self.settings.auth.jwt.enabled:
            return None
        return {
            "resource": self.resource_url,
            "scopes_supported": list(SCOPES),
            "bearer_methods_supported": ["header"],
            "resource_name": "agentdeck (tokens from `agentdeck token create`)",
        }

    async def loopback_open(self) -> bool:
        """Whether a loopback client may come in without a token (see the module doc)."""
        auth = self.settings.auth
        if not auth.allow_loopback_without_token or auth.jwt.enabled or self._tokens_exist:
            return False
        self._tokens_exist = await self.store.has_tokens()  # once true, never asked again
        return not self._tokens_exist


@dataclass
class AuditEntry:
    """An open audit row: set ``task_id`` and ``outcome`` before the block ends."""

    id: int | None
    task_id: str | None
    outcome: str = "error"


class Audit:
    """Writes who did what, to which task, from where, and how it went.

    A row is written before the call runs (a long call or a crash still leaves a
    trace) and gets its outcome after; arguments are stored with secrets masked.
    """

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def refused(
        self, caller: Caller, action: str, arguments: Any, task_id: str | None
    ) -> None:
        await self._add(caller, action, arguments, task_id, "forbidden")

    @asynccontextmanager
    async def record(
        self, caller: Caller, action: str, arguments: Any, task_id: str | None
    ) -> AsyncIterator[AuditEntry]:
        entry = AuditEntry(await self._add(caller, action, arguments, task_id, "started"), task_id)
        try:
            yield entry
        finally:
            if entry.id is not None:
                with anyio.CancelScope(shield=True):
                    await self._finish(entry)

    async def _add(
        self, caller: Caller, action: str, arguments: Any, task_id: str | None, outcome: str
    ) -> int | None:
        row = {
            "ts": datetime.now(UTC).isoformat(),
            "who": caller.who,
            "tool": action,
            "arguments": json.dumps(scrub(arguments if arguments is not None else {})),
            "task_id": task_id,
            "client": caller.client,
            "outcome": outcome,
        }
        try:
            return await self.store.add_audit(row)
        except Exception:
            log.exception("writing the audit log failed (%s by %s)", action, caller.who)
            return None

    async def _finish(self, entry: AuditEntry) -> None:
        assert entry.id is not None
        try:
            await self.store.finish_audit(entry.id, entry.outcome, entry.task_id)
        except Exception:
            log.exception("updating the audit log failed (entry %s)", entry.id)

    async def entries(self, limit: int) -> list[dict[str, Any]]:
        """The newest ``limit`` rows, newest first, arguments decoded."""
        rows = await self.store.audit_entries(limit)
        for row in rows:
            row["arguments"] = json.loads(row["arguments"])
        return rows


def auth_configured(settings: Settings) -> bool:
    """Whether HTTP clients need credentials: a token exists or a JWT issuer is set."""
    if settings.auth.jwt.enabled:
        return True
    store = open_store(settings.db_path, settings.database_url)
    try:
        return anyio.run(store.has_tokens)
    finally:
        store.close()
