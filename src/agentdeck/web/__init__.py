"""The HTTP faces besides MCP: the REST API."""
