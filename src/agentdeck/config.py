"""Settings: defaults, then ``$AGENTDECK_HOME/config.toml``, then ``AGENTDECK_*`` variables.

Everything works with no config file at all: state lives in the platform's user
data dir, the server listens on 127.0.0.1:3000, and the allowed project root (and
default project) is the directory the server was started in.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentdeck.errors import ConfigError

PermissionMode = Literal["bypassPermissions", "acceptEdits", "default", "plan"]


class ClaudeSettings(BaseModel):
    """How to run Claude Code."""

    model_config = ConfigDict(extra="forbid")

    cli_path: str | None = Field(
        default=None, description="An installed `claude` binary; default: the SDK's bundled one."
    )
    model: str | None = None


class Settings(BaseModel):
    """The whole configuration of one agentdeck server."""

    model_config = ConfigDict(extra="forbid")

    home: Path
    host: str = "127.0.0.1"
    port: int = Field(default=3000, ge=0, le=65535)
    roots: list[Path] = Field(default_factory=list)
    default_project: Path | None = None
    max_running: int = Field(default=4, ge=1, le=256)
    default_agent: str = "claude"
    permission_mode: PermissionMode = "bypassPermissions"
    timeout_seconds: float = Field(default=3600.0, gt=0)
    max_turns: int | None = Field(default=None, ge=1)
    claude: ClaudeSettings = Field(default_factory=ClaudeSettings)

    @field_validator("roots")
    @classmethod
    def _resolve_roots(cls, roots: list[Path]) -> list[Path]:
        return [Path(r).expanduser().resolve() for r in roots]

    @property
    def db_path(self) -> Path:
        return self.home / "agentdeck.db"

    @property
    def project(self) -> Path:
        """The project a task runs in when it names none."""
        return self.default_project or self.roots[0]


def _env_overrides(env: dict[str, str]) -> dict[str, Any]:
    """Settings given as ``AGENTDECK_*`` environment variables."""
    out: dict[str, Any] = {}
    simple = {
        "AGENTDECK_HOST": "host",
        "AGENTDECK_PORT": "port",
        "AGENTDECK_DEFAULT_PROJECT": "default_project",
        "AGENTDECK_MAX_RUNNING": "max_running",
        "AGENTDECK_DEFAULT_AGENT": "default_agent",
        "AGENTDECK_PERMISSION_MODE": "permission_mode",
        "AGENTDECK_TIMEOUT_SECONDS": "timeout_seconds",
    }
    for var, key in simple.items():
        if env.get(var):
            out[key] = env[var]
    if env.get("AGENTDECK_ROOTS"):
        out["roots"] = [p for p in env["AGENTDECK_ROOTS"].split(os.pathsep) if p]
    claude: dict[str, Any] = {}
    if env.get("AGENTDECK_CLAUDE_CLI_PATH"):
        claude["cli_path"] = env["AGENTDECK_CLAUDE_CLI_PATH"]
    if env.get("AGENTDECK_CLAUDE_MODEL"):
        claude["model"] = env["AGENTDECK_CLAUDE_MODEL"]
    if claude:
        out["claude"] = claude
    return out


def home_dir(env: dict[str, str] | None = None) -> Path:
    """The state directory: ``AGENTDECK_HOME`` or the platform's user data dir."""
    env = dict(os.environ) if env is None else env
    if env.get("AGENTDECK_HOME"):
        return Path(env["AGENTDECK_HOME"]).expanduser().resolve()
    return Path(platformdirs.user_data_dir("agentdeck", appauthor=False))


def load_settings(
    env: dict[str, str] | None = None, cwd: Path | None = None, **overrides: Any
) -> Settings:
    """Build the settings; raise `ConfigError` with the offending key on bad values."""
    env = dict(os.environ) if env is None else env
    home = home_dir(env)
    data: dict[str, Any] = {}
    config_file = home / "config.toml"
    if config_file.is_file():
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: not valid TOML: {exc}") from exc
    claude = {**data.get("claude", {}), **_env_overrides(env).pop("claude", {})}
    data.update({k: v for k, v in _env_overrides(env).items() if k != "claude"})
    data.update({k: v for k, v in overrides.items() if v is not None})
    if claude:
        data["claude"] = claude
    data["home"] = home
    if not data.get("roots"):
        data["roots"] = [cwd or Path.cwd()]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid configuration ({config_file} / AGENTDECK_*): {problems}"
        ) from exc
    for root in settings.roots:
        if not root.is_dir():
            raise ConfigError(f"allowed project root {root} is not an existing directory")
    return settings
