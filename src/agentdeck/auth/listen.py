"""Where the server listens: loopback addresses, its base URL, the no-token binding rule."""

from __future__ import annotations

import ipaddress
import socket

from agentdeck.config import Settings
from agentdeck.errors import ConfigError


def is_loopback_host(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def base_url(settings: Settings) -> str:
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def check_binding(settings: Settings, auth_enabled: bool) -> None:
    """Refuse a non-loopback listen address while nothing requires a credential."""
    if is_loopback_host(settings.host) or auth_enabled:
        return
    raise ConfigError(
        f"refusing to listen on {settings.host}: no access token exists, so anyone who can "
        "reach that address could run agents on this machine. Listen on loopback "
        "(127.0.0.1 or ::1) and use a tunnel (docs/remote-access.md), or first create a "
        "token: agentdeck token create --name NAME --scope write"
    )


def reachable_urls(settings: Settings) -> list[str]:
    """The MCP URLs clients can use, for the start-up banner."""
    urls: list[str] = []
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        addresses = {"127.0.0.1"}
        try:
            infos = socket.getaddrinfo(socket.gethostname(), None, proto=socket.IPPROTO_TCP)
            addresses |= {str(i[4][0]) for i in infos}
        except OSError:
            pass
        if host == "::":
            addresses.add("::1")
        for addr in sorted(addresses):
            shown = f"[{addr}]" if ":" in addr else addr
            urls.append(f"http://{shown}:{settings.port}/mcp")
    else:
        urls.append(f"{base_url(settings)}/mcp")
    if settings.auth.public_url and settings.auth.public_url not in urls:
        urls.append(settings.auth.public_url)
    return urls
