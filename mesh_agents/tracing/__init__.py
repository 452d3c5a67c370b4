"""OpenTelemetry spans, metrics and context propagation in the GenAI semantic conventions.

The library only uses the OpenTelemetry API: with no SDK configured every span and
metric is a no-op. Entry points call ``setup()`` to install SDK providers that export
by OTLP; ``mesh_agents.tracing.processors`` holds the SDK span processors it adds.
"""

from mesh_agents.tracing.metrics import MeshMetrics
from mesh_agents.tracing.propagation import (
    BAGGAGE_KEYS,
    baggage_ids,
    extract_context,
    inject,
    use_baggage,
    with_baggage,
)
from mesh_agents.tracing.setup import Telemetry, setup
from mesh_agents.tracing.spans import (
    MCP,
    GenAI,
    Mesh,
    current_trace_id,
    get_meter,
    get_tracer,
    step_span,
)

__all__ = [
    "BAGGAGE_KEYS",
    "MCP",
    "GenAI",
    "Mesh",
    "MeshMetrics",
    "Telemetry",
    "baggage_ids",
    "current_trace_id",
    "extract_context",
    "get_meter",
    "get_tracer",
    "inject",
    "setup",
    "step_span",
    "use_baggage",
    "with_baggage",
]
