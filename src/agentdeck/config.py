"""Settings: defaults, then ``$AGENTDECK_HOME/config.toml``, then ``AGENTDECK_*`` variables.

Everything works with no config file at all: state lives in the platform's user
data dir, the server listens on 127.0.0.1:3000, and the allowed project root (and
default project) is the directory the server was started in.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agentdeck.errors import ConfigError
from agentdeck.home import home_dir

PermissionMode = Literal["bypassPermissions", "acceptEdits", "default", "plan"]
NotifyKind = Literal[
    "turn_finished",
    "completed",
    "failed",
    "input_required",
    "interrupted",
    "interrupted_resuming",
    "interrupted_needs_you",
    "cancelled",
]
NOTIFY_KINDS: tuple[NotifyKind, ...] = (
    "turn_finished",
    "completed",
    "failed",
    "input_required",
    "interrupted",  # either of the next two (the restart summaries)
    "interrupted_resuming",
    "interrupted_needs_you",
    "cancelled",
)


class ClaudeSettings(BaseModel):
    """How to run Claude Code."""

    model_config = ConfigDict(extra="forbid")

    cli_path: str | None = Field(
        default=None, description="An installed `claude` binary; default: the SDK's bundled one."
    )
    model: str | None = None


class CodexSettings(BaseModel):
    """``[agents.codex]``: the Codex CLI. No provider: the user's own ~/.codex config/login."""

    model_config = ConfigDict(extra="forbid")

    cli_path: str | None = Field(default=None, description="A `codex` binary; default: PATH.")
    model: str | None = None
    provider_base_url: str | None = Field(
        default=None,
        description="An OpenAI Responses API (…/v1): agentdeck then writes its own CODEX_HOME.",
    )
    env_key: str = Field(default="OPENAI_API_KEY", description="Variable holding its API key.")
    extra_args: list[str] = Field(
        default_factory=list, description="Added to `codex app-server` / `codex exec`."
    )
    protocol: Literal["app-server", "exec"] = Field(
        default="app-server",
        description='"app-server": `codex app-server` (asks approvals, resumes, steers); '
        '"exec": `codex exec --json` (never asks). Without app-server: exec.',
    )


class GeminiSettings(BaseModel):
    """``[agents.gemini]``: the Gemini CLI. No base_url: the user's own ~/.gemini settings."""

    model_config = ConfigDict(extra="forbid")

    cli_path: str | None = Field(default=None, description="A `gemini` binary; default: PATH.")
    model: str | None = Field(default=None, description="Pin it (-m) to skip model routing.")
    base_url: str | None = Field(
        default=None,
        description="A Gemini API endpoint: agentdeck then writes its own GEMINI_CLI_HOME.",
    )
    env_key: str = Field(default="GEMINI_API_KEY", description="Variable holding its API key.")
    extra_args: list[str] = Field(default_factory=list, description="Added to `gemini`.")
    protocol: Literal["acp", "stream-json"] = Field(
        default="acp",
        description='"acp": `gemini --acp` (asks approvals, resumes); "stream-json": headless -p.',
    )


class CommandAgentSettings(BaseModel):
    """``[agents.<name>]`` with a ``command``: any CLI, run without a shell (docs/agents.md)."""

    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(min_length=1, description="argv; {instructions} {cwd} {model}.")
    protocol: Literal["cli", "acp"] = Field(
        default="cli",
        description='"acp": the command speaks the Agent Client Protocol on stdio.',
    )
    acp: bool = Field(default=False, description='The same as protocol = "acp".')
    resume_command: list[str] | None = Field(default=None, description="Also {session_id}.")
    output: Literal["text", "jsonl"] = "text"
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="jsonl: dotted paths for text, session_id, result, error.",
    )
    env: dict[str, str] = Field(default_factory=dict)
    version_command: list[str] | None = Field(
        default=None, description="Probe argv; default [command[0], '--version']; [] skips it."
    )


