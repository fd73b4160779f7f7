"""The served app as a whole: what its start-up leaves behind for the running server."""

from __future__ import annotations

import gc

import pytest

from agentdeck.config import Settings
from support.servers import serve

pytestmark = pytest.mark.anyio


async def test_start_up_objects_are_kept_out_of_garbage_collections(
    core_settings: Settings,
) -> None:
    gc.unfreeze()  # this process may hold an earlier test's server's freeze
    assert gc.get_freeze_count() == 0
    async with serve(core_settings) as srv:
        assert srv.url  # started: its lifespan ran
        assert gc.get_freeze_count() > 10_000  # modules, schemas, the app: not scanned
