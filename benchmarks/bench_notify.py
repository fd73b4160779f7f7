"""Turn duration with push notifications off, to a dead port, and to a black hole.

Runs real turns against the fake Claude CLI (tests/fakes/fake_claude_cli.py);
every turn's ``turn_finished`` is notified. "dead" is a closed port (refused at
once, retried with backoff); "black hole" accepts connections and never answers
(each send hangs until Apprise's timeout). Prints the median turn time of each and
its ratio to "off"; nothing is asserted.

    .venv/bin/python benchmarks/bench_notify.py [turns]
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from agentdeck.app import Deck
from agentdeck.config import Settings, load_settings
from agentdeck.core import ContinueTask, CreateTask
from agentdeck.model import TaskStatus

if TYPE_CHECKING:
    from benchmarks.harness import Row

ROUNDS = 3
FAKE_CLI = Path(__file__).resolve().parent.parent / "tests" / "fakes" / "fake_claude_cli.py"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def settings_for(base: Path, name: str, urls: list[str]) -> Settings:
    project = base / name / "project"
    project.mkdir(parents=True)
    env = {
        "HOME": str(base / "home"),
        "AGENTDECK_HOME": str(base / name / "state"),
        "AGENTDECK_ROOTS": str(project),
        "AGENTDECK_CLAUDE_CLI_PATH": str(FAKE_CLI),
        "AGENTDECK_CLAUDE_MODEL": "claude-sonnet-4-5",
    }
    notify = {"urls": urls, "retries": 3, "backoff_seconds": 0.2, "timeout_seconds": 5.0}
    return load_settings(env=env, notify=notify)


async def turns(settings: Settings, n: int) -> list[float]:
    took: list[float] = []
    async with Deck(settings).running() as deck:
        task_id = ""
        for i in range(n):
            begin = time.monotonic()
            if i == 0:
                task_id = (
                    await deck.core.create(CreateTask(title="Bench", instructions="SAY hi"))
                ).id
            else:
                await deck.core.continue_(ContinueTask(id=task_id, instructions="SAY again"))
            with anyio.fail_after(120):  # polled under a deadline
                while True:
                    task = await deck.core.get(task_id)
                    if task.status == TaskStatus.WAITING and task.turns == i + 1:
                        break
                    if task.status == TaskStatus.FAILED:
                        raise RuntimeError(task.error)
                    await anyio.sleep(0.005)
            took.append(time.monotonic() - begin)
    return took


async def measure(n: int, rounds: int = ROUNDS) -> dict[str, float]:
    """Median turn duration (s) per mode, ``rounds`` x ``n`` turns each, interleaved."""
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(128)  # never accepted: requests hang until the timeout
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "home").mkdir()
        modes = {
            "off": [],
            "dead port": [f"json://127.0.0.1:{closed_port()}/x"],
            "black hole": [f"json://127.0.0.1:{hole.getsockname()[1]}/x"],
        }
        await turns(settings_for(base, "warmup", []), 1)
        took: dict[str, list[float]] = {name: [] for name in modes}
        for r in range(rounds):  # interleaved, so machine load hits every mode alike
            for name, urls in modes.items():
                took[name] += await turns(settings_for(base, f"{name}-{r}", urls), n)
        medians = {name: statistics.median(values) for name, values in took.items()}
    hole.close()
    return medians


async def main(n: int) -> None:
    logging.disable(logging.WARNING)  # the failing sends would log every attempt
    with tempfile.TemporaryDirectory() as home:
        os.environ["HOME"] = home  # the fake CLI keeps its sessions under $HOME
        medians = await measure(n)
    print(f"median turn duration over {ROUNDS} x {n} turns (fake Claude CLI)")
    for name, median in medians.items():
        print(f"  {name:<11} {median * 1000:7.1f} ms   ratio {median / medians['off']:.2f}")


# -- python -m benchmarks ---------------------------------------------------------------

NAME = "notify"
SIZES = {"tiny": (1, 1), "full": (5, ROUNDS)}  # (turns, rounds)


async def run(size: str) -> list[Row]:
    from benchmarks.harness import Row, isolated_env

    turns_each, rounds = SIZES[size]
    with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp, isolated_env(Path(tmp)):
        medians = await measure(turns_each, rounds)
    return [
        Row(
            f"turn with push notifications to a {name} (vs push off), median",
            "≈ 1× (no target)",
            medians[name] * 1000,
            baseline=medians["off"] * 1000,
        )
        for name in ("dead port", "black hole")
    ]


if __name__ == "__main__":
    anyio.run(main, int(sys.argv[1]) if len(sys.argv) > 1 else 5)
