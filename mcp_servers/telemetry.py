"""Tracing of inbound MCP requests, built around the ``mcp`` SDK's own span.

What the SDK (mcp 2.3) already does, on every ``MCPServer``:

- its ``OpenTelemetryMiddleware`` (outermost in ``server.middleware``) opens one SERVER
  span per request, named ``{method} {target}`` such as ``tools/call redact``, with
  ``mcp.method.name``, ``mcp.protocol.version``, ``jsonrpc.request.id``,
  ``gen_ai.operation.name = execute_tool`` and ``gen_ai.tool.name``;
- it parents that span on the ``traceparent`` in ``params._meta`` and, when a tool
  result has ``isError``, sets ``error.type = tool_error`` and an error status.

What these middlewares add, without opening a second span for the same hop:

- ``TraceContextMiddleware`` (before the SDK's) makes ``_meta`` and then the HTTP
  headers the parent context, so a client that only sends W3C headers is honoured,
  and attaches the W3C baggage, which the SDK drops, for the whole handler;
- ``SpanAttributesMiddleware`` (after the SDK's) adds ``mcp.session.id``,
  ``network.transport`` and the tenant, user and session ids from baggage to the
  SDK's span.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from opentelemetry import context, trace

from mesh_agents.tracing import BAGGAGE_KEYS, MCP, baggage_ids, extract_context

__all__ = ["SpanAttributesMiddleware", "TraceContextMiddleware", "install_tracing"]

_SESSION_HEADER = "mcp-session-id"


class TraceContextMiddleware:
    """Attach the caller's trace context and baggage, from ``_meta`` first, else from HTTP headers."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        parent = extract_context(ctx.meta, _headers(ctx))
        if parent is None:
            return await call_next(ctx)
        token = context.attach(parent)
        try:
            return await call_next(ctx)
        finally:
            context.detach(token)


class SpanAttributesMiddleware:
    """Add the session, transport and mesh ids to the span the SDK opened for this request."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        span = trace.get_current_span()
        if span.is_recording():
            headers = _headers(ctx)
            attributes: dict[str, Any] = {MCP.NETWORK_TRANSPORT: "tcp" if headers is not None else "pipe"}
            session_id = headers.get(_SESSION_HEADER) if headers is not None else None
            if session_id:
                attributes[MCP.SESSION_ID] = session_id
            for kind, value in baggage_ids().items():
                attributes[BAGGAGE_KEYS[kind]] = value
            span.set_attributes(attributes)
        return await call_next(ctx)


def install_tracing(server: MCPServer[Any]) -> None:
    """Put the two middlewares around the SDK's OpenTelemetry middleware of ``server``.

    The SDK's middleware stays the only one that opens a span. Calling this twice
    changes nothing.
    """
    chain = server.middleware
    if any(isinstance(item, TraceContextMiddleware) for item in chain):
        return
    sdk_index = next((i for i, item in enumerate(chain) if type(item).__name__ == "OpenTelemetryMiddleware"), None)
    if sdk_index is None:
        # NOTE: without the SDK's span middleware (a future SDK may move it), the
        # attributes land on whatever span is current, usually none.
        chain.insert(0, TraceContextMiddleware())
        chain.insert(1, SpanAttributesMiddleware())
        return
    chain.insert(sdk_index + 1, SpanAttributesMiddleware())
    chain.insert(sdk_index, TraceContextMiddleware())


def _headers(ctx: ServerRequestContext[Any, Any]) -> Mapping[str, str] | None:
    """Return the HTTP request headers of this message, or None on stdio."""
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    return {key.lower(): value for key, value in headers.items()}
