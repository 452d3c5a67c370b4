"""The mesh's MCP server: one tool module per capability on one ``MCPServer``.

Tools are thin adapters: they validate the arguments, call the capability on the
``Mesh``, and shape the result into a typed output model. Over streamable HTTP the
server is stateless by default, so any replica behind a load balancer can answer any
request. Shared state (vault, cache, budgets, ledger) lives in Redis when
``MESH_REDIS_URL`` is set, and in each process's memory otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mcp.server.mcpserver import MCPServer

from mcp_servers.telemetry import install_tracing

if TYPE_CHECKING:
    from mesh_agents.mesh import Mesh

__all__ = ["INSTRUCTIONS", "ToolModule", "build_server", "default_tool_modules", "run_http", "run_stdio"]

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Tools of an agent mesh. Mask personal data before text reaches a model (redact) and put it back "
    "afterwards (restore, same tenant and session); screen text for prompt injection and secrets "
    "(check_guardrails); reuse answers to questions that mean the same (cache_lookup, cache_store, "
    "cache_invalidate); pick a model (route); count tokens and report usage and cost (count_tokens, "
    "usage_report). Every tool takes the tenant whose policies apply."
)


class ToolModule(Protocol):
    """A module (or any object) that adds one capability's tools to a server."""

    def register(self, server: MCPServer[Any], mesh: Any) -> None: ...


def default_tool_modules() -> list[ToolModule]:
    """Return the tool modules of every capability, in the order they are listed to clients."""
    from mcp_servers.tools import cache, guardrails, redaction, routing, usage

    return [redaction, guardrails, cache, routing, usage]


def build_server(
    mesh: Mesh | Any,
    *,
    name: str = "mesh-agents",
    tools: Sequence[ToolModule] | None = None,
    instructions: str = INSTRUCTIONS,
) -> MCPServer[Any]:
    """Build an MCP server whose tools call ``mesh``.

    Args:
        mesh: The mesh whose capabilities the tools expose.
        name: Server name that clients show.
        tools: Tool modules to register; defaults to every capability's.
        instructions: Text that describes to a client's model when to use the tools.
    """
    from mesh_agents import __version__

    server: MCPServer[Any] = MCPServer(name=name, instructions=instructions, version=__version__)
    install_tracing(server)
    for module in tools if tools is not None else default_tool_modules():
        module.register(server, mesh)
    return server


def run_stdio(server: MCPServer[Any]) -> None:
    """Serve over stdin and stdout until the client closes stdin."""
    logger.info("MCP server %s serving over stdio", server.name)
    server.run("stdio")


def run_http(
    server: MCPServer[Any],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    path: str = "/mcp",
    stateless: bool = True,
    log_level: Literal["debug", "info", "warning", "error"] = "info",
    on_shutdown: Callable[[], None] | None = None,
) -> None:
    """Serve over streamable HTTP until interrupted (Ctrl-C or SIGTERM).

    Once the socket accepts connections, one INFO line gives the URL, with the real
    port when ``port`` is 0, so scripts and tests can wait for it.

    Args:
        stateless: Handle every request on its own, without MCP sessions, so replicas
            behind a load balancer need no sticky routing. With False the server
            issues ``Mcp-Session-Id`` and keeps sessions in this process.
        on_shutdown: Called once the server has stopped serving, such as a telemetry
            flush. uvicorn re-raises SIGTERM and SIGINT after its graceful shutdown, so
            code after this function does not run when a signal stopped the server.
    """
    import uvicorn

    app = server.streamable_http_app(
        streamable_http_path=path, stateless_http=stateless, json_response=stateless, host=host
    )
    mode = "stateless" if stateless else "stateful"

    class _Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            bound_port = port
            for listener in getattr(self, "servers", []):
                for sock in listener.sockets:
                    bound_port = sock.getsockname()[1]
            logger.info("MCP server %s listening on http://%s:%d%s (%s)", server.name, host, bound_port, path, mode)

        async def shutdown(self, sockets: Any = None) -> None:
            await super().shutdown(sockets=sockets)
            logger.info("MCP server %s stopped", server.name)
            if on_shutdown is not None:
                on_shutdown()

    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")
    _Server(config).run()
