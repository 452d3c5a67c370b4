"""SDK set-up for entry points (CLI, servers, examples); the library itself never calls it.

The standard OpenTelemetry variables apply: ``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_EXPORTER_OTLP_PROTOCOL``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_BSP_SCHEDULE_DELAY`` (milliseconds between span
batches), ``OTEL_METRIC_EXPORT_INTERVAL`` (milliseconds between metric exports) and
``OTEL_METRICS_EXPORTER=none`` (export traces only).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace

from mesh_agents.errors import ConfigurationError, MissingExtraError

__all__ = ["PROTOCOLS", "Telemetry", "setup"]

logger = logging.getLogger(__name__)

PROTOCOLS = ("http/protobuf", "grpc")
"""OTLP protocols that ``setup()`` accepts."""

_SIGNAL_PATHS = ("/v1/traces", "/v1/metrics", "/v1/logs")


@dataclass
class Telemetry:
    """The SDK providers that ``setup()`` installed.

    Attributes:
        tracer_provider: The SDK tracer provider that exports spans.
        meter_provider: The SDK meter provider, or None when metrics are off or another
            meter provider was already installed.
        endpoint: The OTLP endpoint spans and metrics go to.
        protocol: ``"http/protobuf"`` or ``"grpc"``.
    """

    tracer_provider: Any
    meter_provider: Any | None
    endpoint: str
    protocol: str

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything recorded so far; return False if the timeout (seconds) ran out."""
        millis = int(timeout_s * 1000)
        done = bool(self.tracer_provider.force_flush(millis))
        if self.meter_provider is not None:
            done = bool(self.meter_provider.force_flush(millis)) and done
        return done

    def shutdown(self) -> None:
        """Flush and stop the exporters. The providers also shut down by themselves at interpreter exit."""
        self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def setup(
    service_name: str | None = None,
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    enable_metrics: bool | None = None,
) -> Telemetry | None:
    """Install global SDK providers that export spans and metrics by OTLP.

    Besides the exporter, the tracer provider gets the mesh's span processors: mesh ids
    from W3C baggage become ``mesh.tenant``/``mesh.user``/``mesh.session`` attributes,
    the ``mcp`` SDK's client spans get their semantic-convention names, and the GenAI
    and mesh metrics are recorded from finished spans (see ``docs/telemetry.md``).

    If an SDK tracer provider is already installed, the exporter and processors are
    added to it instead, because OpenTelemetry allows one global provider per process.

    Args:
        service_name: ``service.name`` shown in Jaeger; defaults to ``OTEL_SERVICE_NAME``,
            then ``"mesh-agents"``.
        endpoint: OTLP endpoint, such as ``http://localhost:4318`` for HTTP or
            ``http://localhost:4317`` for gRPC; defaults to ``OTEL_EXPORTER_OTLP_ENDPOINT``.
        protocol: ``"http/protobuf"`` (default) or ``"grpc"``; defaults to
            ``OTEL_EXPORTER_OTLP_PROTOCOL``.
        headers: Extra headers for every export request (authentication to a vendor);
            when None the exporters read ``OTEL_EXPORTER_OTLP_HEADERS``.
        enable_metrics: Also export the ``gen_ai.client.*`` histograms and the mesh counters;
            defaults to True unless ``OTEL_METRICS_EXPORTER`` is ``none`` (Jaeger, for
            one, accepts traces only).

    Returns:
        The installed providers, or None when no endpoint is configured; then nothing is
        exported and spans stay no-ops.

    Raises:
        ConfigurationError: ``protocol`` is not one of ``PROTOCOLS``.
        MissingExtraError: the exporter package for ``protocol`` is not installed.
    """
    endpoint = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return None
    protocol = protocol or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    if protocol not in PROTOCOLS:
        raise ConfigurationError(
            f"unknown OTLP protocol {protocol!r}: use one of {', '.join(PROTOCOLS)} "
            "(set by the protocol argument or OTEL_EXPORTER_OTLP_PROTOCOL)"
        )
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise MissingExtraError("opentelemetry-sdk", "otlp") from exc

    from mesh_agents.tracing.metrics import MeshMetrics
    from mesh_agents.tracing.processors import BaggageSpanProcessor, McpClientSpanProcessor, SpanMetricsProcessor

    span_exporter, metric_exporter = _exporters(endpoint, protocol, dict(headers) if headers is not None else None)
    if enable_metrics is None:
        enable_metrics = os.environ.get("OTEL_METRICS_EXPORTER", "otlp").strip().lower() != "none"
    name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "mesh-agents"
    resource = Resource.create({SERVICE_NAME: name})

    # Metrics first, so the span processor that records them has a meter to write to.
    meter_provider = None
    if enable_metrics:
        current_meter_provider = metrics.get_meter_provider()
        if isinstance(current_meter_provider, MeterProvider):
            logger.warning("a MeterProvider is already installed; mesh metrics go to it, not to %s", endpoint)
            mesh_metrics_sink = MeshMetrics(current_meter_provider.get_meter("mesh_agents"))
        else:
            reader = PeriodicExportingMetricReader(metric_exporter)
            meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
            metrics.set_meter_provider(meter_provider)
            mesh_metrics_sink = MeshMetrics(meter_provider.get_meter("mesh_agents"))

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        logger.warning("a TracerProvider is already installed; adding the OTLP exporter for %s to it", endpoint)
        tracer_provider = current
    else:
        tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BaggageSpanProcessor())
    tracer_provider.add_span_processor(McpClientSpanProcessor())
    if enable_metrics:
        tracer_provider.add_span_processor(SpanMetricsProcessor(mesh_metrics_sink))
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    if tracer_provider is not current:
        trace.set_tracer_provider(tracer_provider)

    logger.info("exporting telemetry by OTLP (%s) to %s as service %s", protocol, endpoint, name)
    return Telemetry(
        tracer_provider=tracer_provider, meter_provider=meter_provider, endpoint=endpoint, protocol=protocol
    )


def _exporters(endpoint: str, protocol: str, headers: dict[str, str] | None) -> tuple[Any, Any]:
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans
        except ImportError as exc:
            raise MissingExtraError("opentelemetry-exporter-otlp-proto-grpc", "otlp-grpc") from exc
        return GrpcSpans(endpoint=endpoint, headers=headers), GrpcMetrics(endpoint=endpoint, headers=headers)

    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans
    except ImportError as exc:
        raise MissingExtraError("opentelemetry-exporter-otlp-proto-http", "otlp") from exc
    base = otlp_http_base(endpoint)
    return (
        HttpSpans(endpoint=base + "/v1/traces", headers=headers),
        HttpMetrics(endpoint=base + "/v1/metrics", headers=headers),
    )


def otlp_http_base(endpoint: str) -> str:
    """Return the base URL of an OTLP/HTTP endpoint, without a trailing slash or signal path."""
    base = endpoint.rstrip("/")
    for path in _SIGNAL_PATHS:
        if base.endswith(path):
            return base[: -len(path)]
    return base
