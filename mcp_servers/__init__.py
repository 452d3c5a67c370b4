"""MCP servers that expose the mesh capabilities as tools over stdio and streamable HTTP.

``build_server(mesh)`` returns an ``MCPServer`` with every capability's tools;
``mesh-agents serve`` runs it.
"""

from mcp_servers.server import build_server, run_http, run_stdio

__all__ = ["build_server", "run_http", "run_stdio"]
