"""The ``agentdeck`` command run for real, as a subprocess."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass

import anyio

from support.paths import FAKE_CLI

__all__ = ["FAKE_CLI", "Result", "agentdeck", "cli_env", "free_port"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without agentdeck settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTDECK_")}
    return {**env, "COLUMNS": "200", "NO_COLOR": "1", **extra}


async def agentdeck(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    """Run ``python -m agentdeck ARGS`` without blocking the event loop."""
    with anyio.fail_after(timeout):
        done = await anyio.run_process(
            [sys.executable, "-m", "agentdeck", *args], check=False, env=cli_env(env or {})
        )
    return Result(done.returncode, done.stdout.decode(), done.stderr.decode())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
