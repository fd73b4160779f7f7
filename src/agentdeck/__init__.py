"""agentdeck: run AI coding agents on your workstation, steered from any MCP client."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("agentdeck")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
