"""Opt-in content capture: masked messages on the span only when the setting is on."""

from __future__ import annotations

import json

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mesh_agents.tracing.content import INPUT_MESSAGES, OUTPUT_MESSAGES, record_content
from mesh_agents.tracing.schema import TracingSettings

MASKED = [SystemMessage("Be brief."), HumanMessage("Refund <PERSON_1> at <EMAIL_1>.")]
ANSWER = AIMessage(
    "Refund sent to <EMAIL_1>.",
    tool_calls=[{"name": "refund", "args": {"email": "<EMAIL_1>"}, "id": "call-1"}],
    response_metadata={"finish_reason": "stop"},
)


def _recorded(settings: TracingSettings) -> dict[str, object]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("chat m") as span:
        record_content(span, settings, input_messages=MASKED, output=ANSWER)
    return dict(exporter.get_finished_spans()[0].attributes or {})


def test_content_off_records_nothing() -> None:
    attributes = _recorded(TracingSettings())
    assert INPUT_MESSAGES not in attributes
    assert OUTPUT_MESSAGES not in attributes


def test_content_on_records_message_parts() -> None:
    attributes = _recorded(TracingSettings(capture_content=True))
    inputs = json.loads(str(attributes[INPUT_MESSAGES]))
    (output,) = json.loads(str(attributes[OUTPUT_MESSAGES]))
    assert [message["role"] for message in inputs] == ["system", "user"]
    assert inputs[1]["parts"] == [{"type": "text", "content": "Refund <PERSON_1> at <EMAIL_1>."}]
    assert output["role"] == "assistant"
    assert output["finish_reason"] == "stop"
    assert output["parts"][0] == {"type": "text", "content": "Refund sent to <EMAIL_1>."}
    assert output["parts"][1]["name"] == "refund"
    assert json.loads(output["parts"][1]["arguments"]) == {"email": "<EMAIL_1>"}


def test_content_cuts_long_parts() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = TracingSettings(capture_content=True, max_content_chars=10)
    with provider.get_tracer("test").start_as_current_span("chat m") as span:
        record_content(span, settings, input_messages=[ToolMessage("x" * 50, tool_call_id="call-1")])
    attributes = dict(exporter.get_finished_spans()[0].attributes or {})
    (message,) = json.loads(str(attributes[INPUT_MESSAGES]))
    assert message["role"] == "tool"
    assert message["parts"] == [{"type": "tool_call_response", "id": "call-1", "response": "x" * 10 + "…"}]
