"""Where agentdeck keeps its state: light, for the CLI's client commands (no settings)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def home_dir(env: dict[str, str] | None = None) -> Path:
    """The state directory: ``AGENTDECK_HOME`` or the platform's user data dir."""
    env = dict(os.environ) if env is None else env
    if env.get("AGENTDECK_HOME"):
        return Path(env["AGENTDECK_HOME"]).expanduser().resolve()
    return Path(platformdirs.user_data_dir("agentdeck", appauthor=False))
