"""The config.toml that declares benchmarks/slow_agent.py as the ``ticker`` command agent."""

from __future__ import annotations

import json
import sys

from benchmarks.harness import SLOW_AGENT

TICKER = "ticker"


def ticker_config(max_running: int = 4, extra: str = "") -> str:
    command = json.dumps([sys.executable, str(SLOW_AGENT), "{instructions}"])
    return (
        f"max_running = {max_running}\n{extra}\n"
        f'[agents.{TICKER}]\ncommand = {command}\noutput = "text"\nversion_command = []\n'
    )
