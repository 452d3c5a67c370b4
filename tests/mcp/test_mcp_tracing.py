"""One trace across an MCP client and a server in another process, received over OTLP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mcp_servers.client import connect_http, structured
from mesh_agents.testing.mcp_process import MCPServerProcess
from mesh_agents.testing.otlp_receiver import OTLPReceiver, ReceivedSpan
from mesh_agents.tracing import current_trace_id, get_tracer, use_baggage

pytestmark = pytest.mark.anyio


def _in_trace(trace_id: str, count: int) -> Any:
    def enough(spans: list[ReceivedSpan]) -> bool:
        return sum(1 for span in spans if span.trace_id == trace_id) >= count

    return enough


def _has_span(trace_id: str, name: str, kind: str) -> Any:
    def found(spans: list[ReceivedSpan]) -> bool:
        return any(span.trace_id == trace_id and span.name == name and span.kind == kind for span in spans)

    return found


async def _call_in_workflow(url: str, otlp: tuple[OTLPReceiver, Any], tool: str, arguments: dict[str, Any]) -> Any:
    """Call one tool inside a workflow span with mesh baggage; return the trace's spans and the result."""
    receiver, telemetry = otlp
    with use_baggage(tenant="acme", user="u-17", session="s-42"):
        with get_tracer().start_as_current_span("invoke_workflow triage") as workflow:
            trace_id = current_trace_id()
            async with connect_http(url) as session:
                result = await session.call_tool(tool, arguments)
    assert trace_id is not None
    telemetry.force_flush()
    spans = receiver.wait_for_spans(_has_span(trace_id, f"tools/call {tool}", "SERVER"), timeout_s=30)
    return [span for span in spans if span.trace_id == trace_id], result, workflow


async def test_one_trace_across_processes(frame_http: MCPServerProcess, otlp: tuple[OTLPReceiver, Any]) -> None:
    spans, result, _ = await _call_in_workflow(frame_http.url, otlp, "count_words", {"text": "a b", "tenant": "acme"})
    assert structured(result)["words"] == 2

    workflow = next(span for span in spans if span.name == "invoke_workflow triage")
    calls = [span for span in spans if span.name == "tools/call count_words"]
    clients = [span for span in calls if span.kind == "CLIENT"]
    servers = [span for span in calls if span.kind == "SERVER"]
    assert len(clients) == 1
    assert len(servers) == 1
    client, server = clients[0], servers[0]

    assert client.service_name != server.service_name
    assert server.service_name == "frame-server"
    assert workflow.parent_span_id == ""
    assert client.parent_span_id == workflow.span_id
    assert server.parent_span_id == client.span_id

    assert client.attributes["mcp.method.name"] == "tools/call"
    assert client.attributes["mcp.protocol.version"]
    assert server.attributes["mcp.method.name"] == "tools/call"
    assert server.attributes["mcp.protocol.version"] == client.attributes["mcp.protocol.version"]
    assert server.attributes["jsonrpc.request.id"] == client.attributes["jsonrpc.request.id"]
    assert server.attributes["gen_ai.operation.name"] == "execute_tool"
    assert server.attributes["gen_ai.tool.name"] == "count_words"
    assert server.attributes["network.transport"] == "tcp"
    assert "error.type" not in server.attributes


async def test_baggage_reaches_server_span(frame_http: MCPServerProcess, otlp: tuple[OTLPReceiver, Any]) -> None:
    spans, _, _ = await _call_in_workflow(frame_http.url, otlp, "count_words", {"text": "a", "tenant": "acme"})
    server = next(span for span in spans if span.kind == "SERVER" and span.name == "tools/call count_words")
    assert server.attributes["mesh.tenant"] == "acme"
    assert server.attributes["mesh.user"] == "u-17"
    assert server.attributes["mesh.session"] == "s-42"


async def test_tool_error_marks_server_span(frame_http: MCPServerProcess, otlp: tuple[OTLPReceiver, Any]) -> None:
    spans, result, _ = await _call_in_workflow(frame_http.url, otlp, "spend", {"tenant": "acme", "tokens": 3})
    assert result.is_error is True
    server = next(span for span in spans if span.kind == "SERVER" and span.name == "tools/call spend")
    assert server.attributes["error.type"] == "tool_error"
    assert server.attributes["mesh.error.code"] == "budget_exceeded"
    assert server.status_code == "ERROR"


async def test_crash_span_has_error_id(frame_http: MCPServerProcess, otlp: tuple[OTLPReceiver, Any]) -> None:
    spans, result, _ = await _call_in_workflow(frame_http.url, otlp, "crash", {"text": "boom"})
    server = next(span for span in spans if span.kind == "SERVER" and span.name == "tools/call crash")
    message = " ".join(block.text for block in result.content)
    assert server.attributes["error.type"] == "tool_error"
    assert server.attributes["mesh.error.code"] == "internal_error"
    assert server.attributes["mesh.error.id"] in message


async def test_headers_are_the_fallback_parent(frame_http: MCPServerProcess, otlp: tuple[OTLPReceiver, Any]) -> None:
    receiver, _ = otlp
    trace_id, parent_id = "5b8aa5a2d2c872e8321cf37308d69df2", "051581bf3cb55c13"
    headers = {
        "Accept": "application/json, text/event-stream",
        "traceparent": f"00-{trace_id}-{parent_id}-01",
        "baggage": "mesh.tenant=globex,mesh.session=s-9",
    }
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "count_words", "arguments": {"text": "via headers", "tenant": "globex"}},
    }
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(frame_http.url, json=call, headers=headers)
    assert response.status_code == 200

    spans = receiver.wait_for_spans(_in_trace(trace_id, 1), timeout_s=30)
    (server,) = [span for span in spans if span.trace_id == trace_id]
    assert server.parent_span_id == parent_id
    assert server.attributes["jsonrpc.request.id"] == "7"
    assert server.attributes["mesh.tenant"] == "globex"
    assert server.attributes["mesh.session"] == "s-9"


async def test_meta_wins_over_headers(frame_http: MCPServerProcess, otlp: tuple[OTLPReceiver, Any]) -> None:
    receiver, _ = otlp
    meta_trace, header_trace = "6c8aa5a2d2c872e8321cf37308d69df2", "7d8aa5a2d2c872e8321cf37308d69df2"
    headers = {"Accept": "application/json, text/event-stream", "traceparent": f"00-{header_trace}-051581bf3cb55c13-01"}
    call = {
        "jsonrpc": "2.0",
        "id": 8,
        "method": "tools/call",
        "params": {
            "name": "count_words",
            "arguments": {"text": "meta first", "tenant": "acme"},
            "_meta": {"traceparent": f"00-{meta_trace}-1111111111111111-01"},
        },
    }
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(frame_http.url, json=call, headers=headers)
    assert response.status_code == 200

    spans = receiver.wait_for_spans(_in_trace(meta_trace, 1), timeout_s=30)
    (server,) = [span for span in spans if span.trace_id == meta_trace]
    assert server.parent_span_id == "1111111111111111"
    assert all(span.trace_id != header_trace for span in receiver.spans())


async def test_stateful_server_records_session_id(
    frame_http_stateful: MCPServerProcess, otlp: tuple[OTLPReceiver, Any]
) -> None:
    spans, _, _ = await _call_in_workflow(
        frame_http_stateful.url, otlp, "count_words", {"text": "a b c", "tenant": "acme"}
    )
    server = next(span for span in spans if span.kind == "SERVER" and span.name == "tools/call count_words")
    assert len(server.attributes["mcp.session.id"]) >= 16
