"""Client sessions to a mesh MCP server over stdio or streamable HTTP, for agents and tests.

Both helpers initialize the session and, while it is open, add ``mcp.protocol.version``
and ``mcp.session.id`` to the client spans that the ``mcp`` SDK opens (once
``mesh_agents.tracing.setup()`` has installed the span processors). The SDK itself
injects ``traceparent``, ``tracestate`` and ``baggage`` into each request's ``_meta``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from mesh_agents.tracing.processors import mcp_client_attributes

__all__ = ["connect_http", "connect_stdio", "structured"]


@asynccontextmanager
async def connect_http(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> AsyncIterator[ClientSession]:
    """Open an initialized session to a streamable HTTP server such as ``http://127.0.0.1:8000/mcp``.

    Args:
        headers: Extra HTTP headers on every request (authentication, for example).
        timeout_s: Seconds to wait for each response.
    """
    import httpx2

    async with httpx2.AsyncClient(headers=dict(headers or {}), timeout=timeout_s) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=timeout_s) as session:
                result = await session.initialize()
                # NOTE: the SDK's transport keeps the Mcp-Session-Id to itself, so client
                # spans carry mcp.session.id only on the server side.
                with mcp_client_attributes(protocol_version=result.protocol_version):
                    yield session


@asynccontextmanager
async def connect_stdio(
    command: str,
    args: list[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout_s: float = 30.0,
) -> AsyncIterator[ClientSession]:
    """Start a server process that speaks MCP on stdin and stdout, and open an initialized session to it."""
    parameters = StdioServerParameters(command=command, args=args, env=dict(env) if env else None, cwd=cwd)
    async with stdio_client(parameters) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=timeout_s) as session:
            result = await session.initialize()
            with mcp_client_attributes(protocol_version=result.protocol_version):
                yield session


def structured(result: Any) -> dict[str, Any]:
    """Return a tool result's structured content, or raise if the call failed.

    Raises:
        RuntimeError: the result has ``isError`` set; the message is the server's text.
    """
    if getattr(result, "is_error", False):
        texts = [getattr(block, "text", "") for block in result.content]
        raise RuntimeError(" ".join(text for text in texts if text) or "the tool call failed")
    content = result.structured_content
    return dict(content) if content is not None else {}
