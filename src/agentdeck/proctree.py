"""Stop an agent and every process it started.

Where the machine offers cgroups (`agentdeck.cgroup`), a task's processes are the
members of its cgroup: exact, whatever they did, and read without a scan. Elsewhere a
process belongs to a turn if it descends from the agent, shares its process group, or
carries the turn's marker in its environment (agentdeck sets one for every agent; it
survives ``setsid`` and re-parenting, which agents' shell tools do, but not a daemon
that empties its environment). Finding marked processes means looking at every
process on the machine; given the time the turn began (``since``), only processes
created after it have their environment read.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import anyio
import psutil

from agentdeck import cgroup

MARKER_VAR = "AGENTDECK_TASK_ID"
POLL = 0.01  # seconds between checks while waiting for processes to end
CLOCK_SLACK = 1.0  # seconds: process start times are kept at clock-tick resolution


def _members(
    root_pid: int | None, pgid: int | None, marker: str | None, since: float | None = None
) -> list[psutil.Process]:
    found: dict[int, psutil.Process] = {}
    tracked = cgroup.members(marker) if marker else None
    for pid in tracked or ():
        with contextlib.suppress(psutil.Error):
            found[pid] = psutil.Process(pid)
    if tracked is not None and since is not None:
        pgid = marker = None  # the cgroup holds the whole turn: nothing to search for
    if root_pid is not None:
        try:
            root = psutil.Process(root_pid)
            found[root.pid] = root
            for child in root.children(recursive=True):
                found[child.pid] = child
        except psutil.NoSuchProcess:
            pass
    if pgid is not None or marker is not None:
        earliest = None if since is None else since - CLOCK_SLACK
        for proc in psutil.process_iter(["create_time"] if earliest is not None else None):
            if proc.pid in found:
                continue
            if earliest is not None and (proc.info.get("create_time") or 0) < earliest:
                continue  # older than the turn: neither in its group nor marked by it
            try:
                if (pgid is not None and os.getpgid(proc.pid) == pgid) or (
                    marker is not None and proc.environ().get(MARKER_VAR) == marker
                ):
                    found[proc.pid] = proc
            except (OSError, psutil.Error):
                continue
    found.pop(os.getpid(), None)
    return [p for p in found.values() if _alive(p)]


def _alive(proc: psutil.Process) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def alive_members(
    root_pid: int | None, pgid: int | None = None, marker: str | None = None
) -> list[int]:
    """Pids of the live processes of a turn (for tests and diagnostics)."""
    return [p.pid for p in _members(root_pid, pgid, marker)]


async def kill_tree(
    root_pid: int | None,
    pgid: int | None = None,
    marker: str | None = None,
    grace: float = 3.0,
    since: float | None = None,
) -> None:
    """SIGTERM the tree, group and marked processes; SIGKILL what is left after ``grace``.

    ``since``: when the turn began (``time.time()``); processes created earlier are not
    looked at (a turn's own group and marked processes are all younger than it). With
    no ``since`` (recovery after a crash) the machine is searched even when a cgroup
    tracks the task: processes of an older agentdeck may sit outside it."""
    with anyio.CancelScope(shield=True):
        procs = await anyio.to_thread.run_sync(_members, root_pid, pgid, marker, since)
        if procs:
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGTERM)
            procs = await anyio.to_thread.run_sync(_wait, procs, grace)
            for proc in procs:
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGKILL)
        if marker:
            cgroup.kill(marker)  # what forked meanwhile, in the cgroup
        if procs:
            await anyio.to_thread.run_sync(_wait, procs, grace)
        if marker:
            cgroup.remove(marker)


def _wait(procs: list[psutil.Process], grace: float) -> list[psutil.Process]:
    """Wait up to ``grace`` seconds for ``procs`` to end; return the live ones.

    A zombie counts as ended: a killed orphan stays one until init reaps it.
    """
    deadline = time.monotonic() + grace
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(POLL)
        alive = [p for p in alive if _alive(p)]
    return alive
