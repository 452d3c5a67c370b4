"""tracing.setup() and the OTLP/HTTP test receiver, with a real exporter in a child process."""

from __future__ import annotations

import gzip
import importlib.util
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from mesh_agents.errors import ConfigurationError, MissingExtraError
from mesh_agents.testing import OTLPReceiver
from mesh_agents.tracing import setup
from mesh_agents.tracing.setup import otlp_http_base

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    from opentelemetry.trace import SpanKind
    from mesh_agents.tracing import GenAI, Mesh, setup, step_span, use_baggage

    telemetry = setup("setup-test")
    assert telemetry is not None and telemetry.protocol == "http/protobuf"
    with use_baggage(tenant="acme", session="s-1"):
        with step_span("mesh.request"):
            with step_span("mesh.cache.lookup", attributes={Mesh.STEP: "cache_lookup"}) as span:
                span.set_attribute(Mesh.CACHE_HIT, False)
            attributes = {GenAI.OPERATION_NAME: "chat", GenAI.REQUEST_MODEL: "m", GenAI.USAGE_INPUT_TOKENS: 7,
                          GenAI.USAGE_OUTPUT_TOKENS: 2}
            with step_span("chat m", kind=SpanKind.CLIENT, attributes=attributes):
                pass
            try:
                with step_span("failing step"):
                    raise KeyError("secret-value-that-must-not-leak")
            except KeyError:
                pass
    # No force_flush: the providers must flush by themselves at interpreter exit.
    """
)


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as started:
        yield started


def _child_env(endpoint: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "PYTHONPATH": str(ROOT)})
    return env


def test_setup_exports_spans_and_metrics(receiver: OTLPReceiver) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD], env=_child_env(receiver.endpoint), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr

    spans = receiver.wait_for_spans(lambda spans: len(spans) >= 4, timeout_s=10)
    by_name = {span.name: span for span in spans}
    root = by_name["mesh.request"]
    assert root.parent_span_id == ""
    assert root.service_name == "setup-test"
    assert {span.trace_id for span in spans} == {root.trace_id}
    assert by_name["chat m"].parent_span_id == root.span_id
    assert by_name["chat m"].kind == "CLIENT"
    assert by_name["chat m"].attributes["mesh.tenant"] == "acme"
    assert by_name["failing step"].attributes["error.type"] == "KeyError"
    assert by_name["failing step"].status_code == "ERROR"
    assert "secret-value" not in repr(by_name["failing step"])

    metrics = receiver.wait_for_metrics(
        lambda items: {"gen_ai.client.operation.duration", "mesh.cache.misses"} <= {m.name for m in items},
        timeout_s=10,
    )
    duration = next(metric for metric in metrics if metric.name == "gen_ai.client.operation.duration")
    misses = next(metric for metric in metrics if metric.name == "mesh.cache.misses")
    assert duration.unit == "s"
    assert duration.points[0]["count"] == 1
    assert duration.points[0]["explicit_bounds"][0] == 0.01
    assert misses.points[0]["as_int"] == 1
    assert misses.points[0]["attributes"] == {"mesh.tenant": "acme"}
    assert receiver.rejected_requests == 0


def test_setup_without_endpoint_installs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert setup() is None


def test_setup_rejects_unknown_protocol() -> None:
    with pytest.raises(ConfigurationError, match="unknown OTLP protocol 'thrift'"):
        setup(endpoint="http://127.0.0.1:1", protocol="thrift")


@pytest.mark.skipif(
    importlib.util.find_spec("opentelemetry.exporter.otlp.proto.grpc") is not None,
    reason="the gRPC exporter is installed, so there is no missing extra to report",
)
def test_setup_grpc_without_exporter_names_extra() -> None:
    with pytest.raises(MissingExtraError, match=r"mesh-agents\[otlp-grpc\]"):
        setup(endpoint="http://127.0.0.1:1", protocol="grpc")


@pytest.mark.parametrize(
    ("endpoint", "base"),
    [
        ("http://localhost:4318", "http://localhost:4318"),
        ("http://localhost:4318/", "http://localhost:4318"),
        ("http://localhost:4318/v1/traces", "http://localhost:4318"),
        ("https://collector.example/otlp/v1/metrics", "https://collector.example/otlp"),
    ],
)
def test_otlp_http_base_strips_signal_path(endpoint: str, base: str) -> None:
    assert otlp_http_base(endpoint) == base


def _one_span_request() -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.name = "hand-made"
    span.trace_id = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    span.span_id = bytes.fromhex("b7ad6b7169203331")
    attribute = span.attributes.add()
    attribute.key = "mesh.cache.hit"
    attribute.value.bool_value = True
    return request


def test_receiver_decodes_gzip_protobuf(receiver: OTLPReceiver) -> None:
    body = gzip.compress(_one_span_request().SerializeToString())
    headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
    response = httpx.post(receiver.endpoint + "/v1/traces", content=body, headers=headers, timeout=5)
    assert response.status_code == 200
    (span,) = receiver.spans()
    assert span.name == "hand-made"
    assert span.attributes == {"mesh.cache.hit": True}


def test_receiver_decodes_json(receiver: OTLPReceiver) -> None:
    from google.protobuf import json_format

    body = json_format.MessageToJson(_one_span_request())
    response = httpx.post(
        receiver.endpoint + "/v1/traces", content=body, headers={"Content-Type": "application/json"}, timeout=5
    )
    assert response.status_code == 200
    assert receiver.spans()[0].trace_id == "0af7651916cd43dd8448eb211c80319c"


def test_receiver_rejects_garbage_and_unknown_paths(receiver: OTLPReceiver) -> None:
    garbage = httpx.post(receiver.endpoint + "/v1/traces", content=b"\xff\x00not protobuf", timeout=5)
    unknown = httpx.post(receiver.endpoint + "/v1/profiles", content=b"", timeout=5)
    assert garbage.status_code == 400
    assert unknown.status_code == 404
    assert receiver.rejected_requests == 1
    assert receiver.spans() == []


def test_receiver_wait_times_out_with_names(receiver: OTLPReceiver) -> None:
    with pytest.raises(TimeoutError, match="condition not met"):
        receiver.wait_for_spans(lambda spans: len(spans) > 0, timeout_s=0.05)


def test_metrics_exporter_none_exports_traces_only(receiver: OTLPReceiver) -> None:
    child = "from mesh_agents.tracing import setup; t = setup('traces-only'); print(t.meter_provider is None)"
    env = {**_child_env(receiver.endpoint), "OTEL_METRICS_EXPORTER": "none"}
    result = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
