"""What both Codex adapters share: the binary, the model, agentdeck's own CODEX_HOME.

By default Codex runs with the user's own ``~/.codex`` (or ``$CODEX_HOME``) config and
login. With ``[agents.codex] provider_base_url`` agentdeck gives it a CODEX_HOME of its
own (``$AGENTDECK_HOME/codex``) whose ``config.toml`` names that Responses API as a
custom provider; the provider's key must then be in ``env_key``.
"""

from __future__ import annotations

import json
from pathlib import Path

from agentdeck.agents._cli import NotReady, agent_env, find_binary, missing_message
from agentdeck.agents.base import TurnRequest
from agentdeck.config import CodexSettings


def provider_config(settings: CodexSettings) -> str:
    """``config.toml`` of agentdeck's own CODEX_HOME, for a custom provider."""
    lines = [
        "# Written by agentdeck from [agents.codex]; edits are overwritten.",
        'model_provider = "agentdeck"',
    ]
    if settings.model:
        lines.append(f"model = {json.dumps(settings.model)}")
    lines += [
        "check_for_update_on_startup = false",
        "",
        "[model_providers.agentdeck]",
        'name = "agentdeck"',
        f"base_url = {json.dumps(settings.provider_base_url)}",
        f"env_key = {json.dumps(settings.env_key)}",
        'wire_api = "responses"',
        "",
        "[analytics]",
        "enabled = false",
        "",
        "[otel]",
        'exporter = "none"',
        'trace_exporter = "none"',
        'metrics_exporter = "none"',
        "",
    ]
    return "\n".join(lines)


class CodexSetup:
    """``[agents.codex]`` turned into a binary, a model and a process environment."""

    def __init__(self, settings: CodexSettings | None = None, home: Path | None = None) -> None:
        self.settings = settings or CodexSettings()
        # agentdeck's own CODEX_HOME, used only when a custom provider is configured.
        self.own_home = (home / "codex") if home and self.settings.provider_base_url else None

    def cli(self) -> str | None:
        return find_binary(self.settings.cli_path, "codex")

    def problem(self) -> str:
        return missing_message(
            "Codex CLI", self.settings.cli_path, "codex", "agents.codex.cli_path"
        )

    def model(self, request: TurnRequest) -> str | None:
        return request.model or self.settings.model

    def _prepare_home(self) -> dict[str, str]:
        if self.own_home is None:
            return {}
        self.own_home.mkdir(parents=True, exist_ok=True)
        config = self.own_home / "config.toml"
        text = provider_config(self.settings)
        if not config.is_file() or config.read_text(encoding="utf-8") != text:
            config.write_text(text, encoding="utf-8")
        return {"CODEX_HOME": str(self.own_home)}

    def env(self, request: TurnRequest) -> dict[str, str]:
        """The process environment; `NotReady` when the provider's key is missing."""
        env = agent_env(request, self._prepare_home())
        if self.own_home is not None and not env.get(self.settings.env_key):
            raise NotReady(
                f"Codex: the provider API key variable {self.settings.env_key} is not set "
                "(agents.codex.env_key)"
            )
        return env


__all__ = ["CodexSetup", "provider_config"]
