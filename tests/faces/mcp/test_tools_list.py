"""tools/list in both protocol eras: answered from a cache that is the SDK's own answer."""

from __future__ import annotations

import pytest

from agentdeck.config import Settings
from agentdeck.core import SCOPES
from agentdeck.mcp.tooling import CachedToolList
from support.mcp import mcp_client


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_tools_list_is_the_same_from_the_cache(core_settings: Settings, mode: str) -> None:
    async with mcp_client(core_settings, mode=mode) as (client, _):
        first = await client.list_tools()  # built by the SDK, then cached
        again = await client.list_tools()  # from the cache
        assert first.model_dump() == again.model_dump()
        names = {t.name for t in again.tools}
        assert {"create_task", "update_task", "report"} <= names
        scopes = {(t.meta or {}).get("io.agentdeck/scope") for t in again.tools}
        assert scopes <= set(SCOPES) and scopes


@pytest.mark.anyio
async def test_the_cache_keeps_one_answer_per_protocol_version() -> None:
    class Ctx:
        method = "tools/list"

        def __init__(self, version: str) -> None:
            self.protocol_version = version
            self.params: dict[str, str] = {}

    built: list[str] = []

    async def sdk(ctx: Ctx) -> dict[str, object]:
        built.append(ctx.protocol_version)
        return {"tools": [ctx.protocol_version]}

    cache = CachedToolList()
    for version in ("2025-11-25", "2026-07-28", "2025-11-25", "2026-07-28"):
        assert await cache(Ctx(version), sdk) == {"tools": [version]}  # type: ignore[arg-type]
    assert built == ["2025-11-25", "2026-07-28"]
