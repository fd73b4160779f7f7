"""agentdeck: run AI coding agents on your workstation, steered from any MCP client."""

__version__ = "0.2.0"  # the package's version (pyproject reads it from here)

API_HEADER = "agentdeck-api"
"""The header every answer of the REST API carries (its version): how a client tells
agentdeck's answers from another server's."""

__all__ = ["API_HEADER", "__version__"]
