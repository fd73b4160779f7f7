"""Scopes (read < write < admin), callers, and the one check every face uses: `authorize`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agentdeck.errors import Forbidden

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")


def implied(scope: Scope) -> list[str]:
    """``scope`` and every lower one: admin → [read, write, admin]."""
    return list(SCOPES[: SCOPES.index(scope) + 1])


def top_scope(scopes: list[str] | None) -> Scope | None:
    """The highest agentdeck scope in ``scopes`` (None: none of them)."""
    held = [s for s in SCOPES if s in (scopes or [])]
    return held[-1] if held else None


def allows(scopes: list[str] | None, required: Scope) -> bool:
    return required in (scopes or [])


@dataclass(frozen=True)
class Caller:
    """Who asks: a token's name (``jwt:<client>``, ``loopback``, ``stdio``), its scopes,
    and the client's address when it came over the network."""

    who: str
    scopes: list[str] = field(default_factory=list)
    client: str | None = None

    @classmethod
    def local(cls, who: str = "stdio") -> Caller:
        """A caller on this machine outside HTTP (stdio, the CLI in-process): every scope."""
        return cls(who, implied("admin"))

    @property
    def scope(self) -> str:
        return top_scope(self.scopes) or "no scope"


def authorize(caller: Caller, action: str, required: Scope) -> None:
    """Nothing if ``caller`` holds ``required``; else `Forbidden` saying what and how."""
    if not allows(caller.scopes, required):
        raise Forbidden(
            f"{action} needs the {required} scope; the caller ({caller.who}) has "
            f"{caller.scope}. Use a token created with --scope {required} (or higher).",
            {"required_scope": required, "scope": caller.scope},
        )
