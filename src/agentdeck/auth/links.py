"""Signed approval links: one per pending decision, single use, expiring.

A link is ``/a/<link>``; ``<link>`` is the URL-safe base64 of::

    version (1) | expires (4, epoch seconds) | link id (6) | task id | request id | tag (16)

(ids length-prefixed), the tag being HMAC-SHA256 over the rest, truncated to 128 bits,
with a server key kept in ``$AGENTDECK_HOME/approval-links.key`` (mode 0600, made on
first use). The link is the credential: it names one decision and nothing else.

Used link ids are kept in memory until they expire. Pending decisions do not outlive
the process either (a restart interrupts the turn, and new requests get new ids), so
a link used before a restart cannot settle anything after it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from agentdeck.config import Settings

KEY_FILE = "approval-links.key"
_VERSION = 1
_TAG = 16
_HEAD = struct.Struct(">BI6s")  # version, expires, link id
_CONTEXT = b"agentdeck approval link\0"
MAX_USED = 100_000


class LinkRefused(Exception):
    """A link that cannot decide: ``reason`` is ``invalid``, ``expired`` or ``used``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class LinkClaim:
    """What a valid link stands for."""

    task_id: str
    request_id: str
    expires_at: float
    link_id: str


def load_key(home: Path) -> bytes:
    """The server's link key, made (32 random bytes, mode 0600) on first use."""
    path = home / KEY_FILE
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(key.hex() + "\n")
    os.chmod(path, 0o600)
    text = path.read_text(encoding="ascii").strip()
    try:
        stored = bytes.fromhex(text)
    except ValueError:
        stored = b""
    if len(stored) < 32:
        raise ValueError(f"{path} does not hold a link key; delete it to make a new one")
    return stored


def public_base(settings: Settings) -> str:
    """The server's address as a browser elsewhere reaches it, without a trailing slash:
    ``auth.public_url`` (its ``/mcp`` dropped), else ``notify.dashboard_url``'s origin,
    else the listen address."""
    if settings.auth.public_url:
        return settings.auth.public_url.rstrip("/").removesuffix("/mcp")
    if settings.notify.dashboard_url:
        parts = urlsplit(settings.notify.dashboard_url)
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    from agentdeck.auth.listen import base_url

    return base_url(settings)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ApprovalLinks:
    """Issues and checks the links of one server (its key from ``home``)."""

    def __init__(
        self, home: Path, ttl_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.home = home
        self.ttl = ttl_seconds
        self.clock = clock
        self._key: bytes | None = None
        self._used: dict[str, float] = {}  # link id -> its expiry

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = load_key(self.home)
        return self._key

    def _tag(self, body: bytes) -> bytes:
        return hmac.new(self.key, _CONTEXT + body, hashlib.sha256).digest()[:_TAG]

    def issue(self, task_id: str, request_id: str) -> str:
        """A link for the decision ``request_id`` of ``task_id``, valid for ``ttl``."""
        ids = [task_id.encode(), request_id.encode()]
        if any(len(i) > 255 for i in ids):
            raise ValueError("task and request ids of at most 255 bytes")
        expires = int(self.clock() + self.ttl)
        body = _HEAD.pack(_VERSION, expires, secrets.token_bytes(6))
        body += b"".join(bytes([len(i)]) + i for i in ids)
        return _b64(body + self._tag(body))

    def check(self, link: str) -> LinkClaim:
        """What ``link`` stands for; `LinkRefused` if altered, foreign, expired or used."""
        claim = self._verified(link)
        if claim.link_id in self._used:
            raise LinkRefused("used", "this link was used already: each link decides once")
        if claim.expires_at <= self.clock():
            raise LinkRefused(
                "expired",
                "this link has expired (links last "
                f"{self.ttl / 60:g} minutes); answer from the dashboard instead",
            )
        return claim

    def use(self, link: str) -> LinkClaim:
        """Like `check`, and the link is used up (it never works again)."""
        claim = self.check(link)
        now = self.clock()
        for used in [k for k, expiry in self._used.items() if expiry <= now]:
            del self._used[used]
        if len(self._used) >= MAX_USED:
            del self._used[next(iter(self._used))]
        self._used[claim.link_id] = claim.expires_at
        return claim

    def _verified(self, link: str) -> LinkClaim:
        invalid = LinkRefused(
            "invalid",
            "this link is not valid: it was altered, cut short, or made by another server; "
            "open the link from the notification as it came, or answer from the dashboard",
        )
        try:
            raw = _unb64(link)
        except (binascii.Error, ValueError):
            raise invalid from None
        if len(raw) < _HEAD.size + 2 + _TAG:
            raise invalid
        body, tag = raw[:-_TAG], raw[-_TAG:]
        if not hmac.compare_digest(tag, self._tag(body)):
            raise invalid
        version, expires, link_id = _HEAD.unpack_from(body)
        rest = body[_HEAD.size :]
        ids: list[str] = []
        for _ in range(2):
            if not rest or len(rest) < 1 + rest[0]:
                raise invalid
            ids.append(rest[1 : 1 + rest[0]].decode("utf-8", "replace"))
            rest = rest[1 + rest[0] :]
        if version != _VERSION or rest:
            raise invalid
        return LinkClaim(ids[0], ids[1], float(expires), link_id.hex())
