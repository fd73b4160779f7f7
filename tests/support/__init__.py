"""Helpers shared by the tests: waiting on conditions, the core, servers, MCP calls."""
