"""Where things are, wherever a test file sits."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
FAKES = TESTS / "fakes"
FAKE_CLI = FAKES / "fake_claude_cli.py"  # a scripted stand-in for the claude binary