class AgentsSettings(BaseModel):
    """``[agents.*]``: codex, gemini, and any other name declares a command agent."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, CommandAgentSettings] = Field(init=False)

    codex: CodexSettings = Field(default_factory=CodexSettings)
    gemini: GeminiSettings = Field(default_factory=GeminiSettings)

    @model_validator(mode="after")
    def _command_names(self) -> AgentsSettings:
        for name in self.__pydantic_extra__ or {}:
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", name) or name == "claude":
                raise ValueError(
                    f"agents.{name}: a command agent name is lower-case letters, digits, "
                    "'-' or '_' (not 'claude')"
                )
        return self

    @property
    def commands(self) -> dict[str, CommandAgentSettings]:
        return dict(self.__pydantic_extra__ or {})


class AcceptSettings(BaseModel):
    """``[accept]``: the acceptance check of every task in the repository."""

    model_config = ConfigDict(extra="forbid")

    command: list[str] = Field(min_length=1, description="argv, e.g. ['pytest', '-q'].")
    retries: int = Field(default=2, ge=0, le=10)
    timeout_seconds: float = Field(default=600.0, gt=0)


class BudgetSettings(BaseModel):
    """``[budget]``: the default budget of each task (the config, or ``.agentdeck.toml``)."""

    model_config = ConfigDict(extra="forbid")

    max_cost_usd: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, ge=1)


class ProjectSettings(BaseModel):
    """Per-repository settings: ``[projects."<path>"]`` here, or ``.agentdeck.toml`` in the repo."""

    model_config = ConfigDict(extra="forbid")

    isolation: Literal["worktree", "none"] = "worktree"
    copy_files: list[str] = Field(
        default_factory=list, description="Globs of untracked files copied into each worktree."
    )
    setup: str | list[str] | None = Field(
        default=None,
        description="Run in a new worktree before the first turn: an argv list, or a string "
        "run by /bin/sh. Its failure fails the task.",
    )
    setup_timeout_seconds: float = Field(default=600.0, gt=0)
    max_running: int | None = Field(default=None, ge=1, le=256)
    accept: AcceptSettings | None = None
    budget: BudgetSettings | None = None


class NotifyProjectSettings(BaseModel):
    """Notification overrides for the tasks of one project directory (and below it)."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(default_factory=list, description="Replace the global `urls`.")
    events: list[NotifyKind] | None = Field(default=None, description="Replace global `events`.")


class NotifySettings(BaseModel):
    """Push notifications through Apprise (docs/notifications.md)."""

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(default_factory=list, description="Apprise URLs; none: off.")
    events: list[NotifyKind] = Field(default_factory=lambda: list(NOTIFY_KINDS))
    dashboard_url: str | None = Field(
        default=None, description="Link template, e.g. http://host:3000/ui/tasks/{id}."
    )
    retries: int = Field(default=3, ge=0, le=10, description="Retries after a failed send.")
    backoff_seconds: float = Field(default=1.0, ge=0, description="First retry delay; doubles.")
    timeout_seconds: float = Field(default=30.0, gt=0, description="Limit of one send.")
    queue_size: int = Field(default=1000, ge=1)
    link_ttl_seconds: float = Field(
        default=600.0, gt=0, le=86400, description="Life of a signed approval link."
    )
    projects: dict[str, NotifyProjectSettings] = Field(default_factory=dict)


class JwtConfig(BaseModel):
    """``[auth.jwt]``: accept JWT access tokens from an OAuth issuer (docs/remote-access.md)."""

    model_config = ConfigDict(extra="forbid")

    issuer: str | None = Field(default=None, description="Expected `iss`; also the AS URL.")
    audience: str | None = Field(default=None, description="Expected `aud`.")
    jwks_url: str | None = Field(default=None, description="The issuer's JWKS (public keys).")
    scopes_claim: str = Field(default="scope", description="Claim with read/write/admin.")
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "PS256"])
    leeway_seconds: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _all_or_nothing(self) -> JwtConfig:
        given = [self.issuer, self.audience, self.jwks_url]
        if any(given) and not all(given):
            raise ValueError("auth.jwt needs issuer, audience and jwks_url together")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.audience and self.jwks_url)


class AuthConfig(BaseModel):
    """``[auth]``: bearer tokens (``agentdeck token create``) and JWT (docs/security.md)."""

    model_config = ConfigDict(extra="forbid")

    allow_loopback_without_token: bool = Field(
        default=True,
        description="Loopback clients need no token while no token exists (and no JWT issuer "
        "is configured); off for good once the first token is created.",
    )
    public_url: str | None = Field(
        default=None,
        description="The /mcp URL clients use (behind a tunnel); for 401 metadata, login and "
        "approval links.",
    )
    session_ttl_seconds: float = Field(
        default=7 * 86400.0, gt=0, description="Life of a browser login (session cookie)."
    )
    login_code_ttl_seconds: float = Field(
        default=300.0, gt=0, le=3600, description="Life of an `agentdeck open` login code."
    )
    jwt: JwtConfig = Field(default_factory=JwtConfig)


