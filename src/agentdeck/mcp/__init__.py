"""The MCP face: tools, resources, prompts and notifications over the core."""
