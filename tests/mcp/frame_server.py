"""An MCP server built by ``build_server`` with small test tools, run as a child process by the tests.

Usage: PYTHONPATH=. python tests/mcp/frame_server.py stdio|http [port] [--stateful]
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from mcp_servers._tooling import Tenant, add_tool, check_text_size
from mcp_servers.errors import safe_tool
from mcp_servers.server import build_server, run_http, run_stdio
from mesh_agents.errors import BudgetExceeded
from mesh_agents.settings import MeshSettings, TenantSettings
from mesh_agents.tracing import setup

MAX_CHARS = 1000


class WordCount(BaseModel):
    words: int
    tenant: str


class FrameTools:
    """Tools that exercise the frame: a real result, a mesh error and an unexpected crash."""

    @staticmethod
    def register(server: MCPServer[Any], mesh: Any) -> None:
        settings: MeshSettings = mesh

        @safe_tool("count_words")
        def count_words(text: Annotated[str, Field(description="Any text.")], tenant: Tenant) -> WordCount:
            """Count the words of a text."""
            check_text_size("text", text, MAX_CHARS)
            settings.check_tenant(tenant)
            return WordCount(words=len(text.split()), tenant=tenant)

        @safe_tool("spend")
        def spend(tenant: Tenant, tokens: int) -> WordCount:
            """Fail with a budget error."""
            raise BudgetExceeded(f"tenant {tenant!r} has no tokens left for {tokens} tokens; raise its budget")

        @safe_tool("crash")
        def crash(text: str) -> WordCount:
            """Fail with an unexpected error whose message quotes the input."""
            raise RuntimeError(f"backend choked on {text}")

        add_tool(server, count_words, name="count_words", title="Count words", read_only=True)
        add_tool(server, spend, name="spend", title="Spend", read_only=False)
        add_tool(server, crash, name="crash", title="Crash", read_only=True)


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    telemetry = setup("frame-server")
    settings = MeshSettings(tenants={"acme": TenantSettings(), "globex": TenantSettings()})
    server = build_server(settings, name="frame", tools=[FrameTools])
    flush = telemetry.shutdown if telemetry is not None else None
    try:
        if sys.argv[1] == "stdio":
            run_stdio(server)
        else:
            port = int(sys.argv[2]) if len(sys.argv) > 2 else 0
            stateless = "--stateful" not in sys.argv
            run_http(server, port=port, stateless=stateless, on_shutdown=flush)
            flush = None
    finally:
        if flush is not None:
            flush()


if __name__ == "__main__":
    main()
