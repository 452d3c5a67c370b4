"""Metrics of the mesh: the GenAI operation duration histogram and mesh counters.

``setup()`` binds the instruments to its meter provider and records them from finished
spans (``processors.SpanMetricsProcessor``), so importing this module records nothing.

==========================================  =========  ======================================
instrument                                  unit       recorded for
==========================================  =========  ======================================
``gen_ai.client.operation.duration``        s          each model call, failed ones with ``error.type``
``mesh.cache.hits``, ``mesh.cache.misses``  {request}  each semantic cache lookup
``mesh.requests.blocked``                   {request}  each request a policy stopped
``mesh.redaction.entities``                 {entity}   entities replaced by placeholders
==========================================  =========  ======================================

``gen_ai.client.token.usage`` is recorded by ``UsageTracker`` when it settles a call,
because the tracker owns the token counts; recording it here as well would count
every token twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics

from mesh_agents.tracing.spans import GenAI, Mesh

__all__ = ["DURATION_BUCKETS_S", "MeshMetrics"]

DURATION_BUCKETS_S = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
"""Bucket boundaries that the GenAI conventions advise for ``gen_ai.client.operation.duration``, in seconds."""

_MODEL_ATTRIBUTES = (
    GenAI.OPERATION_NAME,
    GenAI.PROVIDER_NAME,
    GenAI.REQUEST_MODEL,
    GenAI.RESPONSE_MODEL,
    "server.address",
    "server.port",
)


class MeshMetrics:
    """The mesh's instruments, bound to one meter."""

    def __init__(self, meter: metrics.Meter) -> None:
        self.operation_duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Duration of GenAI client operations such as model calls.",
            explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS_S),
        )
        self.cache_hits = meter.create_counter(
            "mesh.cache.hits", unit="{request}", description="Semantic cache lookups that served an answer."
        )
        self.cache_misses = meter.create_counter(
            "mesh.cache.misses", unit="{request}", description="Semantic cache lookups that found no answer."
        )
        self.blocked_requests = meter.create_counter(
            "mesh.requests.blocked",
            unit="{request}",
            description="Requests stopped by a guardrail, a budget or the redaction policy.",
        )
        self.masked_entities = meter.create_counter(
            "mesh.redaction.entities",
            unit="{entity}",
            description="Personal-data entities replaced by placeholders.",
        )

    def record_operation_duration(
        self, attributes: Mapping[str, Any], *, duration_s: float, error_type: str | None = None
    ) -> None:
        """Record the duration of one model call in seconds.

        ``attributes`` may hold any span attributes; only the ones the GenAI metric
        conventions allow (operation, provider, models, server) are kept.
        """
        kept = {key: attributes[key] for key in _MODEL_ATTRIBUTES if attributes.get(key) is not None}
        if error_type:
            kept[GenAI.ERROR_TYPE] = error_type
        self.operation_duration.record(max(duration_s, 0.0), kept)

    def record_cache_lookup(self, *, hit: bool, tenant: str | None = None) -> None:
        """Count one semantic cache lookup as a hit or a miss."""
        counter = self.cache_hits if hit else self.cache_misses
        counter.add(1, _tenant_attributes(tenant))

    def record_blocked(self, *, reason: str, tenant: str | None = None) -> None:
        """Count one request stopped by a policy; ``reason`` is an error code such as ``guardrail_blocked``."""
        self.blocked_requests.add(1, {**_tenant_attributes(tenant), Mesh.ERROR_CODE: reason})

    def record_masked_entities(self, count: int, *, tenant: str | None = None, label: str | None = None) -> None:
        """Count entities replaced by placeholders, optionally for one entity label."""
        if count <= 0:
            return
        attributes = _tenant_attributes(tenant)
        if label:
            attributes["mesh.redaction.label"] = label
        self.masked_entities.add(count, attributes)


def _tenant_attributes(tenant: str | None) -> dict[str, Any]:
    return {Mesh.TENANT: tenant} if tenant else {}
