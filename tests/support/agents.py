"""What tests ask real agents to do."""

from __future__ import annotations

from pathlib import Path

MODEL = "claude-sonnet-4-5"

# A shell command for the agent that runs until it is stopped (Claude Code refuses
# plain `sleep N && ...` chains, so it is a python process).
LONG_COMMAND = "python3 -c 'import time; time.sleep(300)'"


def offline_claude_env(base: Path, model_url: str) -> dict[str, str]:
    """The environment of a Claude Code that talks only to the fake model at
    ``model_url`` and keeps its config, sessions and temp files under ``base``."""
    env = {
        "HOME": str(base),
        "CLAUDE_CONFIG_DIR": str(base / "claude"),
        "CLAUDE_CODE_TMPDIR": str(base / "tmp"),
        "XDG_RUNTIME_DIR": str(base / "run"),
        "ANTHROPIC_BASE_URL": model_url,
        "ANTHROPIC_API_KEY": "sk-test-key",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "AGENTDECK_CLAUDE_MODEL": MODEL,
    }
    for name in ("claude", "tmp", "run"):
        (base / name).mkdir(parents=True, exist_ok=True)
    return env
