"""Keep secrets out of events, logs and error messages."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

_SECRET_NAME = re.compile(r"(_KEY|_TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)
_SECRET_FLAG = re.compile(r"^--?[\w-]*(key|token|secret|password)[\w-]*$", re.IGNORECASE)
_MIN_SECRET_LEN = 6
MASK = "***"


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables whose names look secret, longest first."""
    env = os.environ if env is None else env
    values = {v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


def redact_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every known secret value replaced by ``***``."""
    for value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_argv(argv: list[str]) -> list[str]:
    """An argv with the values of secret-looking flags and known secrets masked."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(MASK)
            hide_next = False
            continue
        flag, eq, _ = arg.partition("=")
        if _SECRET_FLAG.match(flag):
            if eq:
                out.append(f"{flag}={MASK}")
            else:
                out.append(arg)
                hide_next = True
            continue
        out.append(redact_text(arg))
    return out


# Credentials recognisable by their shape: agentdeck tokens and bearer headers.
_TOKEN_SHAPES = re.compile(
    r"\badk_[A-Za-z0-9_-]{16,}|(?<=[Bb]earer )[A-Za-z0-9._~+/=-]{8,}|\bsk-[A-Za-z0-9_-]{16,}"
)
_SHAPE_HINTS = ("adk_", "earer ", "sk-")
MAX_STRING = 2_000


def redact_shapes(text: str) -> str:
    """``text`` with token-shaped substrings (``adk_…``, ``Bearer …``, ``sk-…``) masked."""
    if any(h in text for h in _SHAPE_HINTS):
        return _TOKEN_SHAPES.sub(MASK, text)
    return text


def redact_all(text: str, secrets: Iterable[str] | None = None) -> str:
    """Known secret values and token shapes masked: for logs, audit rows, error messages."""
    return redact_shapes(redact_text(text, secrets))


def redact_value(value: object, secrets: tuple[str, ...]) -> object:
    """Every string inside ``value`` (dicts, lists) with ``secrets`` masked; returns
    ``value`` itself when nothing changed. The event hot path: call it only when
    ``secrets`` is non-empty."""
    kind = type(value)
    if kind is str:
        text = cast(str, value)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text
    if kind is dict:
        mapping = cast(dict[Any, Any], value)
        copy: dict[Any, Any] | None = None
        for key, item in mapping.items():
            if type(item) in _CONTAINERS:
                new = redact_value(item, secrets)
                if new is not item:
                    copy = copy or dict(mapping)
                    copy[key] = new
        return mapping if copy is None else copy
    if kind is list or kind is tuple:
        items = cast(list[Any], value)
        out: list[Any] | None = None
        for index, item in enumerate(items):
            if type(item) in _CONTAINERS:
                new = redact_value(item, secrets)
                if new is not item:
                    out = out or list(items)
                    out[index] = new
        return items if out is None else out
    return value


_CONTAINERS = frozenset({str, dict, list, tuple})


def scrub(value: object, secrets: Iterable[str] | None = None, limit: int = MAX_STRING) -> object:
    """A JSON-able copy of ``value`` for the audit log: secrets and token shapes masked,
    secret-named keys hidden, strings longer than ``limit`` truncated."""
    known = tuple(secret_values() if secrets is None else secrets)
    if isinstance(value, str):
        text = redact_all(value, known)
        return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"
    if isinstance(value, dict):
        return {
            str(k): MASK if _SECRET_NAME.search(str(k)) else scrub(v, known, limit)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, known, limit) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value), known, limit)


class RedactingFilter:
    """A `logging` filter masking secret values and token shapes in every record."""

    def __init__(self, secrets: Iterable[str] | None = None) -> None:
        self.secrets = tuple(secret_values() if secrets is None else secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_all(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def install_log_redaction() -> None:
    """Mask secrets in everything the root logger's handlers write (call after logging setup)."""
    flt = RedactingFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(flt)
