"""``agentdeck service print | install | uninstall | status``: the server as a systemd user
unit, so it is always there, comes back after a crash or reboot, and logs to the journal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from agentdeck.errors import ConfigError

if TYPE_CHECKING:
    from agentdeck.config import Settings

UNIT = "agentdeck.service"
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)
service_app = typer.Typer(
    name="service",
    help="Run the server as a systemd user service (print, install, uninstall, status).",
    no_args_is_help=True,
)

Host = Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")]
Port = Annotated[int | None, typer.Option(help="Port (default 3000).")]
Roots = Annotated[
    list[Path] | None,
    typer.Option(
        "--root", help="A directory tasks may run in; repeat for more.", show_default=False
    ),
]


def quote(arg: str) -> str:
    """One ``ExecStart=`` word: specifiers (%) and variables ($) escaped, quoted if needed."""
    text = arg.replace("%", "%%").replace("$", "$$")
    if text and not any(c.isspace() or c in "\"'\\;" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unit_text(settings: Settings) -> str:
    """The unit: ``agentdeck serve`` with these settings' roots, home and address."""
    argv = [sys.executable, "-m", "agentdeck", "serve", "--host", settings.host]
    argv += ["--port", str(settings.port)]
    for root in settings.roots:
        argv += ["--root", str(root)]
    stop = int(settings.shutdown_grace_seconds) + 5
    return "\n".join(
        [
            "[Unit]",
            "Description=agentdeck: a host for AI coding agents",
            "After=network.target",
            "",
            "[Service]",
            "Type=exec",
            "ExecStart=" + " ".join(quote(a) for a in argv),
            f"Environment={quote('AGENTDECK_HOME=' + str(settings.home))}",
            # The agent CLIs are found as in the shell that installed the unit.
            f"Environment={quote('PATH=' + os.environ.get('PATH', os.defpath))}",
            "Restart=on-failure",
            "RestartSec=5",
            # SIGTERM to the server, which interrupts its turns and stops its agents.
            "KillMode=mixed",
            f"TimeoutStopSec={stop}",
            "StandardOutput=journal",
            "StandardError=journal",
            "",
            "[Install]",
            "WantedBy=default.target",
            "",
        ]
    )


def unit_path() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user" / UNIT


def _settings(host: str | None, port: int | None, roots: list[Path] | None) -> Settings:
    from agentdeck.auth import auth_configured, check_binding
    from agentdeck.config import load_settings

    try:
        settings = load_settings(host=host, port=port, roots=roots or None)
        check_binding(settings, auth_configured(settings))
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc.message}")
        raise typer.Exit(2) from exc
    return settings


def _systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemctl", "--user", *args], capture_output=True, text=True, timeout=60, check=False
    )


def _manager_problem() -> str | None:
    """Why units cannot be managed here (None: a user systemd manager answers)."""
    if shutil.which("systemctl") is None:
        return "systemd is not on this machine (no systemctl)"
    state = _systemctl("is-system-running").stdout.strip()
    if state in ("", "offline", "unknown"):  # systemctl(1): offline = no manager runs
        return f"no systemd user manager runs here (state: {state or 'no answer'})"
    return None


@service_app.command("print")
def print_unit(host: Host = None, port: Port = None, root: Roots = None) -> None:
    """Print the systemd user unit (to stdout)."""
    sys.stdout.write(unit_text(_settings(host, port, root)))


@service_app.command()
def install(host: Host = None, port: Port = None, root: Roots = None) -> None:
    """Write the unit, enable it and start it."""
    settings = _settings(host, port, root)
    text = unit_text(settings)
    problem = _manager_problem()
    if problem is not None:
        err.print(f"[red]error:[/] {problem}; nothing was installed. The unit would be:")
        sys.stdout.write(text)
        raise typer.Exit(1)
    path = unit_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    for step in (("daemon-reload",), ("enable", "--now", UNIT)):
        done = _systemctl(*step)
        if done.returncode != 0:
            err.print(f"[red]error:[/] systemctl --user {' '.join(step)}: {done.stderr.strip()}")
            raise typer.Exit(1)
    user = os.environ.get("USER") or "$USER"
    out.print(f"installed and started {path}")
    out.print(f"  logs:   journalctl --user -u {UNIT} -f")
    out.print(f"  to keep it running after you log out: loginctl enable-linger {user}")


@service_app.command()
def uninstall() -> None:
    """Stop and disable the unit, and remove its file."""
    path = unit_path()
    problem = _manager_problem()
    if problem is None:
        _systemctl("disable", "--now", UNIT)
    if path.exists():
        path.unlink()
        if problem is None:
            _systemctl("daemon-reload")
        out.print(f"removed {path}")
    else:
        out.print(f"not installed ({path} does not exist)")
    if problem is not None:
        err.print(f"note: {problem}; nothing was stopped")


@service_app.command()
def status(host: Host = None, port: Port = None) -> None:
    """The unit's state and the server's /health."""
    from agentdeck.config import load_settings

    settings = load_settings(host=host, port=port)
    path = unit_path()
    problem = _manager_problem()
    if problem is not None:
        state = problem
    else:
        state = _systemctl("is-active", UNIT).stdout.strip() or "unknown"
    out.print(f"unit:   {path} ({'installed' if path.exists() else 'not installed'}), {state}")
    url = f"http://{_url_host(settings.host)}:{settings.port}/health"
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            health = json.load(answer)
        out.print(
            f"server: {url} ok, version {health['version']}, {health['tasks']} tasks, "
            f"{health['running_turns']} turns running"
        )
    except (OSError, ValueError, KeyError) as exc:
        out.print(f"server: {url} does not answer ({exc})")
        raise typer.Exit(1) from None


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
