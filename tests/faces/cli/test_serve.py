"""The ``serve`` banner: where to connect, who may call, which projects."""

from __future__ import annotations

from agentdeck.cli.serve import banner
from agentdeck.config import Settings


def test_the_banner_names_urls_auth_and_roots(core_settings: Settings) -> None:
    url = f"http://127.0.0.1:{core_settings.port}/mcp"
    lines = banner(core_settings, [url], tokens_required=False)
    text = "\n".join(lines)
    assert (
        f"MCP:  [cyan]{url}" in text
        and f"REST: [cyan]http://127.0.0.1:{core_settings.port}/api" in text
    )
    assert "open to loopback clients until the first token" in text
    assert str(core_settings.roots[0]) in text
    assert ("export AGENTDECK_URL=" in text) == (core_settings.port != 3000)
    other = core_settings.model_copy(update={"port": 3999})
    locked = "\n".join(banner(other, ["http://127.0.0.1:3999/mcp"], tokens_required=True))
    assert "tokens required" in locked
    assert "export AGENTDECK_URL=http://127.0.0.1:3999/mcp" in locked
