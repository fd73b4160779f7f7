"""Wait for a condition under a deadline; never a fixed sleep."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from agentdeck.core import Core

POLL = 0.05  # seconds between two checks of a condition that has a deadline
WAIT = 10.0  # a generous deadline for conditions that take milliseconds


async def wait_until(
    condition: Callable[[], Any], timeout: float = 30, interval: float = 0.02
) -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not (value := condition()):
            await anyio.sleep(interval)
        return value


async def until(core: Core, check: Callable[[], Awaitable[Any]], timeout: float = WAIT) -> Any:
    """Evaluate the async ``check`` after every change in ``core`` until it is truthy.

    It is also re-checked every `POLL` seconds, for conditions outside the core
    (processes, files)."""
    async with core.watch() as changes:
        with anyio.fail_after(timeout):
            while not (value := await check()):
                with anyio.move_on_after(POLL):
                    await changes.get()
            return value
