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


def _untyped(schema: object, path: str = "$") -> list[str]:
    """Paths of subschemas that say nothing of their type (not portable across clients)."""
    if not isinstance(schema, dict):
        return []
    found = []
    if not ({"type", "anyOf", "oneOf", "allOf", "$ref", "enum", "const"} & set(schema)):
        found.append(path)
    for key in ("properties", "$defs"):
        for name, sub in (schema.get(key) or {}).items():
            found += _untyped(sub, f"{path}.{key}.{name}")
    for key in ("anyOf", "oneOf", "allOf"):
        for i, sub in enumerate(schema.get(key) or []):
            found += _untyped(sub, f"{path}.{key}[{i}]")
    if isinstance(schema.get("items"), dict):
        found += _untyped(schema["items"], f"{path}.items")
    return found


@pytest.mark.anyio
async def test_every_output_schema_is_typed_throughout(core_settings: Settings) -> None:
    async with mcp_client(core_settings) as (client, _):
        tools = (await client.list_tools()).tools
    problems = {t.name: _untyped(t.output_schema) for t in tools if t.output_schema}
    assert len(problems) == len(tools)
    assert {name: paths for name, paths in problems.items() if paths} == {}
