"""Finding a turn's processes without cgroups: its tree, its group, and what carries its
marker (tests/unit/test_cgroup.py: with them)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from agentdeck import cgroup
from agentdeck.proctree import MARKER_VAR, alive_members, kill_tree

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def no_cgroups(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv(cgroup.OFF_VAR, "off")
    cgroup.base.cache_clear()
    yield
    cgroup.base.cache_clear()


@contextmanager
def marked(marker: str) -> Iterator[subprocess.Popen[bytes]]:
    """A process in a session of its own (escaped the tree's group) carrying ``marker``."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, MARKER_VAR: marker},
        start_new_session=True,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


async def test_marked_processes_are_found_and_stopped() -> None:
    with marked("t-proc-1") as process:
        assert alive_members(None, marker="t-proc-1") == [process.pid]
        await kill_tree(None, marker="t-proc-1", grace=5)
        assert process.wait(timeout=5) is not None
        assert alive_members(None, marker="t-proc-1") == []


async def test_since_skips_processes_older_than_the_turn() -> None:
    with marked("t-proc-2") as older:
        turn_began = time.time() + 5  # as if the turn began after this process
        await kill_tree(None, marker="t-proc-2", since=turn_began)
        assert older.poll() is None  # not looked at: it predates the turn
        await kill_tree(None, marker="t-proc-2", since=time.time() - 30)
        assert older.wait(timeout=5) is not None
