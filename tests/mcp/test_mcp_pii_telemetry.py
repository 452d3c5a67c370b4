"""Personal data sent to the MCP tools appears in no exported span, metric or log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mcp_servers.client import connect_http
from mesh_agents.testing.mcp_process import MCPServerProcess
from mesh_agents.testing.otlp_receiver import OTLPReceiver, ReceivedSpan
from mesh_agents.tracing import current_trace_id, get_tracer, use_baggage

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PLANTED = (
    "zoe.quist@planted.example",
    "+44 20 7946 0321",
    "GB33BUKB20201555555555",
    "4111 1111 1111 1111",
    "Zoe Quistorff",
)
TEXT = (
    f"I am {PLANTED[4]}, mail {PLANTED[0]}, phone {PLANTED[1]}, "
    f"IBAN {PLANTED[2]}, card {PLANTED[3]}. Why was I charged twice?"
)


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in [str(key), *_strings(item)]]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _strings(item)]
    return [str(value)]


def _span_strings(span: ReceivedSpan) -> list[str]:
    strings = [span.name, span.status_message, *_strings(span.attributes), *_strings(span.resource)]
    for name, attributes in span.events:
        strings.append(name)
        strings.extend(_strings(attributes))
    return strings


def _leaks(strings: list[str]) -> list[str]:
    return [text for text in strings for value in PLANTED if value in text]


async def _exercise(url: str) -> tuple[str, int]:
    """Send the planted text through every tool and every error path; return the trace id and call count."""
    calls: list[tuple[str, dict[str, Any]]] = [
        ("redact", {"text": TEXT, "tenant": "acme", "session": "s-pii"}),
        ("cache_store", {"prompt": TEXT, "answer": f"Refund sent to {PLANTED[2]}.", "tenant": "acme"}),
        ("cache_lookup", {"prompt": TEXT, "tenant": "acme"}),
        ("route", {"prompt": TEXT, "tenant": "acme", "system": f"The user is {PLANTED[4]}."}),
        ("restore", {"text": f"<EMAIL_1> {PLANTED[0]}", "tenant": "acme", "session": "s-pii"}),
        ("redact", {"text": TEXT * 60, "tenant": "acme"}),
        ("redact", {"text": [TEXT], "tenant": "acme"}),
        ("redact", {"text": TEXT, "tenant": "initech"}),
        ("cache_lookup", {"prompt": TEXT, "tenant": "acme", "temperature": PLANTED[1]}),
    ]
    with use_baggage(tenant="acme", session="s-pii"):
        with get_tracer().start_as_current_span("invoke_workflow pii-scan"):
            trace_id = current_trace_id()
            async with connect_http(url) as session:
                for tool, arguments in calls:
                    await session.call_tool(tool, arguments)
    assert trace_id is not None
    return trace_id, len(calls)


async def test_planted_pii_not_in_telemetry(
    mesh_http: MCPServerProcess, otlp: tuple[OTLPReceiver, Any], caplog: pytest.LogCaptureFixture
) -> None:
    receiver, telemetry = otlp
    caplog.set_level(logging.INFO)
    trace_id, count = await _exercise(mesh_http.url)
    telemetry.force_flush()

    def all_calls_arrived(spans: list[ReceivedSpan]) -> bool:
        servers = [s for s in spans if s.trace_id == trace_id and s.kind == "SERVER" and s.name.startswith("tools/")]
        return len(servers) >= count

    spans = [span for span in receiver.wait_for_spans(all_calls_arrived, timeout_s=30) if span.trace_id == trace_id]
    metrics = receiver.wait_for_metrics(
        lambda items: any(m.resource.get("service.name") == "mesh-server" for m in items), timeout_s=30
    )

    assert len(_leaks([TEXT])) == len(PLANTED)
    assert len(spans) > count
    assert any(span.attributes.get("mesh.redaction.entities", 0) >= 4 for span in spans)
    redact_spans = {span.span_id for span in spans if span.name == "tools/call redact" and span.kind == "SERVER"}
    detect_spans = [span for span in spans if span.name == "mesh.redaction.detect"]
    assert detect_spans
    assert all(span.parent_span_id in redact_spans for span in detect_spans)
    assert _leaks([text for span in spans for text in _span_strings(span)]) == []
    assert _leaks([text for metric in metrics for point in metric.points for text in _strings(point)]) == []
    assert _leaks(mesh_http.log_lines()) == []
    assert _leaks([record.getMessage() for record in caplog.records]) == []
