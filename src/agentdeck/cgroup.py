"""A cgroup v2 per task, where the machine offers one: every process a turn starts,
daemons that double-fork into a new session with an emptied environment included.

A process stays in its cgroup whatever it does, so a task's processes are read from
its ``cgroup.procs`` (no scan of the machine) and ``cgroup.kill`` stops them all.
The agent is started through `launcher`: a fixed ``/bin/sh`` script that makes the
task's cgroup, moves itself into it, then ``exec``s the agent's argv (passed as
arguments, never interpreted by the shell).

Available when agentdeck may create cgroups below its own (root, or a delegated
systemd unit); checked once, by starting one process into a probe cgroup. Elsewhere
(or with ``AGENTDECK_CGROUPS=off``) `agentdeck.proctree` falls back to the process
tree, group and environment marker.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
from pathlib import Path

MOUNTS = (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified"))  # pure v2, then hybrid
OFF_VAR = "AGENTDECK_CGROUPS"
_JOIN = 'echo $$ > "$0/cgroup.procs" && exec "$@"'  # $0: the cgroup; "$@": an argv
# Joining never stops the agent from starting: at worst it runs untracked.
_LAUNCH = 'mkdir -p "$0" 2>/dev/null; echo $$ > "$0/cgroup.procs" 2>/dev/null; exec "$@"'


@functools.cache
def base() -> Path | None:
    """The directory task cgroups are made in, or None when they can't be."""
    if os.environ.get(OFF_VAR, "").lower() in ("0", "off", "no", "false"):
        return None
    own = _own_cgroup()
    for mount in MOUNTS:
        if own is None or not (mount / "cgroup.controllers").is_file():
            continue
        candidate = mount / own.lstrip("/") / "agentdeck"
        if _usable(candidate):
            return candidate
    return None


def _own_cgroup() -> str | None:
    """This process's cgroup v2 path (the ``0::`` line of /proc/self/cgroup)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:]
    return None


def _usable(candidate: Path) -> bool:
    """Whether a process can be started into a cgroup below ``candidate``."""
    probe = candidate / f"probe-{os.getpid()}"
    try:
        probe.mkdir(parents=True, exist_ok=True)
        joined = subprocess.run(
            ["/bin/sh", "-c", _JOIN, str(probe), "true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
        return joined.returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def _dir(task_id: str) -> Path | None:
    root = base()
    if root is None or not task_id or "/" in task_id or task_id.startswith("."):
        return None
    return root / task_id


def launcher(task_id: str) -> tuple[str, ...]:
    """The argv prefix that starts a process in the task's cgroup (``()`` without one)."""
    where = _dir(task_id)
    return () if where is None else ("/bin/sh", "-c", _LAUNCH, str(where))


def members(task_id: str) -> list[int] | None:
    """The pids in the task's cgroup; None when its processes are not tracked by one."""
    where = _dir(task_id)
    if where is None:
        return None
    try:
        text = (where / "cgroup.procs").read_text()
    except FileNotFoundError:
        return []  # never started a process, or already removed: none left
    except OSError:
        return None
    return [int(pid) for pid in text.split()]


def kill(task_id: str) -> None:
    """SIGKILL everything in the task's cgroup (forks racing the kill included)."""
    where = _dir(task_id)
    if where is not None:
        with contextlib.suppress(OSError):
            (where / "cgroup.kill").write_text("1")


def sweep() -> None:
    """Remove every empty task cgroup (left by a server that stopped mid-turn)."""
    root = base()
    if root is not None:
        for where in root.iterdir():
            if where.is_dir():
                with contextlib.suppress(OSError):
                    where.rmdir()


def remove(task_id: str) -> None:
    """Remove the task's cgroup if it is empty (a later turn makes it again)."""
    where = _dir(task_id)
    if where is not None:
        with contextlib.suppress(OSError):
            where.rmdir()
