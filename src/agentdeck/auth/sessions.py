"""Browser logins: session cookies and the one-time codes of ``agentdeck open``.

A browser that logs in gets a random session id (its cookie), never the token. The
server keeps, in memory only, which credential each session stands for; every request
still goes through the token verifier, so a revoked or expired token stops working at
once. Sessions and codes are kept by the sha256 of their secret, and end with the
process: after a restart the browser logs in again. Codes are single use.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MAX_SESSIONS = 1000
MAX_CODES = 100


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    """One logged-in browser: its cookie values and the credential it stands for."""

    id: str = field(repr=False)
    csrf: str = field(repr=False)
    token: str = field(repr=False)
    expires_at: float


class BrowserSessions:
    """Sessions (cookie → credential) and login codes (code → credential), in memory."""

    def __init__(
        self,
        ttl_seconds: float,
        code_ttl_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl_seconds
        self.code_ttl = code_ttl_seconds
        self.clock = clock
        self._sessions: dict[str, Session] = {}  # sha256(id) -> session, oldest first
        self._codes: dict[str, tuple[str, float]] = {}  # sha256(code) -> (credential, expiry)

    def open(self, token: str) -> Session:
        """A new session for ``token`` (the oldest session goes beyond `MAX_SESSIONS`)."""
        self._prune()
        session = Session(
            secrets.token_urlsafe(32), secrets.token_urlsafe(24), token, self.clock() + self.ttl
        )
        self._sessions[_key(session.id)] = session
        while len(self._sessions) > MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session with this id, if any."""
        session = self._sessions.get(_key(session_id))
        if session is None or session.expires_at <= self.clock():
            return None
        return session

    def close(self, session_id: str) -> bool:
        return self._sessions.pop(_key(session_id), None) is not None

    def new_code(self, token: str) -> tuple[str, float]:
        """A one-time login code for ``token`` and when it expires (epoch seconds)."""
        self._prune()
        code = secrets.token_urlsafe(24)
        expires = self.clock() + self.code_ttl
        self._codes[_key(code)] = (token, expires)
        while len(self._codes) > MAX_CODES:
            del self._codes[next(iter(self._codes))]
        return code, expires

    def redeem(self, code: str) -> str | None:
        """The credential of a live code, which is used up; None if unknown, used or expired."""
        entry = self._codes.pop(_key(code), None)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[0]

    def _prune(self) -> None:
        now = self.clock()
        for key in [k for k, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[key]
        for key in [k for k, (_, expiry) in self._codes.items() if expiry <= now]:
            del self._codes[key]
