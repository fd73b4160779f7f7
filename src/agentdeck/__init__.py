"""agentdeck: run AI coding agents on your workstation, steered from any MCP client."""

__version__ = "0.2.0"  # the package's version (pyproject reads it from here)

__all__ = ["__version__"]
