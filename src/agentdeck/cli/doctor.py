"""``agentdeck doctor``: check this machine for agentdeck, no server needed."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import typer
from rich import box
from rich.table import Table
from rich.text import Text

from agentdeck.cli.output import EXIT_FAILED, EXIT_OK, out
from agentdeck.errors import ConfigError

if TYPE_CHECKING:  # the core is imported when a check needs it: the CLI starts fast
    from agentdeck.config import Settings
    from agentdeck.core import AgentStatus

Level = Literal["ok", "warn", "fail"]
LEVEL_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    detail: str
    fix: str | None = None


def _check_state_dir(home: Path) -> Check:
    fix = f"make {home} writable for this user, or set AGENTDECK_HOME to a writable directory"
    if home.exists():
        if not home.is_dir():
            return Check("state dir", "fail", f"{home} is not a directory", fix)
        if not os.access(home, os.W_OK | os.X_OK):
            return Check("state dir", "fail", f"{home} is not writable", fix)
        return Check("state dir", "ok", f"{home} (writable)")
    parent = next(p for p in home.parents if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        return Check("state dir", "fail", f"{home} is missing and {parent} is not writable", fix)
    return Check("state dir", "ok", f"{home} (created on first start)")


def _check_config(home: Path) -> tuple[Check, Settings | None]:
    config_file = home / "config.toml"
    from agentdeck.config import load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        fix = f"fix {config_file} or the AGENTDECK_* variable it names"
        return Check("config", "fail", exc.message, fix), None
    source = f"{config_file} parsed" if config_file.is_file() else f"no {config_file}: defaults"
    return Check("config", "ok", f"{source} + AGENTDECK_* variables"), settings


def _check_roots(settings: Settings) -> Check:
    roots = ", ".join(map(str, settings.roots))
    return Check("allowed roots", "ok", f"{roots}; default project {settings.project}")


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _health(host: str, port: int) -> dict[str, Any] | None:
    """``GET /health`` of whatever listens on host:port, if it answers like agentdeck."""
    name = f"[{host}]" if ":" in host else host
    try:
        with urllib.request.urlopen(f"http://{name}:{port}/health", timeout=3) as response:
            body = json.loads(response.read())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and body.get("status") == "ok" else None


async def _check_port(settings: Settings) -> Check:
    from agentdeck.auth import auth_configured, check_binding, is_loopback_host

    host, port = settings.host, settings.port
    where = f"{host}:{port}"
    try:
        if not is_loopback_host(host):
            check_binding(settings, await anyio.to_thread.run_sync(auth_configured, settings))
    except ConfigError as exc:
        return Check(
            "address",
            "fail",
            exc.message,
            'set host = "127.0.0.1" (config.toml), or create a token first: '
            "agentdeck token create --name NAME --scope write",
        )
    if _port_free(host, port):
        return Check("address", "ok", f"{where} is free")
    health = await anyio.to_thread.run_sync(_health, host, port)
    if health is None:
        return Check(
            "address",
            "fail",
            f"{where} is in use by another program",
            f"stop that program, or pick another port: AGENTDECK_PORT={port + 1} "
            "(or port = … in config.toml)",
        )
    return Check(
        "address",
        "ok",
        f"agentdeck {health.get('version', '?')} is running at {where} "
        f"({health.get('tasks', '?')} tasks)",
    )


def _agent_check(name: str, info: AgentStatus, default: bool) -> Check:
    """Ok with its version; unavailable fails for the default agent, else only warns."""
    check = f"agent {name}"
    if info.available:
        where = f" ({info.path})" if info.path else ""
        via = f" via {info.capabilities['protocol']}" if info.capabilities.get("protocol") else ""
        version = info.version or "(version unknown)"
        return Check(check, "ok", f"{name} {version}{via}{where}")
    where = (
        "[claude] cli_path in config.toml (or AGENTDECK_CLAUDE_CLI_PATH), or reinstall "
        "agentdeck (its claude-agent-sdk bundles Claude Code)"
        if name == "claude"
        else f"[agents.{name}] in config.toml"
    )
    if default:
        fix = f"install it or set {where}; or pick another default agent (AGENTDECK_DEFAULT_AGENT)"
        return Check(check, "fail", f"{info.problem} (the default agent)", fix)
    fix = f"needed only for `--agent {name}`: install it or set {where}"
    return Check(check, "warn", info.problem or "unavailable", fix)


async def _check_agents(settings: Settings) -> list[Check]:
    from agentdeck.core import Core

    core = Core.ephemeral(settings)  # doctor creates no state
    try:
        agents = (await core.status(refresh=True)).agents
    finally:
        core.close()
    return [_agent_check(n, info, n == settings.default_agent) for n, info in agents.items()]


CLAUDE_CREDENTIAL_VARS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
)


def _claude_credentials() -> str | None:
    """Where Claude Code would find credentials (never their value), or None."""
    for name in CLAUDE_CREDENTIAL_VARS:
        if os.environ.get(name):
            return f"${name}"
    config = Path(os.environ.get("CLAUDE_CONFIG_DIR") or Path.home() / ".claude")
    login = config / ".credentials.json"
    if login.is_file():
        return f"a Claude login ({login})"
    try:
        settings = json.loads((config / "settings.json").read_text())
    except (OSError, ValueError):
        settings = {}
    if isinstance(settings, dict) and settings.get("apiKeyHelper"):
        return f"apiKeyHelper in {config / 'settings.json'}"
    return None


def _check_claude_credentials(default: bool) -> Check:
    found = _claude_credentials()
    if found:
        return Check("claude login", "ok", f"credentials from {found}")
    fix = (
        "log in once with `claude` (run `/login`), or export ANTHROPIC_API_KEY in the "
        "server's environment"
    )
    problem = "no credentials: Claude Code tasks fail with 'Not logged in'"
    return Check("claude login", "fail" if default else "warn", problem, fix)


def _check_git() -> Check:
    path = shutil.which("git")
    if path:
        return Check("git", "ok", f"{path}: tasks in git projects get a branch and worktree")
    return Check(
        "git",
        "warn",
        "not found: tasks in git projects run in place, without a branch of their own",
        "install git (e.g. apt-get install git)",
    )


def _check_setsid() -> Check:
    path = shutil.which("setsid")
    if path:
        return Check("setsid", "ok", f"{path}: cancel stops an agent and all it started")
    return Check(
        "setsid",
        "warn",
        "not found: cancel may miss processes an agent detached",
        "install util-linux (e.g. apt-get install util-linux)",
    )


def _check_user() -> Check:
    if os.geteuid() != 0:
        return Check("user", "ok", f"running as {getpass.getuser()} (not root)")
    sandbox = " (IS_SANDBOX=1 is set)" if os.environ.get("IS_SANDBOX") == "1" else ""
    return Check(
        "user",
        "warn",
        f"running as root{sandbox}: agents get IS_SANDBOX=1 so Claude Code accepts "
        "bypassPermissions; they can change anything on this machine",
        "run agentdeck as an unprivileged user unless this machine is a disposable sandbox",
    )


async def _doctor_checks() -> list[Check]:
    from agentdeck.home import home_dir

    home = home_dir()
    config, settings = _check_config(home)
    checks = [_check_state_dir(home), config]
    if settings is not None:
        checks += [_check_roots(settings), await _check_port(settings)]
        checks += await _check_agents(settings)
        checks.append(_check_claude_credentials(settings.default_agent == "claude"))
    return [*checks, _check_git(), _check_setsid(), _check_user()]


def _doctor_table(checks: list[Check]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("check", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for check in checks:
        table.add_row(check.name, Text(check.level, style=LEVEL_STYLES[check.level]), check.detail)
    return table


def doctor() -> None:
    """Check this machine for agentdeck (no server needed); exit 1 if a check fails."""
    checks = anyio.run(_doctor_checks)
    out.print(_doctor_table(checks))
    for check in checks:
        if check.fix:
            out.print(Text.assemble((f"fix {check.name}: ", LEVEL_STYLES[check.level]), check.fix))
    counts = {level: sum(c.level == level for c in checks) for level in LEVEL_STYLES}
    out.print(f"{counts['ok']} ok, {counts['warn']} warnings, {counts['fail']} failures")
    raise typer.Exit(EXIT_FAILED if counts["fail"] else EXIT_OK)
