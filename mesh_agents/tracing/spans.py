"""Span helpers and attribute names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

__all__ = ["MCP", "GenAI", "Mesh", "current_trace_id", "get_meter", "get_tracer", "step_span"]

_SCOPE = "mesh_agents"


class GenAI:
    """Attribute names from the OpenTelemetry GenAI semantic conventions."""

    OPERATION_NAME = "gen_ai.operation.name"
    PROVIDER_NAME = "gen_ai.provider.name"
    REQUEST_MODEL = "gen_ai.request.model"
    RESPONSE_MODEL = "gen_ai.response.model"
    REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
    REQUEST_TEMPERATURE = "gen_ai.request.temperature"
    RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
    USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
    USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
    USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
    AGENT_NAME = "gen_ai.agent.name"
    CONVERSATION_ID = "gen_ai.conversation.id"
    TOOL_NAME = "gen_ai.tool.name"
    TOKEN_TYPE = "gen_ai.token.type"
    ERROR_TYPE = "error.type"


class MCP:
    """Attribute names of the OpenTelemetry MCP semantic conventions."""

    METHOD_NAME = "mcp.method.name"
    SESSION_ID = "mcp.session.id"
    PROTOCOL_VERSION = "mcp.protocol.version"
    JSONRPC_REQUEST_ID = "jsonrpc.request.id"
    NETWORK_TRANSPORT = "network.transport"
    TOOL_ERROR = "tool_error"
    """Value of ``error.type`` when a tool result has ``isError`` set."""


class Mesh:
    """Mesh-specific attribute names, all under ``mesh.*``."""

    STEP = "mesh.step"
    TENANT = "mesh.tenant"
    USER = "mesh.user"
    SESSION = "mesh.session"
    RUN_ID = "mesh.run_id"
    CACHE_HIT = "mesh.cache.hit"
    CACHE_DISTANCE = "mesh.cache.distance"
    CACHE_THRESHOLD = "mesh.cache.distance_threshold"
    CACHE_REFUSED_BY = "mesh.cache.refused_by"
    ROUTE_TARGET = "mesh.route.target"
    ROUTE_NAME = "mesh.route.name"
    ROUTE_CANDIDATES = "mesh.route.candidates"
    REDACTION_ENTITIES = "mesh.redaction.entities"
    REDACTION_RESTORED = "mesh.redaction.restored"
    USAGE_COST_USD = "mesh.usage.cost_usd"
    USAGE_ESTIMATED = "mesh.usage.estimated"
    BUDGET_REMAINING = "mesh.budget.remaining"
    BUDGET_REMAINING_COST = "mesh.budget.remaining_cost_usd"
    BUDGET_REMAINING_REQUESTS = "mesh.budget.remaining_requests"
    ATTEMPT = "mesh.attempt"
    ATTEMPT_RETRY = "mesh.attempt.retry"
    ATTEMPT_FALLBACK = "mesh.attempt.fallback"
    ROUTE_POLICIES = "mesh.route.policies"
    ROUTE_REMOVED = "mesh.route.removed"
    ROUTE_EXPLANATION = "mesh.route.explanation"
    ROUTE_DISTANCE = "mesh.route.distance"
    ERROR_CODE = "mesh.error.code"


def get_tracer() -> trace.Tracer:
    """Return the mesh's tracer from the global provider (a no-op one if none is set)."""
    return trace.get_tracer(_SCOPE)


def get_meter() -> metrics.Meter:
    """Return the mesh's meter from the global provider (a no-op one if none is set)."""
    return metrics.get_meter(_SCOPE)


@contextmanager
def step_span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: dict[str, Any] | None = None,
) -> Iterator[Span]:
    """Open a span for one mesh step; an exception marks it as an error and propagates.

    ``error.type`` gets the exception's class name, never its message, because a
    message from a model client can carry prompt text.
    """
    clean = {key: value for key, value in (attributes or {}).items() if value is not None}
    with get_tracer().start_as_current_span(
        name, kind=kind, attributes=clean, record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield span
        except BaseException as exc:
            span.set_attribute(GenAI.ERROR_TYPE, type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise


def current_trace_id() -> str | None:
    """Return the current trace id as 32 hex digits, or None outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x")
