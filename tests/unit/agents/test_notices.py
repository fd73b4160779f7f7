"""Agent CLIs' harmless lines (banners, terminal warnings) are recorded as notices."""

from __future__ import annotations

import pytest

from agentdeck.agents.notices import harmless, stderr_event

# Printed by the pinned Gemini CLI (0.61.0), word for word.
GEMINI = [
    "YOLO mode is enabled. All tool calls will be automatically approved.",
    "Warning: 256-color support not detected. Using a terminal with at least 256-color"
    " support is recommended for a better visual experience.",
    "Warning: True color (24-bit) support not detected. Using a terminal with true color"
    " enabled will result in a better visual experience.",
    "Warning: Limited color support detected (TERM=screen). Some visual elements may not"
    " render correctly.",
    "Loaded cached credentials.",
]


@pytest.mark.parametrize("line", GEMINI)
def test_known_banners_are_notices(line: str) -> None:
    assert harmless(line)
    assert stderr_event(line, stream="stdout") == {"line": line, "stream": "stdout", "notice": True}


@pytest.mark.parametrize(
    "line",
    [
        "Error: API key not valid",
        "Warning: the file was not found",
        "error: YOLO mode is enabled but the sandbox failed",
        "TypeError: cannot read properties of undefined (reading 'color')",
    ],
)
def test_anything_else_stays_a_problem(line: str) -> None:
    assert not harmless(line)
    assert stderr_event(line) == {"line": line}
