"""A task's cgroup holds every process its turn started, a daemon that left the
process tree, its session and its environment included; ending the turn ends them."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from agentdeck import cgroup
from agentdeck.proctree import alive_members, kill_tree
from support.requires import missing
from support.waiting import wait_until

pytestmark = pytest.mark.anyio

# Double-forks into a new session with an emptied environment, writes its pid, sleeps.
DAEMON = textwrap.dedent(
    """
    import os, sys, time
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    os.environ.clear()
    open(sys.argv[1], "w").write(str(os.getpid()))
    time.sleep(120)
    """
)


@pytest.fixture
def task_id() -> str:
    if cgroup.base() is None:
        missing(
            "this machine offers no cgroup v2 agentdeck may create (not root, no delegation)",
            "run the tests as root on a cgroup v2 host",
        )
    return f"t-cg{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


async def test_an_escaped_daemon_is_tracked_and_stopped(task_id: str, tmp_path: Path) -> None:
    began = time.time()
    pid_file = tmp_path / "daemon.pid"
    launcher = cgroup.launcher(task_id)
    assert launcher[:2] == ("/bin/sh", "-c")
    argv = [*launcher, sys.executable, "-c", DAEMON, str(pid_file)]
    await anyio.run_process(argv, env={}, stdout=None, stderr=None)  # the daemon keeps pipes
    await wait_until(lambda: pid_file.exists() and pid_file.read_text(), timeout=10)
    daemon = int(pid_file.read_text())
    assert cgroup.members(task_id) == [daemon]  # no tree, group or marker leads to it
    assert alive_members(None, marker=task_id) == [daemon]
    await kill_tree(None, marker=task_id, since=began, grace=5)
    await wait_until(lambda: not _alive(daemon), timeout=10)
    assert cgroup.members(task_id) == []  # and the cgroup is gone
    assert not (cgroup.base() / task_id).exists()  # type: ignore[operator]


def test_a_task_id_never_names_a_path_outside_the_base(task_id: str) -> None:
    for bad in ("", "../x", ".hidden", "a/b"):
        assert cgroup.launcher(bad) == ()
        assert cgroup.members(bad) is None


def test_off_means_untracked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cgroup.OFF_VAR, "off")
    cgroup.base.cache_clear()
    try:
        assert cgroup.base() is None
        assert cgroup.launcher("t-1") == () and cgroup.members("t-1") is None
    finally:
        monkeypatch.delenv(cgroup.OFF_VAR)
        cgroup.base.cache_clear()
