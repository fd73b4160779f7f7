"""What tests ask real agents to do."""

from __future__ import annotations

# A shell command for the agent that runs until it is stopped (Claude Code refuses
# plain `sleep N && ...` chains, so it is a python process).
LONG_COMMAND = "python3 -c 'import time; time.sleep(300)'"
