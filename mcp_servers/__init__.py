"""MCP servers that expose the mesh capabilities as tools over stdio and streamable HTTP."""
