"""MCP prompts in both protocol eras: list, get, errors, completion (in-process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, PromptReference, TextContent

from agentdeck.config import Settings
from support.mcp import mcp_client
from support.prompts import BUILTINS, REVIEW, write_user

ERAS = ["auto", "legacy"]


def _text(result: Any) -> str:
    assert len(result.messages) == 1
    message = result.messages[0]
    assert message.role == "user"
    assert isinstance(message.content, TextContent)
    return str(message.content.text)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_prompts_over_mcp(core_settings: Settings, mode: str) -> None:
    write_user(core_settings.home, "review", REVIEW)
    async with mcp_client(core_settings, mode=mode) as (client, _):
        assert (client.protocol_version >= "2026") == (mode == "auto")  # both eras covered
        listed = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(listed) == {*BUILTINS, "review"}
        args = {a.name: a.required for a in listed["fix_bug"].arguments or []}
        assert args == {
            "bug_description": True,
            "error_message": False,
            "affected_files": False,
            "reproduction_steps": False,
        }

        result = await client.get_prompt(
            "fix_bug", {"bug_description": "login fails", "error_message": "KeyError: 'u'"}
        )
        text = _text(result)
        assert "login fails" in text and "KeyError: 'u'" in text and "{{" not in text
        assert result.description
        assert _text(await client.get_prompt("review", {"pr_number": "3"})).startswith(
            "Review PR #3."
        )


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_prompt_errors_over_mcp(core_settings: Settings, mode: str) -> None:
    async with mcp_client(core_settings, mode=mode) as (client, _):
        with pytest.raises(MCPError) as err:
            await client.get_prompt("create_unit_tests", {"test_framework": "pytest"})
        assert err.value.code == INVALID_PARAMS
        assert "missing required argument(s): file_path" in err.value.message

        with pytest.raises(MCPError) as err:
            await client.get_prompt("create_unit_tests", {"file_path": "a.py", "x": "1"})
        assert "unknown argument(s): x" in err.value.message

        with pytest.raises(MCPError) as err:
            await client.get_prompt("nope", {})
        assert err.value.code == INVALID_PARAMS
        assert "available prompts:" in err.value.message and "fix_bug" in err.value.message


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_completion_over_mcp(core_settings: Settings, project: Path, mode: str) -> None:
    (project / "app.py").write_text("")
    (project / "api.py").write_text("")
    async with mcp_client(core_settings, mode=mode) as (client, _):
        ref = PromptReference(name="create_unit_tests")
        done = await client.complete(ref, {"name": "test_framework", "value": "py"})
        assert done.completion.values == ["pytest"]
        done = await client.complete(ref, {"name": "file_path", "value": "ap"})
        assert done.completion.values == ["api.py", "app.py"]
        with pytest.raises(MCPError) as err:
            await client.complete(PromptReference(name="nope"), {"name": "x", "value": ""})
        assert err.value.code == INVALID_PARAMS


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ERAS)
async def test_user_template_added_after_start_is_listed(
    core_settings: Settings, mode: str
) -> None:
    async with mcp_client(core_settings, mode=mode) as (client, _):
        names = {p.name for p in (await client.list_prompts(cache_mode="bypass")).prompts}
        assert names == BUILTINS
        write_user(core_settings.home, "review", REVIEW)
        write_user(core_settings.home, "fix_bug", '+++\ndescription = "Mine"\n+++\nJust fix it.\n')
        listed = {p.name: p for p in (await client.list_prompts(cache_mode="bypass")).prompts}
        assert set(listed) == {*BUILTINS, "review"}
        assert listed["fix_bug"].description == "Mine"
        assert _text(await client.get_prompt("fix_bug", {})) == "Just fix it."
