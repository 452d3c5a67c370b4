"""SDK set-up for entry points (CLI, servers, examples); the library never calls it."""

from __future__ import annotations

import logging
import os

from opentelemetry import trace

from mesh_agents.errors import MissingExtraError

__all__ = ["setup"]

logger = logging.getLogger(__name__)


def setup(
    service_name: str = "mesh-agents",
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
) -> bool:
    """Install a global TracerProvider that exports spans by OTLP.

    Args:
        service_name: ``service.name`` resource attribute shown in Jaeger.
        endpoint: OTLP endpoint; defaults to ``OTEL_EXPORTER_OTLP_ENDPOINT``.
        protocol: ``"http/protobuf"`` (default) or ``"grpc"``; defaults to
            ``OTEL_EXPORTER_OTLP_PROTOCOL``.

    Returns:
        True when a provider was installed, False when no endpoint is configured
        (then nothing is exported and spans stay no-ops).
    """
    endpoint = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not endpoint:
        return False
    protocol = protocol or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise MissingExtraError("opentelemetry-sdk", "otlp") from exc
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError as exc:
            raise MissingExtraError("opentelemetry-exporter-otlp-proto-grpc", "otlp-grpc") from exc
        exporter = OTLPSpanExporter(endpoint=endpoint)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HTTPExporter,
        )

        traces_endpoint = endpoint.rstrip("/")
        if not traces_endpoint.endswith("/v1/traces"):
            traces_endpoint += "/v1/traces"
        exporter = HTTPExporter(endpoint=traces_endpoint)
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    logger.info("exporting spans by OTLP (%s) to %s", protocol, endpoint)
    return True
