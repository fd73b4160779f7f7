"""Acceptance gates: a command (an argv list, never a shell string) that must pass after a
successful turn. A failing gate re-prompts the same conversation with its output, up to
the task's ``accept_retries`` times; what it found is recorded as ``gate`` events and the
task's ``gate``."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import anyio

from agentdeck import cgroup
from agentdeck.model import EventKind, NewEvent, Task
from agentdeck.proctree import MARKER_VAR, kill_tree

OUTPUT_TAIL = 4_000  # characters of the gate's output kept and shown to the agent
TIMEOUT = 600.0


async def run(task: Task, attempt: int, time_limit: float = TIMEOUT) -> dict[str, object]:
    """Run the task's gate in its working directory; its result (``passed``, ``exit_code``,
    ``output`` tail, ``command``, ``attempt``, ``turn``, ``seconds``, ``error``)."""
    argv = list(task.accept_command)
    env = {**os.environ, MARKER_VAR: task.id}
    started = time.monotonic()
    error = _missing(argv[0], Path(task.cwd), env.get("PATH"))
    result = (
        None if error is not None else await _run(task.id, argv, Path(task.cwd), env, time_limit)
    )
    if isinstance(result, str):
        result, error = None, result
    output = result.stdout.decode(errors="replace") if result is not None else ""
    code = result.returncode if result is not None else None
    return {
        "passed": code == 0,
        "exit_code": code,
        "output": output[-OUTPUT_TAIL:],
        "command": argv,
        "attempt": attempt,
        "turn": task.turns,
        "seconds": round(time.monotonic() - started, 3),
        "error": error,
    }


async def _run(
    task_id: str, argv: list[str], cwd: Path, env: dict[str, str], time_limit: float
) -> subprocess.CompletedProcess[bytes] | str:
    """The finished process, or why there is none."""
    with anyio.move_on_after(time_limit):
        try:
            launcher = await anyio.to_thread.run_sync(cgroup.launcher, task_id)
            return await anyio.run_process(
                [*launcher, *argv],
                cwd=cwd,
                env=env,
                check=False,
                stdin=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        except OSError as exc:
            return f"the acceptance command {argv[0]!r} could not start: {exc.strerror or exc}"
    await kill_tree(None, marker=task_id)
    return f"the acceptance command timed out after {time_limit:g} s"


def _missing(program: str, cwd: Path, path: str | None) -> str | None:
    """Why ``program`` cannot start (None: it can), said before the launcher's shell would."""
    found = (cwd / program) if "/" in program else shutil.which(program, path=path)
    if found is None or not os.access(found, os.X_OK):
        return f"the acceptance command {program!r} could not start: not found or not executable"
    return None


def event(result: dict[str, object]) -> NewEvent:
    turn = result["turn"]
    return NewEvent(EventKind.GATE, result, turn if isinstance(turn, int) else 0)


def retry_prompt(result: dict[str, object]) -> str:
    """What the agent is told when the gate failed: the command, its exit, its output."""
    command = " ".join(str(a) for a in result["command"])  # type: ignore[attr-defined]
    how = result["error"] or f"it exited with {result['exit_code']}"
    return (
        f"The acceptance check `{command}` failed after your last turn: {how}. "
        "Its output (the end of it):\n\n```\n"
        f"{str(result['output']).strip()}\n```\n\n"
        "Fix the problem so that the check passes, then say what you changed."
    )
