"""The CLI starts light: commands that need no server or core never load them."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("mcp", "agentdeck.core", "agentdeck.app", "claude_agent_sdk", "uvicorn", "httpx2")


def test_importing_the_cli_loads_neither_the_sdk_nor_the_core() -> None:
    # A fresh interpreter: this test process has everything imported already.
    probe = f"import sys, agentdeck.cli\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []
