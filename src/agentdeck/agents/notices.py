"""Lines agent CLIs print that are not problems: banners and terminal warnings.

Gemini CLI, for one, says "YOLO mode is enabled. All tool calls will be automatically
approved." under ``--approval-mode yolo`` and warns about the terminal's colours when
it has none (it never has one here). Such a line is still recorded, as every line is,
but its ``stderr`` event says ``notice: true``: the live views fold it instead of
showing it as an error, and a failed turn's message does not quote it as the cause.
"""

from __future__ import annotations

import re
from typing import Any

HARMLESS = (
    re.compile(r"^YOLO mode is enabled\b"),
    re.compile(r"^Warning: .*\bcolou?r\b.*\b(support|render)", re.IGNORECASE),
    re.compile(r"^Loaded cached credentials\.?$"),
    re.compile(r"^Data collection is disabled\.?$"),
)


def harmless(line: str) -> bool:
    """Whether ``line`` is a known banner or terminal warning of an agent CLI."""
    text = line.strip()
    return any(pattern.search(text) for pattern in HARMLESS)


def stderr_event(line: str, **extra: Any) -> dict[str, Any]:
    """The data of a ``stderr`` event for ``line`` (``notice: true`` when harmless)."""
    data: dict[str, Any] = {"line": line, **extra}
    if harmless(line):
        data["notice"] = True
    return data


__all__ = ["HARMLESS", "harmless", "stderr_event"]
