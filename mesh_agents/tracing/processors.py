"""Span processors that ``setup()`` installs: baggage ids, MCP client span names, metrics.

They change spans as they start and never open spans of their own, so each hop keeps
exactly one span. Users who build their own ``TracerProvider`` can add them by hand.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind

from mesh_agents.errors import BudgetExceeded, GuardrailBlocked, RedactionBlocked
from mesh_agents.tracing.metrics import MeshMetrics
from mesh_agents.tracing.propagation import BAGGAGE_KEYS, baggage_ids
from mesh_agents.tracing.spans import MCP, GenAI, Mesh

__all__ = [
    "MCP_SDK_SCOPE",
    "BaggageSpanProcessor",
    "McpClientSpanProcessor",
    "SpanMetricsProcessor",
    "mcp_client_attributes",
]

MCP_SDK_SCOPE = "mcp-python-sdk"
"""Instrumentation scope of the spans that the ``mcp`` SDK opens itself."""

_SDK_CLIENT_PREFIX = "MCP send "

_client_attributes: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "mesh_mcp_client_attributes", default=None
)


class BaggageSpanProcessor(SpanProcessor):
    """Copy the mesh ids in baggage (tenant, user, session) onto every span as ``mesh.*`` attributes.

    A span that already has an attribute of the same name keeps its own value.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        ids = baggage_ids(parent_context)
        existing = span.attributes or {}
        for kind, value in ids.items():
            key = BAGGAGE_KEYS[kind]
            if key not in existing:
                span.set_attribute(key, value)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class McpClientSpanProcessor(SpanProcessor):
    """Give the ``mcp`` SDK's client spans their semantic-convention name and session attributes.

    The SDK (2.3) names its client spans ``MCP send {method} {target}``; the MCP
    semantic conventions name them ``{mcp.method.name} {target}``, like the server span.
    Inside ``mcp_client_attributes(...)`` the processor also adds ``mcp.session.id``
    and ``mcp.protocol.version``, which the SDK's dispatcher does not know.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        scope = span.instrumentation_scope
        if scope is None or scope.name != MCP_SDK_SCOPE or span.kind is not SpanKind.CLIENT:
            return
        if span.name.startswith(_SDK_CLIENT_PREFIX):
            span.update_name(span.name.removeprefix(_SDK_CLIENT_PREFIX))
        extra = _client_attributes.get()
        if extra:
            span.set_attributes({key: value for key, value in extra.items() if value is not None})

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@contextmanager
def mcp_client_attributes(*, session_id: str | None = None, protocol_version: str | None = None) -> Iterator[None]:
    """Add ``mcp.session.id`` and ``mcp.protocol.version`` to the SDK client spans opened in the block."""
    token = _client_attributes.set({MCP.SESSION_ID: session_id, MCP.PROTOCOL_VERSION: protocol_version})
    try:
        yield
    finally:
        _client_attributes.reset(token)


_MODEL_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
_REQUEST_SPAN = "mesh.request"


class SpanMetricsProcessor(SpanProcessor):
    """Record the mesh metrics from finished spans, so the pipeline code records each fact once.

    ====================================  ==============================================
    span                                  metric
    ====================================  ==============================================
    CLIENT span with a model operation    ``gen_ai.client.operation.duration``
    (``chat``, ``embeddings``, ...)
    ``mesh.step = cache_lookup``          ``mesh.cache.hits`` or ``mesh.cache.misses``
    ``mesh.step = redact``                ``mesh.redaction.entities``
    ``mesh.request`` that a policy        ``mesh.requests.blocked`` with ``mesh.error.code``
    stopped
    ====================================  ==============================================

    Spans dropped by the sampler never reach a processor, so a sampler below 100 %
    scales the counts down with it.
    """

    def __init__(self, metrics: MeshMetrics) -> None:
        self._metrics = metrics

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        attributes = span.attributes or {}
        tenant = attributes.get(Mesh.TENANT)
        tenant = tenant if isinstance(tenant, str) else None
        step = attributes.get(Mesh.STEP)
        error_type = attributes.get(GenAI.ERROR_TYPE)

        if span.kind is SpanKind.CLIENT and attributes.get(GenAI.OPERATION_NAME) in _MODEL_OPERATIONS:
            duration_s = ((span.end_time or 0) - (span.start_time or 0)) / 1e9
            self._metrics.record_operation_duration(
                attributes, duration_s=duration_s, error_type=str(error_type) if error_type else None
            )
        elif step == "cache_lookup" and Mesh.CACHE_HIT in attributes:
            self._metrics.record_cache_lookup(hit=bool(attributes[Mesh.CACHE_HIT]), tenant=tenant)
        elif step == "redact":
            count = _int_or_none(attributes.get(Mesh.REDACTION_ENTITIES))
            if count:
                self._metrics.record_masked_entities(count, tenant=tenant)
        elif span.name == _REQUEST_SPAN and isinstance(error_type, str) and error_type in _POLICY_CODES:
            self._metrics.record_blocked(reason=_POLICY_CODES[error_type], tenant=tenant)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


# ``Mesh.invoke`` records the error class as ``error.type`` and the mesh graph records the
# error code, so both spellings count.
_POLICY_CODES = {
    name: cls.code for cls in (GuardrailBlocked, BudgetExceeded, RedactionBlocked) for name in (cls.__name__, cls.code)
}
