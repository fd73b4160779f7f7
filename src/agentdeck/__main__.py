"""``python -m agentdeck``."""

from agentdeck.cli import main

main()