class HttpConfig(BaseModel):
    """``[http]``: Host / Origin checks, CORS, body size, rate limit, sessions."""

    model_config = ConfigDict(extra="forbid")

    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host header values accepted ('name:*' for any port); default loopback "
        "names with the port.",
    )
    cors_origins: list[str] = Field(default_factory=list, description="Browser origins allowed.")
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    rate_limit_requests: int = Field(default=3000, ge=0, description="Per window; 0: off.")
    rate_limit_window_seconds: float = Field(default=60.0, gt=0)
    max_sessions: int | None = Field(default=1000, ge=1, description="Concurrent MCP sessions.")
    max_sessions_per_caller: int = Field(
        default=500, ge=1, description="Open MCP sessions per token (loopback clients: one caller)."
    )
    session_idle_seconds: float = Field(
        default=600.0,
        gt=0,
        description="An MCP session with no request (nor open stream) this long is closed.",
    )


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
    approval_policy: Literal["bypass", "ask", "rules"] = Field(
        default="ask",
        description="bypass: agents run every tool; ask: edits in the workspace run, anything "
        "else asks the user; rules: allow_rules run, deny_rules are refused, the rest asks.",
    )
    allow_rules: list[str] = Field(default_factory=list)
    deny_rules: list[str] = Field(default_factory=list)
    approval_timeout_seconds: float = Field(default=600.0, gt=0)
    auto_resume: bool = Field(
        default=True,
        description="At start-up, turns cut by a crash or a stop resume by themselves.",
    )
    auto_resume_limit: int = Field(
        default=3, ge=1, le=100, description="A task cut this many times in a row is left alone."
    )
    budget: BudgetSettings = Field(default_factory=BudgetSettings)
    usage_limit_wait_seconds: float = Field(
        default=900.0, gt=0, description="How long a usage limit lasts when nothing says."
    )
    usage_limit_jitter_seconds: float = Field(
        default=60.0, ge=0, description="Spread of resume times, so tasks never stampede."
    )
    shutdown_grace_seconds: float = Field(
        default=10.0, gt=0, le=600, description="How long a stop waits for turns to end."
    )
    database_url: str | None = Field(
        default=None,
        description="postgresql://… : keep the state in PostgreSQL (several machines, "
        "docs/scale-out.md) instead of SQLite in the home directory.",
    )
    heartbeat_timeout_seconds: float = Field(
        default=30.0, gt=0, description="A worker silent this long is dead (its turns interrupted)."
    )
    git_remote: str = Field(
        default="origin",
        description="The git remote a worker pushes a task's branch to after each turn, "
        "and another worker fetches it from to go on with the task (docs/scale-out.md); "
        '"" never pushes.',
    )
    dispatch: Literal["here", "workers"] = Field(
        default="here",
        description='"workers": turns run on `agentdeck worker`s (needs database_url), '
        "not in this server (docs/scale-out.md).",
    )
    claude: ClaudeSettings = Field(default_factory=ClaudeSettings)
    agents: AgentsSettings = Field(default_factory=AgentsSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    projects: dict[str, ProjectSettings] = Field(default_factory=dict)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)

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
        "AGENTDECK_APPROVAL_POLICY": "approval_policy",
        "AGENTDECK_APPROVAL_TIMEOUT_SECONDS": "approval_timeout_seconds",
        "AGENTDECK_AUTO_RESUME": "auto_resume",
        "AGENTDECK_SHUTDOWN_GRACE_SECONDS": "shutdown_grace_seconds",
        "AGENTDECK_DATABASE_URL": "database_url",
        "AGENTDECK_HEARTBEAT_TIMEOUT_SECONDS": "heartbeat_timeout_seconds",
        "AGENTDECK_DISPATCH": "dispatch",
        "AGENTDECK_GIT_REMOTE": "git_remote",
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
    if env.get("AGENTDECK_NOTIFY_URLS"):
        out["notify"] = {"urls": env["AGENTDECK_NOTIFY_URLS"].replace(",", " ").split()}
    return out


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
    notify = {**data.get("notify", {}), **_env_overrides(env).pop("notify", {})}
    data.update({k: v for k, v in _env_overrides(env).items() if k not in ("claude", "notify")})
    data.update({k: v for k, v in overrides.items() if v is not None})
    if claude:
        data["claude"] = claude
    if notify and overrides.get("notify") is None:
        data["notify"] = notify
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
