"""OpenTelemetry spans for every mesh step, in the GenAI semantic conventions.

The library only uses the OpenTelemetry API: with no SDK configured every span is a
no-op. Entry points call ``setup()`` to install an SDK provider that exports by OTLP.
"""

from mesh_agents.tracing.setup import setup
from mesh_agents.tracing.spans import (
    GenAI,
    Mesh,
    current_trace_id,
    get_meter,
    get_tracer,
    step_span,
)

__all__ = ["GenAI", "Mesh", "current_trace_id", "get_meter", "get_tracer", "setup", "step_span"]
