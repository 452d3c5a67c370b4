"""Span processors: baggage ids on spans, MCP client span names, metrics from spans."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from mesh_agents.tracing import MCP, GenAI, Mesh, MeshMetrics, use_baggage
from mesh_agents.tracing.processors import (
    MCP_SDK_SCOPE,
    BaggageSpanProcessor,
    McpClientSpanProcessor,
    SpanMetricsProcessor,
    mcp_client_attributes,
)


class Telemetry:
    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(BaggageSpanProcessor())
        self.provider.add_span_processor(McpClientSpanProcessor())
        self.provider.add_span_processor(SpanMetricsProcessor(MeshMetrics(self.meter_provider.get_meter("test"))))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found


@pytest.fixture
def telemetry() -> Telemetry:
    return Telemetry()


def test_baggage_ids_become_span_attributes(telemetry: Telemetry) -> None:
    tracer = telemetry.provider.get_tracer("test")
    with use_baggage(tenant="acme", user="u-1", session="s-1"):
        with tracer.start_as_current_span("outer"):
            with tracer.start_as_current_span("inner", attributes={Mesh.TENANT: "explicit"}):
                pass
    spans = {span.name: dict(span.attributes or {}) for span in telemetry.exporter.get_finished_spans()}
    assert spans["outer"][Mesh.TENANT] == "acme"
    assert spans["outer"][Mesh.USER] == "u-1"
    assert spans["outer"][Mesh.SESSION] == "s-1"
    assert spans["inner"][Mesh.TENANT] == "explicit"


def test_mcp_client_span_gets_convention_name(telemetry: Telemetry) -> None:
    sdk_tracer = telemetry.provider.get_tracer(MCP_SDK_SCOPE)
    with mcp_client_attributes(session_id="abc", protocol_version="2025-11-25"):
        with sdk_tracer.start_as_current_span("MCP send tools/call redact", kind=SpanKind.CLIENT):
            pass
    with sdk_tracer.start_as_current_span("MCP send tools/list", kind=SpanKind.CLIENT):
        pass
    spans = telemetry.exporter.get_finished_spans()
    first, second = dict(spans[0].attributes or {}), dict(spans[1].attributes or {})
    assert [span.name for span in spans] == ["tools/call redact", "tools/list"]
    assert first[MCP.SESSION_ID] == "abc"
    assert first[MCP.PROTOCOL_VERSION] == "2025-11-25"
    assert MCP.SESSION_ID not in second


def test_other_scopes_keep_their_names(telemetry: Telemetry) -> None:
    with telemetry.provider.get_tracer("someone-else").start_as_current_span("MCP send x", kind=SpanKind.CLIENT):
        pass
    assert telemetry.exporter.get_finished_spans()[0].name == "MCP send x"


def test_chat_span_records_duration_only(telemetry: Telemetry) -> None:
    attributes: dict[str, Any] = {
        GenAI.OPERATION_NAME: "chat",
        GenAI.PROVIDER_NAME: "openai",
        GenAI.REQUEST_MODEL: "gpt-4o-mini",
        GenAI.USAGE_INPUT_TOKENS: 120,
        GenAI.USAGE_OUTPUT_TOKENS: 30,
        Mesh.TENANT: "acme",
    }
    tracer = telemetry.provider.get_tracer("test")
    with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attributes):
        pass
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 1
    assert duration.attributes[GenAI.PROVIDER_NAME] == "openai"
    assert duration.attributes[GenAI.REQUEST_MODEL] == "gpt-4o-mini"
    assert Mesh.TENANT not in duration.attributes
    assert telemetry.points("gen_ai.client.token.usage") == []


def test_failed_chat_records_duration_with_error(telemetry: Telemetry) -> None:
    attributes = {GenAI.OPERATION_NAME: "chat", GenAI.REQUEST_MODEL: "m", GenAI.ERROR_TYPE: "TimeoutError"}
    tracer = telemetry.provider.get_tracer("test")
    with tracer.start_as_current_span("chat m", kind=SpanKind.CLIENT, attributes=attributes):
        pass
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes[GenAI.ERROR_TYPE] == "TimeoutError"


def test_mesh_steps_record_counters(telemetry: Telemetry) -> None:
    tracer = telemetry.provider.get_tracer("test")
    with use_baggage(tenant="acme"):
        for hit in (True, False, True):
            with tracer.start_as_current_span("mesh.cache.lookup", attributes={Mesh.STEP: "cache_lookup"}) as span:
                span.set_attribute(Mesh.CACHE_HIT, hit)
        with tracer.start_as_current_span("mesh.redact", attributes={Mesh.STEP: "redact"}) as span:
            span.set_attribute(Mesh.REDACTION_ENTITIES, 4)
        with tracer.start_as_current_span("mesh.request", attributes={GenAI.ERROR_TYPE: "GuardrailBlocked"}):
            pass
        with tracer.start_as_current_span("mesh.request", attributes={GenAI.ERROR_TYPE: "budget_exceeded"}):
            pass
        with tracer.start_as_current_span("mesh.request", attributes={GenAI.ERROR_TYPE: "TargetsExhausted"}):
            pass
    (hits,) = telemetry.points("mesh.cache.hits")
    (misses,) = telemetry.points("mesh.cache.misses")
    (entities,) = telemetry.points("mesh.redaction.entities")
    blocked_by_code = {
        point.attributes[Mesh.ERROR_CODE]: point.value for point in telemetry.points("mesh.requests.blocked")
    }
    assert hits.value == 2
    assert misses.value == 1
    assert entities.value == 4
    assert entities.attributes[Mesh.TENANT] == "acme"
    assert blocked_by_code == {"guardrail_blocked": 1, "budget_exceeded": 1}


def test_server_tool_span_records_no_model_metrics(telemetry: Telemetry) -> None:
    attributes = {GenAI.OPERATION_NAME: "execute_tool", GenAI.TOOL_NAME: "redact"}
    tracer = telemetry.provider.get_tracer("test")
    with tracer.start_as_current_span("tools/call redact", kind=SpanKind.SERVER, attributes=attributes):
        pass
    assert telemetry.points("gen_ai.client.operation.duration") == []
